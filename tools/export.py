"""Export a trained model: ``python tools/export.py checkpoint=FILE format=onnx|torchscript output=FILE``."""

from omegaconf import DictConfig

from segfw.apis.export import export_checkpoint
from segfw.cli import hydra_tool


@hydra_tool("export")
def main(cfg: DictConfig) -> None:
    print("\n".join(export_checkpoint(cfg).lines()))


if __name__ == "__main__":
    main()
