"""Every GPU path of segfw in one call: ``python tools/gpu_check.py [output=DIR] [device=cuda] [key=value ...]``.

Trains the presets in fp32 / bf16 / fp16 + GradScaler, NCHW / channels_last, eager / compiled; a one-process
torchrun (NCCL, SyncBN); whole and slide + flip evaluation; the ``cuda``-marked tests; segfw against
torchvision and smp. Writes ``gpu_check.md`` and ``gpu_check.json`` (keys: configs/gpu_check.yaml).
"""

from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from segfw.analysis.gpu_check import run_gpu_check
from segfw.cli import hydra_tool


@hydra_tool("gpu_check")
def main(cfg: DictConfig) -> None:
    output = Path(cfg.output or f"outputs/gpu_check/{datetime.now():%Y-%m-%d_%H-%M-%S}")
    table, rows = run_gpu_check(OmegaConf.to_container(cfg, resolve=True), output)
    failed = sum(row["status"] in ("failed", "timeout") for row in rows)
    print(f"{table}\n\n{len(rows)} rows, {failed} failed or timed out; report: {output / 'gpu_check.md'}")


if __name__ == "__main__":
    main()
