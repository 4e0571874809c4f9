"""A trained model as one ONNX graph: waveform windows (or feature patches) in, probabilities out.

:class:`ProbaModule` is the PyTorch form of that graph (front end, normalisation, network,
temperature-scaled softmax); :func:`export_onnx` writes it with the labels, sample rate and
window length in the ONNX metadata; :func:`quantize_int8` makes its int8 form with
onnxruntime's quantisation tools. Nothing here knows bundles: the facade hands over the module
and the metadata, so any model that provides a ``proba_module`` (ensembles included) exports.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genrenet.errors import GenrenetError
from genrenet.files import atomic_path, atomic_write

INPUTS = ("waveform", "features")
"""What an exported graph takes: waveform windows at the model's sample rate, or normalised
feature patches ``[batch, 1, n_features, frames]``."""
OPSET = 17
INPUT_NAME = {"waveform": "waveform", "features": "features"}
OUTPUT_NAME = "probabilities"
INSTALL_HINT = "pip install 'genrenet[onnx]'"


class ExportError(GenrenetError):
    """A model could not be exported, or an exported graph could not be read."""


class ProbaModule(nn.Module):
    """``softmax(network(x) / temperature)``, with the front end and normalisation in front
    when ``frontend`` is given (waveform ``[batch, samples]`` in; else normalised patches).

    The waveform form crops the front end's frames to ``patch_frames``, the network's patch.
    """

    def __init__(
        self,
        network: nn.Module,
        temperature: float = 1.0,
        frontend: nn.Module | None = None,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        patch_frames: int | None = None,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.network = network.eval()
        self.temperature = float(temperature)
        self.frontend = frontend.eval() if frontend is not None else None
        self.patch_frames = patch_frames
        self.n_features = 0 if mean is None else int(len(mean))
        if frontend is not None:
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32)[:, None])
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32)[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities ``[batch, n_labels]``."""
        if self.frontend is not None:
            feats = self.frontend(x)[..., : self.patch_frames]
            # a reshape to the known patch shape, so exporters can follow the shapes through
            shape = (-1, 1, self.n_features, self.patch_frames)
            x = ((feats - self.mean) / self.std).reshape(shape)
        return torch.softmax(self.network(x) / self.temperature, dim=1)


def export_onnx(
    module: nn.Module,
    path: str | Path,
    example: torch.Tensor,
    input_kind: str,
    metadata: Mapping[str, Any],
) -> Path:
    """Write ``module`` as an ONNX graph with a dynamic batch axis, atomically.

    ``metadata`` goes into the graph's ``metadata_props`` (each value as JSON),
    where ``onnxruntime.InferenceSession(...).get_modelmeta().custom_metadata_map`` finds it.
    """
    import onnx

    if input_kind not in INPUTS:
        raise ValueError(f"input must be one of {list(INPUTS)}, got {input_kind!r}")
    name = INPUT_NAME[input_kind]
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants it folds
        torch.onnx.export(
            module.eval(),
            (example,),
            buffer,
            dynamo=False,
            input_names=[name],
            output_names=[OUTPUT_NAME],
            dynamic_axes={name: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = json.dumps(value)  # every value JSON, so readers decode them alike
    model.producer_name = "genrenet"
    return atomic_write(path, model.SerializeToString())


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`export_onnx` wrote, decoded."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError and friends
        raise ExportError(f"{path}: not an ONNX model ({err})") from None
    out: dict[str, Any] = {}
    for entry in model.metadata_props:
        try:
            out[entry.key] = json.loads(entry.value)
        except json.JSONDecodeError:
            out[entry.key] = entry.value
    return out


def quantize_int8(source: str | Path, target: str | Path) -> Path:
    """Dynamic int8 quantisation of an fp32 graph (weights int8, activations quantised on the
    fly, no calibration data needed), written atomically to ``target``."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its advice on pre-processing, printed for every graph
    try:
        with atomic_path(target) as tmp:
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
    finally:
        logging.disable(previous)
    return Path(target)


def graph_metadata(model: Any, input_kind: str) -> dict[str, Any]:
    """What a caller needs beside the graph: labels, sample rate, window and hop in samples,
    the input kind and shape, genrenet's version.

    ``model`` is anything with ``labels``, ``feature_config``, ``window_seconds`` and
    ``patch_frames`` (a :class:`~genrenet.classifier.Classifier`, an ensemble).
    """
    from genrenet import __version__

    config = model.feature_config
    patch_frames = int(model.patch_frames)
    window_samples = int(round(model.window_seconds * config.sample_rate))
    return {
        "labels": list(model.labels),
        "sample_rate": int(config.sample_rate),
        "window_samples": window_samples,
        "hop_samples": patch_frames * int(config.hop_length),
        "window_seconds": float(model.window_seconds),
        "input": input_kind,
        "input_shape": (
            ["batch", window_samples]
            if input_kind == "waveform"
            else ["batch", 1, int(config.n_features), patch_frames]
        ),
        "features": config.to_dict(),
        "genrenet_version": __version__,
    }


def example_input(metadata: Mapping[str, Any], batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A random input of the graph's shape (tracing and tests); quiet noise for waveforms."""
    shape = [batch, *metadata["input_shape"][1:]]
    generator = torch.Generator().manual_seed(seed)
    scale = 0.1 if metadata["input"] == "waveform" else 1.0
    return torch.randn(*shape, generator=generator) * scale


def sidecar_path(path: str | Path) -> Path:
    """The JSON written beside an exported graph: ``model.onnx`` -> ``model.config.json`` (never
    ``config.json``, which would overwrite a bundle exported into its own folder)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.config.json")


def on_cpu(module: nn.Module) -> nn.Module:
    """``module`` itself when it is on the CPU, else a CPU copy: graphs are traced on the CPU,
    and a model running on a GPU stays there."""
    tensors = [*module.parameters(), *module.buffers()]
    if all(t.device.type == "cpu" for t in tensors):
        return module
    import copy

    return copy.deepcopy(module).cpu()


def export_model(
    model: Any,
    path: str | Path,
    input_kind: str = "waveform",
    int8: bool = False,
    sidecar: bool = True,
) -> Path:
    """Export ``model`` (anything with ``proba_module`` and the attributes
    :func:`graph_metadata` reads) to ``path`` as one ONNX graph (``int8``: quantised), with a
    sidecar :func:`sidecar_path` holding the model's config (``config_dict()``, when it has one)
    and the graph's metadata."""
    from genrenet.files import write_json

    if input_kind not in INPUTS:
        raise ValueError(f"input must be one of {list(INPUTS)}, got {input_kind!r}")
    path = Path(path)
    metadata = graph_metadata(model, input_kind)
    if int8:
        metadata["quantization"] = "int8 dynamic (onnxruntime.quantization.quantize_dynamic)"
    module = on_cpu(model.proba_module(input_kind))
    try:
        if int8:
            with atomic_path(path.with_name(path.stem + ".fp32.onnx")) as fp32:
                export_onnx(module, fp32, example_input(metadata), input_kind, metadata)
                quantize_int8(fp32, path)
                fp32.unlink()
        else:
            export_onnx(module, path, example_input(metadata), input_kind, metadata)
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as err:
        reason = str(err).strip().splitlines()[0][:300]  # the tracer appends its whole graph
        raise ExportError(f"{path}: could not export the model to ONNX ({reason})") from None
    if sidecar:
        config = model.config_dict() if hasattr(model, "config_dict") else {}
        write_json(sidecar_path(path), {**config, "onnx": {"file": path.name, **metadata}})
    return path
