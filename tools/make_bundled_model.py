"""Remake the bundled ``gtzan-musicnn`` model: choose on the filtered valid clips, refit on
train + valid, calibrate, write the bundle (and a JSON of every configuration compared).

    python tools/make_bundled_model.py --data ../shared/data --excerpts yes \
        --out src/genrenet/pretrained/models/gtzan-musicnn --table runs/bundled/selection.json

Data: ``gtzan-filtered.csv`` (the artist-filtered split of the full clips: train / valid / test)
and ``gtzan-excerpts/`` (2-3 s excerpts of six rare genres, from clips outside the manifest).
Every choice (backbone MSD or MTT, embedding layer, regularisation, class weights, excerpts in
training, short-input handling, ensemble or single head) is made on the valid clips only; the
4 test-list clips are never looked at. Heads are fitted with scikit-learn on musicnn window
embeddings cached by :class:`genrenet.pretrained.embeddings.EmbeddingStore`, so the search takes
minutes once the embeddings exist.

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
EMBEDDINGS = ("penultimate", "mean_pool", "pools")
C_VALUES = (0.01, 0.1, 1.0)
TAGGERS = ("msd", "mtt")
COMMAND = (
    "python tools/make_bundled_model.py --data ../shared/data --excerpts yes "
    "--out src/genrenet/pretrained/models/gtzan-musicnn"
)


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
    """The manifest's train / valid parts and the excerpts (never its test clips)."""
    parts = {"train": Part(), "valid": Part(), "excerpts": Part()}
    with open(root / "gtzan-filtered.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] in ("train", "valid"):
                parts[row["split"]].paths.append(root / row["path"])
                parts[row["split"]].y.append(LABELS.index(row["label"]))
    for path in sorted((root / "gtzan-excerpts").rglob("*.flac")):
        parts["excerpts"].paths.append(path)
        parts["excerpts"].y.append(LABELS.index(path.parent.name))
    return parts


def head_network(tagger: str, embedding: str):
    """A frozen musicnn genre network whose logreg head fit_head fills (backbone not loaded:
    the candidates are scored on cached embeddings)."""
    from genrenet.models.musicnn import MusicnnGenre

    return MusicnnGenre(
        len(LABELS), tagger=tagger, embedding=embedding, head="logreg", pretrained=False
    ).eval()


def head_logits(network, windows: np.ndarray) -> np.ndarray:
    """Logits of the head on a track's cached window embeddings ``[n, 1706]``."""
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(select(windows, network.embedding)))
        return network.head(x.float()).numpy().astype(np.float64)


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
        self, parts: dict[str, Part], cache: Path | None, taggers: tuple[str, ...] = TAGGERS
    ) -> None:
        self.parts = parts
        self.taggers = taggers
        self.work: Path | None = None
        self.stores = {t: EmbeddingStore(t, cache) for t in taggers}
        self.rows: list[dict] = []

    def embed_all(self) -> None:
        everything = sum(self.parts.values(), Part()).paths
        for tagger, store in self.stores.items():
            start = time.time()
            report = store.extract(everything, workers=1)
            if report.failed:
                sys.exit(f"{tagger}: cannot embed {[(s.path, s.reason) for s in report.failed]}")
            print(f"{tagger}: {len(everything)} files embedded in {time.time() - start:.0f} s")

    def fit(self, tagger, embedding, c, balanced, train: Part):
        network = head_network(tagger, embedding)
        fit_head(
            network,
            self.stores[tagger],
            (train.paths, train.labels()),
            ([], np.zeros(0, np.int64)),
            len(LABELS),
            class_weight="balanced" if balanced else None,
            grid=(c,),
        )
        return network

    def valid_logits(self, network, tagger: str) -> list[np.ndarray]:
        store = self.stores[tagger]
        return [head_logits(network, store.load(p)) for p in self.parts["valid"].paths]

    def score(self, name: str, settings: dict, logits: list[np.ndarray]) -> dict:
        y = self.parts["valid"].labels()
        proba = cross_fitted_proba(logits, y)
        before = expected_calibration_error(track_proba(logits, 1.0), y)
        row = {"name": name, "settings": settings, "valid": summary(y, proba, before)}
        self.rows.append(row)
        v = row["valid"]
        print(
            f"{name:60s} acc {v['accuracy']:.3f} macro-recall {v['macro_recall']:.3f} "
            f"top-3 {v['top_3']:.3f} ECE {v['ece']:.3f} (uncal {before:.3f})",
            flush=True,
        )
        return row

    def heads(self, excerpt_settings: tuple[bool, ...] = (False, True)) -> None:
        for excerpts in excerpt_settings:
            train = self.parts["train"] + (self.parts["excerpts"] if excerpts else Part())
            for tagger in self.taggers:
                for embedding in EMBEDDINGS:
                    for balanced in (False, True):
                        for c in C_VALUES:
                            settings = {
                                "tagger": tagger,
                                "embedding": embedding,
                                "C": c,
                                "class_weight": "balanced" if balanced else None,
                                "excerpts_in_training": excerpts,
                            }
                            name = (
                                f"{tagger} {embedding} C={c} "
                                f"{'balanced' if balanced else 'unweighted'}"
                                f"{' +excerpts' if excerpts else ''}"
                            )
                            logits = self.cached_logits(name)
                            if logits is None:
                                net = self.fit(tagger, embedding, c, balanced, train)
                                logits = self.valid_logits(net, tagger)
                                self.keep_logits(name, logits)
                            self.score(name, settings, logits)["_logits"] = logits

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


def key(row: dict) -> tuple[float, float, float]:
    """Choice rule: macro-recall on valid, then accuracy, then lower NLL."""
    v = row["valid"]
    return (round(v["macro_recall"], 4), round(v["accuracy"], 4), -v["loss"])


def ensemble_rows(search: Search, best: dict[str, dict]) -> list[dict]:
    """Equal and fitted mixtures of the best MSD and MTT heads (window probabilities mixed)."""
    y = search.parts["valid"].labels()
    msd, mtt = best["msd"], best["mtt"]
    out = []
    # each member's own temperature (fitted on all valid tracks), as an Ensemble mixes them
    member_t = [fit_temperature(*stack(r["_logits"]), y) for r in (msd, mtt)]
    member_p = [
        [softmax(z, t) for z in r["_logits"]] for r, t in zip((msd, mtt), member_t, strict=True)
    ]
    fitted = fit_mixture_weights([np.stack([p.mean(0) for p in ps]) for ps in member_p], y)
    for label, w in (("equal", np.array([0.5, 0.5])), ("fit", fitted)):
        mixed = [w[0] * a + w[1] * b for a, b in zip(*member_p, strict=True)]
        logits = [np.log(np.clip(m, 1e-12, 1)) for m in mixed]
        settings = {
            "members": [msd["name"], mtt["name"]],
            "weights": w.tolist(),
            "weights_method": label,
            "member_temperatures": member_t,
        }
        row = search.score(f"ensemble MSD+MTT ({label} weights)", settings, logits)
        row["_logits"] = logits
        out.append(row)
    return out


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
    logits = search.valid_logits(network, network.tagger)
    y = search.parts["valid"].labels()
    proba = track_proba(logits, clf.temperature)
    row = {
        "name": "previous bundled model (MSD penultimate, logreg on 70 gtzan-mini clips)",
        "settings": {
            "source": str(old),
            "note": "trained on a stratified split of gtzan-mini, "
            "which holds many filtered-valid clips: its valid figures are optimistic",
        },
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

    tagger, embedding = settings["tagger"], settings["embedding"]
    store = search.stores[tagger]
    backbone = Musicnn()
    backbone.load_state_dict(load_state_dict(f"{tagger.upper()}_musicnn"))
    backbone.eval()
    ex = search.parts["excerpts"]
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
    balanced = settings["class_weight"] == "balanced"
    net = search.fit(tagger, embedding, settings["C"], balanced, search.parts["train"])
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
        fold_net = search.fit(
            tagger, embedding, settings["C"], balanced, search.parts["train"] + extra
        )
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
    """The chosen head refitted on train + valid (+ excerpts when chosen), as a Classifier."""
    train = search.parts["train"] + search.parts["valid"]
    if settings["excerpts_in_training"]:
        train = train + search.parts["excerpts"]
    tagger = settings["tagger"]
    clf = Classifier(
        model=f"musicnn-{tagger}",
        model_kwargs={"freeze": "all", "embedding": settings["embedding"], "head": "logreg"},
        class_weights=settings["class_weight"] == "balanced",
    )
    network = clf.build_network(len(LABELS))
    fit_head(
        network,
        search.stores[tagger],
        (train.paths, train.labels()),
        ([], np.zeros(0, np.int64)),
        len(LABELS),
        class_weight=settings["class_weight"],
        grid=(settings["C"],),
    )
    clf.adopt(LABELS, network.eval(), Normalizer.identity(96), metadata=meta)
    clf.short_input = meta["short_input"]
    return clf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--table", type=Path, default=Path("runs/bundled/selection.json"))
    parser.add_argument("--old", type=Path, default=None, help="previous bundle to compare")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--taggers", default="msd,mtt", help="backbones to try (msd, mtt)")
    parser.add_argument("--work", type=Path, default=None, help="keep candidates' logits here")
    parser.add_argument("--search-only", action="store_true", help="fit and score, write nothing")
    parser.add_argument(
        "--excerpts",
        choices=("both", "yes", "no"),
        default="both",
        help="try heads with the excerpts in training, without, or both",
    )
    args = parser.parse_args()
    data = args.data.resolve()
    parts = read_data(data)
    taggers = tuple(args.taggers.split(","))
    search = Search(parts, args.cache, taggers)
    search.work = args.work
    search.embed_all()
    if args.old is not None:
        old_model_row(search, args.old)
    search.heads({"both": (False, True), "yes": (True,), "no": (False,)}[args.excerpts])
    if args.search_only:
        write_table(args.table, search.rows, None, None)
        return
    heads = [r for r in search.rows if "_logits" in r]
    best = {t: max((r for r in heads if r["settings"]["tagger"] == t), key=key) for t in taggers}
    ens = ensemble_rows(search, best) if len(best) == 2 else []
    single = max(best.values(), key=key)
    winner = max([single, *ens], key=key)
    # an ensemble ships only if it wins by more than its interval
    if winner is not single:
        lo = winner["valid"]["macro_recall_ci"][0]
        if lo <= single["valid"]["macro_recall"]:
            winner = single
    chosen = single["settings"] if winner is single else None
    chosen = chosen or best[taggers[0]]["settings"]
    short = short_input_study(search, chosen)
    # the study that matches the shipped head: with excerpts in its training, the grouped folds
    study = "grouped_5fold" if chosen["excerpts_in_training"] else "train_clips_only"
    modes = {m: short[f"{study}/{m}"]["macro_recall_6_genres"] for m in ("loop", "pad", "shorter")}
    short_input = max(modes, key=lambda m: (modes[m], m == "loop"))
    y = parts["valid"].labels()

    def record(row: dict) -> dict:
        return {k: v for k, v in row["valid"].items() if k != "reliability"}

    common = {
        "data": "GTZAN clips of ../shared/data (gtzan-mini, gtzan-more, gtzan-excerpts)",
        "split": {
            "method": "artist-filtered (Kereliuk, Sturm and Larsen 2015) via gtzan-filtered.csv",
            "chosen_on": f"{len(parts['valid'].paths)} filtered valid clips",
            "refit_on": "train + valid clips"
            + (" + excerpts" if chosen["excerpts_in_training"] else ""),
            "train": len(parts["train"].paths),
            "valid": len(parts["valid"].paths),
            "excerpts": len(parts["excerpts"].paths),
        },
        "short_input": short_input,
        "short_input_study": short,
        "command": COMMAND,
        "compared": len(search.rows),
    }
    if winner is single:
        meta = {**common, "choice": single["settings"], "valid_figures": record(single)}
        clf = build_head(search, single["settings"], meta)
        z, owner = stack(single["_logits"])
        cal = calibration_record(z, owner, y, fitted_on="filtered valid clips (train-only fit)")
        clf.calibrate(cal)
        clf.save(args.out)
    else:
        members = []
        for r in best.values():
            meta = {**common, "choice": r["settings"], "valid_figures": record(r)}
            member = build_head(search, r["settings"], meta)
            z, owner = stack(r["_logits"])
            member.calibrate(calibration_record(z, owner, y, fitted_on="filtered valid clips"))
            members.append(member)
        model = Ensemble(
            members,
            winner["settings"]["weights"],
            {**common, "choice": winner["settings"], "valid_figures": record(winner)},
        )
        z, owner = stack(winner["_logits"])
        model.calibrate(calibration_record(z, owner, y, fitted_on="filtered valid clips"))
        model.save(args.out)
    print(f"chosen: {winner['name']}; short inputs: {short_input}; written to {args.out}")
    write_table(args.table, search.rows, winner["name"], short)


def write_table(path: Path, rows: list[dict], chosen: str | None, short: dict | None) -> None:
    """Every configuration compared, with its valid figures, as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{k: v for k, v in r.items() if k != "_logits"} for r in rows]
    path.write_text(json.dumps({"rows": rows, "chosen": chosen, "short_input": short}, indent=1))


if __name__ == "__main__":
    main()
