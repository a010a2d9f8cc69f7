"""Issue 21, defects 1-3 and 14 (eval/export parts): no command writes over its inputs or over an existing file
without ``overwrite=true``, outputs resolved through symlinks file by file, checked before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_layouts import make_folder
from guard_helpers import snapshot
from segfw.apis import evaluate as evaluate_api
from segfw.apis.browse import browse
from segfw.apis.evaluate import evaluate_checkpoint
from segfw.apis.export import export_checkpoint
from segfw.apis.infer import infer_files
from segfw.errors import ConfigError


@pytest.fixture
def trained(finished_folder_run) -> tuple[Path, Path]:
    """(a folder dataset, the best checkpoint of a finished run on it); neither may be changed."""
    return finished_folder_run[0], finished_folder_run[1] / "checkpoints" / "best.pt"


def evaluate(compose, checkpoint: Path, root: Path, *extra: str) -> dict:
    """``tools/eval.py checkpoint=... dataset=folder dataset.root=ROOT ...extra``, in-process."""
    overrides = [f"checkpoint={checkpoint}", "dataset=folder", f"dataset.root={root}", "device=cpu",
                 "trainer.num_workers=0", *extra]
    return evaluate_checkpoint(compose("eval", overrides), overrides)


def evaluation_must_not_run(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("the evaluation ran before the output was checked")

    monkeypatch.setattr(evaluate_api, "evaluate", fail)


def test_eval_refuses_to_write_over_the_checkpoint_it_reads(compose, trained, monkeypatch):
    """Defect 1: ``tools/eval.py checkpoint=$RUN/checkpoints/best.pt ... output=$RUN/checkpoints/best.pt``."""
    root, best = trained
    before = snapshot(best.parent, root)
    evaluation_must_not_run(monkeypatch)
    with pytest.raises(ConfigError, match=rf"output={best} is the checkpoint {best}; writing there could replace"):
        evaluate(compose, best, root, f"output={best}", "overwrite=true")
    assert snapshot(best.parent, root) == before


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_refuses_to_write_over_the_checkpoint_it_reads(compose, trained, fmt):
    root, best = trained
    before = snapshot(best.parent)
    cfg = compose("export", [f"checkpoint={best}", f"format={fmt}", f"output={best}", "input_size=[16,16]"])
    with pytest.raises(ConfigError, match=r"output=.*best.pt is the checkpoint .*give output= a path outside it"):
        export_checkpoint(cfg)
    via_link = best.parents[2] / "link.pt"
    via_link.symlink_to(best)
    with pytest.raises(ConfigError, match=r"is the checkpoint"):
        export_checkpoint(compose("export", [f"checkpoint={best}", f"format={fmt}", f"output={via_link}",
                                             "overwrite=true", "input_size=[16,16]"]))
    via_link.unlink()
    assert snapshot(best.parent) == before


def test_export_refuses_to_replace_an_existing_file_without_overwrite(compose, trained, tmp_path):
    _, best = trained
    target = tmp_path / "model.pt"
    target.write_bytes(b"an earlier export")
    cfg = compose("export", [f"checkpoint={best}", "format=torchscript", f"output={target}", "input_size=[16,16]"])
    with pytest.raises(ConfigError, match=r"model.pt already exists; add overwrite=true to replace it"):
        export_checkpoint(cfg)
    assert target.read_bytes() == b"an earlier export"


def test_infer_refuses_an_output_that_its_input_symlinks_point_into(compose, trained, tmp_path):
    """input= a folder of per-file symlinks to the images in output= (issue 21, defect 2)."""
    _, best = trained
    photos = make_folder(tmp_path / "photos", {"val": 2}) / "images" / "val"
    links = tmp_path / "links"
    links.mkdir()
    for photo in photos.iterdir():
        (links / photo.name).symlink_to(photo)
    before = snapshot(photos, links)
    cfg = compose("infer", [f"checkpoint={best}", f"input={links}", f"output={photos}", "device=cpu", "overwrite=true"])
    with pytest.raises(ConfigError, match=r"output=.*: s00.png is the input image .*s00.png"):
        infer_files(cfg)
    assert snapshot(photos, links) == before


def test_infer_replaces_existing_files_only_with_overwrite(compose, trained, tmp_path):
    _, best = trained
    photos = make_folder(tmp_path / "photos", {"val": 1}) / "images" / "val"
    out = tmp_path / "out"
    out.mkdir()
    (out / "s00_overlay.jpg").write_bytes(b"mine")
    overrides = [f"checkpoint={best}", f"input={photos}", f"output={out}", "device=cpu"]
    with pytest.raises(ConfigError, match=r"output=.*: s00_overlay.jpg already exists; add overwrite=true"):
        infer_files(compose("infer", overrides))
    assert sorted(p.name for p in out.iterdir()) == ["s00_overlay.jpg"] and (out / "s00_overlay.jpg").read_bytes() == b"mine"
    infer_files(compose("infer", [*overrides, "overwrite=true"]))
    assert sorted(p.name for p in out.iterdir()) == ["s00.png", "s00_overlay.jpg"]
    assert (out / "s00_overlay.jpg").read_bytes() != b"mine"


def test_eval_refuses_save_predictions_into_the_folder_the_mask_symlinks_point_to(compose, trained, tmp_path, monkeypatch):
    """A dataset whose masks are per-file symlinks into another folder: save_predictions= that folder (defect 2)."""
    root, best = trained
    linked = tmp_path / "linked_ds"
    ground_truth = tmp_path / "ground_truth"
    ground_truth.mkdir()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            target = linked / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            if "masks" in path.parts:  # the mask lives in ground_truth/, the dataset links to it
                (ground_truth / path.name).write_bytes(path.read_bytes())
                target.symlink_to(ground_truth / path.name)
            else:
                target.write_bytes(path.read_bytes())
    before = snapshot(ground_truth, linked)
    evaluation_must_not_run(monkeypatch)
    with pytest.raises(ConfigError, match=r"save_predictions=.*: s00.png is the dataset file .*masks/val/s00.png"):
        evaluate(compose, best, linked, f"save_predictions={ground_truth}", "overwrite=true")
    assert snapshot(ground_truth, linked) == before


@pytest.mark.parametrize("case", ["parent is a file", "existing folder", "existing file"])
def test_eval_checks_output_before_evaluating(compose, trained, tmp_path, monkeypatch, case):
    """Defect 14: an output eval cannot write is found before the evaluation, not after it."""
    root, best = trained
    (tmp_path / "notes.txt").write_text("keep")
    (tmp_path / "folder").mkdir()
    output, message = {
        "parent is a file": (tmp_path / "notes.txt" / "eval.json", r"cannot be written: .*notes.txt is a file"),
        "existing folder": (tmp_path / "folder", r"is an existing folder, not a file; give output= a file path"),
        "existing file": (tmp_path / "notes.txt", r"already exists; add overwrite=true to replace it"),
    }[case]
    evaluation_must_not_run(monkeypatch)
    with pytest.raises(ConfigError, match=message):
        evaluate(compose, best, root, f"output={output}")
    assert (tmp_path / "notes.txt").read_text() == "keep" and not any((tmp_path / "folder").iterdir())


def test_browse_refuses_to_write_a_grid_over_a_mask(compose, trained):
    """Defect 3: ``tools/browse_dataset.py output=$DS/masks/train/x.png``."""
    root, _ = trained
    before = snapshot(root)
    mask = root / "masks" / "train" / "s00.png"
    cfg = compose("browse", ["dataset=folder", f"dataset.root={root}", f"output={mask}", "n=1", "trainer.num_workers=0",
                             "overwrite=true"])
    with pytest.raises(ConfigError, match=r"output=.*s00.png is inside the dataset root"):
        browse(cfg)
    assert snapshot(root) == before


def test_a_refusal_names_the_whole_path_and_file_even_with_spaces(tmp_path):
    from segfw.output_guard import Inputs, guard_folder

    out = tmp_path / "my predictions"
    out.mkdir()
    (out / "a b.png").write_bytes(b"mine")
    with pytest.raises(ConfigError) as error:
        guard_folder(out, "output", Inputs(), ["a b.png"])
    assert str(error.value) == (f"output={out}: a b.png already exists; add overwrite=true to replace it, "
                                "or give another path")
