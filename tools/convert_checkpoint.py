"""Convert a reference checkpoint: ``python tools/convert_checkpoint.py from=mmseg|spnet input=FILE model=PRESET output=FILE [dataset=NAME]``."""

import hydra
from omegaconf import DictConfig

from segfw.cli import user_errors_as_one_line
from segfw.config import register_schemas
from segfw.engine.convert_checkpoint import convert_checkpoint
from segfw.engine.saved_run import command_line_overrides

register_schemas()


@hydra.main(config_path="../configs", config_name="convert_checkpoint", version_base=None)
@user_errors_as_one_line
def main(cfg: DictConfig) -> None:
    output = convert_checkpoint(cfg, command_line_overrides())
    print(f"wrote {output}; evaluate it with: python tools/eval.py checkpoint={output} dataset={cfg.dataset.name} dataset.root=PATH")


if __name__ == "__main__":
    main()
