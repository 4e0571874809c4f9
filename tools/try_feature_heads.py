"""Heads on other window features than the bundle's: the musicnn taggers' own tag scores (the
50 MSD and/or 50 MTT tag logits of each 3 s window), the MSD and MTT pooled embeddings side by
side in one head, or the pooled layers of the VGG baselines shipped beside musicnn; scored on
the filtered valid clips.

    python tools/try_feature_heads.py --data ../shared/data --cache runs/cache

A question of the bundled-model search (docs/bundled-model.md): with 1-12 train clips of the
rare genres, does a head on the taggers' genre-like tags ("country", "blues", "metal", ...)
generalise to unseen artists better than one on 1,506 pooled features, and does one head on
both taggers' features do better than the ensemble of two heads? Same data and scoring
as ``tools/make_bundled_model.py`` (train clips + train-list excerpts; mean of window
probabilities per valid clip); the embeddings come from its cache (``EmbeddingStore``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from genrenet.evaluation.calibration import macro_recall
from genrenet.pretrained.embeddings import EmbeddingStore, select
from genrenet.pretrained.musicnn_weights import load_state_dict

warnings.filterwarnings("ignore", category=UserWarning)
TAGGERS = ("msd", "mtt")


def tag_layer(tagger: str) -> tuple[np.ndarray, np.ndarray]:
    """The tagger's output layer (penultimate 200 -> 50 tag logits): weight, bias."""
    state = load_state_dict(f"{tagger.upper()}_musicnn")
    return state["output.weight"].double().numpy(), state["output.bias"].double().numpy()


class VggEmbeddings:
    """Window embeddings of the musicnn wheel's VGG baselines (MSD_vgg, MTT_vgg): the mean and
    max over time and mel bands of pool3, pool4 and pool5 (3 x 2 x 128 = 768 values), from the
    same cached musicnn input features (3 s windows, no overlap), kept in memory."""

    def __init__(self, tagger: str, store: EmbeddingStore) -> None:
        import torch

        from genrenet.models.musicnn import MusicnnVGG

        self.torch, self.store = torch, store
        self.net = MusicnnVGG()
        self.net.load_state_dict(load_state_dict(f"{tagger.upper()}_vgg"))
        self.net.eval()
        self.memo: dict[Path, np.ndarray] = {}

    def __call__(self, path: Path) -> np.ndarray:
        from genrenet.models.musicnn import PATCH_FRAMES
        from genrenet.patches import short_windows

        if path not in self.memo:
            feats = np.asarray(self.store.features.load(path))
            windows, _ = short_windows(feats, PATCH_FRAMES, PATCH_FRAMES, "loop")
            with self.torch.no_grad():
                pools = self.net.features(self.torch.from_numpy(windows).transpose(1, 2))[2:]
                stats = [t.flatten(1, 2) for t in pools]  # [n, positions, filters]
                out = [f(t) for t in stats for f in (lambda t: t.mean(1), lambda t: t.amax(1))]
            self.memo[path] = self.torch.cat(out, dim=1).double().numpy()
        return self.memo[path]


def window_features(stores: dict, layers: dict, path: Path, kind: str) -> np.ndarray:
    """``[n_windows, d]``: tag logits of one tagger ("msd", "mtt") or of both ("both"), the
    MSD pools embedding the bundle uses ("pools", the reference), the MSD and MTT pools side
    by side ("both-pools"), or a VGG baseline's pooled layers ("vgg-msd", "vgg-mtt")."""
    if kind.startswith("vgg-"):  # "vgg-msd", "vgg-mtt"
        return layers[kind](path)
    if kind in ("pools", "both-pools"):
        taggers = TAGGERS if kind == "both-pools" else ("msd",)
        pools = [select(stores[t].load(path), "pools") for t in taggers]
        return np.concatenate(pools, axis=1).astype(np.float64)
    parts = []
    for tagger in TAGGERS if kind == "both" else (kind,):
        penultimate = select(stores[tagger].load(path), "penultimate").astype(np.float64)
        weight, bias = layers[tagger]
        parts.append(penultimate @ weight.T + bias)
    return np.concatenate(parts, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--kinds", default="msd,mtt,both,pools,both-pools,vgg-msd,vgg-mtt")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import make_bundled_model as tool  # its data reading, fitting and scoring, as they are

    parts = tool.read_data(args.data.resolve())
    stores = {t: EmbeddingStore(t, args.cache) for t in TAGGERS}
    for store in stores.values():  # cached by make_bundled_model.py: only what is missing
        store.extract(sum(parts.values(), tool.Part()).paths)
    layers: dict = {t: tag_layer(t) for t in TAGGERS}
    layers.update({f"vgg-{t}": VggEmbeddings(t, stores[t]) for t in TAGGERS})
    train, valid = parts["train"] + parts["excerpts"], parts["valid"]
    y_valid = valid.labels()
    for kind in args.kinds.split(","):
        x_train = [window_features(stores, layers, p, kind) for p in train.paths]
        pairs = zip(x_train, train.y, strict=True)
        y_train = np.concatenate([np.full(len(x), y) for x, y in pairs])
        scaler = StandardScaler().fit(np.concatenate(x_train))
        x_valid = [scaler.transform(window_features(stores, layers, p, kind)) for p in valid.paths]
        for weighting in (None, "balanced"):
            for c in (0.001, 0.01, 0.1, 1.0):
                head = LogisticRegression(C=c, class_weight=weighting, max_iter=3000)
                head.fit(scaler.transform(np.concatenate(x_train)), y_train)
                proba = np.stack([head.predict_proba(x).mean(axis=0) for x in x_valid])
                pred = proba.argmax(axis=1)
                country = int(((pred == 2) & (y_valid == 2)).sum())
                print(
                    f"{kind:6s} {str(weighting):9s} C={c:<6g} "
                    f"accuracy {(pred == y_valid).mean():.3f} "
                    f"macro-recall {macro_recall(y_valid, pred, 10):.3f} country {country}/10 "
                    f"({len(y_valid)} valid clips)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
