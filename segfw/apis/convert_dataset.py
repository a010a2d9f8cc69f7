"""One-off label conversions into the layouts the datasets read (``tools/convert_dataset.py``).

- Cityscapes: ``*_gtFine_labelIds.png`` → ``*_gtFine_labelTrainIds.png`` beside them (official table).
- PASCAL VOC aug: SBD ``dataset/cls/*.mat`` → ``VOC2012/SegmentationClassAug/*.png``, plus the lists
  ``ImageSets/Segmentation/aug.txt`` (SBD train+val minus VOC train and val) and ``trainaug.txt``.
- COCO-Stuff 164k: raw ``annotations/<split>/*.png`` → ``*_labelTrainIds.png`` beside them (171 classes).

Files are converted in worker processes with a progress bar. Each output is written to a temporary
name and renamed when complete, and outputs that exist are skipped: an interrupted run resumes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from segfw.atomic_write import atomic_write, write_text
from segfw.data.datasets.base import apply_label_table, label_table
from segfw.data.datasets.cityscapes import LABEL_ID_TO_TRAIN_ID
from segfw.data.datasets.coco_stuff import RAW_TO_TRAIN_ID
from segfw.data.io import read_label
from segfw.errors import BadSampleError

Job = tuple[Path, Path]  # (source, target)


@dataclass(frozen=True)
class Report:
    converted: int
    skipped: int  # outputs that already existed
    output: Path

    def __str__(self) -> str:
        return f"converted {self.converted} file(s), skipped {self.skipped} existing, into {self.output}"


def save_png(ids: np.ndarray, target: Path) -> None:
    """Write (H, W) uint8 ids as an 8-bit PNG atomically (unique temporary name): a crash never leaves a
    half-written file, two concurrent conversions never share a temporary file."""
    atomic_write(target, lambda tmp: Image.fromarray(ids.astype(np.uint8), mode="L").save(tmp, format="PNG"))


def run_jobs(convert: Callable[[Path, Path], None], jobs: Sequence[Job], workers: int, description: str) -> int:
    """Run ``convert(source, target)`` for every job whose target does not exist yet; returns how many ran."""
    todo = [(source, target) for source, target in jobs if not target.exists()]
    progress = tqdm(total=len(todo), desc=description, unit="file", dynamic_ncols=True)
    with progress:
        if workers <= 1:
            for job in todo:
                convert(*job)
                progress.update()
        else:
            # forkserver, not fork: forking a process that runs other threads (a loader, a test runner's I/O
            # thread, OpenMP) can copy a held lock into the child, which then waits forever
            with multiprocessing.get_context("forkserver").Pool(workers) as pool:
                for _ in pool.imap_unordered(partial(_star, convert), todo, chunksize=8):
                    progress.update()
    return len(todo)


def _star(convert: Callable[[Path, Path], None], job: Job) -> None:
    convert(*job)


def relabel(source: Path, target: Path, table: np.ndarray, title: str) -> None:
    save_png(apply_label_table(read_label(source), table, source, title), target)


def _existing_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise BadSampleError(f"{path}: {what} not found")
    return path


def convert_cityscapes(root: Path, workers: int = 4) -> Report:
    """``root/gtFine/<split>/<city>/*_gtFine_labelIds.png`` → ``*_gtFine_labelTrainIds.png``."""
    gt = _existing_dir(Path(root) / "gtFine", "Cityscapes gtFine folder (root must hold leftImg8bit/ and gtFine/)")
    sources = sorted(gt.glob("*/*/*_gtFine_labelIds.png"))
    if not sources:
        raise BadSampleError(f"{gt}: no */*/*_gtFine_labelIds.png files to convert")
    jobs = [(s, s.with_name(s.name.replace("_gtFine_labelIds.png", "_gtFine_labelTrainIds.png"))) for s in sources]
    convert = partial(relabel, table=label_table(LABEL_ID_TO_TRAIN_ID), title="Cityscapes labelIds")
    done = run_jobs(convert, jobs, workers, "cityscapes labelTrainIds")
    return Report(done, len(jobs) - done, gt)


def convert_coco_stuff164k(root: Path, workers: int = 4) -> Report:
    """``root/annotations/<split>/<id>.png`` (stuffthingmaps ids) → ``<id>_labelTrainIds.png``."""
    annotations = _existing_dir(Path(root) / "annotations", "COCO-Stuff annotations folder")
    sources = sorted(p for p in annotations.glob("*/*.png") if not p.name.endswith("_labelTrainIds.png"))
    if not sources:
        raise BadSampleError(f"{annotations}: no <split>/*.png stuffthingmaps to convert")
    jobs = [(s, s.with_name(f"{s.stem}_labelTrainIds.png")) for s in sources]
    convert = partial(relabel, table=label_table(RAW_TO_TRAIN_ID), title="COCO-Stuff stuffthingmaps")
    done = run_jobs(convert, jobs, workers, "coco_stuff164k labelTrainIds")
    return Report(done, len(jobs) - done, annotations)


def read_sbd_mat(path: Path) -> np.ndarray:
    """The class ids (H, W) uint8 of an SBD ``cls/*.mat`` file (``GTcls.Segmentation``)."""
    from scipy.io import loadmat

    try:
        return loadmat(path)["GTcls"][0]["Segmentation"][0].astype(np.uint8)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise BadSampleError(f"{path}: not an SBD class annotation (GTcls.Segmentation): {error}") from None


def sbd_to_png(source: Path, target: Path) -> None:
    save_png(read_sbd_mat(source), target)


def _find(candidates: Sequence[Path], marker: str, what: str) -> Path:
    for candidate in candidates:
        if (candidate / marker).exists():
            return candidate
    raise BadSampleError(
        f"{candidates[0]}: no {what} found (looked for {', '.join(str(c / marker) for c in candidates)})"
    )


def _names(path: Path) -> list[str]:
    if not path.is_file():
        raise BadSampleError(f"{path}: split list not found")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def convert_voc_aug(voc_root: Path, sbd_root: Path, workers: int = 4) -> Report:
    """SBD ``cls/*.mat`` → ``VOC2012/SegmentationClassAug/*.png``; writes ``aug.txt`` and ``trainaug.txt``.

    ``voc_root`` is VOC2012, VOCdevkit or their parent; ``sbd_root`` is SBD's ``benchmark_RELEASE`` or its parent.
    """
    voc_root, sbd_root = Path(voc_root), Path(sbd_root)
    voc = _find([voc_root, voc_root / "VOC2012", voc_root / "VOCdevkit" / "VOC2012"], "JPEGImages", "VOC2012")
    sbd = _find([sbd_root, sbd_root / "benchmark_RELEASE"], "dataset/cls", "SBD benchmark_RELEASE") / "dataset"
    sources = sorted((sbd / "cls").glob("*.mat"))
    out = voc / "SegmentationClassAug"
    done = run_jobs(sbd_to_png, [(s, out / f"{s.stem}.png") for s in sources], workers, "voc aug (SBD .mat → png)")

    lists = voc / "ImageSets" / "Segmentation"
    voc_train, voc_val = set(_names(lists / "train.txt")), set(_names(lists / "val.txt"))
    sbd_all = set(_names(sbd / "train.txt")) | set(_names(sbd / "val.txt"))
    write_text(lists / "aug.txt", "".join(f"{n}\n" for n in sorted(sbd_all - voc_train - voc_val)))
    write_text(lists / "trainaug.txt", "".join(f"{n}\n" for n in sorted((sbd_all | voc_train) - voc_val)))
    return Report(done, len(sources) - done, out)


CONVERTERS = {"cityscapes": convert_cityscapes, "voc_aug": convert_voc_aug, "coco_stuff164k": convert_coco_stuff164k}
