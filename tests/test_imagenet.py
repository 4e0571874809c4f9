"""The optional timm ImageNet backbone: shapes, freezing, local weights, and life without timm."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from genrenet.models.imagenet import ImageNetBackbone, pad_to, timm_available

TIMM_OK, TIMM_REASON = timm_available()
needs_timm = pytest.mark.skipif(not TIMM_OK, reason=f"timm does not import: {TIMM_REASON}")
SMALL = ("efficientnet_b0", "mobilenetv2_100")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# -- without timm ----------------------------------------------------------------------------
def test_module_imports_without_timm() -> None:
    code = (
        "import sys; sys.modules['timm'] = None\n"
        "import genrenet.models.imagenet as m\n"
        "ok, reason = m.timm_available()\n"
        "assert not ok and 'genrenet[imagenet]' in reason, reason\n"
        "print('imported')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout


def test_building_without_timm_is_an_import_error_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match=r"pip install 'genrenet\[imagenet\]'") as info:
        ImageNetBackbone(4, 128)
    # the original failure is quoted, not hidden
    assert str(info.value.__cause__) in str(info.value)
    assert timm_available() == (False, str(info.value))


def test_bad_options_fail_before_timm_is_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ValueError, match="freeze"):
        ImageNetBackbone(4, 128, freeze="some")
    with pytest.raises(ValueError, match="dropout"):
        ImageNetBackbone(4, 128, dropout=1.5)
    with pytest.raises(ValueError, match="backbone"):
        ImageNetBackbone(4, 128, backbone="")
    missing = tmp_path / "nowhere.safetensors"
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        ImageNetBackbone(4, 128, weights=str(missing))


def test_padding_is_centred_zeros_up_to_the_minimum() -> None:
    x = torch.randn(2, 1, 40, 20)
    y = pad_to(x, 32)
    assert y.shape == (2, 1, 40, 32)
    assert torch.equal(y[..., 6:26], x)
    assert y[..., :6].abs().sum() == 0 and y[..., 26:].abs().sum() == 0
    assert pad_to(x, 16) is x


# -- with timm -------------------------------------------------------------------------------
@needs_timm
@pytest.mark.parametrize("backbone", SMALL)
def test_forward_and_embed_shapes(backbone: str) -> None:
    model = ImageNetBackbone(5, 128, backbone=backbone)
    x = torch.randn(2, 1, 128, 130)
    model.train()
    assert model(x).shape == (2, 5)
    assert all(p.requires_grad for p in model.parameters())
    model.eval()
    with torch.no_grad():
        logits = model(x)
        emb = model.embed(x)
    assert emb.shape == (2, model.embed_dim) and model.embed_dim == 1280
    assert torch.isfinite(logits).all() and torch.isfinite(emb).all()
    assert torch.allclose(model.head(emb), logits, atol=1e-5)
    assert (logits[0] - logits[1]).abs().max() > 1e-6
    # rebuilding from arch_kwargs (JSON) gives the same tensors
    again = ImageNetBackbone(5, 128, **json.loads(json.dumps(model.arch_kwargs)))
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


@needs_timm
def test_inception_pads_small_patches_to_75() -> None:
    model = ImageNetBackbone(3, 40, backbone="inception_v3").eval()
    assert model.min_side == 75
    with torch.no_grad():
        out = model(torch.randn(2, 1, 40, 32))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


def _train_step(model: ImageNetBackbone) -> None:
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = torch.nn.functional.cross_entropy(
        model(torch.randn(4, 1, 64, 64) * 3 + 1), torch.tensor([0, 1, 2, 0])
    )
    opt.zero_grad()
    loss.backward()
    opt.step()


@needs_timm
def test_freeze_all_trains_only_the_head_and_keeps_bn_statistics() -> None:
    model = ImageNetBackbone(3, 64, backbone="mobilenetv2_100", freeze="all")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.head.named_parameters(prefix="head")}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_step(model)
    assert model.training and not model.backbone.training
    after = model.state_dict()
    for key, value in before.items():
        if key.startswith("backbone."):
            assert torch.equal(after[key], value), f"{key} changed"
    assert not torch.equal(after["head.1.weight"], before["head.1.weight"])


@needs_timm
def test_freeze_partial_trains_only_the_last_stage() -> None:
    model = ImageNetBackbone(3, 64, backbone="efficientnet_b0", freeze="partial")
    grad = {n: p.requires_grad for n, p in model.named_parameters()}
    assert not grad["backbone.conv_stem.weight"] and not grad["backbone.blocks.4.0.conv_pw.weight"]
    assert grad["backbone.blocks.5.0.conv_pw.weight"] and grad["backbone.blocks.6.0.conv_pw.weight"]
    assert grad["backbone.conv_head.weight"] and grad["head.1.weight"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_step(model)
    after = model.state_dict()
    # the frozen stem keeps its statistics; the trainable last stage updates its own
    assert torch.equal(after["backbone.bn1.running_mean"], before["backbone.bn1.running_mean"])
    assert not torch.equal(after["backbone.bn2.running_mean"], before["backbone.bn2.running_mean"])
    assert torch.equal(
        after["backbone.blocks.4.0.conv_pw.weight"], before["backbone.blocks.4.0.conv_pw.weight"]
    )
    assert not torch.equal(after["backbone.conv_head.weight"], before["backbone.conv_head.weight"])


def _rgb_reference(tmp_path: Path, suffix: str):
    """A randomly initialised 3-channel timm model with a classifier, saved to a local file."""
    import timm

    ref = timm.create_model("mobilenetv2_100", pretrained=False, in_chans=3, num_classes=10)
    with torch.no_grad():
        for name, buf in ref.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_()
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    path = tmp_path / f"rgb{suffix}"
    if suffix == ".safetensors":
        save_file(state, path)
    else:
        torch.save(state, path)
    return ref.eval(), state, path


@needs_timm
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_three_channel_weights_load_with_the_first_conv_summed(tmp_path: Path, suffix: str) -> None:
    ref, state, path = _rgb_reference(tmp_path, suffix)
    model = ImageNetBackbone(4, 128, backbone="mobilenetv2_100", weights=str(path)).eval()
    got = model.backbone.state_dict()
    assert torch.allclose(got["conv_stem.weight"], state["conv_stem.weight"].sum(1, keepdim=True))
    for key in ("blocks.6.0.conv_pwl.weight", "bn2.running_mean", "conv_head.weight"):
        assert torch.equal(got[key], state[key])
    assert model.weights_file == str(path) and model.arch_kwargs["weights"] is None
    # summing the first conv equals feeding the grey patch to all three colour channels
    x = torch.randn(2, 1, 128, 130)
    with torch.no_grad():
        want = ref.forward_head(ref.forward_features(x.expand(-1, 3, -1, -1)), pre_logits=True)
        assert torch.allclose(model.embed(x), want, atol=1e-4)


@needs_timm
def test_weights_that_do_not_fit_name_the_file_and_the_tensor(tmp_path: Path) -> None:
    _, state, _ = _rgb_reference(tmp_path, ".safetensors")
    bad = dict(state)
    bad["conv_head.weight"] = bad["conv_head.weight"][:100].contiguous()
    path = tmp_path / "wrong_shape.safetensors"
    save_file(bad, path)
    with pytest.raises(ValueError, match=r"wrong_shape\.safetensors.*conv_head\.weight"):
        ImageNetBackbone(4, 128, backbone="mobilenetv2_100", weights=str(path))
    short = {k: v for k, v in state.items() if not k.startswith("bn2.")}
    path = tmp_path / "short.safetensors"
    save_file(short, path)
    with pytest.raises(ValueError, match=r"short\.safetensors.*missing.*bn2\.weight"):
        ImageNetBackbone(4, 128, backbone="mobilenetv2_100", weights=str(path))
    path = tmp_path / "other_net.safetensors"
    save_file(short, path)
    with pytest.raises(ValueError, match=r"other_net\.safetensors.*efficientnet_b0"):
        ImageNetBackbone(4, 128, backbone="efficientnet_b0", weights=str(path))


@needs_timm
def test_unsafe_or_corrupt_weight_files_are_refused(tmp_path: Path) -> None:
    _, state, _ = _rgb_reference(tmp_path, ".safetensors")
    pickled = tmp_path / "with_args.pth"
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=0.1)}, pickled)
    with pytest.raises(ValueError, match=r"with_args\.pth.*weights-only"):
        ImageNetBackbone(4, 128, backbone="mobilenetv2_100", weights=str(pickled))
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state, "epoch": 3}, wrapped)  # plain wrapper: accepted
    model = ImageNetBackbone(4, 128, backbone="mobilenetv2_100", weights=str(wrapped))
    assert torch.equal(model.backbone.state_dict()["conv_head.weight"], state["conv_head.weight"])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match=r"garbage\.safetensors"):
        ImageNetBackbone(4, 128, backbone="mobilenetv2_100", weights=str(garbage))


@needs_timm
def test_unknown_backbone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no_such_net"):
        ImageNetBackbone(4, 128, backbone="no_such_net")
