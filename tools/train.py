"""Train a model: ``python tools/train.py [overrides]`` (e.g. ``model/neck=strip_attention``)."""

import hydra
from omegaconf import DictConfig

from segfw.cli import user_errors_as_one_line
from segfw.config import register_schemas
from segfw.engine.saved_run import command_line_overrides
from segfw.engine.trainer import train

register_schemas()


@hydra.main(config_path="../configs", config_name="train", version_base=None)
@user_errors_as_one_line
def main(cfg: DictConfig) -> None:
    train(cfg, command_line_overrides())


if __name__ == "__main__":
    main()
