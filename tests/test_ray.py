"""The Ray engine: the same answers as the local one, a killed actor loses and duplicates no file,
and a two-node cluster (simulated on this machine) runs the pipeline. Bounded: a small object
store, two CPUs, a dozen 3 s files."""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tests.scale_helpers import random_bundle, write_clips

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from genrenet.classifier import Classifier  # noqa: E402
from genrenet.engines.ray import RaySettings, predict_records  # noqa: E402
from genrenet.inference.output import open_output, read_records  # noqa: E402

STORE = 120 * 1024 * 1024
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files_and_model(tmp_path_factory) -> tuple[list[Path], Path]:
    root = tmp_path_factory.mktemp("ray")
    return write_clips(root / "clips", 12), random_bundle(root / "model")


@pytest.fixture(scope="module")
def local_answers(files_and_model) -> dict[str, np.ndarray]:
    files, model = files_and_model
    clf = Classifier.load(model)
    return {str(p.path): p.proba for p in clf.predict_files(files, top_k=4, workers=1)}


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each on this machine, with small object stores."""
    from ray.cluster_utils import Cluster

    ray.shutdown()
    nodes = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": STORE}
    )
    try:
        nodes.add_node(num_cpus=1, object_store_memory=STORE)
        ray.init(address=nodes.address, log_to_driver=False)
        nodes.wait_for_nodes()
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()


def _proba(record: dict, labels: list[str]) -> np.ndarray:
    scores = {t["label"]: t["score"] for t in record["top"]}
    return np.array([scores[label] for label in labels])


def _check_same(records: list[dict], local: dict[str, np.ndarray], labels: list[str]) -> None:
    assert sorted(r["path"] for r in records) == sorted(local)  # each file exactly once
    for record in records:
        assert record["error"] is None
        expected = local[record["path"]]
        assert record["top"][0]["label"] == labels[int(expected.argmax())]
        np.testing.assert_allclose(_proba(record, labels), expected, atol=1e-5)


def _load_and_note_pid(model: Path, pid_file: Path) -> Classifier:
    """The actor's loader in the fault test: it also says which process the actor is."""
    pid_file.write_text(str(os.getpid()))
    return Classifier.load(model)


def test_ray_equals_local_and_survives_a_killed_actor(
    files_and_model, local_answers, cluster, tmp_path
) -> None:
    files, model = files_and_model
    labels = Classifier.load(model).labels
    clf = Classifier.load(model)
    pid_file = tmp_path / "actor.pid"
    records = predict_records(
        [str(f) for f in files],
        partial(_load_and_note_pid, model, pid_file),
        clf.feature_config,
        top_k=4,
        settings=RaySettings(actors=1),
    )
    killed = None
    with open_output(tmp_path / "out.jsonl") as writer:
        for record in records:
            writer.write(record)
            if killed is None and len(writer.done) == 3:
                killed = int(pid_file.read_text())
                os.kill(killed, signal.SIGKILL)  # the model actor, mid-run
    assert killed is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and int(pid_file.read_text()) == killed:
        time.sleep(0.1)
    assert int(pid_file.read_text()) != killed  # Ray started a new actor
    out = list(read_records(tmp_path / "out.jsonl"))
    _check_same(out, local_answers, labels)


def test_two_node_cluster_runs_the_pipeline(files_and_model, local_answers, cluster) -> None:
    files, model = files_and_model
    assert sum(node["Alive"] for node in ray.nodes()) == 2
    clf = Classifier.load(model)
    chosen = [str(f) for f in files[:6]]
    records = list(
        predict_records(
            chosen,
            partial(Classifier.load, model),
            clf.feature_config,
            top_k=4,
            settings=RaySettings(address=cluster.address, actors=1),
        )
    )
    _check_same(records, {k: local_answers[k] for k in chosen}, clf.labels)


# -- extract and embed: the caches filled by Ray workers ---------------------------------------


def _cli(*args: object) -> object:
    from typer.testing import CliRunner

    from genrenet.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _entries(cache: Path, leftovers: bool = False) -> dict[str, bytes]:
    """Every entry of a cache folder, by its path inside the folder; no temporary file left
    behind unless ``leftovers`` (a process killed mid-write may leave one, never an entry)."""
    assert leftovers or not [p for p in cache.rglob("*") if ".tmp" in p.name]
    return {str(p.relative_to(cache)): p.read_bytes() for p in cache.rglob("*.npy")}


def _index(out: Path, cache: Path, field: str) -> dict[str, dict]:
    """An index's records by path, cache files relative to the cache folder (a failure's
    record has no cache file: Parquet gives it an empty column, JSON Lines no key)."""
    records = {}
    for record in read_records(out):
        if record.get(field):
            record[field] = str(Path(record[field]).relative_to(cache))
        else:
            record.pop(field, None)
        records[record["path"]] = record
    return records


def test_extract_with_ray_equals_local_and_resumes(files_and_model, cluster, tmp_path) -> None:
    files, _ = files_and_model
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"{p}\n" for p in [*files[:8], bad]))
    outs = {"local": tmp_path / "local.jsonl", "ray": tmp_path / "ray.parquet"}
    for engine, out in outs.items():
        result = _cli(
            *("extract", "--from-list", listed, "--engine", engine),
            *("--cache", tmp_path / engine, "--out", out),
        )
        assert result.exit_code == 1, result.output  # the bad file; the batch went on
        assert "8 of 9 tracks ready" in result.stdout
    local, ray_made = (_entries(tmp_path / e) for e in ("local", "ray"))
    assert len(local) == 8 and ray_made == local  # the same entries, byte for byte
    indexes = [_index(out, tmp_path / e, "features") for e, out in outs.items()]
    assert indexes[0] == indexes[1] and len(indexes[0]) == 9
    assert "not an audio file" in indexes[1][str(bad)]["error"]
    # resume: only the track not yet in the index runs
    listed.write_text(listed.read_text() + f"{files[8]}\n")
    result = _cli(
        *("extract", "--from-list", listed, "--engine", "ray", "--resume"),
        *("--cache", tmp_path / "ray", "--out", outs["ray"]),
    )
    assert result.exit_code == 0, result.output
    assert "1 of 1 tracks ready" in result.stdout and "9 already in the index" in result.stdout
    paths = [r["path"] for r in read_records(outs["ray"])]
    assert sorted(paths) == sorted(map(str, [*files[:9], bad]))  # each exactly once
    assert len(_entries(tmp_path / "ray")) == 9


def test_embed_with_ray_equals_local(files_and_model, cluster, tmp_path) -> None:
    files, _ = files_and_model
    music = tmp_path / "music" / "rock"
    music.mkdir(parents=True)
    for clip in files[:3]:
        (music / clip.name).symlink_to(clip)
    (music / "empty.wav").write_bytes(b"")
    for engine in ("local", "ray"):
        result = _cli(
            *("embed", music.parent, "--engine", engine, "--cache", tmp_path / engine),
            *("--index", tmp_path / f"{engine}.jsonl", "--out", tmp_path / f"{engine}.npz"),
        )
        assert result.exit_code == 1, result.output  # the empty file
        assert "3 of 4 tracks embedded" in result.stdout
    local, ray_made = (_entries(tmp_path / e) for e in ("local", "ray"))
    assert len(local) == 6 and ray_made == local  # features and embeddings, byte for byte
    indexes = [
        _index(tmp_path / f"{e}.jsonl", tmp_path / e, "embeddings") for e in ("local", "ray")
    ]
    assert indexes[0] == indexes[1] and len(indexes[0]) == 4
    assert indexes[1][str(music / "empty.wav")]["error"]
    npz = [np.load(tmp_path / f"{e}.npz") for e in ("local", "ray")]
    assert list(npz[1]["paths"]) == [str(music / c.name) for c in files[:3]]
    for key in npz[0].files:
        np.testing.assert_array_equal(npz[0][key], npz[1][key])


def test_extract_with_ray_blames_an_unwritable_cache_once(
    files_and_model, cluster, tmp_path, capsys
) -> None:
    from tests.reliability.conftest import run_cli

    files, _ = files_and_model
    (tmp_path / "afile").write_text("")
    cache = tmp_path / "afile" / "cache"  # under a file: no worker can write it
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"{p}\n" for p in files[:3]))
    args = ["extract", "--from-list", str(listed), "--engine", "ray", "--cache", str(cache)]
    code, out, err = run_cli(args, capsys)
    assert code == 1 and "Traceback" not in err
    assert err.count("cannot be written") == 1 and ".wav" not in err  # no file is blamed


def _embedding_store_noting_pid(pid_file: Path, root: Path, device: str | None = None):
    """The embed stage's store; built in an actor (given a device), it says which process."""
    from genrenet.pretrained.embeddings import EmbeddingStore

    if device is not None:
        pid_file.write_text(str(os.getpid()))
    return EmbeddingStore("msd", root, device=device or "cpu")


def test_embed_on_ray_survives_a_killed_actor(files_and_model, cluster, tmp_path) -> None:
    from genrenet.engines.ray_cache import cache_records
    from genrenet.pretrained.embeddings import EmbeddingStore

    files, _ = files_and_model
    chosen = files[8:12]
    EmbeddingStore("msd", tmp_path / "local").extract(chosen)
    pid_file = tmp_path / "actor.pid"
    make = partial(_embedding_store_noting_pid, pid_file, tmp_path / "ray")
    records = cache_records(map(str, chosen), make, embed=True, settings=RaySettings(actors=1))
    statuses, killed = {}, None
    for record in records:
        statuses[record["path"]] = record["status"]
        if killed is None:
            killed = int(pid_file.read_text())
            os.kill(killed, signal.SIGKILL)  # the embedding actor, mid-run
    assert killed is not None and int(pid_file.read_text()) != killed  # Ray started another
    assert statuses == {str(p): "computed" for p in chosen}
    local = _entries(tmp_path / "local")
    made = _entries(tmp_path / "ray", leftovers=True)
    assert len(local) == 8 and made == local  # whole entries only, the local engine's
