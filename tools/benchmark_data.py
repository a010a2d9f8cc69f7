"""Loader throughput (images/s) of the ADE20K and Cityscapes training recipes, printed as a Markdown table.

    python tools/benchmark_data.py [workers=[0,2,4]] [images=16] [batch_size=4] [batches=8]

(``--help`` lists the keys; the former ``--workers 0 2 4`` spellings still work, with a deprecation line.)

Stand-in files in the real layouts and sizes are written to a temporary folder (see segfw/analysis/data_benchmark.py).
"""

import os
import platform
import tempfile
from pathlib import Path

import albumentations
import cv2
import torch

from segfw.analysis.data_benchmark import SETTINGS, images_per_second
from segfw.cli import key_value_tool


@key_value_tool("benchmark_data")
def main(args) -> None:
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
