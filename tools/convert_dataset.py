"""Convert dataset labels into the layouts segfw reads; resumable (existing outputs are skipped).

python tools/convert_dataset.py cityscapes PATH/cityscapes [--workers 8]
python tools/convert_dataset.py voc_aug PATH/VOCdevkit PATH/benchmark_RELEASE [--workers 8]
python tools/convert_dataset.py coco_stuff164k PATH/coco_stuff164k [--workers 8]
"""

import argparse
import os

from segfw.apis.convert_dataset import CONVERTERS
from segfw.cli import user_errors_as_one_line


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, convert in CONVERTERS.items():
        command = commands.add_parser(name, help=convert.__doc__.splitlines()[0])
        if name == "voc_aug":
            command.add_argument("voc_root", help="VOCdevkit, VOC2012 or their parent")
            command.add_argument("sbd_root", help="SBD benchmark_RELEASE or its parent")
        else:
            command.add_argument("root", help="the dataset root")
        command.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="processes")
    return parser.parse_args()


@user_errors_as_one_line
def main() -> None:
    args = vars(parse_args())
    print(CONVERTERS[args.pop("name")](**args))


if __name__ == "__main__":
    main()
