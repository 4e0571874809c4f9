"""Fully convolutional network of Choi, Fazekas and Sandler (2016), five 3x3 layers."""

from __future__ import annotations

import torch
from torch import nn

from genrenet.models.base import ConvBNAct, GenreModel, check_dropout, check_int, pool2d

WIDTH_FACTORS = (1, 2, 2, 4, 8)


class FCN5(GenreModel):
    """Five conv 3x3 + BN + ReLU + max-pool 2x2 layers, a global max-pool to 1x1, then output.

    "Automatic tagging using deep convolutional neural networks" (ISMIR 2016), fully
    convolutional. Keyword arguments: ``width`` (channels of the first layer; the layers have
    width x (1, 2, 2, 4, 8); the paper-sized 128-256-256-512-1024 is ``width=128``, the default
    32 trains on a CPU) and ``dropout`` (before the output layer, default 0.5).
    """

    name = "fcn5"
    cpu_chunk = 4

    def __init__(
        self, n_classes: int, n_features: int = 128, width: int = 32, dropout: float = 0.5
    ) -> None:
        super().__init__(n_classes, n_features, width=width, dropout=dropout)
        check_int("width", width, 1, self.name)
        check_dropout("dropout", dropout, self.name)
        widths = [1] + [width * f for f in WIDTH_FACTORS]
        self.convs = nn.ModuleList(
            ConvBNAct(widths[i], widths[i + 1], stem=i == 0) for i in range(len(WIDTH_FACTORS))
        )
        self._set_head(widths[-1], dropout)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < last:
                x = pool2d(x, (2, 2))
        return torch.amax(x, dim=(2, 3))
