"""Where networks run: --device / Classifier.load(device=) for inference, --accelerator for
training. The CPU tests run everywhere; the CUDA ones skip without a GPU (tools/gpu_check.sh
runs them on one) and compare the GPU's probabilities with the CPU's within 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from genrenet.classifier import Classifier
from genrenet.cli import app
from genrenet.devices import (
    DeviceError,
    check_accelerator,
    exact_fp32,
    resolve_device,
    training_device,
)
from genrenet.errors import GenrenetError
from genrenet.patches import Normalizer
from genrenet.training.config import TrainConfig
from tests.conftest import SR, tone

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (tools/gpu_check.sh)")
no_cuda = pytest.mark.skipif(CUDA, reason="checks the error raised where no GPU is visible")
LABELS = ["blues", "jazz", "rock"]
TOLERANCE = 1e-4
runner = CliRunner()


def run(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    """Three short songs (one shorter than a window): chords of tones."""
    folder = tmp_path_factory.mktemp("songs")
    paths = []
    for i, (freq, seconds) in enumerate([(220, 7.0), (880, 2.2), (330, 4.5)]):
        path = folder / f"song{i}.wav"
        sf.write(path, tone(freq, seconds) + 0.3 * tone(freq * 1.5, seconds), SR)
        paths.append(path)
    return paths


@pytest.fixture(scope="module", params=["cnn64", "cnn_rnn"])
def bundle(request, tmp_path_factory) -> Path:
    """A saved classifier with random weights and a calibration (a temperature of 1.7)."""
    torch.manual_seed(0)
    clf = Classifier(model=request.param, crop_seconds=1.0)
    n = clf.feature_config.n_features
    rng = np.random.default_rng(0)
    norm = Normalizer(rng.normal(-30, 5, n).astype(np.float32), np.full(n, 20.0, np.float32))
    clf.adopt(LABELS, clf.build_network(len(LABELS)), norm)
    clf.calibrate({"method": "temperature", "temperature": 1.7})
    return clf.save(tmp_path_factory.mktemp("bundle") / "model")


# -- naming devices ---------------------------------------------------------------------------
def test_cpu_and_auto_resolve() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")


@pytest.mark.parametrize("bad", ["tpu", "gpu", "cuda:x", "cuda:-1", "mps:0", ""])
def test_unknown_device_names_are_refused(bad) -> None:
    with pytest.raises(DeviceError, match="device must be cpu, cuda, cuda:N or auto"):
        resolve_device(bad)


@no_cuda
@pytest.mark.parametrize("asked", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_says_none_is_visible(asked) -> None:
    with pytest.raises(DeviceError, match="no CUDA device is visible") as err:
        resolve_device(asked)
    assert isinstance(err.value, GenrenetError) and asked in str(err.value)


@no_cuda
def test_gpu_accelerator_without_a_gpu_is_refused() -> None:
    assert check_accelerator("cpu") == "cpu" and check_accelerator("auto") == "auto"
    assert training_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError, match="no CUDA device is visible.*--accelerator cpu"):
        check_accelerator("gpu")
    with pytest.raises(DeviceError, match="accelerator must be one of"):
        check_accelerator("tpu")


def test_accelerator_is_a_training_setting() -> None:
    assert TrainConfig().accelerator == "auto"
    assert Classifier(model="cnn64", accelerator="cpu").train_config.accelerator == "cpu"
    with pytest.raises(ValueError, match="accelerator must be"):
        TrainConfig(accelerator="tpu")


def _tf32_settings() -> tuple:
    """The TF32 settings, read through the API PyTorch has (it refuses reading the legacy flags
    once the per-backend ``fp32_precision`` ones were set)."""
    b = torch.backends
    if hasattr(getattr(b.cudnn, "conv", None), "fp32_precision"):
        return b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision, b.cuda.matmul.fp32_precision
    return b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32


def test_exact_fp32_is_a_no_op_on_the_cpu_and_puts_settings_back() -> None:
    before = _tf32_settings()
    with exact_fp32(torch.device("cpu")):
        assert _tf32_settings() == before
    with exact_fp32(torch.device("cuda")):  # only settings change: no GPU is needed to set them
        inside = _tf32_settings()
        assert inside in (("ieee", "ieee", "ieee"), (False, False))
    assert _tf32_settings() == before
    if len(before) == 3:
        assert torch.backends.cudnn.allow_tf32 in (True, False)  # legacy reads work again


def test_exact_fp32_shared_by_overlapping_users_is_put_back_by_the_last() -> None:
    before = _tf32_settings()
    first, second = exact_fp32(torch.device("cuda")), exact_fp32(torch.device("cuda"))
    first.__enter__()
    inside = _tf32_settings()
    second.__enter__()
    first.__exit__(None, None, None)  # e.g. one decoding thread done while another scores
    assert _tf32_settings() == inside != before
    second.__exit__(None, None, None)
    assert _tf32_settings() == before


# -- inference on a device --------------------------------------------------------------------
def test_explicit_cpu_gives_what_the_default_gives(bundle, songs) -> None:
    default = Classifier.load(bundle)
    on_cpu = Classifier.load(bundle, device="cpu")
    assert default.device == on_cpu.device == torch.device("cpu")
    assert np.array_equal(default.predict_proba(songs), on_cpu.predict_proba(songs))
    assert "on cpu" not in on_cpu.describe()


@no_cuda
def test_loading_on_cuda_without_a_gpu_is_a_clear_error(bundle) -> None:
    with pytest.raises(DeviceError, match="no CUDA device is visible"):
        Classifier.load(bundle, device="cuda")
    clf = Classifier.load(bundle)
    with pytest.raises(DeviceError, match="no CUDA device is visible"):
        clf.to("cuda:0")
    assert clf.device == torch.device("cpu")  # a refused move leaves it where it was


@no_cuda
def test_tagger_and_embeddings_refuse_cuda_without_a_gpu(tmp_path) -> None:
    from genrenet.inference.tagging import Tagger
    from genrenet.pretrained.embeddings import EmbeddingStore

    with pytest.raises(DeviceError, match="no CUDA device is visible"):
        Tagger("msd", device="cuda")
    with pytest.raises(DeviceError, match="no CUDA device is visible"):
        EmbeddingStore("msd", tmp_path, device="cuda")


def test_onnx_on_cuda_needs_onnxruntimes_cuda_provider() -> None:
    ort = pytest.importorskip("onnxruntime")
    from genrenet.inference.runtime import CUDA_PROVIDER, providers_for

    assert providers_for(None) == providers_for(torch.device("cpu")) == ["CPUExecutionProvider"]
    if CUDA_PROVIDER in ort.get_available_providers():
        assert providers_for(torch.device("cuda", 1))[0] == (CUDA_PROVIDER, {"device_id": 1})
    else:
        with pytest.raises(DeviceError, match="not CUDAExecutionProvider.*onnxruntime-gpu"):
            providers_for(torch.device("cuda"))


def test_onnx_runtime_scores_on_the_cpu_and_moves_only_where_it_can(bundle, songs, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from genrenet.inference.runtime import CUDA_PROVIDER

    torch_scores = Classifier.load(bundle).predict_proba(songs)
    clf = Classifier.load(bundle, runtime="onnx", cache_dir=tmp_path, device="cpu")
    assert np.abs(clf.predict_proba(songs) - torch_scores).max() < TOLERANCE
    if CUDA and CUDA_PROVIDER in ort.get_available_providers():
        assert np.abs(clf.to("cuda").predict_proba(songs) - torch_scores).max() < TOLERANCE
        assert clf.scorer.session.get_providers()[0] == CUDA_PROVIDER
    else:  # no GPU, or an onnxruntime without its CUDA provider: refused, nothing changed
        with pytest.raises(DeviceError, match="no CUDA device is visible|CUDAExecutionProvider"):
            clf.to("cuda")
        assert clf.device == torch.device("cpu") and clf.scorer.chunk == clf.scorer.cpu_chunk
        assert np.abs(clf.predict_proba(songs) - torch_scores).max() < TOLERANCE


# -- the command line ---------------------------------------------------------------------------
def test_predict_device_cpu_equals_the_default(bundle, songs) -> None:
    plain = run("predict", *songs, "--model", bundle, "--json", "--top-k", 3)
    cpu = run("predict", *songs, "--model", bundle, "--json", "--top-k", 3, "--device", "cpu")
    assert plain.exit_code == cpu.exit_code == 0, plain.output + cpu.output
    assert plain.stdout == cpu.stdout and '"score"' in cpu.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "device must be cpu, cuda, cuda:N or auto, got 'tpu'"),
        (["--engine", "ray", "--device", "cuda"], "needs --num-gpus"),
        (["--engine", "ray", "--num-gpus", "1", "--device", "cpu"], "leave --device out"),
    ],
)
def test_predict_device_usage_errors(bundle, songs, args, message) -> None:
    result = run("predict", songs[0], "--model", bundle, *args)
    assert result.exit_code == 2
    assert message in result.stderr


@no_cuda
@pytest.mark.parametrize("command", ["predict", "tag", "embed"])
def test_device_cuda_without_a_gpu_exits_2(bundle, songs, command, tmp_path) -> None:
    args = [command, songs[0], "--device", "cuda"]
    args += ["--model", bundle] if command == "predict" else []
    args += ["--cache", tmp_path] if command == "embed" else []
    result = run(*args)
    assert result.exit_code == 2
    assert "no CUDA device is visible" in result.stderr


@no_cuda
def test_train_accelerator_gpu_without_a_gpu_exits_2_before_extracting(songs, tmp_path) -> None:
    result = run("train", songs[0].parent, "--accelerator", "gpu", "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "--accelerator gpu: no CUDA device is visible" in result.stderr
    assert not (tmp_path / "run").exists()
    assert run("cv", songs[0].parent, "--accelerator", "tpu").exit_code == 2


# -- on a GPU ---------------------------------------------------------------------------------
@needs_cuda
def test_cuda_probabilities_equal_the_cpus(bundle, songs) -> None:
    on_cpu = Classifier.load(bundle, device="cpu")
    on_gpu = Classifier.load(bundle, device="cuda")
    assert {p.device.type for p in on_gpu.network.parameters()} == {"cuda"}
    assert "on cuda:" in on_gpu.describe()
    cpu, gpu = on_cpu.predict_proba(songs), on_gpu.predict_proba(songs)
    assert np.abs(cpu - gpu).max() < TOLERANCE
    feats = on_cpu.features_of(songs[0])
    cpu_logits, _ = on_cpu.window_logits(feats)
    gpu_logits, _ = on_gpu.window_logits(feats)
    assert np.abs(cpu_logits - gpu_logits).max() < 10 * TOLERANCE


@needs_cuda
def test_cuda_ensemble_and_tagger_equal_the_cpus(bundle, songs, tmp_path) -> None:
    from genrenet.inference.ensemble import Ensemble
    from genrenet.inference.tagging import Tagger

    members = [Classifier.load(bundle), Classifier.load(bundle).calibrate({"temperature": 0.5})]
    ensemble = Ensemble(members, [0.3, 0.7])
    cpu = ensemble.predict_proba(songs)
    gpu = ensemble.to("cuda").predict_proba(songs)
    assert all(m.device.type == "cuda" for m in ensemble.members)
    assert np.abs(cpu - gpu).max() < TOLERANCE
    cpu_tags = [p.proba for p in Tagger("msd").tag_files(songs)]
    gpu_tags = [p.proba for p in Tagger("msd", device="cuda").tag_files(songs)]
    assert np.abs(np.stack(cpu_tags) - np.stack(gpu_tags)).max() < TOLERANCE


@needs_cuda
def test_two_epochs_on_the_gpu_give_a_bundle_that_loads_on_the_cpu(tmp_path, songs) -> None:
    from genrenet.data.synth import generate_collection

    data = generate_collection(tmp_path / "data", n_genres=3, clips_per_genre=6, seconds=4.0)
    clf = Classifier(model="cnn64", crop_seconds=1.0, max_epochs=2, accelerator="gpu")
    clf.fit(data[0].parent.parent, out_dir=tmp_path / "run", progress=False)
    assert clf.metadata["device"].startswith("cuda") and clf.metadata["epochs_run"] == 2
    assert clf.device == torch.device("cpu")  # back where it was before fit
    assert {p.device.type for p in clf.network.parameters()} == {"cpu"}
    loaded = Classifier.load(tmp_path / "run" / "model")
    assert np.abs(loaded.predict_proba(songs) - clf.predict_proba(songs)).max() < TOLERANCE
