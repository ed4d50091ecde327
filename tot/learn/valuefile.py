"""The value file (`value.tot`): a learned value head as data, never code.

One JSON object: what the head reads (the model's sha256, the task, the prompt's version, the
layers and pooling), the head's arrays (float32, base64 little-endian), its calibration, how
it was trained (rows, searches, labels, generations) and what it measured. A sha256 over the
rest of the object (`checksum`) catches a corrupt or edited file. Loading parses JSON and
numbers only: a file from a stranger cannot run anything. Every problem is one `InputError`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tot.errors import InputError
from tot.learn.features import FeatureSpec
from tot.learn.head import Head

FORMAT = "tot-value"
VERSION = 1


@dataclass(frozen=True)
class ValueFile:
    """A learned value: the head, what it needs (model, task, features) and its record."""

    model: dict[str, str]  # file, sha256 (or the served model's name for a server), backend
    task: str
    feature: FeatureSpec
    head: Head
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = "the value file"  # where it was read from, for messages (not saved)

    def as_dict(self) -> dict[str, Any]:
        head = self.head
        arrays = {"mean": head.mean, "scale": head.scale}
        for k, (weights, bias) in enumerate(head.layers):
            arrays[f"w{k}"], arrays[f"b{k}"] = weights, bias
        body = {
            "format": FORMAT,
            "version": VERSION,
            "model": dict(self.model),
            "task": self.task,
            "feature": self.feature.as_dict(),
            "head": {
                "layers": len(head.layers),
                "hidden": head.hidden,
                "calibration": list(head.calibration),
                "info": head.info,
                "arrays": {name: _encode(array) for name, array in arrays.items()},
            },
            "training": self.training,
            "metrics": self.metrics,
        }
        return {**body, "checksum": _checksum(body)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file atomically (a half-written file never replaces a good one)."""
        target = Path(path)
        temporary = target.with_name(target.name + ".part")
        try:
            temporary.write_text(json.dumps(self.as_dict(), separators=(",", ":")) + "\n", encoding="utf-8")
            os.replace(temporary, target)
        except OSError as error:
            raise InputError(f"cannot write the value file {target}: {error.strerror or error}") from None


def load(path: str | os.PathLike[str]) -> ValueFile:
    """The value file at `path`, checked; a missing, truncated, corrupt or foreign file is one InputError."""
    where = Path(path)
    try:
        raw = where.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the value file {where}: {error.strerror or error}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InputError(f"{where} is not a tot value file (not JSON: corrupt or truncated)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{where} is not a tot value file")
    if data.get("version") != VERSION:
        raise InputError(f"{where} is a tot value file of version {data.get('version')!r}; this tot reads version {VERSION}")
    body = {name: value for name, value in data.items() if name != "checksum"}
    if data.get("checksum") != _checksum(body):
        raise InputError(f"{where} is corrupt (its checksum does not match its contents)")
    try:
        return replace(_parse(data), source=str(where))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(f"{where} is not a valid tot value file ({type(error).__name__}: {error})") from None


def _parse(data: dict[str, Any]) -> ValueFile:
    head = data["head"]
    arrays = {name: _decode(value) for name, value in head["arrays"].items()}
    count = int(head["layers"])
    layers = tuple((arrays[f"w{k}"], arrays[f"b{k}"]) for k in range(count))
    width = arrays["mean"].shape[0]
    if arrays["scale"].shape != (width,) or layers[-1][0].shape[1] != 1:
        raise ValueError("the head's arrays do not fit together")
    previous = width
    for weights, bias in layers:
        if weights.ndim != 2 or weights.shape[0] != previous or bias.shape != (weights.shape[1],):
            raise ValueError("the head's arrays do not fit together")
        previous = weights.shape[1]
    calibration = head["calibration"]
    a, b = float(calibration[0]), float(calibration[1])
    model = {str(k): str(v) for k, v in data["model"].items()}
    feature = data["feature"]
    spec = FeatureSpec(str(feature["prompt"]), tuple(int(layer) for layer in feature["layers"]), str(feature["pooling"]))
    info = head.get("info", {})
    return ValueFile(
        model=model,
        task=str(data["task"]),
        feature=spec,
        head=Head(arrays["mean"], arrays["scale"], layers, (a, b), info if isinstance(info, dict) else {}),
        training=data.get("training", {}),
        metrics=data.get("metrics", {}),
    )


def _encode(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    values = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(values.shape), "float32": base64.b64encode(values.tobytes()).decode("ascii")}


def _decode(value: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    shape = tuple(int(n) for n in value["shape"])
    raw = base64.b64decode(value["float32"], validate=True)
    array = np.frombuffer(raw, dtype="<f4")
    if array.size != int(np.prod(shape)) or not np.all(np.isfinite(array)):
        raise ValueError("an array's data does not match its shape, or holds a non-finite number")
    return array.reshape(shape).astype(np.float64)


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
