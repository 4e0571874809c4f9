"""ImageNet CNN backbones from timm, adapted to 1-channel feature patches (optional extra).

Needs ``pip install 'genrenet[imagenet]'`` (timm). timm is imported only when a model is
built, so this module imports without it. Weights come only from a local file given by the
user (``.safetensors`` preferred, or a weights-only timm/torchvision ``.pth``); nothing is
ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genrenet.models.base import GenreModel, check_choice, check_dropout

#: The backbones used by the systems genrenet starts from; any timm CNN name also works.
SYSTEM_BACKBONES = ("efficientnet_b0", "mobilenetv2_100", "inception_v3", "resnet18", "resnet50")
FREEZE_CHOICES = ("none", "partial", "all")
#: Patches smaller than this (either side) are zero-padded: 32 is the stride of the CNNs
#: (and what VGG, DenseNet and ConvNeXt need); the Inception stems need 75.
DEFAULT_MIN_SIDE = 32
INCEPTION_MIN_SIDE = 75
#: Tensors in a weights file that the backbone never has: auxiliary heads (torchvision's
#: Inception v3). The classifier, named by timm's ``pretrained_cfg``, is skipped as well.
IGNORED_PREFIXES = ("AuxLogits.",)
INSTALL_HINT = "pip install 'genrenet[imagenet]'"
MAX_PROBLEMS = 5


def _import_timm() -> ModuleType:
    """Import timm, turning any failure into an ImportError with the fix and the real reason."""
    try:
        import timm
    except Exception as exc:  # timm can fail with RuntimeError (e.g. a mismatched torchvision)
        reason = f"{type(exc).__name__}: {exc}"
        hint = ""
        if "torchvision" in reason:
            hint = (
                " (torchvision must be built for the installed torch: a CPU-only torch needs "
                "the CPU torchvision wheel from the PyTorch index)"
            )
        raise ImportError(
            f"model 'imagenet' needs timm: {INSTALL_HINT}; importing timm failed with "
            f"{reason}{hint}"
        ) from exc
    return timm


def timm_available() -> tuple[bool, str]:
    """``(True, "")`` when timm imports, else ``(False, reason)`` (``genrenet models`` says it)."""
    try:
        _import_timm()
    except ImportError as exc:
        return False, str(exc)
    return True, ""


def min_side_for(backbone: str) -> int:
    """Smallest height and width the backbone accepts; smaller patches are zero-padded."""
    arch = backbone.split(".")[0]
    if "inception_v" in arch or "inception_resnet" in arch:
        return INCEPTION_MIN_SIDE
    return DEFAULT_MIN_SIDE


def pad_to(x: torch.Tensor, min_side: int) -> torch.Tensor:
    """Zero-pad ``x`` [..., H, W] evenly on both sides of each axis up to ``min_side``.

    Zero is the mean of normalised features, so the padding adds no energy.
    """
    pad_h = max(0, min_side - x.shape[-2])
    pad_w = max(0, min_side - x.shape[-1])
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))


class ImageNetBackbone(GenreModel):
    """A timm ImageNet CNN on 1-channel patches, global-pooled, then dropout and a linear head.

    Keyword arguments:

    ``backbone``
        timm model name (a pretrained tag such as ``efficientnet_b0.ra_in1k`` is allowed).
        The systems genrenet starts from used ``efficientnet_b0``, ``mobilenetv2_100``,
        ``inception_v3``, ``resnet18`` and ``resnet50``. The CNNs are fully convolutional
        with global pooling, so patches of any size work without resizing; patches under
        32 (75 for the Inception nets) on a side are zero-padded, centred, to that size.
    ``weights``
        Path of a local weights file for the backbone, or None for random initialisation.
        ``.safetensors`` is preferred; other files are read with
        ``torch.load(weights_only=True)`` (a plain timm or torchvision state dict, possibly
        under ``state_dict`` or ``model``). Key names must be timm's (torchvision's ResNet
        and Inception v3 files match). Weights made for 3-channel input get their first
        conv summed over the colour channels, which equals feeding the patch as a grey
        image. Classifier tensors are ignored; missing tensors, unexpected ones and wrong
        shapes are a ValueError naming the file. The path is kept in ``weights_file``;
        ``arch_kwargs`` records ``weights=None`` since the trained weights live elsewhere.
    ``freeze``
        ``"none"``: everything trains. ``"all"``: the backbone is frozen (no gradients, and
        kept in eval mode by :meth:`train`, so its batch-norm statistics never move); only
        the head trains. ``"partial"``: only the last stage trains, i.e. every module after
        the second-to-last entry of timm's ``feature_info`` (the stride-32 stage, e.g.
        ``blocks.5``, ``blocks.6``, ``conv_head`` and ``bn2`` of EfficientNet-B0, ``layer4``
        of a ResNet, ``Mixed_7a``-``Mixed_7c`` of Inception v3); the frozen part is kept in
        eval mode. Backbones without ``feature_info`` reject ``"partial"``.
    ``dropout``
        Dropout before the output layer.
    """

    name = "imagenet"

    def __init__(
        self,
        n_classes: int,
        n_features: int = 128,
        backbone: str = "efficientnet_b0",
        weights: str | None = None,
        freeze: str = "none",
        dropout: float = 0.3,
    ) -> None:
        super().__init__(
            n_classes, n_features, backbone=backbone, weights=None, freeze=freeze, dropout=dropout
        )
        if not isinstance(backbone, str) or not backbone.strip():
            raise ValueError(f"{self.name}: backbone must be a timm model name, got {backbone!r}")
        check_choice("freeze", freeze, FREEZE_CHOICES, self.name)
        check_dropout("dropout", dropout, self.name)
        weights_file = None if weights is None else Path(os.fspath(weights))
        if weights_file is not None and not weights_file.is_file():
            raise FileNotFoundError(f"{weights_file}: weights file for {self.name} not found")
        timm = _import_timm()
        if not timm.is_model(backbone):
            raise ValueError(
                f"{self.name}: unknown timm model {backbone!r} (see timm.list_models()); "
                f"used by the reference systems: {', '.join(SYSTEM_BACKBONES)}"
            )
        self.backbone_name = backbone
        self.freeze = freeze
        self.weights_file = None if weights_file is None else str(weights_file)
        self.min_side = min_side_for(backbone)
        self.backbone = timm.create_model(backbone, pretrained=False, in_chans=1, num_classes=0)
        if weights_file is not None:
            load_backbone_weights(self.backbone, weights_file)
        self._frozen: tuple[str, ...] = ()
        if freeze == "all":
            self.backbone.requires_grad_(False)
        elif freeze == "partial":
            self._frozen = _frozen_modules(self.backbone, backbone)
            for name in self._frozen:
                self.backbone.get_submodule(name).requires_grad_(False)
        self._set_head(self.backbone.num_features, dropout)

    @classmethod
    def loading_kwargs(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """A saved model carries every weight: the original weights file is not needed."""
        return {"weights": None}

    def train(self, mode: bool = True) -> ImageNetBackbone:
        """Set training mode, keeping frozen backbone parts in eval mode (fixed BN statistics)."""
        super().train(mode)
        if self.freeze == "all":
            self.backbone.eval()
        for name in self._frozen:
            self.backbone.get_submodule(name).training = False
        return self

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(pad_to(x, self.min_side))


def _frozen_modules(backbone: nn.Module, arch: str) -> tuple[str, ...]:
    """Names of the modules before the last stage: up to the second-to-last feature point."""
    info = getattr(backbone, "feature_info", None)
    points = [p.get("module") for p in info] if isinstance(info, list) else []
    if len(points) < 2 or not all(isinstance(p, str) for p in points):
        raise ValueError(
            f"imagenet: freeze='partial' needs a timm backbone that lists its stages "
            f"(feature_info); {arch!r} does not: use freeze='all' or 'none'"
        )
    boundary = points[-2]
    names = [name for name, _ in backbone.named_modules()]
    inside = [i for i, n in enumerate(names) if n == boundary or n.startswith(boundary + ".")]
    if not inside:
        raise ValueError(f"imagenet: {arch!r} has no module {boundary!r} named in feature_info")
    later = names[inside[-1] + 1 :]
    return tuple(
        name
        for name in names[: inside[-1] + 1]
        if name and not any(t.startswith(name + ".") for t in later)
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a local weights file: safetensors, or a weights-only torch checkpoint."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise ValueError(f"{path}: corrupt or not a safetensors file ({err})") from None
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(
            f"{path}: not a weights-only torch checkpoint ({type(err).__name__}: {err}); "
            "save a plain state dict, ideally as .safetensors"
        ) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path}: expected a dict of named tensors (a state dict)")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_backbone_weights(backbone: nn.Module, path: Path) -> None:
    """Load a local weights file into a 1-channel timm backbone, or raise ValueError.

    A 3-channel first conv is summed over its input channels. Classifier and auxiliary-head
    tensors are skipped; missing ``num_batches_tracked`` counters (old files) are allowed.
    """
    cfg = getattr(backbone, "pretrained_cfg", None) or {}
    skip = (*IGNORED_PREFIXES, *(f"{c}." for c in _as_names(cfg.get("classifier"))))
    found = {k: v for k, v in read_state_dict(path).items() if not k.startswith(skip)}
    expected = backbone.state_dict()
    first = f"{cfg['first_conv']}.weight" if cfg.get("first_conv") else None
    if first in found and first in expected:
        w, want = found[first], expected[first]
        if w.dim() == 4 and want.dim() == 4 and want.shape[1] == 1 and w.shape[1] != 1:
            found[first] = w.sum(dim=1, keepdim=True)
    problems = []
    missing = [k for k in expected if k not in found and not k.endswith("num_batches_tracked")]
    if missing:
        problems.append(f"missing {_few(missing)}")
    unexpected = [k for k in found if k not in expected]
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    problems += [
        f"{k} has shape {list(v.shape)}, the model {list(expected[k].shape)}"
        for k, v in found.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if problems:
        arch = cfg.get("architecture", type(backbone).__name__)
        shown = "; ".join(problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise ValueError(f"{path}: weights do not fit timm model {arch!r}: {shown}{more}")
    backbone.load_state_dict(found, strict=False)


def _as_names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value or () if isinstance(v, str))


def _few(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_PROBLEMS])
    return f"{len(keys)} tensor(s): {shown}" + (" ..." if len(keys) > MAX_PROBLEMS else "")
