"""Throughput of ``genrenet predict``: tracks per second and times real time, decode included.

For each architecture a model bundle is loaded once and every file of the collection is
predicted (whole song, non-overlapping windows, probabilities averaged), exactly as
``genrenet predict DIR --model M`` does. Two figures per model:

- whole command: ``genrenet predict`` as a subprocess (start-up, imports, model load included);
- in-process: ``Classifier.predict_files`` timed inside one process after the model is loaded.

Without ``--model`` a bundle with freshly initialised weights is made for each architecture
(throughput does not depend on the weights' values); a bundled model's name (``gtzan-musicnn``)
is used as it ships. Targets on 2 cores: cnn64 >= 500x real time, gtzan-musicnn >= 150x.
``--baseline-x-real-time X`` adds the ratio to a baseline measured elsewhere (the original
TensorFlow musicnn, timed by ``tools/musicnn_reference.py --time DIR`` in its own environment).

    .venv/bin/python benchmarks/predict.py [--data DIR] [--models cnn64,resnet,gtzan-musicnn]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULT_PREFIX,
    format_table,
    load_note,
    median,
    mib,
    repo_root,
    run_measured,
    worker_result,
)

TARGETS = {"cnn64": 500.0, "gtzan-musicnn": 150.0}
DEFAULT_DATA = repo_root().parent / "shared" / "data" / "gtzan-mini"


def make_bundle(arch: str, labels: list[str], out: Path) -> Path:
    """A loadable bundle of ``arch`` with initial weights and unit normalisation."""
    import numpy as np

    from genrenet.classifier import Classifier
    from genrenet.patches import Normalizer

    clf = Classifier(model=arch)
    clf.labels = labels
    n = clf.feature_config.n_features
    clf.normalizer = Normalizer(np.full(n, -30.0, np.float32), np.full(n, 20.0, np.float32))
    clf.network = clf._build_network().eval()
    return clf.save(out / arch)


def inprocess_worker(model_dir: Path | str, files: list[Path], workers: int) -> None:
    """Time Classifier.predict_files over the files with the model loaded once; print JSON."""
    import soundfile as sf
    import torch

    from genrenet.classifier import Classifier

    torch.set_num_threads(workers)
    clf = Classifier.load(model_dir)
    clf.predict_file(files[0])  # first call: lazy imports and allocations, not timed
    start = time.perf_counter()
    predictions = list(clf.predict_files(files, workers=workers))
    elapsed = time.perf_counter() - start
    seconds = sum(sf.info(str(f)).duration for f in files)
    failed = sum(p.error is not None for p in predictions)
    print(RESULT_PREFIX + json.dumps({"seconds": elapsed, "audio": seconds, "failed": failed}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--models", default="cnn64,resnet,gtzan-musicnn")
    parser.add_argument("--model-dir", type=Path, help="use this trained bundle instead")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--baseline-x-real-time",
        type=float,
        help="times real time of the original TensorFlow musicnn, for the gtzan-musicnn ratio",
    )
    parser.add_argument("--inprocess-worker", nargs=2, metavar=("MODEL", "FILES_JSON"))
    args = parser.parse_args()
    if args.inprocess_worker:
        files = [Path(p) for p in json.loads(Path(args.inprocess_worker[1]).read_text())]
        inprocess_worker(args.inprocess_worker[0], files, args.workers)
        return
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (pass --data DIR)")
        return
    from genrenet.data import open_collection

    collection = open_collection(args.data)
    files = [t.path for t in collection.tracks]
    tmp = Path(tempfile.mkdtemp(prefix="genrenet-bench-predict-"))
    files_json = tmp / "files.json"
    files_json.write_text(json.dumps([str(f) for f in files]))
    bundles = {}
    if args.model_dir:
        bundles[args.model_dir.name] = args.model_dir
    else:
        from genrenet.classifier import BUNDLED_MODELS

        for arch in args.models.split(","):
            if arch in BUNDLED_MODELS:
                bundles[arch] = arch  # loaded by name, as it ships
            else:
                bundles[arch] = make_bundle(arch, collection.labels, tmp)
    exe = Path(sys.executable).with_name("genrenet")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.workers)}
    print(
        f"genrenet predict throughput on {args.data} ({len(files)} files), {args.workers} "
        f"workers, {args.repeats} repeats"
    )
    print(load_note())
    rows = []
    for name, bundle in bundles.items():
        command, inproc, rss, audio_s = [], [], 0, 0.0
        for _ in range(args.repeats):
            run = run_measured(
                [
                    str(exe),
                    "predict",
                    str(args.data),
                    "--model",
                    str(bundle),
                    "--json",
                    "--workers",
                    str(args.workers),
                ],
                env,
            ).check("predict")
            out = json.loads(run.stdout)
            assert len(out) == len(files) and not any(o["error"] for o in out)
            command.append(run.wall_s)
            rss = max(rss, run.max_rss_kb)
            worker = run_measured(
                [
                    sys.executable,
                    __file__,
                    "--inprocess-worker",
                    str(bundle),
                    str(files_json),
                    "--workers",
                    str(args.workers),
                ],
                env,
            )
            result = worker_result(worker.check("in-process predict").stdout)
            inproc.append(result["seconds"])
            audio_s = result["audio"]
        c, i = median(command), median(inproc)
        target = TARGETS.get(name)
        verdict = "-" if target is None else ("PASS" if audio_s / i >= target else "MISS")
        rows.append(
            [
                name,
                f"{c:.2f}",
                f"{len(files) / c:.1f}",
                f"{audio_s / c:.0f}x",
                f"{i:.2f}",
                f"{len(files) / i:.1f}",
                f"{audio_s / i:.0f}x",
                "-" if target is None else f">= {target:.0f}x",
                verdict,
                mib(rss),
            ]
        )
    print(f"audio: {audio_s / 60:.1f} min")
    print(
        format_table(
            [
                "model",
                "command s",
                "tracks/s",
                "x real time",
                "in-proc s",
                "tracks/s",
                "x real time",
                "target (in-proc)",
                "result",
                "peak RSS",
            ],
            rows,
        )
    )
    musicnn = next((r for r in rows if r[0] == "gtzan-musicnn"), None)
    if musicnn is not None and args.baseline_x_real_time:
        speed = float(musicnn[6].rstrip("x"))
        print(
            f"gtzan-musicnn vs the original TensorFlow musicnn ({args.baseline_x_real_time:.0f}x "
            f"real time): {speed / args.baseline_x_real_time:.1f}x faster"
        )
    print(load_note())


if __name__ == "__main__":
    main()
