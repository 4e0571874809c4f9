"""Heads on frozen musicnn embeddings, fitted with scikit-learn in seconds.

The systems we start from compared a classifier on frozen pretrained features with fine-tuning.
Here the frozen option embeds every 3 s window of every training track once (cached in the
feature store), fits logistic regression, a linear SVM or a small MLP on the standardised
window embeddings, picks the regularisation on the validation tracks, and writes the fitted
head into the network's own layers (the scaler folded in), so the saved model predicts through
the same PyTorch path as any other and needs no pickle.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genrenet.pretrained.embeddings import EmbeddingStore, select

#: Regularisation tried on the validation tracks: C for logreg/svm, alpha for the MLP.
C_GRID = (0.01, 0.1, 1.0, 10.0)
ALPHA_GRID = (1e-3, 1e-2, 1e-1, 1.0)
#: A feature whose training spread is at most this fraction of its own magnitude is constant.
CONSTANT_RTOL = 1e-3


@dataclass
class HeadFit:
    """Which candidate won and how each scored on the validation tracks."""

    head: str
    chosen: float
    candidates: list[dict[str, float]]


def window_embeddings(
    store: EmbeddingStore, paths: list[Path], labels: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacked window embeddings, their labels, and the index of the track each came from."""
    rows, ys, owners = [], [], []
    for i, (path, label) in enumerate(zip(paths, labels, strict=True)):
        emb = select(store.load(path), kind)
        rows.append(emb)
        ys.append(np.full(len(emb), label))
        owners.append(np.full(len(emb), i))
    return np.concatenate(rows), np.concatenate(ys), np.concatenate(owners)


def fit_head(
    network: nn.Module,
    store: EmbeddingStore,
    train: tuple[list[Path], np.ndarray],
    valid: tuple[list[Path], np.ndarray],
    n_classes: int,
    seed: int = 0,
    class_weight: str | None = None,
    grid: tuple[float, ...] | None = None,
) -> HeadFit:
    """Fit ``network``'s head (a frozen :class:`~genrenet.models.musicnn.MusicnnGenre`) on the
    training tracks' window embeddings, choosing the regularisation by validation accuracy.

    ``class_weight="balanced"`` weighs each genre's windows inversely to their number (rare
    genres count as much as common ones); ``grid`` replaces the regularisation values tried
    (one value: no choice, e.g. refitting a chosen setting on train + valid)."""
    kind = network.embedding
    head = "logreg" if network.head_kind == "dense" else network.head_kind
    x, y, _ = window_embeddings(store, *train, kind)
    scaler = Standardiser.fit(x)
    xs = scaler.transform(x)
    has_valid = len(valid[0]) > 0
    if has_valid:
        xv, yv, owner = window_embeddings(store, *valid, kind)
        xvs = scaler.transform(xv)
    if grid is None:
        grid = ALPHA_GRID if head == "mlp" else C_GRID
        grid = grid if has_valid else grid[2:3]
    candidates, best = [], None
    for value in grid:
        layers = _fit_one(head, value, xs, y, n_classes, network, seed, class_weight)
        row = {"value": value}
        if has_valid:
            proba = _proba(layers, xvs)
            track_proba = np.stack([proba[owner == t].mean(axis=0) for t in range(len(valid[0]))])
            row["val_track_accuracy"] = float((track_proba.argmax(1) == valid[1]).mean())
            row["val_loss"] = float(
                -np.mean(np.log(np.clip(track_proba[np.arange(len(valid[1])), valid[1]], 1e-12, 1)))
            )
        candidates.append(row)
        key = (row.get("val_track_accuracy", 0.0), -row.get("val_loss", 0.0))
        if best is None or key > best[0]:
            best = (key, value, layers)
    _, chosen, layers = best
    _write_head(network, layers, scaler.mean, scaler.scale, scaler.constant)
    return HeadFit(head, chosen, candidates)


@dataclass
class Standardiser:
    """Per-feature standardisation (as scikit-learn's ``StandardScaler``) that treats
    numerically constant features as constant.

    Many musicnn embedding units are dead: on the training windows their value is fixed up to
    float32 rounding (e.g. ``2.4e-6`` with a standard deviation of ``1e-12``, a few ulps).
    ``StandardScaler`` only treats an exactly zero deviation as constant, so such a feature is
    divided by ``1e-12``, its rounding noise becomes a unit-variance input, and folding the
    scale into the head gives weights of ``1e12``: predictions then move by whole percents
    with rounding differences between ONNX Runtime and PyTorch or between BLAS builds.

    The floor is relative to each feature's own magnitude (root mean square), because rounding
    error is: a feature is constant when its standard deviation is at most
    :data:`CONSTANT_RTOL` (``1e-3``, about 8,000 float32 ulps) times its RMS, i.e. when its
    whole spread is within a few thousand roundings of its value. A relative floor rather than
    a fraction of the median deviation, since most pooled musicnn units are dead (the median
    deviation is itself ~1e-10); on the bundled model's MSD pools (train + valid + excerpts)
    the live units have relative deviations above 0.1 and the dead ones below 1e-3, so the
    floor sits in a wide gap. Constant
    features are centred and multiplied by zero: they are zero for the fit (which then gives
    them zero weight under L2) and get zero weight in the folded layer."""

    mean: np.ndarray
    scale: np.ndarray
    constant: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, rtol: float = CONSTANT_RTOL) -> Standardiser:
        x = np.asarray(x, np.float64)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        rms = np.sqrt(np.mean(x**2, axis=0))
        constant = std <= rtol * rms
        return cls(mean, np.where(constant, 1.0, std), constant)

    def transform(self, x: np.ndarray) -> np.ndarray:
        xs = (np.asarray(x, np.float64) - self.mean) / self.scale
        xs[:, self.constant] = 0.0
        return xs


def _fit_one(
    head: str,
    value: float,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    network,
    seed: int,
    class_weight: str | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fit one candidate; returns its affine layers ``[(W [out, in], b)]`` (ReLU between).
    The MLP has no class weights in scikit-learn: balanced weighting applies to logreg/svm."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if head == "logreg":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(
                C=value, max_iter=2000, random_state=seed, class_weight=class_weight
            ).fit(x, y)
            return [_full_rows(model.coef_, model.intercept_, model.classes_, n_classes)]
        if head == "svm":
            from sklearn.svm import LinearSVC

            model = LinearSVC(
                C=value, max_iter=5000, random_state=seed, class_weight=class_weight
            ).fit(x, y)
            w, b = _full_rows(model.coef_, model.intercept_, model.classes_, n_classes)
            t = _temperature(x @ w.T + b, y)
            return [(w * t, b * t)]
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(
            hidden_layer_sizes=(network.hidden,), alpha=value, max_iter=400, random_state=seed
        ).fit(x, y)
        first = (model.coefs_[0].T, model.intercepts_[0])
        out = _full_rows(model.coefs_[1].T, model.intercepts_[1], model.classes_, n_classes)
        return [first, out]


def _full_rows(
    w: np.ndarray, b: np.ndarray, classes: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Logit rows for all ``n_classes`` (a two-class model's single row becomes [0, z]; a class
    absent from training gets a very low logit)."""
    if w.shape[0] == 1 and len(classes) == 2:
        w = np.vstack([np.zeros_like(w), w])
        b = np.concatenate([[0.0], b])
    full_w = np.zeros((n_classes, w.shape[1]))
    full_b = np.full(n_classes, -1e4)
    full_w[classes] = w
    full_b[classes] = b
    return full_w, full_b


def _temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that minimises the training NLL of SVM scores (Platt-like)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        z = scores * np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x))


def _proba(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    h = h - h.max(axis=1, keepdims=True)
    e = np.exp(h)
    return e / e.sum(axis=1, keepdims=True)


def _write_head(
    network: nn.Module,
    layers: list[tuple[np.ndarray, np.ndarray]],
    mean: np.ndarray,
    scale: np.ndarray,
    constant: np.ndarray | None = None,
) -> None:
    """Copy the fitted layers into the network's head, folding the standardisation into the
    first: ``W (x - mean) / scale + b = (W / scale) x + (b - W mean / scale)``; features marked
    ``constant`` (see :class:`Standardiser`) get zero weight."""
    linears = [m for m in network.head.modules() if isinstance(m, nn.Linear)]
    if len(linears) != len(layers):
        raise ValueError(f"head has {len(linears)} linear layers, the fit {len(layers)}")
    (w0, b0), rest = layers[0], layers[1:]
    w0 = w0 / scale[None, :]
    if constant is not None:
        w0 = np.where(constant[None, :], 0.0, w0)
    b0 = b0 - w0 @ mean
    with torch.no_grad():
        for linear, (w, b) in zip(linears, [(w0, b0), *rest], strict=True):
            linear.weight.copy_(torch.from_numpy(np.asarray(w, np.float32)))
            linear.bias.copy_(torch.from_numpy(np.asarray(b, np.float32)))
