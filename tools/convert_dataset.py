"""Convert dataset labels into the layouts segfw reads; resumable (existing outputs are skipped).

python tools/convert_dataset.py name=cityscapes root=PATH/cityscapes [workers=8]
python tools/convert_dataset.py name=voc_aug root=PATH/VOCdevkit sbd_root=PATH/benchmark_RELEASE [workers=8]
python tools/convert_dataset.py name=coco_stuff164k root=PATH/coco_stuff164k [workers=8]

``--help`` lists the keys; the former ``cityscapes PATH --workers 8`` spelling still works, with a deprecation line.
"""

import os

from segfw.apis.convert_dataset import CONVERTERS
from segfw.cli import key_value_tool
from segfw.errors import ConfigError


@key_value_tool("convert_dataset", positional=("name", "root", "sbd_root"))
def main(cfg) -> None:
    if cfg.name not in CONVERTERS or not cfg.root or (cfg.name == "voc_aug") != bool(cfg.sbd_root):
        raise ConfigError(f"usage: convert_dataset.py name={'|'.join(CONVERTERS)} root=PATH [sbd_root=PATH, voc_aug "
                          f"only] [workers=N] (got name={cfg.name}, root={cfg.root}, sbd_root={cfg.sbd_root})")
    workers = cfg.workers if cfg.workers is not None else min(8, os.cpu_count() or 1)
    roots = (cfg.root, cfg.sbd_root) if cfg.name == "voc_aug" else (cfg.root,)
    print(CONVERTERS[cfg.name](*roots, workers=workers))


if __name__ == "__main__":
    main()
