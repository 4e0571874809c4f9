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
