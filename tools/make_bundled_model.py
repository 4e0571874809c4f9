"""Remake the bundled ``gtzan-musicnn`` model: choose on the filtered valid clips, refit on
train + valid, calibrate, write the bundle (and a JSON of every configuration compared).

    python tools/make_bundled_model.py --data ../shared/data --excerpts yes \
        --out src/genrenet/pretrained/models/gtzan-musicnn --table runs/bundled/selection.json

Data: ``gtzan-filtered.csv`` (the artist-filtered split of the full clips: train / valid / test)
and ``gtzan-excerpts/`` (2-3 s excerpts of six rare genres, cut from GTZAN clips).
Every choice (backbone MSD or MTT, embedding layer, head type and its regularisation, class
weights, excerpts in training, window hop, aggregation over windows, short-input handling,
ensemble or single head) is made on the valid clips only; the 4 test-list clips are never
looked at. Excerpts cut from clips on the filtered *valid* list share artists with the valid
clips: they train only the final refit (train + valid), never a candidate scored on valid.
Heads are fitted with scikit-learn on musicnn window embeddings cached by
:class:`genrenet.pretrained.embeddings.EmbeddingStore`, so the search takes minutes once the
embeddings exist.

The bundle is always written (unless ``--search-only``): the best configuration when it beats
the reference (the configuration shipped before) clearly, else the reference again, refitted
the same way and recorded with this run's figures and temperature.

Temperatures: each candidate's ECE on valid is cross-fitted (the temperature fitted on one half
of the valid tracks, scored on the other, and back), so the reported ECE is on tracks the
temperature did not see; the shipped model carries the temperature fitted on all valid tracks
for the train-only fit of the same configuration.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genrenet.classifier import Classifier
from genrenet.data.fingerprints import fitted_on_record
from genrenet.data.gtzan import GTZAN_GENRES
from genrenet.evaluation.calibration import (
    calibration_record,
    expected_calibration_error,
    fit_mixture_weights,
    fit_temperature,
    softmax,
)
from genrenet.evaluation.metrics import compute_metrics
from genrenet.inference.ensemble import Ensemble
from genrenet.models.musicnn import PATCH_FRAMES
from genrenet.patches import Normalizer, short_windows
from genrenet.pretrained.embeddings import EmbeddingStore, select
from genrenet.training.transfer import fit_head

LABELS = sorted(GTZAN_GENRES)
# genres with one valid clip go in either half of the cross-fit: not a problem to warn about
warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
EMBEDDINGS = ("penultimate", "mean_pool", "max_pool", "pools")
C_VALUES = (0.01, 0.1, 1.0)
#: Each head's regularisation grid (C for logreg and the linear SVM, alpha for the MLP) and
#: whether it takes balanced class weights (scikit-learn's MLP does not).
HEAD_GRIDS: dict[str, tuple[tuple[float, ...], tuple[bool, ...]]] = {
    "logreg": (C_VALUES, (False, True)),
    "svm": ((0.001, 0.01, 0.1), (False, True)),
    "mlp": ((0.1, 1.0, 10.0), (False,)),
}
TAGGERS = ("msd", "mtt")
#: Seconds between windows (3.0: musicnn's patch, no overlap; 1.5: half-overlapping).
HOPS = (3.0, 1.5)


@dataclass
class Part:
    """Tracks of one part: paths, genre indices, source clip ids."""

    paths: list[Path] = field(default_factory=list)
    y: list[int] = field(default_factory=list)

    def __add__(self, other: Part) -> Part:
        return Part(self.paths + other.paths, self.y + other.y)

    def labels(self) -> np.ndarray:
        return np.array(self.y, dtype=np.int64)


def read_data(root: Path) -> dict[str, Part]:
    """The manifest's train / valid parts and the excerpts (never its test clips): ``excerpts``
    from clips on the filtered train list, ``excerpts_valid`` from clips on its valid list
    (same artists as valid clips: for the final refit only)."""
    from genrenet.data.gtzan import filtered_split

    valid_list = set(filtered_split()["valid"])
    parts = {"train": Part(), "valid": Part(), "excerpts": Part(), "excerpts_valid": Part()}
    with open(root / "gtzan-filtered.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] in ("train", "valid"):
                parts[row["split"]].paths.append(root / row["path"])
                parts[row["split"]].y.append(LABELS.index(row["label"]))
    for path in sorted((root / "gtzan-excerpts").rglob("*.flac")):
        part = parts["excerpts_valid" if path.stem in valid_list else "excerpts"]
        part.paths.append(path)
        part.y.append(LABELS.index(path.parent.name))
    return parts


def head_network(tagger: str, embedding: str, head: str = "logreg"):
    """A frozen musicnn genre network whose head fit_head fills (backbone not loaded: the
    candidates are scored on cached embeddings)."""
    from genrenet.models.musicnn import MusicnnGenre

    return MusicnnGenre(
        len(LABELS), tagger=tagger, embedding=embedding, head=head, pretrained=False
    ).eval()


def head_logits(network, windows: np.ndarray) -> np.ndarray:
    """Logits of the head on a track's cached window embeddings ``[n, 1706]``."""
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(select(windows, network.embedding)))
        return network.eval().head(x.float()).numpy().astype(np.float64)


def track_proba(logits: list[np.ndarray], temperature: float) -> np.ndarray:
    """Mean of each track's window probabilities (how prediction scores a file)."""
    return np.stack([softmax(z, temperature).mean(axis=0) for z in logits])


def cross_fitted_proba(logits: list[np.ndarray], y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Track probabilities with a temperature fitted on the other half of the tracks."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros((len(y), len(LABELS)))
    counts = np.bincount(y, minlength=len(LABELS))
    strat = np.where(counts[y] >= 2, y, -1)  # genres with one track go in any fold
    folds = StratifiedKFold(2, shuffle=True, random_state=seed).split(np.zeros(len(y)), strat)
    for fit_idx, score_idx in folds:
        z = np.concatenate([logits[i] for i in fit_idx])
        owner = np.concatenate([np.full(len(logits[i]), k) for k, i in enumerate(fit_idx)])
        t = fit_temperature(z, owner, y[fit_idx])
        out[score_idx] = track_proba([logits[i] for i in score_idx], t)
    return out


def summary(y: np.ndarray, proba: np.ndarray, ece_before: float | None = None) -> dict:
    """The figures of the valid table: accuracy, macro-recall, per-genre recall, top-3, ECE."""
    m = compute_metrics(y, proba, LABELS, intervals=True)
    iv = m["intervals"]
    return {
        "n": m["n"],
        "accuracy": m["accuracy"],
        "accuracy_ci": iv["accuracy"],
        "macro_recall": m["balanced_accuracy"],
        "macro_recall_ci": iv["balanced_accuracy"],
        "top_3": m["top_3_accuracy"],
        "top_3_ci": iv["top_3_accuracy"],
        "ece": m["ece"],
        "ece_uncalibrated": ece_before,
        "recall": {
            g: {"recall": v["recall"], "n": v["support"], "ci": iv["recall"][g]}
            for g, v in m["per_genre"].items()
            if v["support"]
        },
        "loss": m["loss"],
        "reliability": m["reliability"],
    }


class Search:
    """Heads fitted on cached embeddings, scored on the valid tracks."""

    def __init__(
        self,
        parts: dict[str, Part],
        cache: Path | None,
        taggers: tuple[str, ...] = TAGGERS,
        hops: tuple[float, ...] = (3.0,),
    ) -> None:
        self.parts = parts
        self.taggers = taggers
        self.hops = hops
        self.work: Path | None = None
        self.stores = {
            (t, h): EmbeddingStore(t, cache, hop_seconds=None if h == 3.0 else h)
            for t in taggers
            for h in hops
        }
        self.rows: list[dict] = []

    def embed_all(self) -> None:
        everything = sum(self.parts.values(), Part()).paths
        for (tagger, hop), store in self.stores.items():
            if hop != 3.0:
                continue  # overlapping windows: only what exists (see variants)
            start = time.time()
            report = store.extract(everything, workers=1)
            if report.failed:
                sys.exit(f"{tagger}: cannot embed {[(s.path, s.reason) for s in report.failed]}")
            print(
                f"{tagger} hop {hop} s: {len(everything)} files embedded "
                f"({len(report.computed)} computed) in {time.time() - start:.0f} s"
            )

    def store(self, settings: dict, hop_key: str = "train_hop") -> EmbeddingStore:
        return self.stores[(settings["tagger"], settings.get(hop_key, 3.0))]

    def fit(self, settings: dict, train: Part):
        """A network whose head is fitted with ``settings`` on ``train``'s window embeddings."""
        network = head_network(settings["tagger"], settings["embedding"], settings["head"])
        fit_head(
            network,
            self.store(settings),
            (train.paths, train.labels()),
            ([], np.zeros(0, np.int64)),
            len(LABELS),
            class_weight=settings["class_weight"],
            grid=(settings["C"],),
        )
        return network

    def valid_logits(self, network, settings: dict) -> list[np.ndarray]:
        store = self.store(settings, "predict_hop")
        return [head_logits(network, store.load(p)) for p in self.parts["valid"].paths]

    def score(self, name: str, settings: dict, logits: list[np.ndarray]) -> dict:
        y = self.parts["valid"].labels()
        proba = cross_fitted_proba(logits, y)
        before = expected_calibration_error(track_proba(logits, 1.0), y)
        row = {"name": name, "settings": settings, "valid": summary(y, proba, before)}
        row["_proba"] = proba
        self.rows.append(row)
        v = row["valid"]
        print(
            f"{name:64s} acc {v['accuracy']:.3f} macro-recall {v['macro_recall']:.3f} "
            f"top-3 {v['top_3']:.3f} ECE {v['ece']:.3f} (uncal {before:.3f})",
            flush=True,
        )
        return row

    def candidate(self, settings: dict) -> dict:
        """Fit (or reuse the kept logits of) one configuration and score it on valid."""
        name = candidate_name(settings)
        logits = self.cached_logits(name)
        if logits is None:
            train = self.parts["train"]
            if settings["excerpts_in_training"]:
                train = train + self.parts["excerpts"]
            logits = self.valid_logits(self.fit(settings, train), settings)
            self.keep_logits(name, logits)
        if settings.get("aggregate") == "logits":  # the track's mean logit, then softmax
            logits = [z.mean(axis=0, keepdims=True) for z in logits]
            name += ", mean of window logits"
        row = self.score(name, settings, logits)
        row["_logits"] = logits
        return row

    def heads(
        self,
        excerpt_settings: tuple[bool, ...] = (False, True),
        head_kinds: tuple[str, ...] = tuple(HEAD_GRIDS),
        embeddings: tuple[str, ...] = EMBEDDINGS,
    ) -> None:
        for excerpts in excerpt_settings:
            for tagger in self.taggers:
                for embedding in embeddings:
                    for head in head_kinds:
                        values, weightings = HEAD_GRIDS[head]
                        for balanced in weightings:
                            for c in values:
                                self.candidate(
                                    {
                                        "tagger": tagger,
                                        "embedding": embedding,
                                        "head": head,
                                        "C": c,
                                        "class_weight": "balanced" if balanced else None,
                                        "excerpts_in_training": excerpts,
                                    }
                                )

    def variants(self, base: dict) -> list[dict]:
        """The chosen configuration with another window hop (training and prediction) and
        with the mean of window logits instead of probabilities."""
        out = []
        for train_hop in self.hops:
            for predict_hop in self.hops:
                if train_hop == predict_hop == 3.0:
                    continue
                settings = {**base, "train_hop": train_hop, "predict_hop": predict_hop}
                needs = [(train_hop, self.parts["train"] + self.parts["excerpts"])]
                needs.append((predict_hop, self.parts["valid"]))
                missing = [
                    (hop, path)
                    for hop, part in needs
                    for path in part.paths
                    if not self.stores[(base["tagger"], hop)].entry_path(path).exists()
                ]
                if missing:  # embedding them here would take long: say so, skip
                    print(f"{candidate_name(settings)}: {len(missing)} files not embedded, skipped")
                    continue
                out.append(self.candidate(settings))
        out.append(self.candidate({**base, "aggregate": "logits"}))
        return out

    def _logit_file(self, name: str) -> Path | None:
        if self.work is None:
            return None
        import hashlib

        return self.work / f"logits-{hashlib.sha256(name.encode()).hexdigest()[:16]}.npz"

    def cached_logits(self, name: str) -> list[np.ndarray] | None:
        """Valid logits of a candidate fitted by an earlier run (``--work``), if kept."""
        path = self._logit_file(name)
        if path is None or not path.exists():
            return None
        with np.load(path) as data:
            return [data[f"t{i}"] for i in range(len(data.files))]

    def keep_logits(self, name: str, logits: list[np.ndarray]) -> None:
        path = self._logit_file(name)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, **{f"t{i}": z for i, z in enumerate(logits)})


def candidate_name(settings: dict) -> str:
    """One line naming a configuration (also the key of its kept logits)."""
    s = settings
    reg = "alpha" if s["head"] == "mlp" else "C"
    name = (
        f"{s['tagger']} {s['embedding']} {s['head']} {reg}={s['C']} "
        f"{'balanced' if s['class_weight'] else 'unweighted'}"
        f"{' +excerpts' if s['excerpts_in_training'] else ''}"
    )
    hops = (s.get("train_hop", 3.0), s.get("predict_hop", 3.0))
    if hops != (3.0, 3.0):
        name += f" hop {hops[0]:g}/{hops[1]:g} s"
    return name


def key(row: dict) -> tuple[float, float, float]:
    """Choice rule: macro-recall on valid, then accuracy, then lower NLL."""
    v = row["valid"]
    return (round(v["macro_recall"], 4), round(v["accuracy"], 4), -v["loss"])


def member_proba(search: Search, row: dict) -> tuple[np.ndarray, float]:
    """A head's track probabilities on valid with its own temperature (fitted on all valid
    tracks), as an :class:`Ensemble` member mixes them, and that temperature."""
    y = search.parts["valid"].labels()
    t = fit_temperature(*stack(row["_logits"]), y)
    return track_proba(row["_logits"], t), t


def ensemble_rows(
    search: Search, title: str, members: list[tuple[str, np.ndarray, dict]]
) -> list[dict]:
    """Equal and fitted mixtures of members' calibrated track probabilities (the mean of the
    window mixtures an Ensemble makes, since the mean is linear); ``members`` are (name, valid
    track probabilities, settings) triples."""
    y = search.parts["valid"].labels()
    probas = [p for _, p, _ in members]
    fitted = fit_mixture_weights(probas, y)
    out = []
    equal = np.full(len(members), 1.0 / len(members))
    for label, w in (("equal", equal), ("fit", fitted)):
        mixed = sum(wi * p for wi, p in zip(w, probas, strict=True))
        logits = [np.log(np.clip(m, 1e-12, 1))[None] for m in mixed]
        settings = {
            "members": [n for n, _, _ in members],
            "member_settings": [s for _, _, s in members],
            "weights": [float(v) for v in w],
            "weights_method": label,
        }
        row = search.score(f"ensemble {title} ({label} weights)", settings, logits)
        row["_logits"] = logits
        out.append(row)
    return out


def scratch_member(search: Search, model: Path) -> tuple[str, np.ndarray, dict]:
    """A from-scratch bundle's calibrated track probabilities on the valid clips (its own
    temperature, fitted on its own validation part of train)."""
    clf = Classifier.load(model)
    proba = np.asarray(clf.predict_proba(search.parts["valid"].paths), np.float64)
    if list(clf.labels) != LABELS:
        raise SystemExit(f"{model}: genres {clf.labels}, expected {LABELS}")
    name = f"from scratch: {clf.train_config.model} ({model})"
    return name, proba, {"model": str(model), "temperature": clf.temperature}


def stack(logits: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Window logits of all tracks and the track each row belongs to."""
    return np.concatenate(logits), np.concatenate(
        [np.full(len(z), i) for i, z in enumerate(logits)]
    )


def old_model_row(search: Search, old: Path) -> dict | None:
    """The previously bundled model, scored the same way (its own head, no new temperature)."""
    if not (old / "config.json").exists():
        return None
    clf = Classifier.load(old)
    network = clf.network
    logits = search.valid_logits(network, {"tagger": network.tagger})
    y = search.parts["valid"].labels()
    proba = track_proba(logits, clf.temperature)
    split = clf.metadata.get("split", {})
    if isinstance(split, dict) and "valid" in str(split.get("refit_on", "")):
        name = "previous bundle (refitted on train + valid: these clips are not held out)"
        note = "its weights were fitted on these valid clips: its valid figures are not honest"
    else:
        name = "previous bundled model (MSD penultimate, logreg on 70 gtzan-mini clips)"
        note = (
            "trained on a stratified split of gtzan-mini, "
            "which holds many filtered-valid clips: its valid figures are optimistic"
        )
    row = {
        "name": name,
        "settings": {"source": str(old), "note": note},
        "valid": summary(y, proba, expected_calibration_error(proba, y)),
    }
    search.rows.append(row)
    v = row["valid"]
    print(
        f"{row['name']:60s} acc {v['accuracy']:.3f} macro-recall {v['macro_recall']:.3f} "
        f"ECE {v['ece']:.3f}"
    )
    return row


def short_input_study(search: Search, settings: dict) -> dict:
    """Loop, pad or shorter patch for the excerpts (2-3 s), with the chosen head fitted on the
    full train clips only (no excerpt, hence no source clip, on both sides) and, second, in a
    5-fold split of the excerpts grouped by source clip with the other folds' excerpts added to
    training. Track-level accuracy and macro-recall of each mode."""
    from sklearn.model_selection import GroupKFold

    from genrenet.models.musicnn import Musicnn
    from genrenet.pretrained.musicnn_weights import load_state_dict

    tagger = settings["tagger"]
    store = search.stores[(tagger, 3.0)]
    backbone = Musicnn()
    backbone.load_state_dict(load_state_dict(f"{tagger.upper()}_musicnn"))
    backbone.eval()
    ex = search.parts["excerpts"] + search.parts["excerpts_valid"]
    y = ex.labels()
    embeds: dict[str, list[np.ndarray]] = {}
    embeds["loop"] = [store.load(p) for p in ex.paths]  # the store's windows are looped
    for mode in ("pad", "shorter"):
        rows = []
        for path in ex.paths:
            feats = np.asarray(store.features.load(path))
            windows, _ = short_windows(feats, PATCH_FRAMES, PATCH_FRAMES, mode)
            with torch.no_grad():
                out = backbone.features(torch.from_numpy(windows).transpose(1, 2))
                rows.append(torch.cat([out.mean_pool, out.max_pool, out.penultimate], 1).numpy())
        embeds[mode] = rows
    frames = [np.asarray(store.features.load(p)).shape[-1] for p in ex.paths]
    result: dict = {
        "excerpts": len(ex.paths),
        "seconds": [round(min(frames) * 256 / 16000, 2), round(max(frames) * 256 / 16000, 2)],
    }
    settings = {**settings, "train_hop": 3.0}  # the excerpts are one window whatever the hop
    net = search.fit(settings, search.parts["train"])
    genres = sorted(set(y))
    for mode, rows in embeds.items():
        proba = track_proba([head_logits(net, r) for r in rows], 1.0)
        m = compute_metrics(y, proba, LABELS, intervals=True)
        result[f"train_clips_only/{mode}"] = {
            "accuracy": m["accuracy"],
            "accuracy_ci": m["intervals"]["accuracy"],
            "macro_recall_6_genres": float(
                np.mean([m["per_genre"][LABELS[g]]["recall"] for g in genres])
            ),
        }
    folds = GroupKFold(5)
    groups = [p.stem for p in ex.paths]
    proba = {mode: np.zeros((len(y), len(LABELS))) for mode in embeds}
    for fit_idx, test_idx in folds.split(np.zeros(len(y)), y, groups):
        extra = Part([ex.paths[i] for i in fit_idx], [int(y[i]) for i in fit_idx])
        fold_net = search.fit(settings, search.parts["train"] + extra)
        for mode, rows in embeds.items():
            proba[mode][test_idx] = track_proba(
                [head_logits(fold_net, rows[i]) for i in test_idx], 1.0
            )
    for mode in embeds:
        m = compute_metrics(y, proba[mode], LABELS, intervals=True)
        result[f"grouped_5fold/{mode}"] = {
            "accuracy": m["accuracy"],
            "accuracy_ci": m["intervals"]["accuracy"],
            "macro_recall_6_genres": float(
                np.mean([m["per_genre"][LABELS[g]]["recall"] for g in genres])
            ),
        }
    for k, v in result.items():
        print(k, v)
    return result


def build_head(search: Search, settings: dict, meta: dict) -> Classifier:
    """The chosen head refitted on train + valid (+ all excerpts when chosen), as a Classifier."""
    train = search.parts["train"] + search.parts["valid"]
    if settings["excerpts_in_training"]:
        train = train + search.parts["excerpts"] + search.parts["excerpts_valid"]
    if settings.get("predict_hop", 3.0) != 3.0 or settings.get("aggregate", "proba") != "proba":
        raise SystemExit(
            f"{candidate_name(settings)}: the bundle cannot carry this hop/aggregation"
        )
    tagger = settings["tagger"]
    clf = Classifier(
        model=f"musicnn-{tagger}",
        model_kwargs={
            "freeze": "all",
            "embedding": settings["embedding"],
            "head": settings["head"],
        },
        class_weights=settings["class_weight"] == "balanced",
    )
    network = clf.build_network(len(LABELS))
    fit_head(
        network,
        search.store(settings),
        (train.paths, train.labels()),
        ([], np.zeros(0, np.int64)),
        len(LABELS),
        class_weight=settings["class_weight"],
        grid=(settings["C"],),
    )
    # the clips it was fitted on, by content: `genrenet evaluate` warns when it scores them
    meta = {**meta, **fitted_on_record(train.paths)}
    clf.adopt(LABELS, network.eval(), Normalizer.identity(96), metadata=meta)
    clf.short_input = meta["short_input"]
    return clf


#: The configuration shipped before this search widened (the reference a new one must beat).
REFERENCE = {
    "tagger": "msd",
    "embedding": "pools",
    "head": "logreg",
    "C": 0.01,
    "class_weight": "balanced",
    "excerpts_in_training": True,
}


def paired_difference(y: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> dict:
    """``a - b`` in accuracy and macro-recall on the same tracks, each with a paired bootstrap
    95% interval over tracks (both models resampled together)."""
    from genrenet.evaluation.calibration import bootstrap_interval, macro_recall

    ya, yb = pa.argmax(1), pb.argmax(1)
    n = len(LABELS)

    def acc(idx: np.ndarray) -> float:
        return float((ya[idx] == y[idx]).mean() - (yb[idx] == y[idx]).mean())

    def mr(idx: np.ndarray) -> float:
        return macro_recall(y[idx], ya[idx], n) - macro_recall(y[idx], yb[idx], n)

    every = np.arange(len(y))
    return {
        "accuracy": acc(every),
        "accuracy_ci": bootstrap_interval(acc, len(y)),
        "macro_recall": mr(every),
        "macro_recall_ci": bootstrap_interval(mr, len(y)),
    }


def deployable(row: dict) -> bool:
    """A head the bundle can carry as it is (hop of 3 s, mean of window probabilities)."""
    s = row["settings"]
    if "members" in s:
        return all(deployable({"settings": m}) for m in s["member_settings"])
    if "tagger" not in s:
        return False  # a from-scratch reference: not a head of this tool
    return s.get("predict_hop", 3.0) == 3.0 and s.get("aggregate", "proba") == "proba"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--table", type=Path, default=Path("runs/bundled/selection.json"))
    parser.add_argument("--markdown", type=Path, default=None, help="the valid table as Markdown")
    parser.add_argument("--old", type=Path, default=None, help="previous bundle to compare")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--taggers", default="msd,mtt", help="backbones to try (msd, mtt)")
    parser.add_argument("--heads", default="logreg,svm,mlp", help="head types to try")
    parser.add_argument("--embeddings", default=",".join(EMBEDDINGS), help="embeddings to try")
    parser.add_argument("--hops", default="3", help="window hops to try, e.g. 3,1.5")
    parser.add_argument("--scratch", type=Path, default=None, help="a from-scratch bundle")
    parser.add_argument("--work", type=Path, default=None, help="keep candidates' logits here")
    parser.add_argument("--search-only", action="store_true", help="fit and score, write nothing")
    parser.add_argument(
        "--reliability", type=Path, default=None, help="PNG: the shipped row's reliability diagram"
    )
    parser.add_argument(
        "--excerpts",
        choices=("both", "yes", "no"),
        default="both",
        help="try heads with the (train-list) excerpts in training, without, or both",
    )
    args = parser.parse_args()
    data = args.data.resolve()
    parts = read_data(data)
    taggers = tuple(args.taggers.split(","))
    hops = tuple(float(h) for h in args.hops.split(","))
    search = Search(parts, args.cache, taggers, hops)
    search.work = args.work
    search.embed_all()
    if args.old is not None:
        old_model_row(search, args.old)
    search.heads(
        {"both": (False, True), "yes": (True,), "no": (False,)}[args.excerpts],
        tuple(args.heads.split(",")),
        tuple(args.embeddings.split(",")),
    )
    heads = [r for r in search.rows if "_logits" in r]
    best = {t: max((r for r in heads if r["settings"]["tagger"] == t), key=key) for t in taggers}
    for row in best.values():
        search.variants(row["settings"])
    y = parts["valid"].labels()
    members = {t: (r["name"], *member_proba(search, r)) for t, r in best.items()}
    member_info = {
        t: (n, p, {**best[t]["settings"], "temperature": tt}) for t, (n, p, tt) in members.items()
    }
    if len(best) == 2:
        ensemble_rows(search, "MSD+MTT", list(member_info.values()))
    if args.scratch is not None:
        scratch = scratch_member(search, args.scratch)
        logits = [np.log(np.clip(p, 1e-12, 1))[None] for p in scratch[1]]
        search.score(scratch[0], scratch[2], logits)
        for t in taggers:
            ensemble_rows(search, f"{t.upper()}+scratch", [member_info[t], scratch])
        if len(best) == 2:
            ensemble_rows(search, "MSD+MTT+scratch", [*member_info.values(), scratch])
    reference = next((r for r in search.rows if r["settings"] == REFERENCE), None)
    winner = max((r for r in search.rows if "valid" in r and "_proba" in r), key=key)
    shippable = max((r for r in search.rows if "_proba" in r and deployable(r)), key=key)
    diffs = {}
    if reference is not None:
        for label, row in (("best", winner), ("best shippable", shippable)):
            d = paired_difference(y, row["_proba"], reference["_proba"])
            diffs[label] = {"name": row["name"], **d}
            print(
                f"{label}: {row['name']} minus the reference ({reference['name']}): accuracy "
                f"{d['accuracy']:+.3f} [{d['accuracy_ci'][0]:+.3f}, {d['accuracy_ci'][1]:+.3f}], "
                f"macro-recall {d['macro_recall']:+.3f} "
                f"[{d['macro_recall_ci'][0]:+.3f}, {d['macro_recall_ci'][1]:+.3f}]"
            )
    if args.markdown is not None:
        write_markdown(args.markdown, search.rows, winner["name"], diffs)
    if args.search_only:
        write_table(args.table, search.rows, None, None, diffs)
        return
    # ships only when it beats the reference clearly: macro-recall better beyond the paired
    # interval, accuracy not worse
    if reference is None:
        print(f"the reference configuration was not compared: nothing written to {args.out}")
        write_table(args.table, search.rows, None, None, diffs)
        return
    winner = shippable
    if shippable is not reference:
        d = diffs["best shippable"]
        if d["macro_recall_ci"][0] <= 0 or d["accuracy"] < 0:
            # the reference ships again, refitted as before, with this run's figures and
            # temperature (measured without the valid-list excerpts)
            print(f"no clear win over {reference['name']}: the reference is written again")
            winner = reference
    single = winner if "members" not in winner["settings"] else None
    chosen = single["settings"] if single else best[taggers[0]]["settings"]
    short = short_input_study(search, chosen)
    # the study that matches the shipped head: with excerpts in its training, the grouped folds
    study = "grouped_5fold" if chosen["excerpts_in_training"] else "train_clips_only"
    modes = {m: short[f"{study}/{m}"]["macro_recall_6_genres"] for m in ("loop", "pad", "shorter")}
    short_input = max(modes, key=lambda m: (modes[m], m == "loop"))

    def record(row: dict) -> dict:
        return {k: v for k, v in row["valid"].items() if k != "reliability"}

    excerpts = len(parts["excerpts"].paths) + len(parts["excerpts_valid"].paths)
    common = {
        "data": "GTZAN clips of ../shared/data (gtzan-mini, gtzan-more, gtzan-excerpts)",
        "split": {
            "method": "artist-filtered (Kereliuk, Sturm and Larsen 2015) via gtzan-filtered.csv",
            "chosen_on": f"{len(parts['valid'].paths)} filtered valid clips",
            "refit_on": "train + valid clips"
            + (" + excerpts" if chosen["excerpts_in_training"] else ""),
            "train": len(parts["train"].paths),
            "valid": len(parts["valid"].paths),
            "excerpts": excerpts,
            "excerpts_note": f"{len(parts['excerpts_valid'].paths)} excerpts come from clips on "
            "the filtered valid list (artists of valid clips): only the refit sees them",
        },
        "short_input": short_input,
        "short_input_study": short,
        "command": " ".join(["python tools/make_bundled_model.py", *sys.argv[1:]]),
        "compared": len(search.rows),
        "choice_rule": "macro-recall, then accuracy, then NLL on valid; replaces the reference "
        "only if the paired bootstrap 95% interval of the macro-recall gain lies above zero "
        "and accuracy does not drop",
        "versus_reference": diffs.get("best shippable"),
    }
    if single is not None:
        meta = {**common, "choice": single["settings"], "valid_figures": record(single)}
        clf = build_head(search, single["settings"], meta)
        z, owner = stack(single["_logits"])
        cal = calibration_record(z, owner, y, fitted_on="filtered valid clips (train-only fit)")
        clf.calibrate(cal)
        clf.save(args.out)
    else:
        heads_only = [m for m in winner["settings"]["member_settings"]]
        built = []
        for s in heads_only:
            r = next(
                r
                for r in search.rows
                if r["settings"] == {k: v for k, v in s.items() if k != "temperature"}
            )
            meta = {**common, "choice": r["settings"], "valid_figures": record(r)}
            member = build_head(search, r["settings"], meta)
            z, owner = stack(r["_logits"])
            member.calibrate(calibration_record(z, owner, y, fitted_on="filtered valid clips"))
            built.append(member)
        model = Ensemble(
            built,
            winner["settings"]["weights"],
            {**common, "choice": winner["settings"], "valid_figures": record(winner)},
        )
        z, owner = stack(winner["_logits"])
        model.calibrate(calibration_record(z, owner, y, fitted_on="filtered valid clips"))
        model.save(args.out)
    print(f"chosen: {winner['name']}; short inputs: {short_input}; written to {args.out}")
    if args.reliability is not None:
        plot_shipped_reliability(args.reliability, winner, y)
    write_table(args.table, search.rows, winner["name"], short, diffs)


def plot_shipped_reliability(path: Path, row: dict, y: np.ndarray) -> None:
    """Reliability diagram of the shipped row on the valid tracks: its uncalibrated scores and
    its cross-fitted temperature-scaled ones."""
    from genrenet.evaluation.calibration import reliability_bins
    from genrenet.evaluation.plots import plot_reliability

    raw = track_proba(row["_logits"], 1.0)
    curves = {"uncalibrated": raw, "temperature (cross-fitted)": row["_proba"]}
    plot_reliability(
        {k: reliability_bins(p, y) for k, p in curves.items()},
        path,
        title=f"gtzan-musicnn on {len(y)} filtered-valid clips",
        eces={k: expected_calibration_error(p, y) for k, p in curves.items()},
    )
    print(f"reliability diagram: {path}")


def write_table(
    path: Path, rows: list[dict], chosen: str | None, short: dict | None, diffs: dict
) -> None:
    """Every configuration compared, with its valid figures, as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    body = {"rows": rows, "chosen": chosen, "short_input": short, "versus_reference": diffs}
    path.write_text(json.dumps(body, indent=1))


def write_markdown(path: Path, rows: list[dict], best: str, diffs: dict) -> None:
    """The valid table, best first by the choice rule, as Markdown."""

    def ci(v: dict, k: str) -> str:
        lo, hi = v[f"{k}_ci"]
        return f"{v[k]:.3f} [{lo:.2f}, {hi:.2f}]"

    def genre(v: dict, g: str) -> str:
        r = v["recall"].get(g)
        if r is None:
            return "-"
        return f"{round(r['recall'] * r['n'])}/{r['n']}"

    head = (
        "| # | configuration | accuracy [95% CI] | macro-recall [95% CI] | country | pop | blues "
        "| metal | top-3 [95% CI] | ECE (uncal.) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    # held-out rows best first; a previous bundle fitted on these clips (not held out) last
    scored = sorted(
        (r for r in rows if "valid" in r),
        key=lambda r: ("source" not in r["settings"], key(r)),
        reverse=True,
    )
    for i, r in enumerate(scored, 1):
        v = r["valid"]
        name = r["name"].replace("|", "/")
        if r["name"] == best:
            name = f"**{name}**"
        unc = v.get("ece_uncalibrated")
        lines.append(
            f"| {i} | {name} | {ci(v, 'accuracy')} | {ci(v, 'macro_recall')} "
            f"| {genre(v, 'country')} | {genre(v, 'pop')} | {genre(v, 'blues')} "
            f"| {genre(v, 'metal')} | {ci(v, 'top_3')} | {v['ece']:.3f}"
            + (f" ({unc:.3f})" if unc is not None else "")
            + " |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
