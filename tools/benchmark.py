"""Benchmark a model preset: ``python tools/benchmark.py model=NAME input=[H,W] device=cpu|cuda``."""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from segfw.cli import user_errors_as_one_line
from segfw.config import register_schemas
from segfw.engine.benchmark import benchmark_model, build_benchmark_model, format_table, legend
from segfw.engine.device import resolve_device

register_schemas()


@hydra.main(config_path="../configs", config_name="benchmark", version_base=None)
@user_errors_as_one_line
def main(cfg: DictConfig) -> None:
    device = resolve_device(cfg.device)
    model = build_benchmark_model(OmegaConf.to_container(cfg.model, resolve=True), cfg.num_classes)
    result = benchmark_model(model, HydraConfig.get().runtime.choices["model"], cfg.input, device,
                             cfg.batch_size, cfg.warmup, cfg.repeats)
    print(format_table([result]))
    print(legend(device, cfg.repeats))


if __name__ == "__main__":
    main()
