"""Evaluate a trained model: ``python tools/eval.py run_dir=PATH`` or ``checkpoint=FILE [dataset overrides]``."""

import hydra
from omegaconf import DictConfig

from segfw.cli import user_errors_as_one_line
from segfw.config import register_schemas
from segfw.engine.evaluate_checkpoint import evaluate_checkpoint
from segfw.engine.saved_run import command_line_overrides

register_schemas()


@hydra.main(config_path="../configs", config_name="eval", version_base=None)
@user_errors_as_one_line
def main(cfg: DictConfig) -> None:
    evaluate_checkpoint(cfg, command_line_overrides())


if __name__ == "__main__":
    main()
