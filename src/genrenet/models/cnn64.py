"""Fast four-block CNN with 64 filters per layer, the real-time workhorse."""

from __future__ import annotations

import torch
from torch import nn

from genrenet.models.base import (
    AdaptiveAvgPool2d,
    GenreModel,
    check_dropout,
    check_int,
    pool2d,
    stem_conv,
)

DROPOUTS = (0.2, 0.2, 0.2, 0.3)


class _Block(nn.Module):
    """conv 3x3 -> max-pool 2x2 -> (batch norm) -> ReLU -> dropout.

    ReLU commutes with max-pooling, so this is conv + ReLU + max-pool with the batch norm
    placed on the pooled map: the same network shape with a quarter of the element-wise work,
    which is most of the cost of the full-resolution first block on a CPU.
    """

    def __init__(
        self, c_in: int, c_out: int, dropout: float, batch_norm: bool, stem: bool = False
    ) -> None:
        super().__init__()
        self.stem = stem
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)
        self.norm = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One block: conv, pool, norm, ReLU, dropout."""
        y = stem_conv(self.conv, x) if self.stem else self.conv(x)
        return self.drop(torch.relu_(self.norm(pool2d(y, (2, 2)))))


class CNN64(GenreModel):
    """Four blocks of conv 64@3x3 + ReLU + max-pool 2x2 + dropout (0.2, 0.2, 0.2, 0.3) -> output.

    Keyword arguments: ``channels`` (filters per conv, default 64), ``batch_norm`` (default
    True), ``grid`` (side of the adaptive average pool before flattening, default 4, so the
    patch length is free) and ``dropout`` (before the output layer, default 0.0: the blocks
    already end in dropout).
    """

    name = "cnn64"
    cpu_chunk = 4

    def __init__(
        self,
        n_classes: int,
        n_features: int = 128,
        channels: int = 64,
        batch_norm: bool = True,
        grid: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            n_classes,
            n_features,
            channels=channels,
            batch_norm=batch_norm,
            grid=grid,
            dropout=dropout,
        )
        check_int("channels", channels, 1, self.name)
        check_int("grid", grid, 1, self.name)
        check_dropout("dropout", dropout, self.name)
        if not isinstance(batch_norm, bool):
            raise ValueError(f"{self.name}: batch_norm must be true or false, got {batch_norm!r}")
        widths = [1] + [channels] * len(DROPOUTS)
        self.blocks = nn.Sequential(
            *(
                _Block(widths[i], widths[i + 1], p, batch_norm, stem=i == 0)
                for i, p in enumerate(DROPOUTS)
            )
        )
        self.grid = AdaptiveAvgPool2d((grid, grid))
        self._set_head(channels * grid * grid, dropout)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.grid(self.blocks(x)), 1)
