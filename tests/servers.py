"""Servers for the server backend's tests: a scripted fake (unit tests), llama-cpp-python's real one and
llama.cpp's own `llama-server` binary (model tests).

`FakeServer` answers like an OpenAI-compatible server from a `reply(path, body)` function and records
what it was sent; `llama_cpp_server` starts `python -m llama_cpp.server` on the default model;
`llama_server_binary` finds a `llama-server` and `llama_server_command` is how tot starts it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Reply = Callable[[str, dict[str, Any]], Any]  # a dict (sent as JSON), bytes (sent as they are) or (status, dict)


class FakeServer:
    """An HTTP server on 127.0.0.1 that answers with `reply` and keeps every request body and the most in flight."""

    def __init__(self, reply: Reply, *, models: Any = None) -> None:
        self.reply = reply
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        self.models = models if models is not None else {"object": "list", "data": [{"id": "/models/fake.gguf"}]}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                self._send(fake.models)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append((self.path, body))
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    self._send(fake.reply(self.path, body))
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _send(self, answer: Any) -> None:
                status = 200
                if isinstance(answer, tuple):
                    status, answer = answer
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:  # the client gave up (a timeout test)
                    pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(url: str, process: subprocess.Popen[bytes] | None = None, seconds: float = 120.0) -> None:
    """Poll `url`/v1/models until it answers; raise if the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no server answered at {url} within {seconds:g} s")


def server_command(port: int, *extra: str) -> list[str]:
    """The command that starts llama-cpp-python's server on the default model at 127.0.0.1:`port`."""
    from tot.models import default_model_path

    return [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 1), "--verbose", "False", *extra]


@contextmanager
def llama_cpp_server(*extra: str) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the default model, on a free port of 127.0.0.1; yields its URL."""
    port = free_port()
    with serving(server_command(port, *extra), port) as url:
        yield url


@contextmanager
def serving(command: list[str], port: int) -> Iterator[str]:
    """Run the server `command` (listening on 127.0.0.1:`port`) until the block ends; yields its URL once ready."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def llama_server_binary() -> str | None:
    """A llama-server binary: $TOT_LLAMA_SERVER_BIN, the one tools/build-llama-server.sh built, or the PATH's."""
    given = os.environ.get("TOT_LLAMA_SERVER_BIN")
    if given:
        return given
    script = Path(__file__).resolve().parent.parent / "tools" / "build-llama-server.sh"
    where = subprocess.run([str(script), "--where"], capture_output=True, text=True)
    if where.returncode == 0:
        return where.stdout.strip()
    return shutil.which("llama-server")


def llama_server_command(binary: str, port: int, *extra: str) -> list[str]:
    """The command that starts `binary` (llama-server) on the default model at 127.0.0.1:`port`, as tot needs it."""
    from tot.models import default_model_path
    from tot.models.server import LLAMA_SERVER_FLAGS

    return [binary, "-m", str(default_model_path()), "--host", "127.0.0.1", "--port", str(port), "-c", "4096",
            "-t", str(min(2, os.cpu_count() or 1)), *LLAMA_SERVER_FLAGS, *extra]


@contextmanager
def llama_server(binary: str, *extra: str) -> Iterator[str]:
    """llama.cpp's llama-server on the default model, on a free port of 127.0.0.1; yields its URL."""
    port = free_port()
    with serving(llama_server_command(binary, port, *extra), port) as url:
        yield url


def gguf_with_chat_template(source: Path, target: Path, template: str) -> Path:
    """A copy of the GGUF `source` with `template` added as its `tokenizer.chat_template` metadata."""

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("<Q", len(data)) + data

    from tot.models import chat

    with open(source, "rb") as handle:
        magic, version, tensors, count = struct.unpack("<4sIQQ", handle.read(24))
        start = handle.tell()
        for _ in range(count):
            chat._string(handle)
            chat._skip(handle, chat._u32(handle))
        kvs_end = handle.tell()
        for _ in range(tensors):
            chat._string(handle)
            (dims,) = struct.unpack("<I", handle.read(4))
            handle.seek(8 * dims + 4 + 8, os.SEEK_CUR)
        infos_end = handle.tell()
        data_start = -(-infos_end // 32) * 32  # the default alignment (these files set no general.alignment)
        handle.seek(start)
        kvs = handle.read(kvs_end - start)
        infos = handle.read(infos_end - kvs_end)
        header = struct.pack("<4sIQQ", magic, version, tensors, count + 1) + kvs
        header += text(chat.TEMPLATE_KEY) + struct.pack("<I", 8) + text(template) + infos
        header += b"\0" * (-len(header) % 32)
        with open(target, "wb") as out:
            out.write(header)
            handle.seek(data_start)
            shutil.copyfileobj(handle, out, 16 << 20)
    return target


# Our own minimal template in Gemma's turn format (llama.cpp recognises it by its turn markers).
GEMMA_STYLE_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>{{ message['role'] }}\n"
    "{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


if __name__ == "__main__":
    # `python -m tests.servers PORT`: become llama-cpp-python's server; `python -m tests.servers PORT BINARY`:
    # become llama-server (.ci/run starts both so).
    command = server_command(int(sys.argv[1])) if len(sys.argv) < 3 else llama_server_command(sys.argv[2], int(sys.argv[1]))
    os.execv(command[0], command)
