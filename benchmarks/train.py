"""Training throughput: the network's own ceiling against a real ``genrenet train`` epoch.

For each model, on 3 s log-mel patches (128 bands x 130 frames) at batch 32:

- ceiling: patches per second of forward + backward + Adam step on one ready tensor, in a
  worker process of its own, three ways: as before (OpenMP's default wait policy: waiting
  threads spin), as genrenet now runs (``import genrenet`` sets ``OMP_WAIT_POLICY=PASSIVE``:
  waiting threads sleep), and the latter with the network and batch channels-last;
  ``--compile`` adds ``torch.compile`` (inductor, CPU);
- real epoch: patches per second of an epoch of :func:`genrenet.training.loop.fit_model` (the
  function behind ``genrenet train``: random crops, normalisation, Lightning, validation over
  sliding windows, checkpoints, logs), measured as (time of 1 + E epochs - time of 1 epoch) / E,
  so start-up costs cancel; and its ratio to the ceiling of the same process (target >= 70%);
- where an epoch goes: the training steps at the ceiling's speed; data (crops, normalisation,
  batching: the training loader iterated alone) and normalisation alone; validation over
  sliding windows (the validation loader through the network in eval mode); SpecAugment + mixup
  on every batch (only when a run asks for augmentation, off by default: not in the epoch);
  and what is left: Lightning's per-step work (logging, callbacks, checkpoints).

Features are random matrices of 10 s tracks: speed does not depend on what the music is.
On a busy machine the spinning threads of the default policy lose most: compare the columns.

``--device cuda`` measures on a GPU instead, in this process: the ceiling on the GPU (plain and
channels-last, TF32 off as PyTorch's default for convolutions leaves it on: both shown), the
CPU ceiling of the same machine beside it (the baseline, same run), and a real ``fit_model``
epoch with ``accelerator="gpu"`` against the GPU ceiling.

    .venv/bin/python benchmarks/train.py [--models cnn64,resnet,cnn_rnn,fcn5] [--tracks 32]
                                         [--epochs 2] [--steps 4] [--compile] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULT_PREFIX,
    format_table,
    load_note,
    run_measured,
    worker_result,
)

BATCH = 32
N_MELS = 128
PATCH_FRAMES = 130  # 3 s at 22,050 Hz, hop 512
TRACK_FRAMES = 431  # 10 s
N_CLASSES = 8
TARGET = 0.70


def _time_steps(step, steps: int) -> float:
    """Median seconds of ``step()`` over ``steps`` calls, after two untimed warm-up calls."""
    step()
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ceiling(
    name: str,
    steps: int,
    channels_last: bool = False,
    compiled: bool = False,
    device: str = "cpu",
) -> float:
    """Patches per second of forward + backward + Adam step on one ready batch on ``device``
    (a GPU step is timed to its end: the device is synchronised after each)."""
    import torch

    from genrenet.models import build_model

    torch.manual_seed(0)
    model = build_model(name, N_CLASSES, N_MELS).train().to(device)
    x = torch.randn(BATCH, 1, N_MELS, PATCH_FRAMES, device=device)
    y = torch.randint(0, N_CLASSES, (BATCH,), device=device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(forward(x), y).backward()
        optimizer.step()
        sync()

    return BATCH / _time_steps(step, steps)


def fake_tracks(n: int, seed: int):
    """``n`` random log-mel-like matrices (10 s) and their labels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    matrices = [
        (rng.standard_normal((N_MELS, TRACK_FRAMES)) * 10 - 40).astype(np.float32) for _ in range(n)
    ]
    return matrices, (np.arange(n) % N_CLASSES).astype(np.int64)


def real_epoch(
    name: str, tracks: int, epochs: int, crops: int, accelerator: str = "auto"
) -> dict[str, float]:
    """Seconds per epoch of ``fit_model``, training patches and validation windows per epoch."""
    from genrenet.models import build_model
    from genrenet.training.config import TrainConfig
    from genrenet.training.loop import fit_model

    train = fake_tracks(tracks, 0)
    valid = fake_tracks(max(N_CLASSES, tracks // 4), 1)
    times = []
    for n_epochs in (1, 1 + epochs):
        # patience above the epoch count: early stopping must not end the timed run
        config = TrainConfig(
            model=name,
            max_epochs=n_epochs,
            patience=n_epochs + 1,
            crops_per_track=crops,
            accelerator=accelerator,
        )
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            fit_model(
                build_model(name, N_CLASSES, N_MELS),
                train,
                valid,
                PATCH_FRAMES,
                config,
                Path(out),
                progress=False,
                n_classes=N_CLASSES,
            )
            times.append(time.perf_counter() - start)
    return {
        "epoch": (times[1] - times[0]) / epochs,
        "patches": (tracks * crops // BATCH) * BATCH,
        "windows": len(valid[0]) * (TRACK_FRAMES // PATCH_FRAMES),
    }


def breakdown(name: str, tracks: int, crops: int) -> dict[str, float]:
    """Seconds per epoch of the parts of an epoch that are not the training step itself."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from genrenet.augment import AugmentConfig, mixup, spec_augment
    from genrenet.models import build_model
    from genrenet.patches import Normalizer, random_crop
    from genrenet.training.loop import CropDataset, WindowDataset

    train_m, train_y = fake_tracks(tracks, 0)
    valid_m, valid_y = fake_tracks(max(N_CLASSES, tracks // 4), 1)
    normalizer = Normalizer.fit(train_m)
    dataset = CropDataset(train_m, train_y, PATCH_FRAMES, crops, normalizer, 0)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, drop_last=True)
    out: dict[str, float] = {}
    start = time.perf_counter()
    batches = [x for x, _ in loader]
    out["data"] = time.perf_counter() - start

    rng = np.random.default_rng(0)
    crops_only = [random_crop(train_m[i % tracks], PATCH_FRAMES, rng) for i in range(len(dataset))]
    start = time.perf_counter()
    for crop in crops_only:
        normalizer(crop)
    out["normalise"] = time.perf_counter() - start

    augment = AugmentConfig.parse("specaugment,mixup")
    generator = torch.Generator().manual_seed(0)
    labels = torch.zeros(BATCH, dtype=torch.long)
    start = time.perf_counter()
    for x in batches:
        x = spec_augment(x, generator, augment)
        mixup(x, labels, N_CLASSES, augment.mixup_alpha, generator)
    out["augment"] = time.perf_counter() - start

    model = build_model(name, N_CLASSES, N_MELS).eval()
    windows = WindowDataset(valid_m, valid_y, PATCH_FRAMES, PATCH_FRAMES, normalizer)
    valid_loader = DataLoader(windows, batch_size=max(64, BATCH))
    with torch.no_grad():
        model(next(iter(valid_loader))[0])  # warm-up
        start = time.perf_counter()
        for x, _ in valid_loader:
            model(x)
        out["validate"] = time.perf_counter() - start
    return out


def worker(args: argparse.Namespace) -> None:
    """One model's figures under one OpenMP wait policy, printed as a result line."""
    import importlib

    if args.worker == "default":
        importlib.import_module("torch")  # first, so genrenet leaves OMP_WAIT_POLICY unset
    importlib.import_module("genrenet")
    import torch

    name = args.models
    result: dict[str, float | None] = {
        "policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "threads": torch.get_num_threads(),
        "plain": ceiling(name, args.steps),
    }
    if args.worker == "genrenet":
        result["channels_last"] = ceiling(name, args.steps, channels_last=True)
        result["compiled"] = ceiling(name, args.steps, compiled=True) if args.compile else None
        result.update(real_epoch(name, args.tracks, args.epochs, args.crops))
        result.update(breakdown(name, args.tracks, args.crops))
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_worker(kind: str, name: str, args: argparse.Namespace) -> dict:
    """Run :func:`worker` for one model in a fresh process (the wait policy is read at start)."""
    cmd = [sys.executable, __file__, "--worker", kind, "--models", name]
    for flag in ("tracks", "crops", "epochs", "steps"):
        cmd += [f"--{flag}", str(getattr(args, flag))]
    if args.compile:
        cmd.append("--compile")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return worker_result(run_measured(cmd, env).check(f"{kind} worker for {name}").stdout)


def gpu_main(args: argparse.Namespace) -> None:
    """The ``--device cuda`` figures: GPU ceilings, the CPU ceiling beside them, a real epoch."""
    import torch

    import genrenet  # noqa: F401 - the OpenMP setting genrenet runs with, for the CPU column
    from genrenet.devices import describe_device, resolve_device

    device = resolve_device(args.device)
    print(load_note(1.0))
    print(
        f"{describe_device(device)}, torch {torch.__version__}; CPU: {torch.get_num_threads()} "
        f"threads; {BATCH} patches of {N_MELS} x {PATCH_FRAMES} per step; real epochs: "
        f"{args.tracks} tracks x {args.crops} crops"
    )
    rows = []
    for name in args.models.split(","):
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        fp32 = ceiling(name, args.steps, device=str(device))
        torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for convolutions
        tf32 = ceiling(name, args.steps, device=str(device))
        last = ceiling(name, args.steps, channels_last=True, device=str(device))
        cpu = ceiling(name, max(2, args.steps // 2))
        accelerator = "gpu" if device.type == "cuda" else "cpu"  # --device auto on a CPU: a dry run
        real = real_epoch(name, args.tracks, args.epochs, args.crops, accelerator=accelerator)
        speed = real["patches"] / real["epoch"]
        rows.append(
            [
                name,
                f"{fp32:.0f}",
                f"{tf32:.0f}",
                f"{last:.0f}",
                f"{cpu:.1f}",
                f"{tf32 / cpu:.0f}x",
                f"{speed:.0f}",
                f"{speed / tf32:.0%}",
                f"{real['epoch']:.2f}",
            ]
        )
        print(f"  {name} done: {', '.join(rows[-1][1:])}", flush=True)  # kept if cut short
    kind = "GPU" if device.type == "cuda" else device.type.upper()
    print(f"\npatches per second, training at batch {BATCH} (ceiling: ready tensors on the device)")
    headers = [
        "model",
        f"{kind} fp32",
        f"{kind} tf32",
        f"{kind} channels-last",
        "CPU (same machine)",
        f"{kind} / CPU",
        f"real {kind} epoch",
        "real / ceiling",
        "epoch s",
    ]
    print(format_table(headers, rows))
    print(f"\n{load_note(1.0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="cnn64,resnet,cnn_rnn,fcn5")
    parser.add_argument("--tracks", type=int, default=32, help="training tracks (10 s each)")
    parser.add_argument("--crops", type=int, default=4, help="crops per track")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed after the first")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per ceiling")
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile'd ceilings (slow start)"
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu (the default figures) or cuda / cuda:N (GPU figures)"
    )
    parser.add_argument("--worker", choices=("default", "genrenet"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.device != "cpu":
        gpu_main(args)
        return
    print(load_note(1.0))
    print(
        f"{BATCH} patches of {N_MELS} x {PATCH_FRAMES} per step; real epochs: {args.tracks} "
        f"tracks x {args.crops} crops, validation on {max(N_CLASSES, args.tracks // 4)} tracks"
    )
    speed_rows, part_rows = [], []
    for name in args.models.split(","):
        before = run_worker("default", name, args)
        now = run_worker("genrenet", name, args)
        real = now["patches"] / now["epoch"]
        speed_rows.append(
            [
                name,
                f"{before['plain']:.1f}",
                f"{now['plain']:.1f}",
                f"{now['plain'] / before['plain']:.2f}x",
                f"{now['channels_last']:.1f}",
                f"{now['compiled']:.1f}" if now["compiled"] else "-",
                f"{real:.1f}",
                f"{real / now['plain']:.0%}",
            ]
        )
        compute = now["patches"] / now["plain"]
        rest = now["epoch"] - compute - now["data"] - now["validate"]
        part_rows.append(
            [
                name,
                f"{now['epoch']:.2f}",
                f"{compute:.2f}",
                f"{now['data']:.2f}",
                f"{now['normalise']:.3f}",
                f"{now['validate']:.2f} ({now['windows']})",
                f"{now['augment']:.2f}",
                f"{rest:.2f}",
            ]
        )
        print(f"  {name} done ({now['threads']} threads)", flush=True)
    print(f"\npatches per second, training at batch {BATCH} (ceiling: ready tensors)")
    headers = [
        "model",
        "ceiling before (spin)",
        "ceiling now (sleep)",
        "gain",
        "channels-last",
        "compiled",
        "real epoch",
        "real / ceiling",
    ]
    print(format_table(headers, speed_rows))
    print(f"target: real epoch >= {TARGET:.0%} of the ceiling")
    print("\nseconds per epoch, and where they go")
    headers = [
        "model",
        "epoch",
        "steps at ceiling",
        "data",
        "of it normalise",
        "validation (windows)",
        "augment (if on)",
        "Lightning + rest",
    ]
    print(format_table(headers, part_rows))
    print(f"\n{load_note(1.0)}")


if __name__ == "__main__":
    main()
