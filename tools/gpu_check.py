"""The Python checks behind ``tools/gpu_check.sh``: each subcommand prints what it found and
exits 0 (PASS), 3 (SKIP: no GPU here) or 1 (FAIL).

    python tools/gpu_check.py preflight           # versions; the modules genrenet needs
    python tools/gpu_check.py cuda-info           # torch.cuda and the GPU
    python tools/gpu_check.py run RUN_DIR --device cuda   # a training run: where, how well
    python tools/gpu_check.py load-cpu MODEL FILE...      # the bundle loads and predicts on CPU
    python tools/gpu_check.py compare A.json B.json       # `predict --json` outputs agree
    python tools/gpu_check.py api MODEL FILE...           # Classifier.load(device="cuda") vs cpu
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

PASS, FAIL, SKIP = 0, 1, 3
TOLERANCE = 1e-4
NEEDED = (
    "numpy",
    "scipy",
    "torch",
    "soundfile",
    "soxr",
    "typer",
    "rich",
    "safetensors",
    "lightning",
    "sklearn",
    "matplotlib",
)
"""What ``genrenet synth / train / predict / tag`` import (librosa, PyAV, mutagen, Ray, FastAPI
are imported only by other commands or for other formats)."""
OPTIONAL = ("onnxruntime", "onnx", "pytest", "tensorboard", "av", "librosa")


def preflight(_: argparse.Namespace) -> int:
    """Python, the modules genrenet needs and their versions; FAIL if one is missing."""
    print(f"python {sys.version.split()[0]} at {sys.executable}")
    missing = []
    for name in NEEDED + OPTIONAL:
        try:
            module = importlib.import_module(name)
        except Exception as err:  # an import that fails for any reason is missing here
            where = "needed" if name in NEEDED else "optional"
            print(f"  {name:12} MISSING ({where}): {type(err).__name__}: {err}")
            if name in NEEDED:
                missing.append(name)
            continue
        print(f"  {name:12} {getattr(module, '__version__', '?'):14} {module.__file__}")
    import genrenet

    print(f"  {'genrenet':12} {genrenet.__version__:14} {genrenet.__file__}")
    if missing:
        print(f"missing: {' '.join(missing)} (add their wheels to .whl/: tools/gpu_wheels.txt)")
    return FAIL if missing else PASS


def cuda_info(_: argparse.Namespace) -> int:
    """torch.cuda: is a GPU visible, which, how much memory, cuDNN; SKIP when none."""
    import torch

    print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}")
    if not torch.cuda.is_available():
        print("no CUDA device is visible")
        return SKIP
    print(f"cuDNN {torch.backends.cudnn.version()}, {torch.cuda.device_count()} device(s)")
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        print(
            f"  cuda:{i} {props.name}, compute {props.major}.{props.minor}, "
            f"{props.total_memory / 2**30:.1f} GiB, {props.multi_processor_count} SMs"
        )
    x = torch.randn(256, 256, device="cuda")
    ok = torch.allclose((x @ x).cpu(), x.cpu() @ x.cpu(), atol=1e-2)
    print(f"a matrix product on the GPU matches the CPU's: {ok}")
    return PASS if ok else FAIL


def check_run(args: argparse.Namespace) -> int:
    """A training run folder: trained on the expected device, held-out accuracy recorded."""
    config = json.loads((Path(args.run) / "model" / "config.json").read_text())
    training = config.get("training", {})
    device = str(training.get("device"))
    accuracy = training.get("test_track_accuracy")
    split = training.get("split", {})
    print(
        f"{args.run}: {config['architecture']['name']} trained on {device}, "
        f"{training.get('epochs_run')} epoch(s) ({training.get('stopped_by')}), held-out track "
        f"accuracy {accuracy} on {split.get('test')} test tracks, calibration "
        f"{config.get('calibration', {}).get('temperature')}"
    )
    if not device.startswith(args.device):
        print(f"FAIL: expected training on {args.device}, the bundle says {device}")
        return FAIL
    if accuracy is None:
        print("FAIL: no held-out accuracy recorded")
        return FAIL
    return PASS


def load_cpu(args: argparse.Namespace) -> int:
    """The bundle loads where no GPU is visible, its tensors on the CPU, and predicts."""
    import torch
    from safetensors import safe_open

    from genrenet.classifier import Classifier

    print(f"torch.cuda.is_available() in this process: {torch.cuda.is_available()}")
    weights = Path(args.model) / "model" / "model.safetensors"
    if not weights.exists():
        weights = Path(args.model) / "model.safetensors"
    if weights.exists():
        with safe_open(str(weights), framework="pt") as handle:
            print(f"{weights}: {len(list(handle.keys()))} tensors (safetensors, no device)")
    clf = Classifier.load(args.model)
    devices = {p.device.type for p in clf.network.parameters()}
    print(f"loaded: {clf.describe()}; parameters on {sorted(devices)}")
    files = args.files[: args.limit]
    for path, label in zip(files, clf.predict(files), strict=True):
        print(f"  {path}: {label}")
    return PASS if devices == {"cpu"} and files else FAIL


def _scores(path: str) -> dict[tuple[str, str], float]:
    records = json.loads(Path(path).read_text())
    return {
        (r["path"], t["label"]): float(t["score"])
        for r in records
        if not r.get("error")
        for t in r["top"]
    }


def compare(args: argparse.Namespace) -> int:
    """Two `predict --json` outputs of the same files: every score within the tolerance."""
    a, b = _scores(args.a), _scores(args.b)
    if not a or set(a) != set(b):
        print(f"FAIL: the outputs list different files or labels ({len(a)} vs {len(b)} scores)")
        return FAIL
    diff = max(abs(a[k] - b[k]) for k in a)
    files = {p for p, _ in a}

    def top(scores: dict[tuple[str, str], float], path: str) -> str:
        return max((s, label) for (q, label), s in scores.items() if q == path)[1]

    same = sum(top(a, p) == top(b, p) for p in files)
    print(
        f"{len(files)} files, {len(a)} scores: max abs difference {diff:.2e} "
        f"(tolerance {args.tolerance:g}); same top label for {same} of {len(files)}"
    )
    return PASS if diff < args.tolerance else FAIL


def api(args: argparse.Namespace) -> int:
    """Python API: the same model on cuda and on cpu; parameters on the GPU; probabilities
    within the tolerance; GPU memory was used."""
    import numpy as np
    import torch

    from genrenet.classifier import Classifier

    if not torch.cuda.is_available():
        print("no CUDA device is visible")
        return SKIP
    files = args.files[: args.limit]
    on_cpu = Classifier.load(args.model, device="cpu")
    on_gpu = Classifier.load(args.model, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    gpu = on_gpu.predict_proba(files)
    peak = torch.cuda.max_memory_allocated()
    cpu = on_cpu.predict_proba(files)
    members = getattr(on_gpu, "members", [on_gpu])
    devices = {str(p.device) for m in members for p in m.network.parameters()}
    diff = float(np.abs(cpu - gpu).max())
    print(
        f"{on_gpu.describe()}\n  parameters on {sorted(devices)}; peak GPU memory "
        f"{peak / 2**20:.1f} MiB; {len(files)} files: max abs difference {diff:.2e} "
        f"(tolerance {args.tolerance:g}); same top genre for "
        f"{int((cpu.argmax(1) == gpu.argmax(1)).sum())} of {len(files)}"
    )
    on_gpu_only = all(d.startswith("cuda") for d in devices)
    return PASS if on_gpu_only and peak > 0 and diff < args.tolerance else FAIL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("preflight").set_defaults(func=preflight)
    sub.add_parser("cuda-info").set_defaults(func=cuda_info)
    p = sub.add_parser("run")
    p.add_argument("run")
    p.add_argument("--device", default="cuda")
    p.set_defaults(func=check_run)
    for name, func in (("load-cpu", load_cpu), ("api", api)):
        p = sub.add_parser(name)
        p.add_argument("model")
        p.add_argument("files", nargs="+")
        p.add_argument("--limit", type=int, default=12)
        p.add_argument("--tolerance", type=float, default=TOLERANCE)
        p.set_defaults(func=func)
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tolerance", type=float, default=TOLERANCE)
    p.set_defaults(func=compare)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
