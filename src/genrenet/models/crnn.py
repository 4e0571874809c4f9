"""Convolutional recurrent network of Choi, Fazekas, Sandler and Cho (2017)."""

from __future__ import annotations

import torch
from torch import nn

from genrenet.models.base import (
    ConvBNAct,
    GenreModel,
    check_choice,
    check_dropout,
    check_int,
    pool2d,
)

#: (frequency, time) max-pool of each conv block: mostly along frequency, as in the paper.
POOLS = ((2, 2), (3, 2), (4, 2), (4, 1))
WIDTH_FACTORS = (1, 2, 2, 2)
RNNS = ("gru", "lstm")
SUMMARIES = ("last", "mean")


class CRNN(GenreModel):
    """Four conv 3x3 + BN + ELU + max-pool blocks collapse frequency; a 2-layer RNN reads time.

    "Convolutional recurrent neural networks for music classification" (ICASSP 2017). Pools
    are clamped to the map size and any frequency rows left after the fourth block are
    max-pooled away, so 40 MFCCs and 128 mel bands both work. Keyword arguments: ``channels``
    (first block; blocks have channels x (1, 2, 2, 2), default 32), ``hidden`` (RNN units,
    default 64), ``rnn`` ("gru" or "lstm"), ``summary`` ("last" hidden state as in the paper,
    or "mean" over time, the default, steadier on short patches), ``conv_dropout`` (after each
    block, default 0.1) and ``dropout`` (before the output, default 0.3).
    """

    name = "crnn"

    def __init__(
        self,
        n_classes: int,
        n_features: int = 128,
        channels: int = 32,
        hidden: int = 64,
        rnn: str = "gru",
        summary: str = "mean",
        conv_dropout: float = 0.1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(
            n_classes,
            n_features,
            channels=channels,
            hidden=hidden,
            rnn=rnn,
            summary=summary,
            conv_dropout=conv_dropout,
            dropout=dropout,
        )
        check_int("channels", channels, 1, self.name)
        check_int("hidden", hidden, 1, self.name)
        check_choice("rnn", rnn, RNNS, self.name)
        check_choice("summary", summary, SUMMARIES, self.name)
        check_dropout("conv_dropout", conv_dropout, self.name)
        check_dropout("dropout", dropout, self.name)
        widths = [1] + [channels * f for f in WIDTH_FACTORS]
        self.convs = nn.ModuleList(
            ConvBNAct(widths[i], widths[i + 1], "elu", stem=i == 0) for i in range(len(POOLS))
        )
        self.conv_drop = nn.Dropout(conv_dropout)
        rnn_class = nn.GRU if rnn == "gru" else nn.LSTM
        self.rnn = rnn_class(widths[-1], hidden, num_layers=2, batch_first=True)
        self.summary = summary
        self._set_head(hidden, dropout)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        for conv, pool in zip(self.convs, POOLS, strict=True):
            x = self.conv_drop(pool2d(conv(x), pool))
        seq = torch.amax(x, dim=2).transpose(1, 2)  # [batch, time, channels]
        out, _ = self.rnn(seq)
        return out[:, -1] if self.summary == "last" else out.mean(dim=1)
