"""musicnn (Pons and Serra, 2019) and its VGG baseline, ported from TensorFlow to PyTorch.

The layers follow ``musicnn/models.py`` of the ``musicnn`` 0.1.0 wheel exactly: input batch
norm; timbral (7x38, 7x67; 204 filters) and temporal (128x1, 64x1, 32x1; 51 filters) convolutions,
each max-pooled over frequency; a dense mid-end of three 7-frame convolutions with residual
connections; max- and mean-pooling over time; a 200-unit dense layer; the tag output. TensorFlow
conventions kept: batch-norm epsilon 1e-3, 'same' padding with the extra row at the end, and
max pooling that skips NaN (the float16 front end overflows to inf on loud music; TensorFlow's
pooling drops the NaN that inf produces in the convolutions, so this port does too).

Tensors here are ``[batch, frames, mels]`` (the original's time-as-height layout);
:class:`MusicnnGenre` adapts genrenet's ``[batch, 1, mels, frames]`` patches.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from genrenet.models.base import GenreModel, check_choice, check_dropout, stem_conv

#: TensorFlow's ``tf.compat.v1.layers.batch_normalization`` default.
TF_BN_EPSILON = 1e-3
#: TensorFlow's max pooling starts from the lowest float and ignores NaN.
_LOWEST = torch.finfo(torch.float32).min
LOUDEST_INPUT = math.log10(10000 * 65504.0 + 1)
"""musicnn's input for the loudest mel power float16 holds (65504): where louder music overflows
float16 to inf, the genre classifier reads this instead (the tagger keeps the original's inf)."""

N_MELS = 96
PATCH_FRAMES = 187
#: Patches per forward pass on a CPU: one at a time measured fastest for musicnn's wide front
#: end (23.9 ms per patch against 28.8 ms in chunks of 8, 2 threads).
CPU_PATCHES = 1
TAGGERS = ("msd", "mtt")
FREEZE_OPTIONS = ("all", "frontend", "none")
EMBEDDINGS = ("penultimate", "mean_pool", "max_pool", "pools")
#: "dense": dropout + linear trained by gradient descent; "logreg" / "svm": the same linear layer
#: fitted by scikit-learn on frozen embeddings; "mlp": one hidden layer (scikit-learn when the
#: backbone is frozen, else gradient descent); "auto": logreg when frozen, dense otherwise.
HEADS = ("auto", "dense", "logreg", "svm", "mlp")
SKLEARN_HEADS = ("logreg", "svm", "mlp")


def exporting() -> bool:
    """True while a graph is traced or exported (ONNX, TorchScript, torch.export): no
    data-dependent branches then, so the front end takes its pooled form, made NaN-exact."""
    return torch.onnx.is_in_onnx_export() or torch.jit.is_tracing() or torch.compiler.is_compiling()


def tf_max(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over ``dim`` as TensorFlow's MaxPool computes it: NaN skipped, floor at -FLT_MAX."""
    if exporting():  # ONNX has no fmax: the same with a NaN test
        return (
            torch.where(torch.isnan(x), torch.full_like(x, _LOWEST), x)
            .clamp_min(_LOWEST)
            .amax(dim=dim)
        )
    return torch.fmax(x, x.new_tensor(_LOWEST)).amax(dim=dim)


def tf_relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU as TensorFlow's fused conv/dense kernels compute it on x86: ``max(x, 0)`` where a
    NaN (from inf - inf in a convolution) becomes 0 rather than propagating."""
    if exporting():  # ONNX has no fmax: the same with a NaN test
        return torch.relu(torch.where(torch.isnan(x), torch.zeros_like(x), x))
    return torch.fmax(x, x.new_zeros(()))


def tf_same_pad(kernel: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding for stride 1: the odd row goes at the end."""
    total = kernel - 1
    return total // 2, total - total // 2


class ConvReluBN(nn.Module):
    """conv -> ReLU -> batch norm (TensorFlow epsilon), the order musicnn uses."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        bn = nn.BatchNorm2d if isinstance(conv, nn.Conv2d) else nn.BatchNorm1d
        self.bn = bn(conv.out_channels, eps=TF_BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve, rectify, normalise."""
        return self.bn(tf_relu(self.conv(x)))


class FrequencyPooledConv(nn.Module):
    """A front-end branch: pad time, conv over (time, freq), ReLU, BN, max over frequency."""

    def __init__(self, filters: int, kernel: tuple[int, int], time_pad: tuple[int, int]) -> None:
        super().__init__()
        self.block = ConvReluBN(nn.Conv2d(1, filters, kernel))
        self.time_pad = time_pad

    def forward(self, x: torch.Tensor, exact: bool = True) -> torch.Tensor:
        """``[batch, 1, frames, mels]`` -> ``[batch, filters, frames]``; ``exact=False`` (eval
        mode, finite input only) pools before ReLU and BN."""
        padded = F.pad(x, (0, 0, *self.time_pad))
        if exact or self.training:
            return tf_max(self.block(padded), dim=3)
        return self._pooled_inference(padded)

    def _pooled_inference(self, x: torch.Tensor) -> torch.Tensor:
        """The same result with ReLU and BN applied after pooling (3-4x less memory traffic).

        ReLU is non-decreasing and BN an affine map per channel, so the maximum of BN(ReLU(z))
        over frequency is BN(ReLU(max z)) where the BN scale is positive and BN(ReLU(min z))
        where it is negative. Exact for finite input; eval mode only (training needs the batch
        statistics of the full map).
        """
        conv, bn = self.block.conv, self.block.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        if exporting():
            return self._pooled_graph(x, scale, shift)
        # The minimum is -max(-z): filters of negative scale are convolved with their sign
        # flipped (exact in floating point), so one maximum serves every channel, taken over
        # the channels-last memory (frequency before channels): several times faster than
        # min and max over the last axis of the NCHW view.
        sign = torch.where(scale >= 0, 1.0, -1.0).to(scale)
        weight, bias = conv.weight * sign[:, None, None, None], conv.bias * sign
        z = stem_conv(conv, x, weight, bias)  # [batch, filters, frames, freq]: NHWC on a CPU
        peak = z.permute(0, 2, 3, 1).amax(dim=2)  # [batch, frames, filters]
        return torch.addcmul(shift, (peak * sign).clamp_min(0), scale).transpose(1, 2)

    def _pooled_graph(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor):
        """The pooled form as an exported graph computes it: the weights stay initializers
        (as ONNX Runtime's int8 quantiser needs), and a NaN in ``z`` (inf - inf from loud input)
        becomes 0 first, as ``tf_relu`` would make it, so the graph, which cannot branch on
        the data, also matches the exact form on non-finite input."""
        z = stem_conv(self.block.conv, x)
        z = torch.where(torch.isnan(z), torch.zeros_like(z), z)
        low, high = torch.aminmax(z, dim=3)
        picked = torch.where((scale >= 0)[None, :, None], high, low)
        return torch.relu(picked) * scale[None, :, None] + shift[None, :, None]


class MusicnnOutputs(NamedTuple):
    """Every representation the original ``extractor`` returns (batch first, time second)."""

    logits: torch.Tensor
    timbral: torch.Tensor
    temporal: torch.Tensor
    cnn1: torch.Tensor
    cnn2: torch.Tensor
    cnn3: torch.Tensor
    mean_pool: torch.Tensor
    max_pool: torch.Tensor
    penultimate: torch.Tensor


class Musicnn(nn.Module):
    """The full musicnn tagger: ``[batch, frames, 96]`` log-compressed mels -> tag logits.

    ``midend_filters=64, backend_units=200`` is MSD_musicnn / MTT_musicnn (787,159 trainable
    parameters with 50 tags); 512 / 500 is MSD_musicnn_big.
    """

    def __init__(
        self,
        n_tags: int = 50,
        n_mels: int = N_MELS,
        midend_filters: int = 64,
        backend_units: int = 200,
    ) -> None:
        super().__init__()
        timbral_filters, temporal_filters = int(1.6 * 128), int(1.6 * 32)
        self.input_bn = nn.BatchNorm2d(1, eps=TF_BN_EPSILON)
        self.timbral = nn.ModuleList(
            FrequencyPooledConv(timbral_filters, (7, int(share * n_mels)), (3, 3))
            for share in (0.4, 0.7)
        )
        self.temporal = nn.ModuleList(
            FrequencyPooledConv(temporal_filters, (k, 1), tf_same_pad(k)) for k in (128, 64, 32)
        )
        front = 2 * timbral_filters + 3 * temporal_filters
        self.midend = nn.ModuleList(
            ConvReluBN(nn.Conv1d(c_in, midend_filters, 7, padding=3))
            for c_in in (front, midend_filters, midend_filters)
        )
        pooled = 2 * (front + 3 * midend_filters)
        self.pool_bn = nn.BatchNorm1d(pooled, eps=TF_BN_EPSILON)
        self.dense = nn.Linear(pooled, backend_units)
        self.dense_bn = nn.BatchNorm1d(backend_units, eps=TF_BN_EPSILON)
        self.output = nn.Linear(backend_units, n_tags)
        self.dropout = nn.Dropout(0.5)
        self.embed_dims = {
            "penultimate": backend_units,
            "mean_pool": pooled // 2,
            "max_pool": pooled // 2,
            "pools": pooled,
        }

    def frontend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Timbral ``[batch, 408, frames]`` and temporal ``[batch, 153, frames]`` features."""
        normalized = self.input_bn(x.unsqueeze(1))
        if self.training:
            exact = True
        elif exporting():
            exact = False  # the pooled form, NaN-safe (see FrequencyPooledConv)
        else:
            exact = not bool(torch.isfinite(x).all())  # checked once per batch
        timbral = torch.cat([branch(normalized, exact) for branch in self.timbral], dim=1)
        temporal = torch.cat([branch(normalized, exact) for branch in self.temporal], dim=1)
        return timbral, temporal

    def features(self, x: torch.Tensor) -> MusicnnOutputs:
        """All intermediate representations, in the original's layout (time before channels)."""
        timbral, temporal = self.frontend(x)
        front = torch.cat([timbral, temporal], dim=1)
        cnn1 = self.midend[0](front)
        cnn2 = self.midend[1](cnn1) + cnn1
        cnn3 = self.midend[2](cnn2) + cnn2
        stacked = torch.cat([front, cnn1, cnn2, cnn3], dim=1)
        max_pool = stacked.amax(dim=2)
        mean_pool = stacked.mean(dim=2)
        # TensorFlow concatenated [max, mean] on a last axis and flattened: interleaved pairs.
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        hidden = self.dropout(self.pool_bn(flat))
        penultimate = self.dense_bn(tf_relu(self.dense(hidden)))
        logits = self.output(self.dropout(penultimate))

        def time_major(t: torch.Tensor) -> torch.Tensor:
            return t.transpose(1, 2)

        return MusicnnOutputs(
            logits,
            time_major(timbral),
            time_major(temporal),
            time_major(cnn1),
            time_major(cnn2),
            time_major(cnn3),
            mean_pool,
            max_pool,
            penultimate,
        )

    def embedding(self, x: torch.Tensor, kind: str = "penultimate") -> torch.Tensor:
        """One of :data:`EMBEDDINGS` for each patch."""
        out = self.features(x)
        if kind == "pools":
            return torch.cat([out.mean_pool, out.max_pool], dim=1)
        return getattr(out, kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tag logits ``[batch, n_tags]`` (apply a sigmoid for probabilities)."""
        return self.features(x).logits


class MusicnnVGG(nn.Module):
    """The VGG-like baseline shipped beside musicnn (MSD_vgg / MTT_vgg): five 3x3 conv blocks.

    Input ``[batch, 187, 96]``; only 3 s patches fit its final dense layer.
    """

    POOLS = ((4, 1), (2, 2), (2, 2), (2, 2), (4, 4))
    STRIDES = ((2, 2), (2, 2), (2, 2), (2, 2), (4, 4))

    def __init__(self, n_tags: int = 50, filters: int = 128, n_frames: int = PATCH_FRAMES) -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=TF_BN_EPSILON)
        self.blocks = nn.ModuleList(
            ConvReluBN(nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1)) for i in range(5)
        )
        height, width = n_frames, N_MELS
        for (ph, pw), (sh, sw) in zip(self.POOLS, self.STRIDES, strict=True):
            height, width = (height - ph) // sh + 1, (width - pw) // sw + 1
        self.n_frames = n_frames
        self.output = nn.Linear(filters * height * width, n_tags)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """pool1 ... pool5, each ``[batch, frames, mels, filters]`` as in TensorFlow."""
        if x.shape[1] != self.n_frames:
            raise ValueError(
                f"the VGG tagger needs {self.n_frames}-frame patches, got {x.shape[1]}"
            )
        h = self.input_bn(x.unsqueeze(1))
        pools = []
        for block, pool, stride in zip(self.blocks, self.POOLS, self.STRIDES, strict=True):
            h = block(h)
            h = F.max_pool2d(torch.fmax(h, h.new_tensor(_LOWEST)), pool, stride)
            pools.append(h)
        return [p.permute(0, 2, 3, 1) for p in pools]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tag logits; the flatten follows TensorFlow's (frames, mels, filters) order."""
        return self.output(self.features(x)[-1].flatten(1))


class MusicnnGenre(GenreModel):
    """Genre classifier on the musicnn backbone: transfer learning from MSD or MTT tags.

    Keyword arguments: ``tagger`` ("msd" or "mtt": which pretrained weights, shipped inside
    genrenet), ``freeze`` ("all": the backbone is fixed and only the head
    learns; "frontend": timbral/temporal convolutions fixed, mid- and back-end fine-tuned;
    "none": everything fine-tuned), ``embedding`` (the representation under the head: the
    200-unit "penultimate" layer, "mean_pool", "max_pool" or both "pools"), ``head`` ("dense":
    dropout + linear; "mlp": one hidden layer of ``hidden`` units) and ``dropout``.
    With ``freeze="all"`` and a logreg/svm/mlp head, training fits the head with scikit-learn on
    cached window embeddings (seconds), see :mod:`genrenet.training.transfer`.
    ``pretrained=False`` builds the same network with random weights (tests, loading a bundle
    that carries every weight).
    """

    name = "musicnn"
    own_normalization = True
    #: Pools over time before the head, so a clip shorter than one patch can go in as it is.
    any_length = True
    cpu_chunk = CPU_PATCHES

    required_features = "musicnn"

    @classmethod
    def default_lr(cls, kwargs: dict[str, Any]) -> float:
        """1e-3 for a head on frozen embeddings; 1e-4 when fine-tuning the pretrained backbone
        (a smaller step keeps what it learned)."""
        return 1e-4 if kwargs.get("freeze", "all") != "all" else 1e-3

    def __init__(
        self,
        n_classes: int,
        n_features: int = N_MELS,
        tagger: str = "msd",
        freeze: str = "all",
        embedding: str = "penultimate",
        head: str = "auto",
        hidden: int = 128,
        dropout: float = 0.3,
        pretrained: bool = True,
    ) -> None:
        super().__init__(
            n_classes,
            n_features,
            tagger=tagger,
            freeze=freeze,
            embedding=embedding,
            head=head,
            hidden=hidden,
            dropout=dropout,
        )
        check_choice("tagger", tagger, TAGGERS, self.name)
        check_choice("freeze", freeze, FREEZE_OPTIONS, self.name)
        check_choice("embedding", embedding, EMBEDDINGS, self.name)
        check_choice("head", head, HEADS, self.name)
        check_dropout("dropout", dropout, self.name)
        if n_features != N_MELS:
            raise ValueError(
                f"{self.name}: musicnn takes its own 96-band front end (features 'musicnn'), "
                f"got {n_features} feature rows"
            )
        if head in ("logreg", "svm") and freeze != "all":
            raise ValueError(
                f"{self.name}: head {head!r} is fitted on frozen embeddings; use freeze='all' "
                "(or head 'dense' / 'mlp' to fine-tune)"
            )
        if head == "auto":
            head = "logreg" if freeze == "all" else "dense"
        self.tagger, self.freeze, self.embedding, self.head_kind = tagger, freeze, embedding, head
        self.hidden = hidden
        self.backbone = Musicnn()
        if pretrained:
            from genrenet.pretrained.musicnn_weights import load_state_dict

            self.backbone.load_state_dict(load_state_dict(f"{tagger.upper()}_musicnn"))
        dim = self.backbone.embed_dims[embedding]
        if head == "mlp":
            self.embed_dim = dim
            self.head = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(dim, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_classes),
            )
        else:
            self._set_head(dim, dropout)
        for param in self.frozen_parameters():
            param.requires_grad_(False)
        self.train(self.training)  # frozen parts start (and stay) in eval mode

    def saved_state(self) -> dict[str, torch.Tensor]:
        """With the whole backbone frozen, only the head is saved: the backbone is rebuilt from
        the shipped musicnn weights, so a model is a few kilobytes."""
        state = self.state_dict()
        if self.freeze == "all":
            return {k: v for k, v in state.items() if not k.startswith("backbone.")}
        return state

    @classmethod
    def loading_kwargs(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Fine-tuned models carry every weight: no need for the shipped ones when loading them."""
        return {"pretrained": kwargs.get("freeze", "all") == "all"}

    @property
    def probes_before_fine_tuning(self) -> bool:
        """True when a fine-tuned dense head starts from a logistic regression on embeddings."""
        return self.freeze != "all" and self.head_kind == "dense"

    @property
    def fits_on_embeddings(self) -> bool:
        """True when training fits the head with scikit-learn on frozen embeddings."""
        return self.freeze == "all" and self.head_kind in SKLEARN_HEADS

    def frozen_modules(self) -> list[nn.Module]:
        """The backbone parts that ``freeze`` keeps fixed (weights and batch-norm statistics)."""
        if self.freeze == "all":
            return [self.backbone]
        if self.freeze == "frontend":
            b = self.backbone
            return [b.input_bn, b.timbral, b.temporal]
        return []

    def frozen_parameters(self) -> list[nn.Parameter]:
        """Parameters that do not train."""
        return [p for m in self.frozen_modules() for p in m.parameters()]

    def train(self, mode: bool = True) -> MusicnnGenre:
        """Frozen parts stay in eval mode, so their batch-norm statistics never move."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        # A window loud enough to overflow musicnn's float16 mel power holds inf: read as the
        # loudest finite input, so the embedding (and the genre) stays finite, here and in an
        # exported graph alike.
        x = torch.where(torch.isinf(x) | torch.isnan(x), torch.full_like(x, LOUDEST_INPUT), x)
        return self.backbone.embedding(x[:, 0].transpose(1, 2), self.embedding)
