"""The torch front ends agree with librosa on the same settings."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from genrenet.features import MFCC, FeatureConfig, LogMel, compute, frontend
from tests.conftest import SR, tone

# Stated tolerances: float32 STFTs differ in the last bits; in dB that is far below 0.01.
LOGMEL_TOL_DB = 0.01
MFCC_TOL = 0.01


def music_like(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Chords, a decaying click train and noise: energy spread over the spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (110, 277.2, 329.6, 1318.5))
    clicks = np.zeros_like(t)
    clicks[:: SR // 4] = 1.0
    y = y + np.convolve(clicks, np.exp(-np.arange(400) / 40.0))[: t.size] * 0.3
    return (y + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"n_fft": 1024, "hop_length": 256, "n_mels": 64, "fmin": 30.0, "fmax": 8000.0},
        {"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 40, "top_db": None},
    ],
)
def test_logmel_matches_librosa(settings: dict) -> None:
    config = FeatureConfig(**settings)
    y = music_like()
    ours = compute(y, config)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=y,
            sr=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            fmin=config.fmin,
            fmax=config.fmax,
        ),
        ref=1.0,
        top_db=config.top_db,
    )
    assert (
        ours.shape == ref.shape == (config.n_mels, config.frames_for(len(y) / config.sample_rate))
    )
    assert np.max(np.abs(ours - ref)) < LOGMEL_TOL_DB


def test_mfcc_matches_librosa() -> None:
    config = FeatureConfig(kind="mfcc")
    y = music_like(seed=3)
    ours = compute(y, config)
    ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40, n_fft=2048, hop_length=512, n_mels=128)
    assert ours.shape == ref.shape == (40, config.frames_for(3.0))
    assert np.max(np.abs(ours - ref)) < MFCC_TOL


def test_batch_is_one_call_and_each_clip_is_floored_separately() -> None:
    quiet, loud = tone(300, 2.0, amp=0.001), tone(300, 2.0, amp=0.8)
    module = LogMel(FeatureConfig())
    batch = module(torch.from_numpy(np.stack([quiet, loud])))
    assert batch.shape == (2, 128, FeatureConfig().frames_for(2.0))
    np.testing.assert_allclose(batch[0].numpy(), compute(quiet), atol=1e-4)
    np.testing.assert_allclose(batch[1].numpy(), compute(loud), atol=1e-4)
    assert batch[1].max() - batch[0].max() > 40  # 58 dB apart, each with its own top_db floor


def test_frontend_picks_kind_and_config_round_trips() -> None:
    config = FeatureConfig(kind="mfcc", n_mfcc=20)
    assert isinstance(frontend(config), MFCC)
    assert FeatureConfig.from_json(config.to_json()) == config
    assert config.n_features == 20
    assert config.digest() != FeatureConfig(kind="mfcc", n_mfcc=21).digest()


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "cqt"},
        {"n_fft": 0},
        {"fmax": 20000.0},
        {"fmin": 9000.0, "fmax": 8000.0},
        {"kind": "mfcc", "n_mfcc": 200},
        {"top_db": -1.0},
    ],
)
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        FeatureConfig(**bad)
    with pytest.raises(ValueError, match="unknown"):
        FeatureConfig.from_dict({"n_ftt": 1024})


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
@pytest.mark.parametrize("block", [777, 2048, 10000])
def test_streamed_features_equal_whole_signal(kind: str, block: int) -> None:
    from genrenet.features import compute_stream

    config = FeatureConfig(kind=kind)
    y = music_like(seconds=2.3, seed=block)
    whole = compute(y, config)
    streamed = compute_stream((y[i : i + block] for i in range(0, len(y), block)), config)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-3)


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax",
    [
        (22050, 2048, 128, 0.0, None),
        (16000, 512, 96, 0.0, 8000.0),
        (44100, 1024, 40, 30.0, 11000.0),
    ],
)
def test_filter_bank_window_and_dct_equal_librosa_and_scipy(sr, n_fft, n_mels, fmin, fmax) -> None:
    import scipy.fft

    from genrenet.features.filters import dct_matrix, hann_window, mel_filterbank

    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        hann_window(n_fft), librosa.filters.get_window("hann", n_fft, fftbins=True), atol=1e-7
    )
    dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:20]
    np.testing.assert_allclose(dct_matrix(20, n_mels), dct, atol=1e-6)


def test_feature_settings_load_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from genrenet.data.store import FeatureStore; "
        "from genrenet.features import FeatureConfig; FeatureStore(FeatureConfig()); "
        "sys.exit(int('torch' in sys.modules or 'librosa' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
