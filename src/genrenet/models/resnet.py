"""Short-chunk residual CNN of Won, Ferraro, Bogdanov and Serra (2020): the strong default."""

from __future__ import annotations

import torch
from torch import nn

from genrenet.models.base import GenreModel, check_dropout, check_int, stem_conv

#: Channel multipliers of the seven residual blocks (times ``channels``).
BLOCK_FACTORS = (1, 1, 2, 2, 2, 2, 4)


class ResBlock(nn.Module):
    """Two 3x3 conv + BN layers with a shortcut; the first conv has stride 2 to halve the map.

    A 3x3 conv with padding 1 and stride 2 maps a side of n to ceil(n / 2), so a side of 1
    stays 1: seven blocks never collapse a 40-band MFCC patch or a 32-frame one. ``stem=True``
    marks the network's first block (both of its input convs go through :func:`stem_conv`).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2, stem: bool = False) -> None:
        super().__init__()
        self.stem = stem
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.project = stride != 1 or c_in != c_out
        if self.project:
            self.conv3 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn3 = nn.BatchNorm2d(c_out)

    def _conv(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        return stem_conv(conv, x) if self.stem else conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""
        out = self.bn2(self.conv2(torch.relu(self.bn1(self._conv(self.conv1, x)))))
        shortcut = self.bn3(self._conv(self.conv3, x)) if self.project else x
        return torch.relu(out + shortcut)


class ShortChunkResNet(GenreModel):
    """Seven residual blocks (each halving the map), global max-pool, dense + BN + ReLU, output.

    "Evaluation of CNN-based automatic music tagging models" (SMC 2020), short-chunk CNN + Res.
    As there, downsampling is the stride of each block's first conv. Keyword arguments:
    ``channels`` (base width; blocks have channels x (1, 1, 2, 2, 2, 2, 4), the paper uses 128,
    default 32 so CPU training is practical) and ``dropout`` (before the output, default 0.5).
    """

    name = "resnet"

    def __init__(
        self, n_classes: int, n_features: int = 128, channels: int = 32, dropout: float = 0.5
    ) -> None:
        super().__init__(n_classes, n_features, channels=channels, dropout=dropout)
        check_int("channels", channels, 1, self.name)
        check_dropout("dropout", dropout, self.name)
        widths = [1] + [channels * f for f in BLOCK_FACTORS]
        self.blocks = nn.Sequential(
            *(ResBlock(widths[i], widths[i + 1], stem=i == 0) for i in range(len(BLOCK_FACTORS)))
        )
        self.dense = nn.Sequential(
            nn.Linear(widths[-1], widths[-1], bias=False),
            nn.BatchNorm1d(widths[-1]),
            nn.ReLU(inplace=True),
        )
        self._set_head(widths[-1], dropout)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.amax(self.blocks(x), dim=(2, 3)))
