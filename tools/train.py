"""Train a model: ``python tools/train.py [overrides]`` (e.g. ``model/neck=strip_attention``)."""

from omegaconf import DictConfig

from segfw.apis.run import command_line_overrides
from segfw.apis.train import train
from segfw.cli import hydra_tool


@hydra_tool("train")
def main(cfg: DictConfig) -> float | None:
    """Returns the best value of ``trainer.best_metric``, so Hydra sweepers (Optuna) can optimise it."""
    return train(cfg, command_line_overrides())["best"]["value"]


if __name__ == "__main__":
    main()
