#!/usr/bin/env bash
# Build llama.cpp's own server, `llama-server`, from the llama.cpp source vendored in llama-cpp-python's sdist:
# the same pinned version and flags as install.sh's wheel (tools/llama-cpp-flags.sh). About 4 minutes on 2 cores.
# The binary is cached per (version, flags, CPU) in ~/.cache/tot/bin/KEY/llama-server (TOT_BIN_CACHE to move it);
# a second run only prints its path. Progress goes to stderr, the binary's path to stdout:
#
#     llama_server=$(tools/build-llama-server.sh)
#     "$llama_server" -m MODEL.gguf --host 127.0.0.1 --port 8080 -c 4096 -t 2
#
# `tools/build-llama-server.sh --where` prints the path and builds nothing (exit 1 when it is not built yet).
# Needs a C++ compiler; cmake comes from PyPI when the machine has none.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/llama-cpp-flags.sh  # LLAMA_CPP_VERSION, cmake_args, build_key
bin="${TOT_BIN_CACHE:-$HOME/.cache/tot/bin}/$build_key"
if [ "${1:-}" = --where ]; then
  echo "$bin/llama-server"
  [ -x "$bin/llama-server" ]
  exit
fi
if [ ! -x "$bin/llama-server" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=${PYTHON:-python3}; fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "Building llama-server (llama.cpp from llama-cpp-python $LLAMA_CPP_VERSION) for this machine (about 4-8 minutes on 2 cores)..." >&2
  "$python" -m pip download --quiet --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$LLAMA_CPP_VERSION" >&2
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
  cmake_version=$( (cmake --version 2>/dev/null || true) | awk 'NR == 1 {print $3}')
  if [ "$(printf '%s\n' 3.18 "${cmake_version:-0}" | sort -V | head -1)" != 3.18 ]; then  # none, or older than 3.18
    "$python" -m venv "$work/tools" && "$work/tools/bin/pip" install --quiet cmake >&2
    PATH="$work/tools/bin:$PATH"
  fi
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  eval "cmake -S \"\$(echo \"\$work\"/llama_cpp_python-*/vendor/llama.cpp)\" -B \"\$work/build\" \${generator[@]+\"\${generator[@]}\"} \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF $cmake_args" >&2
  cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu)
  cmake --build "$work/build" --target llama-server -j "$cores" >&2
  mkdir -p "$bin.tmp"
  cp "$work/build/bin/llama-server" "$bin.tmp/"
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
fi
echo "$bin/llama-server"
