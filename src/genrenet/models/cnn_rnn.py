"""Parallel CNN and bidirectional GRU branches, concatenated before the output."""

from __future__ import annotations

import torch
from torch import nn

from genrenet.models.base import ConvBNAct, GenreModel, check_dropout, check_int, pool2d

WIDTH_FACTORS = (1, 2, 4, 4)


class CNNRNN(GenreModel):
    """A 2-D CNN branch (timbre/texture) beside a bidirectional GRU over frames (temporal shape).

    CNN branch: four conv 3x3 + BN + ReLU + max-pool 2x2 blocks, then global mean and max.
    RNN branch: a bidirectional GRU reading one ``n_features`` vector per frame, averaged over
    time. Keyword arguments: ``channels`` (first CNN block; blocks have channels x (1, 2, 4, 4),
    default 16), ``hidden`` (GRU units per direction, default 64), ``rnn_layers`` (default 1)
    and ``dropout`` (before the output, default 0.3).
    """

    name = "cnn_rnn"
    cpu_chunk = 16

    def __init__(
        self,
        n_classes: int,
        n_features: int = 128,
        channels: int = 16,
        hidden: int = 64,
        rnn_layers: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(
            n_classes,
            n_features,
            channels=channels,
            hidden=hidden,
            rnn_layers=rnn_layers,
            dropout=dropout,
        )
        check_int("channels", channels, 1, self.name)
        check_int("hidden", hidden, 1, self.name)
        check_int("rnn_layers", rnn_layers, 1, self.name)
        check_dropout("dropout", dropout, self.name)
        widths = [1] + [channels * f for f in WIDTH_FACTORS]
        self.convs = nn.ModuleList(
            ConvBNAct(widths[i], widths[i + 1], stem=i == 0) for i in range(len(WIDTH_FACTORS))
        )
        self.rnn = nn.GRU(
            n_features, hidden, num_layers=rnn_layers, batch_first=True, bidirectional=True
        )
        self._set_head(2 * widths[-1] + 2 * hidden, dropout)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        c = x
        for conv in self.convs:
            c = pool2d(conv(c), (2, 2))
        cnn = torch.cat([c.mean(dim=(2, 3)), torch.amax(c, dim=(2, 3))], dim=1)
        seq, _ = self.rnn(x[:, 0].transpose(1, 2))  # frames as steps: [batch, time, features]
        return torch.cat([cnn, seq.mean(dim=1)], dim=1)
