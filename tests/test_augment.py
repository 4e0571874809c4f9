"""Augmentation: each transform measurably does what it says; variants are cached once, apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from genrenet.audio import load
from genrenet.augment import (
    METHODS,
    AugmentConfig,
    WaveformVariant,
    add_noise,
    mixup,
    pitch_shift,
    spec_augment,
    time_stretch,
)
from genrenet.data import store as store_module
from genrenet.data.store import FeatureStore
from genrenet.features import FeatureConfig, compute
from tests.conftest import SR, tone, write_bad_files


def peak_hz(y: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest spectral peak, refined by parabolic interpolation."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sr / len(y)


def pure_tone(freq: float = 440.0, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- waveform transforms -------------------------------------------------------------------------


@pytest.mark.parametrize("semitones", [4.0, 6.0, -3.0])
def test_pitch_shift_moves_the_peak_by_the_asked_semitones(semitones: float) -> None:
    y = pure_tone(440.0)
    out = pitch_shift(y, SR, semitones)
    assert out.dtype == np.float32 and out.shape == y.shape
    expected = 440.0 * 2 ** (semitones / 12)
    assert peak_hz(out) == pytest.approx(expected, rel=0.01)
    assert abs(peak_hz(out) - 440.0) > 0.1 * 440.0 * abs(2 ** (semitones / 12) - 1)


@pytest.mark.parametrize("rate", [0.5, 2.0, 1.25])
def test_time_stretch_scales_the_duration_and_keeps_the_pitch(rate: float) -> None:
    y = pure_tone(440.0, 4.0)
    out = time_stretch(y, rate)
    assert len(out) == pytest.approx(len(y) / rate, rel=0.01)
    middle = out[len(out) // 4 : 3 * len(out) // 4]
    assert peak_hz(middle) == pytest.approx(440.0, rel=0.01)


def test_bad_rates_and_semitones_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        time_stretch(pure_tone(), 0.0)
    with pytest.raises(ValueError, match="semitones"):
        pitch_shift(pure_tone(), SR, float("nan"))


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 30.0])
def test_noise_hits_the_asked_snr(snr_db: float) -> None:
    y = tone(seconds=10.0)
    out = add_noise(y, np.random.default_rng(1), snr_db=snr_db)
    noise = out.astype(np.float64) - y
    measured = 10 * np.log10(np.mean(np.square(y, dtype=np.float64)) / np.mean(noise**2))
    assert measured == pytest.approx(snr_db, abs=0.5)


def test_noise_amplitude_is_its_standard_deviation_and_seeded() -> None:
    y = tone(seconds=10.0)
    out = add_noise(y, np.random.default_rng(2), amplitude=0.005)
    assert np.std(out.astype(np.float64) - y) == pytest.approx(0.005, rel=0.02)
    again = add_noise(y, np.random.default_rng(2), amplitude=0.005)
    other = add_noise(y, np.random.default_rng(3), amplitude=0.005)
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, other)
    with pytest.raises(ValueError, match="exactly one"):
        add_noise(y, np.random.default_rng(0))
    with pytest.raises(ValueError, match="exactly one"):
        add_noise(y, np.random.default_rng(0), amplitude=0.1, snr_db=10)


def test_variant_ids_apply_and_validation() -> None:
    assert WaveformVariant("pitch", 4).id == "pitch+4"
    assert WaveformVariant("pitch", -2.5).id == "pitch-2.5"
    assert WaveformVariant("stretch", 0.5).id == "stretch0.5"
    assert WaveformVariant("noise", 0.005).id == "noise0.005"
    assert WaveformVariant("snr", 20).id == "snr20"
    y = pure_tone(440.0)
    shifted = WaveformVariant("pitch", 4.0).apply(y, SR)
    assert peak_hz(shifted) == pytest.approx(440.0 * 2 ** (4 / 12), rel=0.01)
    noisy = WaveformVariant("noise", 0.01)
    np.testing.assert_array_equal(noisy.apply(y, SR, seed=5), noisy.apply(y, SR, seed=5))
    assert noisy.seed_for("/a/x.wav") != noisy.seed_for("/a/y.wav")
    for kind, value in [("pitch", 0), ("stretch", 1.0), ("stretch", -1), ("noise", 0), ("eq", 1)]:
        with pytest.raises(ValueError):
            WaveformVariant(kind, value)


def test_parse_and_variants() -> None:
    config = AugmentConfig.parse("mixup, pitch,SpecAugment")
    assert config.methods == ("pitch", "specaugment", "mixup")
    assert [v.id for v in config.variants()] == ["pitch+4", "pitch+6"]
    assert config.specaugment and config.mixup and config.enabled
    full = AugmentConfig.parse(",".join(METHODS))
    assert [v.id for v in full.variants()] == [
        "pitch+4",
        "pitch+6",
        "stretch0.5",
        "stretch2",
        "noise0.005",
    ]
    description = full.describe()
    for word in ("pitch+4", "stretch2", "noise0.005", "SpecAugment", "mixup", "alpha 0.2"):
        assert word in description
    assert not AugmentConfig.parse("none").enabled
    assert AugmentConfig.parse("").describe() == "no augmentation"
    with pytest.raises(ValueError, match="'reverb'.*valid: pitch, stretch, noise"):
        AugmentConfig.parse("pitch,reverb")


def test_round_trip_and_setting_errors() -> None:
    config = AugmentConfig(methods=("stretch", "noise"), stretch_rates=(0.8, 1.25))
    assert AugmentConfig.from_dict(config.to_dict()) == config
    assert AugmentConfig.from_json(config.to_json()) == config
    json.dumps(config.to_dict())  # JSON-ready
    snr = AugmentConfig.from_dict({"methods": ["noise"], "noise_snr_db": 15})
    assert [v.id for v in snr.variants()] == ["snr15"]
    with pytest.raises(ValueError, match="only one"):
        AugmentConfig(methods=("noise",), noise_amplitude=0.01, noise_snr_db=10.0)
    with pytest.raises(ValueError, match="unknown augmentation settings.*'pitch_steps'"):
        AugmentConfig.from_dict({"pitch_steps": [1]})
    with pytest.raises(ValueError, match="noise_amplitude must be a number"):
        AugmentConfig.from_dict({"methods": ["noise"], "noise_amplitude": "loud"})
    with pytest.raises(ValueError, match="max_time_width"):
        AugmentConfig(max_time_width=-1)
    with pytest.raises(ValueError, match="mixup_alpha"):
        AugmentConfig(mixup_alpha=0)
    with pytest.raises(ValueError, match="plain track"):
        AugmentConfig(methods=("pitch",), pitch_semitones=(0.0,))


def test_from_file_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "aug.toml"
    toml.write_text(
        'methods = ["pitch", "specaugment"]\npitch_semitones = [-2, 2]\nmax_freq_width = 8\n'
    )
    config = AugmentConfig.from_file(toml)
    assert [v.id for v in config.variants()] == ["pitch-2", "pitch+2"]
    assert config.max_freq_width == 8 and config.specaugment and not config.mixup
    table = tmp_path / "table.toml"
    table.write_text('[augment]\nmethods = "mixup"\nmixup_alpha = 0.4\n')
    assert AugmentConfig.from_file(table).mixup_alpha == 0.4
    js = tmp_path / "aug.json"
    js.write_text(json.dumps(config.to_dict()))
    assert AugmentConfig.from_file(js) == config
    assert AugmentConfig.from_option(str(js)) == config
    assert AugmentConfig.from_option("stretch").methods == ("stretch",)


def test_from_file_errors_name_the_file_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("methods = [pitch\n")
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML"):
        AugmentConfig.from_file(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"methods": ["pitch"], "pitch_semitones": "four"}')
    with pytest.raises(ValueError, match=r"wrong\.json: pitch_semitones must be a list"):
        AugmentConfig.from_file(wrong)
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"methods": ["echo"]}')
    with pytest.raises(ValueError, match=r"unknown\.json: unknown augmentation 'echo'"):
        AugmentConfig.from_file(unknown)
    with pytest.raises(ValueError, match=r"missing\.toml: file not found"):
        AugmentConfig.from_file(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match=r"aug\.yaml: .*\.toml or \.json"):
        AugmentConfig.from_file(tmp_path / "aug.yaml")


# --- spectrogram level ---------------------------------------------------------------------------


def test_spec_augment_masks_at_most_the_configured_bands_and_frames() -> None:
    config = AugmentConfig(n_time_masks=2, max_time_width=20, n_freq_masks=2, max_freq_width=16)
    x = torch.rand(64, 1, 96, 130) + 1.0  # no zeros, so a 0 can only be a mask
    out = spec_augment(x, torch.Generator().manual_seed(0), config)
    assert out.shape == x.shape and torch.equal(x, x.clone())  # input untouched
    changed = out != x
    assert torch.all(out[changed] == 0)
    rows = changed.all(dim=-1)[:, 0]  # fully masked bands, [B, F]
    cols = changed.all(dim=-2)[:, 0]  # fully masked frames, [B, T]
    # every changed cell lies in a masked band or frame: masks are whole bands and frames
    explained = rows[:, None, :, None] | cols[:, None, None, :]
    assert torch.equal(changed, explained)
    assert int(rows.sum(dim=1).max()) <= 2 * 16 and int(cols.sum(dim=1).max()) <= 2 * 20
    assert int(rows.sum()) > 0 and int(cols.sum()) > 0
    # the widths really range up to the configured maximum
    assert int(rows.sum(dim=1).max()) > 16 and int(cols.sum(dim=1).max()) > 20
    again = spec_augment(x, torch.Generator().manual_seed(0), config)
    assert torch.equal(out, again)


def test_spec_augment_without_masks_and_with_mean_fill() -> None:
    x = torch.randn(4, 1, 32, 40)
    none = AugmentConfig(n_time_masks=0, n_freq_masks=0)
    assert torch.equal(spec_augment(x, torch.Generator().manual_seed(1), none), x)
    freq_only = AugmentConfig(n_time_masks=0, n_freq_masks=3, max_freq_width=8)
    out = spec_augment(x + 5, torch.Generator().manual_seed(1), freq_only, fill=None)
    changed = out != x + 5
    assert torch.allclose(out[changed], (x + 5).mean().expand(int(changed.sum())))


def test_mixup_is_a_convex_combination_with_matching_soft_targets() -> None:
    n = 16
    x = torch.randn(n, 1, 8, 10)
    y = torch.arange(n)  # one class per item, so each target row names its two sources
    mixed, soft = mixup(x, y, n_classes=n, alpha=0.4, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(soft.sum(dim=1), torch.ones(n))
    assert torch.all(soft >= 0)
    blended = 0
    for i in range(n):
        lam = float(soft[i, i])
        others = [j for j in range(n) if j != i and soft[i, j] > 0]
        assert len(others) <= 1
        partner = others[0] if others else i
        expected = lam * x[i] + (1 - lam) * x[partner]
        assert torch.allclose(mixed[i], expected, atol=1e-5)
        blended += bool(others) and 0.01 < lam < 0.99
    assert blended > 0
    probs = torch.softmax(torch.randn(n, n), dim=1)
    _, soft2 = mixup(x, probs, n, 0.2, torch.Generator().manual_seed(3))
    assert torch.allclose(soft2.sum(dim=1), torch.ones(n))
    loss = torch.nn.functional.cross_entropy(torch.randn(n, n), soft)
    assert torch.isfinite(loss)


# --- the feature store ---------------------------------------------------------------------------


def make_files(folder: Path, n: int = 2, seconds: float = 1.5) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"clip{i}.wav"
        sf.write(path, tone(300 + 60 * i, seconds), SR)
        paths.append(path)
    return paths


def test_variants_are_computed_once_and_kept_apart(tmp_path: Path) -> None:
    paths = make_files(tmp_path / "audio")
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")
    store.extract(paths)
    variants = [WaveformVariant("pitch", 4.0), WaveformVariant("noise", 0.05)]
    calls: list[tuple[Path, str]] = []
    first = store.extract_variants(
        paths, variants, workers=1, on_done=lambda p, s: calls.append((p, s))
    )
    assert sorted(first.computed) == sorted(paths * 2) and not first.cached and not first.failed
    assert len(calls) == 4 and {s for _, s in calls} == {"computed"}
    second = store.extract_variants(paths, variants, workers=1)
    assert sorted(second.cached) == sorted(paths * 2) and not second.computed
    for path in paths:
        plain = store.get(path)
        y = load(path)
        entries = {store.entry_path(path)}
        for variant in variants:
            entry = store.entry_path(path, variant)
            assert entry.exists() and entry not in entries and variant.id in entry.name
            entries.add(entry)
            feats = store.get(path, variant)
            assert feats.shape == plain.shape and not np.allclose(feats, plain, atol=1.0)
            expected = compute(variant.apply(y, SR, seed=variant.seed_for(path)))
            np.testing.assert_allclose(feats, expected, atol=1e-4)
    stretched = WaveformVariant("stretch", 0.5)
    assert store.get(paths[0], stretched) is None
    store.extract_variants(paths[:1], [stretched], workers=1)
    assert store.get(paths[0], stretched).shape[1] == pytest.approx(
        2 * store.get(paths[0]).shape[1], rel=0.02
    )


def test_variants_on_worker_processes_match_and_bad_files_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_PROCESS_MIN_PAIRS", 2)  # the real threshold is 32 pairs
    paths = make_files(tmp_path / "audio", 2, seconds=1.0)
    expected = write_bad_files(tmp_path / "bad")
    bad = tmp_path / "bad" / "notes.wav"
    variants = [WaveformVariant("snr", 10.0)]  # two pairs: each worker start costs seconds
    parallel = FeatureStore(FeatureConfig(), tmp_path / "cache-a")
    report = parallel.extract_variants(paths + [bad], variants, workers=2)
    assert sorted(report.computed) == sorted(paths)
    assert [s.path for s in report.failed] == [bad]
    assert report.failed[0].reason.startswith("snr10: ")
    assert expected["notes.wav"] in report.failed[0].reason
    unreadable = parallel.extract_variants([tmp_path / "bad" / "truncated.mp3"], variants, 2)
    assert expected["truncated.mp3"] in unreadable.failed[0].reason
    serial = FeatureStore(FeatureConfig(), tmp_path / "cache-b")
    serial.extract_variants(paths, variants, workers=1)
    for path in paths:
        for variant in variants:
            np.testing.assert_allclose(
                parallel.get(path, variant), serial.get(path, variant), atol=1e-4
            )
