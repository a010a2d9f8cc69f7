"""Receptive field of a model: ``python tools/receptive_field.py model=NAME input=[H,W] [checkpoint=FILE] [output=DIR]``."""

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from segfw.analysis.receptive_field_report import receptive_field_report
from segfw.cli import hydra_tool


@hydra_tool("receptive_field")
def main(cfg: DictConfig) -> None:
    print(receptive_field_report(cfg, HydraConfig.get().runtime.choices["model"])[1])


if __name__ == "__main__":
    main()
