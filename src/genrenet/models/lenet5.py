"""LeNet-5 style baseline: two small conv layers with average pooling, then three dense layers."""

from __future__ import annotations

import torch
from torch import nn

from genrenet.models.base import AdaptiveAvgPool2d, GenreModel, check_int, pool2d, stem_conv


class LeNet5(GenreModel):
    """conv 8@3x3 -> avg-pool -> conv 32@3x3 -> avg-pool -> dense 120 -> dense 84 -> output.

    Keyword arguments: ``grid`` (side of the adaptive average pool before the dense layers,
    default 8, so any patch size works) and ``dropout_scale`` (multiplies the 0.2/0.2/0.3/0.4
    dropouts of the recipe; 1.0 keeps them, 0.0 switches them off).
    """

    name = "lenet5"

    def __init__(
        self, n_classes: int, n_features: int = 128, grid: int = 8, dropout_scale: float = 1.0
    ) -> None:
        super().__init__(n_classes, n_features, grid=grid, dropout_scale=dropout_scale)
        check_int("grid", grid, 1, self.name)
        ok = isinstance(dropout_scale, (int, float)) and not isinstance(dropout_scale, bool)
        if not ok or not 0 <= dropout_scale < 2.5:
            raise ValueError(
                f"{self.name}: dropout_scale must be a number in [0, 2.5) so that every rate "
                f"stays below 1, got {dropout_scale!r}"
            )
        rates = [r * dropout_scale for r in (0.2, 0.2, 0.3, 0.4)]
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.drop1 = nn.Dropout(rates[0])
        self.conv2 = nn.Conv2d(8, 32, 3, padding=1)
        self.drop2 = nn.Dropout(rates[1])
        self.grid = AdaptiveAvgPool2d((grid, grid))
        self.dense = nn.Sequential(
            nn.Linear(32 * grid * grid, 120),
            nn.ReLU(inplace=True),
            nn.Dropout(rates[2]),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
        )
        self._set_head(84, rates[3])

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(pool2d(torch.relu(stem_conv(self.conv1, x)), (2, 2), "avg"))
        x = self.drop2(pool2d(torch.relu(self.conv2(x)), (2, 2), "avg"))
        return self.dense(torch.flatten(self.grid(x), 1))
