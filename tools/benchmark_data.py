"""Loader throughput (images/s) of the ADE20K and Cityscapes training recipes, printed as a Markdown table.

    python tools/benchmark_data.py [--workers 0 2 4] [--images 16] [--batch-size 4] [--batches 8]

Stand-in files in the real layouts and sizes are written to a temporary folder (see segfw/analysis/data_benchmark.py).
"""

import argparse
import os
import platform
import tempfile
from pathlib import Path

import albumentations
import cv2
import torch

from segfw.analysis.data_benchmark import SETTINGS, images_per_second
from segfw.cli import user_errors_as_one_line


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to try")
    parser.add_argument("--images", type=int, default=16, help="stand-in files per dataset")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=8, help="timed batches per setting")
    return parser.parse_args()


@user_errors_as_one_line
def main() -> None:
    args = parse_args()
    print(
        f"CPU: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"albumentations {albumentations.__version__}, OpenCV {cv2.__version__}; batch size {args.batch_size}\n"
    )
    print("| recipe | crop | workers | images/s |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="segfw_bench_") as tmp:
        for setting in SETTINGS:
            root = setting.write(Path(tmp) / setting.dataset, args.images)
            for workers in args.workers:
                speed = images_per_second(setting, root, workers, args.batch_size, args.batches)
                crop = f"{setting.crop_size[0]}x{setting.crop_size[1]}"
                print(f"| {setting.recipe} | {crop} | {workers} | {speed:.1f} |", flush=True)


if __name__ == "__main__":
    main()
