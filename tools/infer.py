"""Predict image files: ``python tools/infer.py checkpoint=FILE input=FILE_OR_DIR output=DIR``."""

import hydra
from omegaconf import DictConfig

from segfw.cli import user_errors_as_one_line
from segfw.config import register_schemas
from segfw.engine.infer_files import infer_files
from segfw.engine.saved_run import command_line_overrides

register_schemas()


@hydra.main(config_path="../configs", config_name="infer", version_base=None)
@user_errors_as_one_line
def main(cfg: DictConfig) -> None:
    infer_files(cfg, command_line_overrides())


if __name__ == "__main__":
    main()
