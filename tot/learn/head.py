"""A small value head in numpy: features -> probability that a state can still be solved.

`fit` trains a logistic regression (`hidden=0`) or a one-hidden-layer MLP (ReLU) on
standardised features with Adam, a weight decay and early stopping on a validation set,
then calibrates the output with Platt scaling (a, b in sigmoid(a * logit + b)) fitted on
that validation set, so a value of 0.8 means about 80% of such states were solvable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Head:
    """The trained head: standardisation, layers (weights, bias)..., calibration."""

    mean: Array
    scale: Array
    layers: tuple[tuple[Array, Array], ...]  # a last layer of one output; ReLU between layers
    calibration: tuple[float, float] = (1.0, 0.0)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def hidden(self) -> int:
        return 0 if len(self.layers) == 1 else int(self.layers[0][0].shape[1])

    @property
    def width(self) -> int:
        return int(self.mean.shape[0])

    def logits(self, features: np.ndarray[Any, Any]) -> Array:
        """The raw (uncalibrated) logit of each row."""
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        for index, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            if index < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        result: Array = x[:, 0]
        return result

    def predict(self, features: np.ndarray[Any, Any]) -> Array:
        """Calibrated probabilities."""
        a, b = self.calibration
        return _sigmoid(a * self.logits(features) + b)


def _sigmoid(z: Array) -> Array:
    result: Array = 0.5 * (1.0 + np.tanh(0.5 * np.clip(z, -60.0, 60.0)))
    return result


def fit(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    x_val: np.ndarray[Any, Any],
    y_val: np.ndarray[Any, Any],
    *,
    hidden: int = 0,
    decay: float = 1e-3,
    epochs: int = 80,
    batch: int = 256,
    rate: float = 1e-3,
    patience: int = 10,
    weights: np.ndarray[Any, Any] | None = None,
    seed: int = 0,
    score: Callable[[Array], float] | None = None,
    on_epoch: Callable[[], None] = lambda: None,
) -> Head:
    """Train on (x, y), stop early and calibrate on (x_val, y_val); `weights` weigh the training rows.

    Early stopping keeps the epoch with the lowest validation log-loss, or with the highest
    `score(validation logits)` when given (e.g. the held-out AUC). `on_epoch` is called after each epoch."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    xs = (x - mean) / scale
    xv = (np.asarray(x_val, dtype=np.float64) - mean) / scale
    yv = np.asarray(y_val, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w * len(w) / w.sum()
    sizes = [x.shape[1], *([hidden] if hidden else []), 1]
    params: list[Array] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        params.append(rng.normal(0.0, math.sqrt(2.0 / n_in) if n_out > 1 else math.sqrt(1.0 / n_in), (n_in, n_out)))
        params.append(np.zeros(n_out))
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    best = (math.inf, [p.copy() for p in params], 0)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            grads = _gradients(params, xs[rows], y[rows], w[rows])
            step += 1
            for k, (p, g) in enumerate(zip(params, grads)):
                if p.ndim == 2:
                    g = g + decay * p
                first[k] = 0.9 * first[k] + 0.1 * g
                second[k] = 0.999 * second[k] + 0.001 * g * g
                p -= rate * (first[k] / (1 - 0.9**step)) / (np.sqrt(second[k] / (1 - 0.999**step)) + 1e-8)
        loss = _loss(params, xv, yv) if score is None else -score(_forward(params, xv)[1])
        if not math.isfinite(loss):
            loss = _loss(params, xv, yv)
        on_epoch()
        if loss < best[0] - 1e-5:
            best = (loss, [p.copy() for p in params], epoch)
        elif epoch - best[2] >= patience:
            break
    params = best[1]
    layers = tuple((params[k], params[k + 1]) for k in range(0, len(params), 2))
    head = Head(mean, scale, layers, info={"epochs": best[2] + 1, "validation": round(float(abs(best[0])), 6)})
    a, b = platt(head.logits(x_val), yv)
    return Head(mean, scale, layers, (a, b), head.info)


def _forward(params: Sequence[Array], x: Array) -> tuple[list[Array], Array]:
    activations = [x]
    for k in range(0, len(params) - 2, 2):
        x = np.maximum(x @ params[k] + params[k + 1], 0.0)
        activations.append(x)
    return activations, (x @ params[-2] + params[-1])[:, 0]


def _loss(params: Sequence[Array], x: Array, y: Array) -> float:
    _, z = _forward(params, x)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _gradients(params: Sequence[Array], x: Array, y: Array, w: Array) -> list[Array]:
    """Gradients of the weighted mean log-loss."""
    activations, z = _forward(params, x)
    delta = ((_sigmoid(z) - y) * w / len(y))[:, None]
    grads: list[Array] = [np.zeros(0)] * len(params)
    for k in range(len(params) - 2, -1, -2):
        grads[k] = activations[k // 2].T @ delta
        grads[k + 1] = delta.sum(axis=0)
        if k:
            delta = (delta @ params[k].T) * (activations[k // 2] > 0)
    return grads


def platt(logits: np.ndarray[Any, Any], y: np.ndarray[Any, Any], *, iterations: int = 200) -> tuple[float, float]:
    """(a, b) minimising the log-loss of sigmoid(a * logit + b) (Newton's method, a small ridge)."""
    z = np.asarray(logits, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if len(z) == 0 or t.min() == t.max():
        return 1.0, 0.0
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = _sigmoid(a * z + b)
        g = np.array([np.sum((p - t) * z), np.sum(p - t)]) + 1e-3 * np.array([a - 1.0, b])
        s = p * (1 - p)
        h = np.array([[np.sum(s * z * z), np.sum(s * z)], [np.sum(s * z), np.sum(s)]]) + 1e-3 * np.eye(2)
        change = np.linalg.solve(h, g)
        a, b = a - float(change[0]), b - float(change[1])
        if np.abs(change).max() < 1e-9:
            break
    return a, b
