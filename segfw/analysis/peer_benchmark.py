"""Peer benchmark: segfw presets against the same architectures in torchvision and segmentation_models_pytorch.

Every contender is built with random weights and measured in one process, taking turns: each
repeat times one training step (then one inference forward) of every contender in a row, so that
load on a shared machine hits them alike; each figure is the median over the repeats.

- train step: zero_grad, forward, the training losses (main + auxiliary head where the model has one),
  backward, SGD-momentum update; segfw's step is the trainer's (``trainer.channels_last``, autocast,
  the fused SGD update of ``configs/optimizer/sgd.yaml``), the peers' a plain script's (per-tensor SGD).
- CPU allocator: before its turn each contender gets its process's malloc setting
  (``segfw.engine.cpu_allocator``): segfw's defaults ``reuse``, the former default and the peers
  ``glibc`` (glibc's steady state at its largest dynamic threshold, which is never slower for them
  than a plain process's).
- inference: one eval-mode forward of the batch under ``no_grad`` (logits at input size).
- train peak: tensor memory of one training step above what is live before it
  (``segfw.analysis.benchmark.peak_step_memory_bytes``).
- GFLOP/step: 2×MAC of convolutions and matrix products of one training step (forward and backward),
  counted by ``torch.utils.flop_counter.FlopCounterMode`` on the dense network (segfw's tap-sum weight
  gradient of dilated convs, which skips the padding's products, is counted as the dense kernel it
  replaces), so that one architecture has one count in every implementation; achieved GFLOP/s =
  GFLOP/step ÷ step time.
- matmul peak: the best GFLOP/s of a square matrix product (fp32, and bf16 where it is native),
  timed in the same rounds as the models; "% peak" divides a contender's achieved GFLOP/s by the
  peak of its compute dtype.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from segfw.analysis.benchmark import build_benchmark_model, peak_step_memory_bytes, time_ms
from segfw.analysis.flops import count_parameters
from segfw.config import compose_config
from segfw.constants import IGNORE_INDEX
from segfw.engine.cpu_allocator import set_cpu_allocator
from segfw.engine.device import autocast, memory_format, native_bf16
from segfw.models.checkpointing import checkpoint_parts
from segfw.errors import ConfigError
from segfw.models.dilated_conv import set_tap_weight_gradient

MIB = 2**20


@dataclass
class Contender:
    """One model as a user would run it: ``loss(model, images, masks) -> scalar``, ``logits(model, images)``."""

    family: str
    name: str
    model: nn.Module
    loss: Callable[[nn.Module, Tensor, Tensor], Tensor]
    logits: Callable[[nn.Module, Tensor], Tensor]
    channels_last: bool = False
    amp_dtype: torch.dtype | None = None
    cpu_allocator: str = "glibc"
    checkpointed: tuple[str, ...] = ()  # parts run under activation checkpointing
    dense_weight_gradient: bool = False  # dilated convs take oneDNN's weight gradient (not the tap sum)
    fused_optimizer: bool = False  # SGD's fused update (segfw's default, configs/optimizer/sgd.yaml)

    @property
    def setting(self) -> str:
        layout = "NHWC" if self.channels_last else "NCHW"
        precision = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[self.amp_dtype]
        memory = ", malloc reuse" if self.cpu_allocator == "reuse" else ""
        checkpointing = f", checkpointing {'+'.join(self.checkpointed)}" if self.checkpointed else ""
        dense = ", dense dilated weight gradient" if self.dense_weight_gradient else ""
        fused = ", fused SGD" if self.fused_optimizer else ""
        return f"{layout}, {precision}{memory}{fused}{checkpointing}{dense}"


@dataclass
class PeerResult:
    family: str
    name: str
    setting: str
    params_M: float
    train_ms: float
    infer_ms: float
    train_peak_MiB: float
    gflop_per_step: float
    peak_gflops: float  # the machine's matmul peak in the contender's compute dtype
    train_times: list[float] = field(default_factory=list)

    @property
    def achieved_gflops(self) -> float:
        return self.gflop_per_step / (self.train_ms / 1000)


# ----------------------------------------------------------------------------------------------- contenders
def segfw_contenders(family: str, overrides: Sequence[str], num_classes: int, device: torch.device,
                     variants: Sequence[str]) -> list[Contender]:
    """segfw's model of ``overrides`` (e.g. ``["model=deeplabv3_r50"]``) in the requested ``variants``:
    ``default`` (the trainer's defaults: NHWC, fp32, malloc reuse, the tap-sum weight gradient of
    dilated convs), ``nchw`` (the defaults in NCHW with glibc malloc, the former defaults of both),
    ``dense_wgrad`` (the defaults with oneDNN's dense weight gradient for dilated convs, the former
    default: ``segfw.models.dilated_conv``), ``bf16`` (the defaults + bf16 autocast; only where bf16 is
    native) and ``checkpointing`` (the defaults + activation checkpointing of the backbone and the head,
    ``trainer.activation_checkpointing``)."""
    model = build_benchmark_model(compose_model(overrides), num_classes).to(device)
    settings = {"default": (True, None, "reuse", (), False), "nchw": (False, None, "glibc", (), False),
                "dense_wgrad": (True, None, "reuse", (), True), "bf16": (True, torch.bfloat16, "reuse", (), False),
                "checkpointing": (True, None, "reuse", ("backbone", "head"), False)}
    contenders = []
    for variant in variants:
        if variant not in settings:
            raise ConfigError(f"unknown variant '{variant}'; choose from {', '.join(settings)}")
        if variant == "bf16" and not native_bf16(device):
            continue
        channels_last, dtype, allocator, parts, dense = settings[variant]
        net = copy.deepcopy(model)
        checkpoint_parts(net, parts)
        set_tap_weight_gradient(net, not dense)
        contenders.append(Contender(family, "segfw", net, _segfw_loss, _call, channels_last, dtype, allocator, parts, dense,
                                    fused_optimizer=True))
    return contenders


def compose_model(overrides: Sequence[str]) -> dict:
    """The ``model`` node of ``configs/benchmark.yaml`` with ``overrides``, composed as the tools compose it."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose_config("benchmark", overrides).model, resolve=True)


def _segfw_loss(model: nn.Module, images: Tensor, masks: Tensor) -> Tensor:
    return sum(model.losses(images, masks).values())


def _call(model: nn.Module, images: Tensor) -> Tensor:
    return model(images)


def torchvision_contender(family: str, builder: str, num_classes: int, aux_weight: float) -> Contender:
    """torchvision's ``segmentation.<builder>(aux_loss=True)``, random weights; loss = CE(out) + aux_weight·CE(aux)."""
    import torchvision

    model = getattr(torchvision.models.segmentation, builder)(weights=None, weights_backbone=None,
                                                              num_classes=num_classes, aux_loss=True)

    def loss(net: nn.Module, images: Tensor, masks: Tensor) -> Tensor:
        out = net(images)
        ce = nn.functional.cross_entropy
        return ce(out["out"], masks, ignore_index=IGNORE_INDEX) + aux_weight * ce(out["aux"], masks, ignore_index=IGNORE_INDEX)

    return Contender(family, "torchvision", model, loss, lambda net, images: net(images)["out"])


def smp_contender(family: str, architecture: str, num_classes: int, **kwargs) -> Contender | None:
    """segmentation_models_pytorch's ``<architecture>("resnet50", **kwargs)``, random weights; loss = CE.
    None when the package is not installed (``pip install segfw[bench]``)."""
    try:
        import segmentation_models_pytorch as smp
    except ImportError:
        return None
    model = getattr(smp, architecture)(encoder_name="resnet50", encoder_weights=None, classes=num_classes, **kwargs)

    def loss(net: nn.Module, images: Tensor, masks: Tensor) -> Tensor:
        return nn.functional.cross_entropy(net(images), masks, ignore_index=IGNORE_INDEX)

    return Contender(family, "segmentation_models_pytorch", model, loss, _call)


# The families: segfw overrides, the torchvision builder, the smp architecture and its closest settings.
FAMILIES: dict[str, dict] = {
    # torchvision's FCN head is one 3×3 conv to 512 channels (segfw's fcn_r50 preset: two to 256).
    "fcn_r50": {"segfw": ["model=fcn_r50", "model.head.channels=512", "model.head.num_convs=1"],
                "torchvision": "fcn_resnet50"},
    "deeplabv3_r50": {"segfw": ["model=deeplabv3_r50"], "torchvision": "deeplabv3_resnet50",
                      "smp": ("DeepLabV3", {"encoder_output_stride": 8})},
    "pspnet_r50": {"segfw": ["model=pspnet_r50"], "smp": ("PSPNet", {})},
    "upernet_r50": {"segfw": ["model=upernet_r50"], "smp": ("UPerNet", {"decoder_channels": 512})},
}


def build_contenders(families: Sequence[str], num_classes: int, device: torch.device,
                     variants: Sequence[str] = ("default", "nchw", "bf16")) -> list[Contender]:
    contenders: list[Contender] = []
    for family in families:
        if family not in FAMILIES:
            raise ConfigError(f"unknown family '{family}'; choose from {', '.join(FAMILIES)}")
        spec = FAMILIES[family]
        ours = segfw_contenders(family, spec["segfw"], num_classes, device, variants)
        contenders += ours
        if "torchvision" in spec:
            contenders.append(torchvision_contender(family, spec["torchvision"], num_classes, ours[0].model.aux_weight))
        if "smp" in spec:
            architecture, kwargs = spec["smp"]
            peer = smp_contender(family, architecture, num_classes, **kwargs)
            contenders += [peer] if peer is not None else []
    return contenders


def copy_state_in_order(source: nn.Module, target: nn.Module) -> None:
    """Load ``source``'s parameters and buffers into ``target``, pairing state-dict entries in registration order.

    For two implementations of one architecture whose names differ (torchvision's ``classifier.0.convs``,
    segfw's ``head.aspp.branches``); a count or shape that disagrees raises ValueError naming both keys.
    """
    pairs = list(zip(source.state_dict().items(), target.state_dict().items()))
    if len(source.state_dict()) != len(target.state_dict()):
        raise ValueError(f"{len(source.state_dict())} source tensors, {len(target.state_dict())} target tensors")
    for (key, value), (target_key, current) in pairs:
        if value.shape != current.shape:
            raise ValueError(f"{key} {tuple(value.shape)} does not fit {target_key} {tuple(current.shape)}")
    target.load_state_dict({target_key: value for (_, value), (target_key, _) in pairs})


# ----------------------------------------------------------------------------------------------- measuring
@dataclass
class _Prepared:
    contender: Contender
    images: Tensor
    train_step: Callable[[], None]
    infer: Callable[[], None]


def _prepare(contender: Contender, images: Tensor, masks: Tensor, device: torch.device) -> _Prepared:
    layout = memory_format(contender.channels_last)
    model = contender.model.to(device, memory_format=layout)
    images = images.to(device).contiguous(memory_format=layout)
    masks = masks.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, fused=contender.fused_optimizer)

    def train_step() -> None:
        if device.type == "cpu":
            set_cpu_allocator(contender.cpu_allocator)
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, contender.amp_dtype):
            loss = contender.loss(model, images, masks)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer() -> None:
        if device.type == "cpu":
            set_cpu_allocator(contender.cpu_allocator)
        model.eval()
        with autocast(device, contender.amp_dtype):
            contender.logits(model, images)

    return _Prepared(contender, images, train_step, infer)


def matmul_gflops(device: torch.device, dtype: torch.dtype, size: int = 2048) -> float:
    """GFLOP/s of one (size × size) @ (size × size) product in ``dtype`` (2·size³ FLOPs)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device, dtype)
    b = torch.randn(size, size, generator=generator).to(device, dtype)
    milliseconds = time_ms(lambda: a @ b, device, warmup=1, repeats=1)
    return 2 * size**3 / (milliseconds / 1000) / 1e9


def step_flops(step: Callable[[], None]) -> int:
    """FLOPs (2×MAC) of one call of ``step`` (forward and backward of a training step)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def dense_step_flops(prepared: _Prepared) -> int:
    """:func:`step_flops` of a contender's training step with the dense weight gradient of dilated convs."""
    set_tap_weight_gradient(prepared.contender.model, False)
    try:
        return step_flops(prepared.train_step)
    finally:
        set_tap_weight_gradient(prepared.contender.model, not prepared.contender.dense_weight_gradient)


def run_peer_benchmark(contenders: Sequence[Contender], num_classes: int, input_size: Sequence[int], batch_size: int,
                       device: torch.device, warmup: int = 1, repeats: int = 5, memory: bool = True,
                       progress: Callable[[str], None] = lambda line: None, matmul_size: int = 2048) -> tuple[list[PeerResult], dict[str, float]]:
    """Measure ``contenders`` in turn (see the module docstring); returns the results and the matmul peaks."""
    if len(input_size) != 2 or batch_size < 1 or repeats < 1 or warmup < 0:
        raise ConfigError("peer benchmark needs an input [H, W], batch_size >= 1, repeats >= 1 and warmup >= 0")
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, 3, *input_size, generator=generator)
    masks = torch.randint(0, num_classes, (batch_size, *input_size), generator=generator)
    prepared = [_prepare(c, images, masks, device) for c in contenders]
    dtypes = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if native_bf16(device) else {})}
    peaks = {name: 0.0 for name in dtypes}
    for _ in range(warmup):
        for p in prepared:
            p.train_step()
            p.infer()
    train_times: list[list[float]] = [[] for _ in prepared]
    infer_times: list[list[float]] = [[] for _ in prepared]
    for round_index in range(repeats):
        for name, dtype in dtypes.items():
            peaks[name] = max(peaks[name], matmul_gflops(device, dtype, matmul_size))
        for index, p in enumerate(prepared):
            train_times[index].append(time_ms(p.train_step, device, warmup=0, repeats=1))
        for index, p in enumerate(prepared):
            infer_times[index].append(time_ms(p.infer, device, warmup=0, repeats=1))
        progress(f"round {round_index + 1}/{repeats}: train ms " + ", ".join(
            f"{p.contender.name}[{p.contender.setting}] {times[-1]:.0f}" for p, times in zip(prepared, train_times)))
    results = []
    for p, train, infer in zip(prepared, train_times, infer_times):
        c = p.contender
        peak_dtype = "bf16" if c.amp_dtype == torch.bfloat16 and "bf16" in peaks else "fp32"
        results.append(PeerResult(
            family=c.family, name=c.name, setting=c.setting, params_M=count_parameters(c.model) / 1e6,
            train_ms=statistics.median(train), infer_ms=statistics.median(infer),
            train_peak_MiB=peak_step_memory_bytes(p.train_step, device) / MIB if memory else float("nan"),
            gflop_per_step=dense_step_flops(p) / 1e9, peak_gflops=peaks[peak_dtype], train_times=train,
        ))
    return results, peaks


# ----------------------------------------------------------------------------------------------- reporting
def format_peer_table(results: Sequence[PeerResult]) -> str:
    """Markdown: one row per contender; "× torchvision fp32" compares train steps within a family
    (against torchvision's model, or segmentation_models_pytorch's where torchvision has none)."""
    header = ("family", "implementation", "setting", "params (M)", "train step (ms)", "speed-up vs peer fp32",
              "inference (ms)", "train peak (MiB)", "GFLOP/step", "achieved GFLOP/s", "% of matmul peak")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        reference = _reference(results, r.family)
        ratio = f"{reference.train_ms / r.train_ms:.2f}×" if reference is not None else "–"
        peak = "not measured" if math.isnan(r.train_peak_MiB) else f"{r.train_peak_MiB:.0f}"  # --no-memory
        cells = (r.family, r.name, r.setting, f"{r.params_M:.2f}", f"{r.train_ms:.0f}", ratio, f"{r.infer_ms:.0f}",
                 peak, f"{r.gflop_per_step:.1f}", f"{r.achieved_gflops:.0f}",
                 f"{100 * r.achieved_gflops / r.peak_gflops:.0f} %")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _reference(results: Sequence[PeerResult], family: str) -> PeerResult | None:
    for name in ("torchvision", "segmentation_models_pytorch"):
        for r in results:
            if r.family == family and r.name == name:
                return r
    return None
