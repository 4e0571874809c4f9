"""Data augmentation for training tracks: waveform variants (cached) and spectrogram-level tricks.

Waveform level (pitch shift, time stretch, white noise) is slow, so each variant of a training
track is computed once and kept in the feature store beside the plain features
(:meth:`genrenet.data.store.FeatureStore.extract_variants`). Spectrogram level (SpecAugment,
mixup) is cheap and applied to every training batch. Nothing here touches validation or test data.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrenet.data.variants import (
    WAVEFORM_KINDS,
    WaveformVariant,
    add_noise,
    format_number,
    pitch_shift,
    time_stretch,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "METHODS",
    "WAVEFORM_KINDS",
    "AugmentConfig",
    "WaveformVariant",
    "add_noise",
    "mixup",
    "pitch_shift",
    "spec_augment",
    "time_stretch",
]

METHODS = ("pitch", "stretch", "noise", "specaugment", "mixup")
"""Names accepted by :meth:`AugmentConfig.parse` (the ``--augment`` option)."""


# --- the configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations a training run uses, and their settings (recorded with the run).

    ``methods`` names the enabled ones (see :data:`METHODS`); the other fields are their
    settings and matter only when the method is enabled. Noise takes exactly one of
    ``noise_amplitude`` (std) and ``noise_snr_db``.
    """

    methods: tuple[str, ...] = ()
    pitch_semitones: tuple[float, ...] = (4.0, 6.0)
    stretch_rates: tuple[float, ...] = (0.5, 2.0)
    noise_amplitude: float | None = 0.005
    noise_snr_db: float | None = None
    n_time_masks: int = 2
    max_time_width: int = 20
    n_freq_masks: int = 2
    max_freq_width: int = 16
    mixup_alpha: float = 0.2

    def __post_init__(self) -> None:
        methods = _split_names(self.methods) if isinstance(self.methods, str) else self.methods
        methods = tuple(methods)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown augmentation {unknown[0]!r}; valid: {', '.join(METHODS)}")
        object.__setattr__(self, "methods", tuple(m for m in METHODS if m in methods))
        object.__setattr__(
            self, "pitch_semitones", _floats("pitch_semitones", self.pitch_semitones)
        )
        object.__setattr__(self, "stretch_rates", _floats("stretch_rates", self.stretch_rates))
        for name in ("n_time_masks", "max_time_width", "n_freq_masks", "max_freq_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        if not (isinstance(self.mixup_alpha, (int, float)) and self.mixup_alpha > 0):
            raise ValueError(f"mixup_alpha must be positive, got {self.mixup_alpha!r}")
        for name in ("noise_amplitude", "noise_snr_db"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ValueError(f"{name} must be a number or null, got {value!r}")
        if self.noise_amplitude is not None and self.noise_snr_db is not None:
            raise ValueError("give only one of noise_amplitude and noise_snr_db")
        if "noise" in self.methods and self.noise_amplitude is None and self.noise_snr_db is None:
            raise ValueError("noise needs noise_amplitude or noise_snr_db")
        if "pitch" in self.methods and not self.pitch_semitones:
            raise ValueError("pitch is enabled but pitch_semitones is empty")
        if "stretch" in self.methods and not self.stretch_rates:
            raise ValueError("stretch is enabled but stretch_rates is empty")
        self.variants()  # validates every variant's value

    @property
    def enabled(self) -> bool:
        """True when any augmentation is on."""
        return bool(self.methods)

    @property
    def specaugment(self) -> bool:
        """SpecAugment masks on training batches."""
        return "specaugment" in self.methods

    @property
    def mixup(self) -> bool:
        """Mixup of training batches (soft targets)."""
        return "mixup" in self.methods

    def variants(self) -> list[WaveformVariant]:
        """The cached waveform variants of each training track, in a fixed order."""
        out: list[WaveformVariant] = []
        if "pitch" in self.methods:
            out += [WaveformVariant("pitch", s) for s in self.pitch_semitones]
        if "stretch" in self.methods:
            out += [WaveformVariant("stretch", r) for r in self.stretch_rates]
        if "noise" in self.methods:
            if self.noise_snr_db is not None:
                out.append(WaveformVariant("snr", self.noise_snr_db))
            else:
                out.append(WaveformVariant("noise", float(self.noise_amplitude)))
        return out

    def describe(self) -> str:
        """One line saying exactly what is used, for the run record and the console."""
        if not self.enabled:
            return "no augmentation"
        parts = []
        variants = self.variants()
        if variants:
            ids = ", ".join(v.id for v in variants)
            parts.append(f"waveform variants of each training track (cached): {ids}")
        if self.specaugment:
            parts.append(
                f"SpecAugment: {self.n_time_masks} time masks of 0-{self.max_time_width} frames"
                f" and {self.n_freq_masks} frequency masks of 0-{self.max_freq_width} bands,"
                " filled with 0 (the normalised mean)"
            )
        if self.mixup:
            parts.append(f"mixup with alpha {format_number(self.mixup_alpha)} (soft targets)")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists for the tuples)."""
        data = asdict(self)
        for name in ("methods", "pitch_semitones", "stretch_rates"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults.

        Giving ``noise_snr_db`` without ``noise_amplitude`` switches noise to SNR mode.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown augmentation settings {unknown}; valid: {sorted(known)}")
        data = dict(data)
        if data.get("noise_snr_db") is not None and "noise_amplitude" not in data:
            data["noise_amplitude"] = None
        return cls(**data)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AugmentConfig:
        """Parse the output of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def parse(cls, text: str) -> AugmentConfig:
        """Defaults for a comma-separated list of methods, e.g. ``"pitch,specaugment"``.

        ``""`` or ``"none"`` means no augmentation; unknown names raise ValueError listing
        the valid ones.
        """
        return cls(methods=_split_names(text))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> AugmentConfig:
        """Read the fields from a TOML (``.toml``) or JSON (``.json``) file.

        The fields may sit at the top level or in an ``[augment]`` table. Errors name the file.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".toml", ".json"):
            raise ValueError(f"{path}: augmentation settings must be a .toml or .json file")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"{path}: file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: cannot be read ({err})") from None
        try:
            data = _parse_toml(path, text) if suffix == ".toml" else json.loads(text)
        except ValueError as err:  # json.JSONDecodeError and tomllib.TOMLDecodeError
            raise ValueError(f"{path}: not valid {suffix[1:].upper()} ({err})") from None
        if isinstance(data, dict) and set(data) == {"augment"}:
            data = data["augment"]
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a table of settings, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None

    @classmethod
    def from_option(cls, value: str) -> AugmentConfig:
        """The ``--augment`` option: a path to a .toml/.json file, or a list of method names."""
        if value.lower().endswith((".toml", ".json")):
            return cls.from_file(value)
        return cls.parse(value)


def _split_names(text: str) -> tuple[str, ...]:
    """``"pitch, mixup"`` -> ``("pitch", "mixup")``; ``""`` and ``"none"`` -> ``()``."""
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if names == ("none",):
        return ()
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; valid: {', '.join(METHODS)}")
    return names


def _floats(name: str, values: Any) -> tuple[float, ...]:
    """A list or tuple of numbers as a tuple of floats, with an error naming the field."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = (values,)
    if not isinstance(values, (list, tuple)) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"{name} must be a list of numbers, got {values!r}")
    return tuple(float(v) for v in values)


def _parse_toml(path: Path, text: str) -> Any:
    """TOML through the standard library (Python 3.11+)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ValueError(f"{path}: TOML needs Python 3.11 or later; use a .json file") from None
    return tomllib.loads(text)


# --- spectrogram level (torch) -------------------------------------------------------------------


def _band_mask(
    n_items: int, n_masks: int, max_width: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """``[n_items, size]`` booleans: the union of ``n_masks`` random intervals per item.

    Each interval's width is uniform in ``0..max_width`` (capped at ``size``) and its start
    uniform among the positions where it fits, as in SpecAugment.
    """
    import torch

    width_cap = min(max_width, size)
    if n_masks == 0 or width_cap == 0:
        return torch.zeros(n_items, size, dtype=torch.bool)
    widths = torch.randint(0, width_cap + 1, (n_items, n_masks), generator=generator)
    room = (size - widths + 1).to(torch.float64)
    starts = (torch.rand(n_items, n_masks, generator=generator, dtype=torch.float64) * room).long()
    positions = torch.arange(size)
    inside = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])
    return inside.any(dim=1)


def spec_augment(
    batch: torch.Tensor,
    generator: torch.Generator,
    config: AugmentConfig | None = None,
    fill: float | None = 0.0,
) -> torch.Tensor:
    """SpecAugment (Park et al. 2019) time and frequency masks on ``[batch, ..., F, T]``.

    Per item, ``n_freq_masks`` bands of 0..``max_freq_width`` and ``n_time_masks`` spans of
    0..``max_time_width`` frames are set to ``fill``: 0 by default, which is the mean of
    normalised inputs; ``fill=None`` uses the batch's mean instead. Returns a new tensor.
    ``generator`` is a CPU generator; the masks are moved to the batch's device.
    """
    import torch

    config = config or AugmentConfig()
    if batch.dim() < 3:
        raise ValueError(f"expected a batch [B, ..., F, T], got shape {tuple(batch.shape)}")
    n, n_freq, n_time = batch.shape[0], batch.shape[-2], batch.shape[-1]
    freq = _band_mask(n, config.n_freq_masks, config.max_freq_width, n_freq, generator)
    time = _band_mask(n, config.n_time_masks, config.max_time_width, n_time, generator)
    mask = freq[:, :, None] | time[:, None, :]
    mask = mask.view(n, *([1] * (batch.dim() - 3)), n_freq, n_time).to(batch.device)
    value = batch.mean() if fill is None else torch.tensor(fill, dtype=batch.dtype)
    return torch.where(mask, value.to(device=batch.device, dtype=batch.dtype), batch)


def mixup(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    alpha: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018): each item blended with a random partner from the batch.

    ``lam ~ Beta(alpha, alpha)`` per item; returns ``lam*x + (1-lam)*x[perm]`` and the same
    blend of one-hot targets (``y`` as class indices ``[B]`` or probabilities ``[B, C]``),
    ready for ``F.cross_entropy``, which accepts class probabilities.
    """
    import torch

    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    n = x.shape[0]
    if y.dim() == 1:
        targets = torch.nn.functional.one_hot(y.long(), n_classes).to(torch.float32)
    elif y.dim() == 2 and y.shape[1] == n_classes:
        targets = y.to(torch.float32)
    else:
        raise ValueError(f"y must be [B] labels or [B, {n_classes}] probabilities, got {y.shape}")
    # torch's Beta sampler takes no generator: draw a seed from it and sample with NumPy.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam_np = np.random.default_rng(seed).beta(alpha, alpha, size=n)
    perm = torch.randperm(n, generator=generator).to(x.device)
    lam = torch.from_numpy(lam_np).to(device=x.device, dtype=x.dtype)
    lam_x = lam.view(n, *([1] * (x.dim() - 1)))
    mixed = lam_x * x + (1 - lam_x) * x[perm]
    targets = targets.to(x.device)
    lam_y = lam.to(torch.float32).view(n, 1)
    soft = lam_y * targets + (1 - lam_y) * targets[perm]
    return mixed, soft
