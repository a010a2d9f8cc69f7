"""Export a trained segmentor to ONNX or TorchScript, then check the exported file against PyTorch.

The exported graph is ``Segmentor.forward``: images (B, 3, H, W) float32, normalised as in training
(ImageNet mean/std on 0..255 pixels) → logits (B, K, H, W).

- ONNX: the ``torch.export``-based exporter (opset 18), first with dynamic batch, height and width.
  If that fails, or the file's logits differ from PyTorch's at a second, odd input size (e.g.
  adaptive pooling exported with kernels fixed for the example size), the model is exported again
  for the example's fixed shape, and the report says why.
- TorchScript: ``torch.jit.trace`` on the example; when the trace is wrong at the second size the
  report says the file is only valid at the example's size.

Parity: every input the file claims to handle is run through onnxruntime / ``torch.jit.load`` and
through PyTorch; the largest absolute logit difference is reported, and a difference above
``TOLERANCE`` (relative to the logits' magnitude) at the example size is an error.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from segfw.apis.run import Run
from segfw.atomic_write import atomic_write
from segfw.errors import ConfigError
from segfw.output_guard import Inputs, guard_file

FORMATS = ("onnx", "torchscript")
OPSET = 18
TOLERANCE = 1e-3  # of max(1, max |logit|)


@dataclass
class ExportReport:
    path: Path
    format: str
    dynamic: bool  # whether batch, H and W may differ from the example's
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # input shape "BxCxHxW" → max |logit difference|
    note: str = ""

    def lines(self) -> list[str]:
        sizes = "dynamic batch, height and width" if self.dynamic else "fixed input shape"
        runtime = "onnxruntime" if self.format == "onnx" else "torch.jit.load"
        out = [f"wrote {self.path} ({self.format}, {sizes})"] + ([self.note] if self.note else [])
        out += [f"parity {runtime} vs PyTorch, input {shape}: max |logit difference| = {diff:.3g}"
                for shape, diff in self.max_abs_diff.items()]
        return out


class ParityError(RuntimeError):
    """The exported file's logits differ from PyTorch's."""


def example_inputs(input_size: Sequence[int]) -> tuple[Tensor, Tensor]:
    """The example (1, 3, H, W) and a second input (2, 3, H', W') of odd, different size, seeded."""
    height, width = int(input_size[0]), int(input_size[1])
    generator = torch.Generator().manual_seed(0)
    other = (max(1, height * 3 // 4) | 1, max(1, width * 3 // 4 + 2) | 1)
    return torch.randn(1, 3, height, width, generator=generator), torch.randn(2, 3, *other, generator=generator)


def check_export_settings(fmt: str, input_size: Sequence[int]) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt} is not supported; use format=onnx or format=torchscript")
    if len(input_size) != 2 or min(input_size) < 1:
        raise ConfigError(f"input_size={list(input_size)} must be [H, W], e.g. input_size=[512,1024]")


def export_model(model: nn.Module, fmt: str, output: str | Path, input_size: Sequence[int]) -> ExportReport:
    """Write ``model`` (put in eval mode, on CPU) to ``output`` in ``fmt`` and check it (module docstring).

    The file is written and checked under a temporary name, then renamed to ``output``
    (:func:`segfw.atomic_write.atomic_write`): a failed export or parity check leaves ``output`` as it was."""
    check_export_settings(fmt, input_size)
    path = Path(output).expanduser()
    model = model.cpu().eval()
    example, other = example_inputs(input_size)
    export = _export_onnx if fmt == "onnx" else _export_torchscript
    reports: list[ExportReport] = []
    atomic_write(path, lambda tmp: reports.append(export(model, example, other, path, tmp)))
    return reports[0]


def export_checkpoint(cfg: DictConfig) -> ExportReport:
    """``tools/export.py``: the model of ``checkpoint`` (or ``run_dir``'s best) to ``output`` in ``format``.
    The output is checked against the checkpoint and existing files (``overwrite=true``) before the export."""
    check_export_settings(cfg.format, cfg.input_size)
    run = Run.locate(cfg.get("run_dir"), cfg.get("checkpoint"))
    default_name = "model.onnx" if cfg.format == "onnx" else "model.torchscript.pt"
    output = guard_file(cfg.get("output") or run.checkpoint.parent / default_name, "output",
                        Inputs().file(run.checkpoint, "checkpoint"), bool(cfg.get("overwrite")))
    model = run.build_model("cpu")
    return export_model(model, cfg.format, output, cfg.input_size)


def _export_onnx(model: nn.Module, example: Tensor, other: Tensor, path: Path, file: Path) -> ExportReport:
    """``path``: the name reported; ``file``: where the graph is written and checked."""
    report = ExportReport(path, "onnx", dynamic=True)
    try:
        _write_onnx(model, example, file, dynamic=True)
        run = _onnx_runner(file)
        _check(model, run, example, report)
        _check(model, run, other, report)
        return report
    except Exception as error:  # noqa: BLE001 - any failure of the dynamic graph falls back to a fixed shape
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
    report = ExportReport(path, "onnx", dynamic=False,
                          note=f"dynamic sizes failed ({reason}); re-exported for input {_shape(example)} only")
    _write_onnx(model, example, file, dynamic=False)
    _check(model, _onnx_runner(file), example, report)
    return report


def _export_torchscript(model: nn.Module, example: Tensor, other: Tensor, path: Path, file: Path) -> ExportReport:
    """``path``: the name reported; ``file``: where the trace is written and checked."""
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(file))
    report = ExportReport(path, "torchscript", dynamic=True)
    run = _torchscript_runner(file)
    _check(model, run, example, report)
    try:
        _check(model, run, other, report)
    except ParityError as error:
        report.dynamic = False
        report.note = f"the trace is valid for input {_shape(example)} only ({error})"
    return report


def _check(model: nn.Module, run: Callable[[Tensor], Tensor], x: Tensor, report: ExportReport) -> None:
    """Record the max |logit difference| of ``run(x)`` vs ``model(x)``; raise ParityError above tolerance."""
    with torch.no_grad():
        expected = model(x)
        got = run(x)
    if got.shape != expected.shape:
        raise ParityError(f"{report.path} returns logits {tuple(got.shape)} for input {_shape(x)}, "
                          f"PyTorch {tuple(expected.shape)}")
    diff = (got - expected).abs().max().item()
    report.max_abs_diff[_shape(x)] = diff
    if diff > TOLERANCE * max(1.0, expected.abs().max().item()):
        raise ParityError(f"{report.path} differs from PyTorch on input {_shape(x)}: max |logit difference| {diff:.3g}")


def _shape(x: Tensor) -> str:
    return "x".join(map(str, x.shape))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence exporter warnings and the ONNX optimizer's INFO lines (the tools log INFO to stdout)."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx", "torch.export")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _write_onnx(model: nn.Module, example: Tensor, path: Path, dynamic: bool) -> None:
    dims = {"images": {0: torch.export.Dim("batch", min=1), 2: torch.export.Dim("height", min=1),
                       3: torch.export.Dim("width", min=1)}} if dynamic else None
    with _quiet_exporter():
        torch.onnx.export(model, (example,), str(path), dynamo=True, opset_version=OPSET, optimize=True,
                          input_names=["images"], output_names=["logits"], dynamic_shapes=dims, verbose=False)


def _onnx_runner(path: Path) -> Callable[[Tensor], Tensor]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(np.asarray(session.run(None, {"images": x.numpy()})[0]))


def _torchscript_runner(path: Path) -> Callable[[Tensor], Tensor]:
    with _quiet_exporter():  # torch.jit.load warns that TorchScript is deprecated in favour of torch.export
        loaded = torch.jit.load(str(path), map_location="cpu")
    return loaded
