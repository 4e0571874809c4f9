"""How the bundled model's recipe scales with training clips: the shipped configuration fitted
on a share of the filtered train clips (and of the train-list excerpts), scored on the 105
filtered valid clips, several random draws per share.

    python tools/learning_curve.py --data ../shared/data --cache runs/cache

It answers "would more data of the same kind help, and how much?" for the bundled model
(docs/bundled-model.md): accuracy and macro-recall against the number of training clips, and
a straight line through macro-recall against log2(clips). Reuses
``tools/make_bundled_model.py``'s data reading, head fitting and scoring as they are; the
embeddings come from its cache.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def draw(part, share: float, rng: np.random.Generator, tool):
    """``share`` of ``part``'s clips, per genre (at least one of each genre it has)."""
    y = np.array(part.y)
    keep: list[int] = []
    for genre in np.unique(y):
        idx = np.flatnonzero(y == genre)
        n = max(1, round(share * len(idx)))
        keep += rng.choice(idx, n, replace=False).tolist()
    keep.sort()
    return tool.Part([part.paths[i] for i in keep], [part.y[i] for i in keep])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--shares", default="0.25,0.5,0.75,1")
    parser.add_argument("--draws", type=int, default=8, help="random draws per share below 1")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import make_bundled_model as tool  # its data reading, fitting and scoring, as they are

    from genrenet.evaluation.calibration import macro_recall

    parts = tool.read_data(args.data.resolve())
    search = tool.Search(parts, args.cache, ("msd",))
    search.embed_all()
    settings = dict(tool.REFERENCE)
    y = parts["valid"].labels()
    rows = []
    for share in (float(s) for s in args.shares.split(",")):
        accs, mrs, sizes = [], [], []
        for seed in range(args.draws if share < 1 else 1):
            rng = np.random.default_rng(seed)
            train = draw(parts["train"], share, rng, tool) + draw(
                parts["excerpts"], share, rng, tool
            )
            network = search.fit(settings, train)
            pred = tool.track_proba(search.valid_logits(network, settings), 1.0).argmax(1)
            accs.append(float((pred == y).mean()))
            mrs.append(macro_recall(y, pred, len(tool.LABELS)))
            sizes.append(len(train.paths))
        rows.append((share, float(np.mean(sizes)), accs, mrs))
        print(
            f"share {share:4.2f}: {np.mean(sizes):5.0f} clips (full + excerpts), "
            f"accuracy {np.mean(accs):.3f} +- {np.std(accs):.3f}, "
            f"macro-recall {np.mean(mrs):.3f} +- {np.std(mrs):.3f} "
            f"({len(accs)} draws, {len(y)} valid clips)",
            flush=True,
        )
    if len(rows) < 2:
        return  # no line through one point
    x = np.log2([r[1] for r in rows])
    slope, intercept = np.polyfit(x, [np.mean(r[3]) for r in rows], 1)
    print(f"macro-recall ~ {intercept:.3f} + {slope:.3f} * log2(training clips)")
    if slope > 0:
        need = 2 ** ((0.85 - intercept) / slope)
        print(f"the line reaches 0.85 at about {need:,.0f} training clips of this kind")


if __name__ == "__main__":
    main()
