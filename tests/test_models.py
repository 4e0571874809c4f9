"""The CNN architectures: shapes on log-mel and MFCC patches, learning, options, registry."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genrenet.models import MODELS, GenreModel, arch_options, build_model, model_names
from genrenet.models.base import pool2d, stem_conv

#: The spectrogram CNNs trained from scratch on any feature size (musicnn has its own 96-band
#: input and tests in test_musicnn.py; the ImageNet backbones need timm, test_imagenet.py).
NAMES = ["lenet5", "cnn64", "fcn5", "crnn", "cnn_rnn", "resnet"]
INPUTS = [(128, 130), (128, 32), (40, 130), (40, 259)]  # (n_features, frames): logmel / mfcc


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registry_lists_every_architecture() -> None:
    assert model_names() == [*NAMES, "musicnn", "imagenet", "musicnn-msd", "musicnn-mtt"]
    assert set(MODELS) == {*NAMES, "musicnn", "imagenet"}
    for name, cls in MODELS.items():
        assert issubclass(cls, GenreModel) and cls.name == name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_features,frames", INPUTS)
def test_shapes_and_finite(name: str, n_features: int, frames: int) -> None:
    n_classes = 7
    model = build_model(name, n_classes, n_features)
    x = torch.randn(3, 1, n_features, frames)
    model.train()
    assert model(x).shape == (3, n_classes)
    model.eval()
    with torch.no_grad():
        logits = model(x)
        emb = model.embed(x)
    assert logits.shape == (3, n_classes)
    assert emb.shape == (3, model.embed_dim) and model.embed_dim > 0
    assert torch.isfinite(logits).all() and torch.isfinite(emb).all()
    # The head is a function of the embedding alone.
    assert torch.allclose(model.head(emb), logits, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_eval_outputs_do_not_depend_on_the_rest_of_the_batch(name: str) -> None:
    model = build_model(name, 4, 40).eval()
    x = torch.randn(5, 1, 40, 64)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(5)])
    assert torch.allclose(together, alone, atol=1e-4)
    # and different inputs give different outputs (the network is not constant)
    assert (together[0] - together[1]).abs().max() > 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_chunked_cpu_inference_equals_one_batch(name: str) -> None:
    model = build_model(name, 6, 40).eval()
    x = torch.randn(model.cpu_chunk * 2 + 3, 1, 40, 40)
    with torch.no_grad():
        chunked = model(x)
    whole = model(x).detach()  # autograd on: one batch, no chunking
    assert chunked.shape == whole.shape == (x.shape[0], 6)
    assert torch.allclose(chunked, whole, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient(name: str) -> None:
    model = build_model(name, 3, 40)
    model.train()
    loss = model(torch.randn(4, 1, 40, 48)).logsumexp(dim=1).sum()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient"


def spectrogram_like(batch: int, n_features: int, frames: int) -> torch.Tensor:
    """Smooth random fields plus a little noise: correlated in time and frequency like features."""
    coarse = torch.randn(batch, 1, max(2, n_features // 8), max(2, frames // 8))
    smooth = F.interpolate(coarse, size=(n_features, frames), mode="bilinear")
    return smooth + 0.3 * torch.randn(batch, 1, n_features, frames)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_features", [128, 40])
def test_overfits_a_fixed_batch(name: str, n_features: int) -> None:
    n_classes = 4
    model = build_model(name, n_classes, n_features)
    x = spectrogram_like(8, n_features, 32)
    y = torch.arange(8) % n_classes
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.eval()
    with torch.no_grad():
        before_eval = loss_fn(model(x), y).item()
    model.train()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = losses[0], sum(losses[-3:]) / 3
    assert last < 0.4 * first, f"{name}: training loss {first:.3f} -> {last:.3f}"
    # In eval mode (running batch-norm statistics, no dropout) the batch is still fitted better.
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert loss_fn(logits, y).item() < 0.9 * before_eval


@pytest.mark.parametrize("name", NAMES)
def test_arch_kwargs_rebuild_the_same_model(name: str) -> None:
    model = build_model(name, 5, 40)
    settings = json.loads(json.dumps(model.arch_kwargs))  # JSON-ready
    assert settings == arch_options(name)
    twin = build_model(name, 5, 40, **settings)
    twin.load_state_dict(model.state_dict())
    model.eval()
    twin.eval()
    x = torch.randn(2, 1, 40, 50)
    with torch.no_grad():
        assert torch.equal(model(x), twin(x))


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name,small,large",
    [
        ("cnn64", {"channels": 16}, {"channels": 64}),
        ("fcn5", {"width": 8}, {"width": 32}),
        ("crnn", {"channels": 8, "hidden": 16}, {"channels": 32, "hidden": 64}),
        ("cnn_rnn", {"channels": 8, "hidden": 16}, {"channels": 16, "hidden": 64}),
        ("resnet", {"channels": 8}, {"channels": 32}),
        ("lenet5", {"grid": 2}, {"grid": 8}),
    ],
)
def test_width_options_change_the_model(name: str, small: dict, large: dict) -> None:
    assert _n_params(build_model(name, 3, 40, **small)) < _n_params(
        build_model(name, 3, 40, **large)
    )
    x = torch.randn(2, 1, 40, 40)
    assert build_model(name, 3, 40, **small).eval()(x).shape == (2, 3)


def test_crnn_lstm_and_last_state_options() -> None:
    gru = build_model("crnn", 3, 40, rnn="gru")
    lstm = build_model("crnn", 3, 40, rnn="lstm", summary="last")
    assert isinstance(gru.rnn, nn.GRU) and isinstance(lstm.rnn, nn.LSTM)
    assert lstm.eval()(torch.randn(2, 1, 40, 64)).shape == (2, 3)


def test_unknown_model_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown model 'vgg'.*lenet5.*resnet"):
        build_model("vgg", 10, 128)


def test_unknown_option_is_named() -> None:
    with pytest.raises(ValueError, match="'chanels'.*channels"):
        build_model("resnet", 10, 128, chanels=64)


@pytest.mark.parametrize(
    "name,kwargs,message",
    [
        ("resnet", {"channels": 0}, "channels must be an integer >= 1"),
        ("fcn5", {"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ("crnn", {"rnn": "transformer"}, "rnn must be one of"),
        ("cnn64", {"batch_norm": "yes"}, "batch_norm must be true or false"),
        ("lenet5", {"dropout_scale": 3}, "dropout_scale"),
    ],
)
def test_bad_option_values_are_rejected(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(name, 10, 128, **kwargs)


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_classes must be an integer >= 1"):
        build_model("cnn64", 0, 128)
    with pytest.raises(ValueError, match="n_features must be an integer"):
        build_model("cnn64", 10, 12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_wrong_input_shape_is_a_clear_error(name: str) -> None:
    model = build_model(name, 10, 128).eval()
    with pytest.raises(ValueError, match=r"expects input \[batch, 1, 128, frames\].*40"):
        model(torch.randn(2, 1, 40, 130))
    with pytest.raises(ValueError, match="expects input"):
        model(torch.randn(2, 128, 130))


def test_stem_conv_matches_the_plain_conv_and_switches_to_channels_last() -> None:
    conv = nn.Conv2d(1, 16, 3, padding=1)
    x = torch.randn(2, 1, 40, 33)
    out = stem_conv(conv, x)
    assert torch.allclose(out, conv(x), atol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert conv.weight.is_contiguous()  # parameters keep their layout (safetensors needs it)


def test_pool2d_never_collapses_a_side() -> None:
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    out = pool2d(x, (4, 2))
    assert out.shape == (1, 2, 1, 2)
    assert torch.equal(out[0, 0], torch.tensor([[11.0, 13.0]]))  # max over 3 rows x 2 columns
    assert pool2d(out, (4, 4)).shape == (1, 2, 1, 1)
    assert pool2d(torch.ones(1, 1, 1, 1), (2, 2)).shape == (1, 1, 1, 1)
