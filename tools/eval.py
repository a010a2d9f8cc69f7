"""Evaluate a trained model: ``python tools/eval.py run_dir=PATH`` or ``checkpoint=FILE [dataset overrides]``."""

from omegaconf import DictConfig

from segfw.apis.evaluate import evaluate_checkpoint
from segfw.apis.run import command_line_overrides
from segfw.cli import hydra_tool


@hydra_tool("eval")
def main(cfg: DictConfig) -> None:
    evaluate_checkpoint(cfg, command_line_overrides())


if __name__ == "__main__":
    main()
