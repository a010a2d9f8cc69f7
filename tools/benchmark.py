"""Benchmark a model preset: ``python tools/benchmark.py model=NAME input=[H,W] device=cpu|cuda``."""

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from segfw.analysis.benchmark import benchmark_preset
from segfw.cli import hydra_tool


@hydra_tool("benchmark")
def main(cfg: DictConfig) -> None:
    print(benchmark_preset(cfg, HydraConfig.get().runtime.choices["model"]))


if __name__ == "__main__":
    main()
