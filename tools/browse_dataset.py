"""Check a data pipeline by eye: ``python tools/browse_dataset.py dataset=NAME dataset.root=PATH n=16``."""

import hydra
from omegaconf import DictConfig

from segfw.cli import user_errors_as_one_line
from segfw.config import register_schemas
from segfw.data.browse import browse, register_browse_schema

register_schemas()
register_browse_schema()


@hydra.main(config_path="../configs", config_name="browse", version_base=None)
@user_errors_as_one_line
def main(cfg: DictConfig) -> None:
    print(f"wrote {browse(cfg)}")


if __name__ == "__main__":
    main()
