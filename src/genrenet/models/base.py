"""The contract every genrenet architecture follows, and the small checks they share.

A model maps normalised feature patches ``[batch, 1, n_features, frames]`` to logits
``[batch, n_classes]``; ``embed`` gives the penultimate vector ``[batch, embed_dim]``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MIN_FEATURES = 1
MIN_FRAMES = 1


class GenreModel(nn.Module):
    """Base class: input checks, ``embed`` -> dropout -> linear head, and rebuildable settings.

    Subclasses build their body, call :meth:`_set_head`, and implement :meth:`_embed`.
    ``arch_kwargs`` holds the JSON-ready keyword arguments that rebuild the same architecture.
    """

    name: str = "model"
    #: CPU inference (eval mode, no autograd) runs in chunks of this many patches, so each
    #: chunk's feature maps stay in cache: 1.5-2.5x the throughput of one batch of 64.
    cpu_chunk: int = 8

    def __init__(self, n_classes: int, n_features: int, **arch_kwargs: Any) -> None:
        super().__init__()
        check_int("n_classes", n_classes, 1, self.name)
        check_int("n_features", n_features, MIN_FEATURES, self.name)
        self.n_classes = int(n_classes)
        self.n_features = int(n_features)
        self.arch_kwargs: dict[str, Any] = dict(arch_kwargs)
        self.embed_dim = 0

    def _set_head(self, embed_dim: int, dropout: float) -> None:
        """Create the output layer: dropout then a linear map from ``embed_dim`` to the classes."""
        self.embed_dim = int(embed_dim)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.embed_dim, self.n_classes))

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation ``[batch, embed_dim]`` (for PCA plots and transfer)."""
        check_input(x, self.n_features, self.name)
        if self._chunked(x):
            return torch.cat([self._embed(part) for part in x.split(self.cpu_chunk)])
        return self._embed(x)

    def _chunked(self, x: torch.Tensor) -> bool:
        if self.training or torch.is_grad_enabled() or x.device.type != "cpu":
            return False
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return False
        return x.shape[0] > self.cpu_chunk

    def saved_state(self) -> dict[str, torch.Tensor]:
        """The tensors a saved model holds (all of them, unless a subclass rebuilds some from
        elsewhere, as frozen pretrained backbones do)."""
        return self.state_dict()

    required_features: str | None = None
    """The feature kind this architecture needs (None: any); pretrained ones bring their own."""

    @classmethod
    def default_lr(cls, kwargs: dict[str, Any]) -> float:
        """Adam's learning rate when none is given for these keyword arguments."""
        return 1e-3

    @classmethod
    def loading_kwargs(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments that rebuild the network when loading a saved model (a subclass
        can skip work whose result the saved weights overwrite anyway)."""
        return {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, n_classes]`` for patches ``[batch, 1, n_features, frames]``."""
        return self.head(self.embed(x))


def check_input(x: torch.Tensor, n_features: int, name: str) -> None:
    """Raise ValueError unless ``x`` is ``[batch, 1, n_features, frames]``, none of them empty."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != n_features:
        raise ValueError(
            f"{name} expects input [batch, 1, {n_features}, frames], got {tuple(x.shape)}"
        )
    if x.shape[0] < 1 or x.shape[3] < MIN_FRAMES:
        raise ValueError(f"{name} got an empty batch or patch: input shape {tuple(x.shape)}")


def check_int(what: str, value: Any, minimum: int, name: str) -> None:
    """Raise ValueError unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: {what} must be an integer >= {minimum}, got {value!r}")


def check_dropout(what: str, value: Any, name: str) -> None:
    """Raise ValueError unless ``value`` is a probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name}: {what} must be a number in [0, 1), got {value!r}")


def check_choice(what: str, value: Any, choices: tuple[str, ...], name: str) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: {what} must be one of {list(choices)}, got {value!r}")


def stem_conv(
    conv: nn.Conv2d,
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Apply a network's first ``conv`` so that, on a CPU, its output and all later maps are NHWC.

    oneDNN runs convolutions, pooling and batch norm two to three times faster channels-last,
    and the layout propagates from layer to layer. A 1-channel input cannot carry it, so the
    (tiny) first weight is restrided here instead; the parameters themselves stay contiguous,
    as safetensors needs. Other devices get the plain convolution. ``weight`` and ``bias``
    replace the layer's own (a transformed copy of them, in eval mode).
    """
    weight = conv.weight if weight is None else weight
    bias = conv.bias if bias is None else bias
    if x.device.type == "cpu":
        weight = weight.to(memory_format=torch.channels_last)
    return conv._conv_forward(x, weight, bias)


def pool2d(x: torch.Tensor, kernel: tuple[int, int], mode: str = "max") -> torch.Tensor:
    """Pool by ``kernel`` (freq, time), clamping each side to the map size so nothing collapses.

    A side already of size 1 is left alone, so deep stacks work on short or narrow inputs.
    """
    kh = max(1, min(kernel[0], x.shape[-2]))
    kw = max(1, min(kernel[1], x.shape[-1]))
    if kh == 1 and kw == 1:
        return x
    if mode == "max":
        return F.max_pool2d(x, (kh, kw))
    return F.avg_pool2d(x, (kh, kw))


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` that also exports: while a graph is traced, the pooling is two
    products with constant averaging matrices (the same windows), because the ONNX exporter
    cannot always see the input size its own adaptive pooling needs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()):
            return super().forward(x)
        out_h, out_w = self.output_size
        rows = _averaging_matrix(int(x.shape[-2]), out_h).to(x)
        cols = _averaging_matrix(int(x.shape[-1]), out_w).to(x)
        return torch.matmul(torch.matmul(rows, x), cols.T)


def _averaging_matrix(size: int, out: int) -> torch.Tensor:
    """``[out, size]``: row i averages adaptive pooling's window i (PyTorch's floor/ceil rule)."""
    matrix = torch.zeros(out, size)
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class ConvBNAct(nn.Module):
    """conv 3x3 (same padding, no bias) -> batch norm -> activation ("relu" or "elu").

    ``stem=True`` marks a network's first layer, run through :func:`stem_conv`.
    """

    def __init__(self, c_in: int, c_out: int, activation: str = "relu", stem: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ELU(inplace=True) if activation == "elu" else nn.ReLU(inplace=True)
        self.stem = stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve, normalise, activate."""
        y = stem_conv(self.conv, x) if self.stem else self.conv(x)
        return self.act(self.bn(y))
