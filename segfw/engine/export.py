"""Export a trained segmentor to ONNX or TorchScript, then check the exported file against PyTorch.

The exported graph is ``Segmentor.forward``: images (B, 3, H, W) float32, normalised as in training
(ImageNet mean/std on 0..255 pixels) → logits (B, K, H, W). ONNX is written by the ``torch.export``
based exporter (opset 18) with dynamic batch, height and width; a model whose graph cannot be made
dynamic is written for the example size, and the report says so. TorchScript is traced
(``torch.jit.trace``). Parity: the exported file is run (onnxruntime / ``torch.jit.load``) on the
example input and on a second, odd-sized input when the sizes are dynamic, and the largest absolute
logit difference to PyTorch is reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from segfw.engine.checkpoint import model_from_checkpoint
from segfw.engine.saved_run import find_checkpoint
from segfw.registry import ConfigError

FORMATS = ("onnx", "torchscript")
OPSET = 18
TOLERANCE = 1e-3  # of max(1, max |logit|)


@dataclass
class ExportReport:
    path: Path
    format: str
    dynamic: bool  # H and W may differ from the example's
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # input shape → max |logit difference|
    note: str = ""

    def lines(self) -> list[str]:
        sizes = "dynamic batch, height and width" if self.dynamic else "fixed input size"
        out = [f"wrote {self.path} ({self.format}, {sizes})"]
        if self.note:
            out.append(self.note)
        runtime = "onnxruntime" if self.format == "onnx" else "torch.jit.load"
        out += [f"parity {runtime} vs PyTorch, input {shape}: max |logit difference| = {diff:.3g}"
                for shape, diff in self.max_abs_diff.items()]
        return out


def example_inputs(input_size: Sequence[int]) -> list[Tensor]:
    """The example (1, 3, H, W) and a second (2, 3, H', W') input of odd, different size, seeded."""
    height, width = int(input_size[0]), int(input_size[1])
    generator = torch.Generator().manual_seed(0)
    other = (max(1, height * 3 // 4) | 1, max(1, width * 3 // 4 + 2) | 1)
    return [torch.randn(1, 3, height, width, generator=generator), torch.randn(2, 3, *other, generator=generator)]


def export_model(model: nn.Module, fmt: str, output: str | Path, input_size: Sequence[int]) -> ExportReport:
    """Write ``model`` (eval mode, CPU) to ``output`` in ``fmt`` and check it; see the module docstring."""
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt} is not supported; use format=onnx or format=torchscript")
    if len(input_size) != 2 or min(input_size) < 1:
        raise ConfigError(f"input_size={list(input_size)} must be [H, W], e.g. input_size=[512,1024]")
    path = Path(output).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    inputs = example_inputs(input_size)
    exporter = _export_onnx if fmt == "onnx" else _export_torchscript
    report = exporter(model, inputs[0], path)
    checked = inputs if report.dynamic else inputs[:1]
    run = _onnx_runner(path) if fmt == "onnx" else _torchscript_runner(path)
    with torch.no_grad():
        for x in checked:
            expected = model(x)
            got = torch.as_tensor(run(x))
            report.max_abs_diff["x".join(map(str, x.shape))] = (got - expected).abs().max().item()
            scale = max(1.0, expected.abs().max().item())
            if got.shape != expected.shape or (got - expected).abs().max().item() > TOLERANCE * scale:
                raise RuntimeError(
                    f"{path}: the exported model disagrees with PyTorch on input {tuple(x.shape)} "
                    f"(max |logit difference| {(got - expected).abs().max().item():.3g}, shapes "
                    f"{tuple(got.shape)} vs {tuple(expected.shape)})"
                )
    return report


def export_checkpoint(cfg: DictConfig) -> ExportReport:
    """``tools/export.py``: the model of ``checkpoint`` (or ``run_dir``'s best) to ``output`` in ``format``."""
    checkpoint = find_checkpoint(cfg)
    model, _, _ = model_from_checkpoint(checkpoint, "cpu")
    default_name = "model.onnx" if cfg.format == "onnx" else "model.torchscript.pt"
    output = Path(cfg.output) if cfg.get("output") else checkpoint.parent / default_name
    return export_model(model, cfg.format, output, cfg.input_size)


def _export_onnx(model: nn.Module, example: Tensor, path: Path) -> ExportReport:
    batch, height, width = (torch.export.Dim(name, min=1) for name in ("batch", "height", "width"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(path), dynamo=True, opset_version=OPSET, optimize=True,
                              input_names=["images"], output_names=["logits"],
                              dynamic_shapes={"images": {0: batch, 2: height, 3: width}}, verbose=False)
        return ExportReport(path, "onnx", dynamic=True)
    except Exception as error:  # noqa: BLE001 - any exporter failure falls back to the example's size
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=True, opset_version=OPSET, optimize=True,
                          input_names=["images"], output_names=["logits"], verbose=False)
    note = f"dynamic height/width could not be exported ({reason[:300]}); the file takes {tuple(example.shape)} only"
    return ExportReport(path, "onnx", dynamic=False, note=note)


def _export_torchscript(model: nn.Module, example: Tensor, path: Path) -> ExportReport:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(path))
    return ExportReport(path, "torchscript", dynamic=True)


def _onnx_runner(path: Path):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"images": x.numpy()})[0]


def _torchscript_runner(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is marked deprecated in favour of torch.export
        loaded = torch.jit.load(str(path), map_location="cpu")
    return lambda x: loaded(x)
