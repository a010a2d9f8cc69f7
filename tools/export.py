"""Export a trained model: ``python tools/export.py checkpoint=FILE format=onnx|torchscript output=FILE``."""

import hydra
from omegaconf import DictConfig

from segfw.cli import user_errors_as_one_line
from segfw.config import register_schemas
from segfw.engine.export import export_checkpoint

register_schemas()


@hydra.main(config_path="../configs", config_name="export", version_base=None)
@user_errors_as_one_line
def main(cfg: DictConfig) -> None:
    report = export_checkpoint(cfg)
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
