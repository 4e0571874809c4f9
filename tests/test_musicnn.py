"""musicnn in PyTorch: shapes, parameter count, its front end, fidelity to the TensorFlow
original (reference taggrams in tests/fixtures, made by tools/musicnn_reference.py), the
shipped weights and their re-derivation from the original wheel, tagging, embeddings, freeze
options and heads fitted on frozen embeddings."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from genrenet.features import FeatureConfig, compute
from genrenet.models import build_model
from genrenet.models.musicnn import (
    PATCH_FRAMES,
    FrequencyPooledConv,
    Musicnn,
    MusicnnGenre,
    MusicnnVGG,
    tf_max,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "musicnn_reference.json"
HAVE_WHEEL = importlib.util.find_spec("musicnn") is not None
needs_wheel = pytest.mark.skipif(
    not HAVE_WHEEL,
    reason="re-deriving the shipped weights needs the wheel: pip install --no-deps musicnn==0.1.0",
)


def reference_tool():
    """tools/musicnn_reference.py, which defines the clips and renders them."""
    spec = importlib.util.spec_from_file_location(
        "musicnn_reference", ROOT / "tools" / "musicnn_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("musicnn_reference", module)
    spec.loader.exec_module(module)
    return module


# -- the port ---------------------------------------------------------------------------------
def test_msd_musicnn_has_787159_trainable_parameters_and_the_original_shapes() -> None:
    net = Musicnn().eval()
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 787_159
    out = net.features(torch.rand(2, PATCH_FRAMES, 96) * 3)
    assert out.logits.shape == (2, 50)
    assert out.timbral.shape == (2, PATCH_FRAMES, 408)
    assert out.temporal.shape == (2, PATCH_FRAMES, 153)
    for name in ("cnn1", "cnn2", "cnn3"):
        assert getattr(out, name).shape == (2, PATCH_FRAMES, 64)
    assert out.mean_pool.shape == out.max_pool.shape == (2, 753)
    assert out.penultimate.shape == (2, 200)
    # musicnn is fully convolutional until the pooling over time: other lengths work
    assert net(torch.rand(1, 400, 96)).shape == (1, 50)


def test_vgg_baseline_shapes_and_patch_length_check() -> None:
    net = MusicnnVGG().eval()
    pools = net.features(torch.rand(2, PATCH_FRAMES, 96))
    assert [tuple(p.shape[1:3]) for p in pools] == [(92, 48), (46, 24), (23, 12), (11, 6), (2, 1)]
    assert net(torch.rand(2, PATCH_FRAMES, 96)).shape == (2, 50)
    with pytest.raises(ValueError, match="187-frame"):
        net(torch.rand(1, 100, 96))


def test_pooling_after_relu_and_bn_equals_the_direct_order() -> None:
    torch.manual_seed(0)
    branch = FrequencyPooledConv(12, (7, 38), (3, 3))
    bn = branch.block.bn
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.normal_()  # negative scales take the minimum branch
    branch.eval()
    x = torch.randn(3, 1, 60, 96)
    direct = tf_max(branch.block(torch.nn.functional.pad(x, (0, 0, 3, 3))), dim=3)
    assert (bn.weight < 0).any() and (bn.weight > 0).any()
    torch.testing.assert_close(branch(x, exact=False), direct, rtol=1e-5, atol=1e-5)


def test_tf_max_skips_nan_and_floors_at_the_lowest_float() -> None:
    x = torch.tensor([[1.0, float("nan"), 3.0], [float("nan"), float("-inf"), float("nan")]])
    out = tf_max(x, dim=1)
    assert out[0] == 3.0 and out[1] == torch.finfo(torch.float32).min


def test_frontend_matches_the_original_recipe_with_librosa() -> None:
    import librosa

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 4) / 16000
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96)
    # what musicnn computes (under the NumPy 1.x it requires: float16 values, float32 arithmetic)
    ref = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    ours = compute(y, FeatureConfig.of_kind("musicnn"))
    assert ours.shape == ref.shape == (96, 251)
    # values agree to a float16 rounding step of the mel power
    assert np.abs(ours - ref).max() < 4e-3
    assert np.mean(np.abs(ours - ref) > 1e-5) < 0.01  # rarely a different float16 rounding


def test_musicnn_features_are_fixed_and_187_frames_make_3_seconds() -> None:
    cfg = FeatureConfig.of_kind("musicnn")
    assert (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels) == (16000, 512, 256, 96)
    assert cfg.frames_for(3.0) == PATCH_FRAMES
    with pytest.raises(ValueError, match="fixed settings"):
        FeatureConfig(kind="musicnn")


# -- fidelity to the original ---------------------------------------------------------------
@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"])
def test_taggrams_match_the_tensorflow_original_within_1e3(model: str, tmp_path: Path) -> None:
    from genrenet.inference.tagging import Tagger

    tool = reference_tool()
    reference = json.loads(FIXTURE.read_text())
    tagger, arch = model.split("_")
    net = Tagger(tagger.lower(), arch)
    for name, entry in reference["clips"].items():
        assert list(entry["spec"]) == list(tool.CLIPS[name]), "fixture and tool disagree"
        y, sr = tool.render(name)
        path = tmp_path / f"{name}.wav"
        sf.write(path, y, sr, subtype="FLOAT")
        probs, _ = net.taggram(net.features_of(path))
        expected = np.array(entry["models"][model]["taggram"])
        assert probs.shape == expected.shape, name
        worst = np.abs(probs - expected).max()
        assert worst < 1e-3, f"{model} on {name}: max |diff| {worst:.2e}"
        if arch == "musicnn":
            first = torch.from_numpy(net.features_of(path)[:, :PATCH_FRAMES].T.copy())[None]
            with torch.no_grad():
                pen = net.network.features(first).penultimate[0].numpy()
            ref_pen = np.array(entry["models"][model]["penultimate_first_patch"])
            assert np.abs(pen - ref_pen).max() < 1e-3


# -- weights ----------------------------------------------------------------------------------
def test_shipped_weights_load_into_the_port_and_match_their_provenance() -> None:
    import hashlib

    from genrenet.pretrained import musicnn_weights as mw

    record = mw.provenance()
    assert record["source"]["version"] == "0.1.0" and record["source"]["license"].startswith("ISC")
    notice = (mw.WEIGHTS_DIR / mw.LICENCE_FILE).read_text()
    assert "Music Technology Group" in notice and "Permission to use, copy, modify" in notice
    for model in mw.MODELS:
        path = mw.weights_path(model)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["models"][model]["sha256"]
        state = mw.load_state_dict(model)
        net = Musicnn() if model.endswith("musicnn") else MusicnnVGG()
        net.load_state_dict(state)  # strict: every tensor named and shaped for the port
        assert len(state) == record["models"][model]["tensors"]
    # the two taggers are different networks, not one file twice
    msd, mtt = mw.load_state_dict("MSD_musicnn"), mw.load_state_dict("MTT_musicnn")
    assert not torch.equal(msd["output.weight"], mtt["output.weight"])


def test_damaged_or_missing_shipped_weights_say_so(tmp_path: Path, monkeypatch) -> None:
    from genrenet.pretrained import musicnn_weights as mw

    for name in (mw.PROVENANCE_FILE, "MSD_musicnn.safetensors"):
        (tmp_path / name).write_bytes((mw.WEIGHTS_DIR / name).read_bytes())
    blob = bytearray((tmp_path / "MSD_musicnn.safetensors").read_bytes())
    blob[-1] ^= 1  # one flipped bit in the last weight
    (tmp_path / "MSD_musicnn.safetensors").write_bytes(bytes(blob))
    monkeypatch.setattr(mw, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(mw.CheckpointError, match="MSD_musicnn.safetensors: damaged"):
        mw.load_state_dict("MSD_musicnn")
    with pytest.raises(mw.MissingWeightsError, match="MTT_musicnn.safetensors.*reinstall genrenet"):
        mw.load_state_dict("MTT_musicnn")
    with pytest.raises(ValueError, match="unknown musicnn model"):
        mw.load_state_dict("GTZAN_musicnn")


def test_shipped_weights_need_no_wheel_and_rederiving_names_the_install_command(
    tmp_path: Path, monkeypatch
) -> None:
    from genrenet.pretrained import musicnn_weights as mw

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("GENRENET_MUSICNN_DIR", raising=False)
    assert "output.weight" in mw.load_state_dict("MSD_musicnn")  # from the package
    with pytest.raises(mw.MissingWeightsError, match="pip install --no-deps musicnn==0.1.0"):
        mw.convert("MSD_musicnn")
    empty = tmp_path / "wheel"
    empty.mkdir()
    monkeypatch.setenv("GENRENET_MUSICNN_DIR", str(empty))
    with pytest.raises(mw.MissingWeightsError, match="no checkpoint"):
        mw.convert("MSD_musicnn")


@needs_wheel
@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"])
def test_rederived_weights_equal_the_shipped_ones_bit_for_bit(model: str) -> None:
    """The documented path: the wheel's checkpoints, read by genrenet's own TF reader."""
    import hashlib

    from safetensors.torch import save

    from genrenet.pretrained import musicnn_weights as mw

    record = mw.provenance()["models"][model]
    folder = mw.checkpoint_folder(model)
    for name, entry in record["checkpoint"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == entry["sha256"], name
    fresh = mw.convert(model)
    shipped = mw.load_state_dict(model)
    assert sorted(fresh) == sorted(shipped)
    for name, tensor in fresh.items():
        assert tensor.dtype == shipped[name].dtype and tensor.shape == shipped[name].shape, name
        assert torch.equal(
            tensor.view(-1).view(torch.uint8), shipped[name].view(-1).view(torch.uint8)
        )
    # and the file itself: tools/convert_musicnn.py's output is byte-for-byte reproducible
    blob = save(fresh, metadata=mw.weights_metadata(model))
    assert blob == mw.weights_path(model).read_bytes()


# -- freeze options ---------------------------------------------------------------------------
def _trainable(model: MusicnnGenre) -> set[str]:
    return {
        n.split(".")[0] + "." + n.split(".")[1]
        for n, p in model.named_parameters()
        if p.requires_grad
    }


@pytest.mark.parametrize(
    ("freeze", "trainable_backbone"),
    [
        ("all", set()),
        ("frontend", {"midend", "pool_bn", "dense", "dense_bn", "output"}),
        ("none", None),
    ],
)
def test_freeze_options_fix_the_right_parts(freeze: str, trainable_backbone) -> None:
    torch.manual_seed(0)
    model = build_model(
        "musicnn-msd", n_classes=4, n_features=96, freeze=freeze, head="dense", pretrained=False
    )
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    backbone = {n.split(".")[1] for n in names if n.startswith("backbone.")}
    if trainable_backbone is None:
        assert backbone == {
            "input_bn",
            "timbral",
            "temporal",
            *{"midend", "pool_bn", "dense", "dense_bn", "output"},
        }
    else:
        assert backbone == trainable_backbone
    assert any(n.startswith("head.") for n in names)
    frozen_before = {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith("backbone.timbral")
    }
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    loss = model(torch.rand(4, 1, 96, PATCH_FRAMES) * 3).logsumexp(1).mean()
    loss.backward()
    optimizer.step()
    changed = [k for k, v in frozen_before.items() if not torch.equal(v, model.state_dict()[k])]
    if freeze == "none":
        assert changed  # weights and batch-norm statistics move
    else:
        assert not changed  # weights and batch-norm statistics of the front end stay


def test_sklearn_heads_need_a_frozen_backbone_and_features_are_checked() -> None:
    with pytest.raises(ValueError, match="freeze='all'"):
        build_model("musicnn-msd", 3, 96, freeze="none", head="svm", pretrained=False)
    with pytest.raises(ValueError, match="96-band"):
        build_model("musicnn-msd", 3, 128, pretrained=False)
    from genrenet.classifier import Classifier

    assert Classifier(model="musicnn-mtt").feature_config.kind == "musicnn"
    assert Classifier(model="musicnn-msd", model_kwargs={"freeze": "none"}).train_config.lr == 1e-4
    with pytest.raises(ValueError, match="own 'musicnn' features"):
        _ = Classifier(model="musicnn-msd", features="mfcc").feature_config  # checked when resolved


def test_a_frozen_model_saves_only_its_head(tmp_path: Path) -> None:
    model = build_model("musicnn-msd", 5, 96, pretrained=False)
    saved = model.saved_state()
    assert saved and all(k.startswith("head.") for k in saved)
    tuned = build_model("musicnn-msd", 5, 96, freeze="frontend", pretrained=False)
    assert any(k.startswith("backbone.") for k in tuned.saved_state())


# -- tagging, embedding, bundled model (the shipped weights) -----------------------------------
@pytest.fixture(scope="module")
def synth_clips(tmp_path_factory) -> Path:
    """Two synthetic genres, three 7 s clips each, at 16 kHz."""
    from genrenet.data.synth import generate_clip

    root = tmp_path_factory.mktemp("musicnn-clips")
    for k, genre in enumerate(("metal", "classical")):
        (root / genre).mkdir()
        for j in range(3):
            y = generate_clip(genre, 7.0, 16000, np.random.default_rng(100 * k + j))
            sf.write(root / genre / f"{genre}{j}.wav", y, 16000)
    return root


def test_tag_command_json_shape_all_tags_and_bad_files(synth_clips: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genrenet.cli import app

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    good = synth_clips / "metal" / "metal0.wav"
    result = CliRunner().invoke(app, ["tag", str(good), str(bad), "--json", "--top-k", "50"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [Path(d["path"]).name for d in data] == ["metal0.wav", "notes.wav"]
    tags = data[0]["top"]
    assert len(tags) == 50 and len({t["label"] for t in tags}) == 50
    scores = [t["score"] for t in tags]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert data[0]["error"] is None and "notes.wav" not in data[1]["error"]
    assert data[1]["error"] and not data[1]["top"]
    result = CliRunner().invoke(
        app, ["tag", str(good), "--tagger", "mtt", "--json", "--timeline", "--hop", "1"]
    )
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)[0]
    assert len(entry["top"]) == 10
    # 7 s at 16 kHz = 436 frames: patches start every 61 frames while 187 fit -> 5 patches
    assert [w["start"] for w in entry["timeline"]] == [0.0, 0.976, 1.952, 2.928, 3.904]


def test_embed_stores_window_embeddings_and_writes_npz(synth_clips: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genrenet.cli import app
    from genrenet.pretrained.embeddings import EmbeddingStore, select

    out = tmp_path / "emb.npz"
    args = ["embed", str(synth_clips), "--cache", str(tmp_path / "cache"), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = np.load(out)
    assert data["penultimate"].shape == (6, 200) and data["mean_pool"].shape == (6, 753)
    # 7 s = 436 frames: windows at 0, 187 and the last one ending at the end
    assert data["penultimate_windows"].shape == (18, 200)
    assert sorted(set(data["labels"])) == ["classical", "metal"]
    store = EmbeddingStore("msd", tmp_path / "cache")
    path = synth_clips / "metal" / "metal1.wav"
    windows = store.load(path)
    clf_net = build_model("musicnn-msd", 2, 96, embedding="max_pool").eval()
    feats = store.features.load(path)
    first = torch.from_numpy(np.ascontiguousarray(feats[:, :PATCH_FRAMES]))[None, None]
    with torch.no_grad():
        assert np.allclose(
            clf_net.embed(first)[0].numpy(), select(windows, "max_pool")[0], atol=1e-5
        )
    again = CliRunner().invoke(app, args)
    assert "6 from the cache" in again.output.replace("\n", " ")


def test_embedding_store_with_a_hop_lays_windows_as_predict_does(
    synth_clips: Path, tmp_path: Path
) -> None:
    """Overlapping windows (``hop_seconds``) start where ``predict --hop`` puts them, each row is
    the embedding of its own window, and they are cached apart from the 3 s windows."""
    from genrenet.classifier import Classifier
    from genrenet.patches import window_starts
    from genrenet.pretrained.embeddings import EmbeddingStore

    path = synth_clips / "classical" / "classical0.wav"
    plain = EmbeddingStore("msd", tmp_path / "cache")
    half = EmbeddingStore("msd", tmp_path / "cache", hop_seconds=1.5)
    assert half.entry_path(path) != plain.entry_path(path)
    feats = np.asarray(half.features.load(path))
    plan = Classifier.load("gtzan-musicnn").window_plan(1.5)
    starts = window_starts(feats.shape[-1], plan.patch, plan.hop)
    windows = half.load(path)
    # 7 s = 438 frames: starts 0, 92, 184 and 251 (the last ending at the end); 0, 187, 251
    # without a hop
    assert starts.tolist() == [0, 92, 184, 251] and feats.shape[-1] == 438
    assert windows.shape == (4, 1706) and len(plain.load(path)) == 3
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(feats[:, 92 : 92 + PATCH_FRAMES]))[None]
        out = half.network().features(x.transpose(1, 2))
    assert np.allclose(windows[1, 1506:], out.penultimate[0].numpy(), atol=1e-5)
    assert np.allclose(half.load(path), windows)  # read back from its own entry
    with pytest.raises(ValueError, match="hop must be positive"):
        EmbeddingStore("msd", tmp_path / "cache", hop_seconds=0)


@pytest.mark.parametrize("head", ["logreg", "svm", "mlp"])
def test_heads_on_frozen_embeddings_are_folded_into_the_network(
    head: str, synth_clips: Path, tmp_path: Path
) -> None:
    from genrenet.classifier import Classifier

    clf = Classifier(model="musicnn-msd", model_kwargs={"head": head, "hidden": 16})
    outcome = clf.fit(
        synth_clips,
        out_dir=tmp_path / "run",
        cache=tmp_path / "cache",
        split="stratified",
        progress=False,
    ).outcome_
    fit = clf.metadata["head_fit"]
    assert fit["head"] == head and fit["chosen"] in [c["value"] for c in fit["candidates"]]
    # two easy synthetic genres: the frozen embeddings separate them
    assert outcome.evaluation.track["accuracy"] == 1.0
    saved = Classifier.load(tmp_path / "run" / "model")
    files = sorted(synth_clips.rglob("*.wav"))
    assert np.allclose(saved.predict_proba(files), clf.predict_proba(files), atol=1e-5)
    assert saved.predict(files) == [f.parent.name for f in files]
    size = (tmp_path / "run" / "model" / "model.safetensors").stat().st_size
    assert size < 2_000_000  # the head only; the backbone comes from the shipped weights


def test_bundled_gtzan_model_loads_by_name_and_predict_uses_it(synth_clips: Path) -> None:
    from typer.testing import CliRunner

    from genrenet.classifier import Classifier
    from genrenet.cli import app
    from genrenet.data.gtzan import GTZAN_GENRES
    from genrenet.pretrained.musicnn_weights import load_state_dict

    clf = Classifier.load("gtzan-musicnn")
    assert sorted(clf.labels) == sorted(GTZAN_GENRES)
    assert "bundled" in clf.describe()
    shipped = load_state_dict("MSD_musicnn")
    assert torch.equal(clf.network.backbone.dense.weight, shipped["dense.weight"])
    proba = clf.predict_proba([synth_clips / "classical" / "classical0.wav"])
    assert proba.shape == (1, 10) and abs(proba.sum() - 1) < 1e-5
    result = CliRunner().invoke(app, ["predict", str(synth_clips / "metal" / "metal0.wav")])
    assert result.exit_code == 0, result.output
    assert "gtzan-musicnn" in result.output


@pytest.mark.realdata
def test_bundled_model_on_real_gtzan_clips() -> None:
    from genrenet.classifier import Classifier

    root = ROOT.parent / "shared" / "data" / "gtzan-mini"
    if not root.is_dir():
        pytest.skip(f"{root} not available")
    files = sorted(root.glob("*/*.00009.*"))  # one clip per genre
    clf = Classifier.load("gtzan-musicnn")
    hits = sum(p == f.parent.name for p, f in zip(clf.predict(files), files, strict=True))
    assert hits >= 7, f"{hits} of {len(files)}"


def test_environment_has_no_tensorflow_dependency() -> None:
    import genrenet.inference.tagging  # noqa: F401
    import genrenet.models.musicnn  # noqa: F401

    assert "tensorflow" not in sys.modules and "musicnn" not in sys.modules


class _FakeStore:
    """Window embeddings by path, as an :class:`EmbeddingStore` hands them out."""

    def __init__(self, windows: dict[Path, np.ndarray]) -> None:
        self.windows = windows

    def load(self, path: Path) -> np.ndarray:
        return self.windows[path]


def test_near_constant_features_do_not_blow_up_the_folded_head() -> None:
    """A feature fixed up to float32 rounding (std 1e-12, as dead musicnn units are) gets zero
    weight instead of a 1e12 one, and the head predicts as scikit-learn's scaler + logistic
    regression fitted on the other features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from genrenet.pretrained.embeddings import LAYOUT
    from genrenet.training.transfer import fit_head

    rng = np.random.default_rng(0)
    start, end = LAYOUT["penultimate"]
    centres = rng.normal(0, 1, (3, end - start))
    windows, labels = {}, []
    for i in range(30):
        label = i % 3
        emb = np.zeros((4, 1706), np.float32)
        emb[:, start:end] = centres[label] + rng.normal(0, 1.5, (4, end - start))
        emb[:, start] = 2.4e-6 + rng.normal(0, 1e-12, 4)  # dead unit: constant up to rounding
        emb[:, start + 1] = 0.0  # exactly constant
        windows[Path(f"t{i}.wav")] = emb
        labels.append(label)
    paths = list(windows)
    network = MusicnnGenre(3, embedding="penultimate", head="logreg", pretrained=False).eval()
    fit_head(
        network, _FakeStore(windows), (paths, np.array(labels)), ([], np.zeros(0)), 3, grid=(1.0,)
    )

    weights = [m.weight for m in network.head.modules() if isinstance(m, torch.nn.Linear)]
    w = weights[0].detach().numpy()
    assert np.abs(w).max() < 1e3
    assert np.all(w[:, :2] == 0)

    x = np.concatenate([windows[p][:, start:end] for p in paths])
    y = np.repeat(labels, 4)
    assert 0 < x[:, 0].std() < 1e-11  # near-constant, not exactly constant, in float32
    reference = make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=0)
    ).fit(x[:, 2:].astype(np.float64), y)
    with torch.no_grad():
        proba = torch.softmax(network.head(torch.from_numpy(x)), dim=1).numpy()
    assert np.allclose(proba, reference.predict_proba(x[:, 2:].astype(np.float64)), atol=1e-4)
