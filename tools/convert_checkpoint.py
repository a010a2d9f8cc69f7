"""Convert a reference checkpoint: ``python tools/convert_checkpoint.py from=mmseg|spnet input=FILE model=PRESET output=FILE [dataset=NAME]``."""

from omegaconf import DictConfig

from segfw.apis.convert_checkpoint import convert_checkpoint
from segfw.apis.run import command_line_overrides
from segfw.cli import hydra_tool


@hydra_tool("convert_checkpoint")
def main(cfg: DictConfig) -> None:
    output = convert_checkpoint(cfg, command_line_overrides())
    print(f"wrote {output}; evaluate it with: python tools/eval.py checkpoint={output} dataset={cfg.dataset.name} dataset.root=PATH")


if __name__ == "__main__":
    main()
