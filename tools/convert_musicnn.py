"""Convert musicnn's TensorFlow checkpoints into the safetensors files genrenet ships.

Run it once, in genrenet's development environment, with the original wheel installed::

    pip install --no-deps musicnn==0.1.0     # only its checkpoint files are read; never imported
    python tools/convert_musicnn.py          # writes src/genrenet/pretrained/weights/

For each of MSD_musicnn, MTT_musicnn, MSD_vgg and MTT_vgg it checks the checkpoint files
against the sha256 the wheel's RECORD lists, reads them with genrenet's own reader
(:mod:`genrenet.pretrained.tf_checkpoint`), renames and transposes every tensor to the PyTorch
port's layout (:func:`genrenet.pretrained.musicnn_weights.convert`) and writes
``<model>.safetensors``; then ``PROVENANCE.json`` (wheel version, the checkpoint files'
sha256, this command, each output's sha256) and musicnn's ISC licence notice beside them.
The output is byte-for-byte reproducible; ``tests/test_musicnn.py`` re-derives it whenever the
wheel is installed and compares.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import importlib.metadata
import sys
from pathlib import Path

from safetensors.torch import save

from genrenet.files import atomic_write, write_json
from genrenet.pretrained import musicnn_weights as mw

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_FILES = (".index", ".data-00000-of-00001")


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def wheel_record() -> dict[str, str]:
    """Path inside the wheel -> hex sha256, from the installed wheel's RECORD."""
    dist = importlib.metadata.distribution(mw.WHEEL_NAME)
    record = dist.read_text("RECORD") or ""
    hashes = {}
    for row in csv.reader(record.splitlines()):
        if len(row) >= 2 and row[1].startswith("sha256="):
            digest = base64.urlsafe_b64decode(row[1].removeprefix("sha256=") + "==")
            hashes[row[0]] = digest.hex()
    return hashes


def checkpoint_hashes(model: str, record: dict[str, str]) -> dict[str, dict[str, object]]:
    """sha256 and size of ``model``'s checkpoint files, each checked against the RECORD."""
    folder = mw.checkpoint_folder(model)
    out = {}
    for name in CHECKPOINT_FILES:
        data = (folder / name).read_bytes()
        digest = sha256(data)
        listed = record.get(f"musicnn/{model}/{name}")
        if listed != digest:
            sys.exit(f"{folder / name}: sha256 {digest} differs from the wheel's RECORD {listed}")
        out[name] = {"sha256": digest, "bytes": len(data)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=mw.WEIGHTS_DIR,
        help="output folder (default: the package's pretrained/weights/)",
    )
    args = parser.parse_args(argv)
    version = importlib.metadata.version(mw.WHEEL_NAME)
    if version != mw.WHEEL_VERSION:
        sys.exit(f"musicnn {version} is installed; the shipped weights come from {mw.WHEEL_SPEC}")
    record = wheel_record()
    models = {}
    for model in mw.MODELS:
        state = mw.convert(model)
        blob = save(state, metadata=mw.weights_metadata(model))
        atomic_write(args.out / f"{model}.safetensors", blob)
        models[model] = {
            "file": f"{model}.safetensors",
            "sha256": sha256(blob),
            "bytes": len(blob),
            "tensors": len(state),
            "checkpoint": checkpoint_hashes(model, record),
        }
        print(f"{model}: {len(state)} tensors, {len(blob):,} bytes")
    provenance = {
        "source": {
            "distribution": mw.WHEEL_NAME,
            "version": mw.WHEEL_VERSION,
            "url": f"https://pypi.org/project/{mw.WHEEL_NAME}/{mw.WHEEL_VERSION}/",
            "code": "https://github.com/jordipons/musicnn",
            "authors": "Jordi Pons and Xavier Serra, Music Technology Group, UPF (2019)",
            "license": "ISC (see LICENSE-musicnn.txt)",
        },
        "conversion": {
            "command": f"pip install --no-deps {mw.WHEEL_SPEC} && python tools/convert_musicnn.py",
            "reader": "genrenet.pretrained.tf_checkpoint",
            "mapping": "genrenet.pretrained.musicnn_weights.convert",
            "layout": "PyTorch: Conv2d OIHW, Conv1d [out, in, 7], Linear [out, in], float32",
        },
        "models": models,
    }
    write_json(args.out / mw.PROVENANCE_FILE, provenance)
    licence = mw.wheel_licence()
    atomic_write(args.out / mw.LICENCE_FILE, licence.encode())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
