"""Reference outputs of the original musicnn (TensorFlow), for genrenet's fidelity test.

Run it once, in a throw-away virtual environment that has TensorFlow, never in genrenet's::

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu tf_keras librosa soundfile scipy "numpy<2"
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    cd /tmp && TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python \\
        GENRENET/tools/musicnn_reference.py --out GENRENET/tests/fixtures/musicnn_reference.json

NumPy must be 1.x, as musicnn requires: its ``10000 * float16_array`` promotes to float32 there,
while NumPy 2 keeps float16, overflows to inf on loud clips and turns every taggram into the
same constant (seen with TensorFlow 2.21 and NumPy 2.4).

It renders clips that genrenet regenerates bit for bit (synthetic genres with fixed seeds, a
sine sweep; see :data:`CLIPS`) with genrenet's own synthesiser (NumPy/SciPy only, imported from
``src/``), writes them as float32 WAV, runs ``musicnn.extractor.extractor`` on each for every
model in the wheel, and stores the per-patch taggrams and the penultimate layer of the first patch.
``--time FOLDER`` instead times the original tagger per file (for the speed comparison in
``benchmarks/predict.py``'s README section).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from genrenet.data.synth import generate_clip  # noqa: E402

MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")

#: name -> (kind, genre or None, seconds, sample rate, seed). The test rebuilds these.
CLIPS: dict[str, tuple[str, str | None, float, int, int]] = {
    "synth-rock-16k": ("synth", "rock", 10.0, 16000, 11),
    "synth-jazz-16k": ("synth", "jazz", 10.0, 16000, 12),
    "synth-classical-16k": ("synth", "classical", 10.0, 16000, 13),
    "synth-metal-22k": ("synth", "metal", 7.0, 22050, 14),
    "sweep-16k": ("sweep", None, 7.0, 16000, 0),
}


def sine_sweep(seconds: float, sr: int) -> np.ndarray:
    """Exponential sweep 30 Hz -> 7 kHz at amplitude 0.25, float32."""
    t = np.arange(int(round(seconds * sr))) / sr
    f0, f1 = 30.0, 7000.0
    k = np.log(f1 / f0) / seconds
    return (0.25 * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)).astype(np.float32)


def render(name: str) -> tuple[np.ndarray, int]:
    """The waveform and rate of clip ``name``."""
    kind, genre, seconds, sr, seed = CLIPS[name]
    if kind == "sweep":
        return sine_sweep(seconds, sr), sr
    return generate_clip(genre, seconds, sr, np.random.default_rng(seed)), sr


def reference(out: Path) -> None:
    """Write the fixture JSON."""
    import librosa
    import tensorflow as tf
    from musicnn.extractor import extractor

    result: dict = {
        "made_by": "tools/musicnn_reference.py",
        "versions": {
            "tensorflow": tf.__version__,
            "librosa": librosa.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "clips": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in CLIPS:
            y, sr = render(name)
            path = Path(tmp) / f"{name}.wav"
            sf.write(path, y, sr, subtype="FLOAT")
            entry: dict = {"spec": list(CLIPS[name]), "models": {}}
            for model in MODELS:
                taggram, _tags, features = extractor(str(path), model=model, extract_features=True)
                record = {"taggram": np.round(taggram.astype(np.float64), 7).tolist()}
                if "penultimate" in features:
                    record["penultimate_first_patch"] = np.round(
                        features["penultimate"][0].astype(np.float64), 6
                    ).tolist()
                entry["models"][model] = record
            result["clips"][name] = entry
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


def time_original(folder: Path, limit: int) -> None:
    """Seconds per file of the original MSD_musicnn tagger (graph built and weights restored
    per call, as ``musicnn.tagger.top_tags`` does)."""
    from musicnn.extractor import extractor

    files = sorted(p for p in folder.rglob("*") if p.suffix in {".wav", ".flac", ".mp3"})[:limit]
    extractor(str(files[0]), model="MSD_musicnn", extract_features=False)  # warm-up
    audio_s = 0.0
    start = time.perf_counter()
    for f in files:
        extractor(str(f), model="MSD_musicnn", extract_features=False)
        audio_s += sf.info(f).duration
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "files": len(files),
                "seconds": round(elapsed, 2),
                "seconds_per_file": round(elapsed / len(files), 3),
                "x_real_time": round(audio_s / elapsed, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="fixture JSON to write")
    parser.add_argument("--time", type=Path, help="folder of audio: time the original instead")
    parser.add_argument("--limit", type=int, default=20, help="files to time")
    args = parser.parse_args()
    if args.time:
        time_original(args.time, args.limit)
    elif args.out:
        reference(args.out)
    else:
        parser.error("give --out or --time")


if __name__ == "__main__":
    main()
