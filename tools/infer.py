"""Predict image files: ``python tools/infer.py checkpoint=FILE input=FILE_OR_DIR output=DIR``."""

from omegaconf import DictConfig

from segfw.apis.infer import infer_files
from segfw.apis.run import command_line_overrides
from segfw.cli import hydra_tool


@hydra_tool("infer")
def main(cfg: DictConfig) -> None:
    infer_files(cfg, command_line_overrides())


if __name__ == "__main__":
    main()
