"""Check a data pipeline by eye: ``python tools/browse_dataset.py dataset=NAME dataset.root=PATH n=16``."""

from omegaconf import DictConfig

from segfw.apis.browse import browse
from segfw.cli import hydra_tool


@hydra_tool("browse")
def main(cfg: DictConfig) -> None:
    print(f"wrote {browse(cfg)}")


if __name__ == "__main__":
    main()
