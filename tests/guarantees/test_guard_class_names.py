"""classes.txt is parsed strictly (issue 21, defect 7): a BOM is dropped; a blank line between names, a
repeated name and non-UTF-8 bytes are one line naming the file and the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_layouts import write_image, write_label
from segfw.data.datasets.class_names import parse_class_names, read_class_names
from segfw.data.datasets.folder import FolderDataset
from segfw.errors import BadSampleError


def folder_set(root: Path, classes: bytes) -> Path:
    write_image(root / "images" / "train" / "a.png")
    write_label(root / "masks" / "train" / "a.png", np.zeros((13, 14), np.uint8))
    (root / "classes.txt").write_bytes(classes)
    return root


def test_bom_is_not_part_of_the_first_name(tmp_path):
    dataset = FolderDataset(folder_set(tmp_path, "\ufeffroad\r\ncar\r\n".encode("utf-8")))
    assert dataset.classes == ("road", "car")


@pytest.mark.parametrize("text", ["a\nb\n", "a\nb", "a\nb\n\n\n", " a \n\tb\n"])
def test_trailing_newlines_and_spaces_around_names_are_fine(text):
    assert parse_class_names(text) == ("a", "b")


@pytest.mark.parametrize("classes, line, what", [
    (b"road\n\ncar\nsky\n", 2, "blank line between class names"),  # would shift car and sky by one id
    (b"road\ncar\nroad\n", 3, "class name 'road' repeats line 1"),  # one IoU would overwrite the other
    ("road\nstra\u00dfe\n".encode("latin-1"), 2, "not UTF-8"),  # was a UnicodeDecodeError traceback
])
def test_bad_classes_txt_is_one_line_naming_the_line(tmp_path, classes, line, what):
    root = folder_set(tmp_path, classes)
    with pytest.raises(BadSampleError) as caught:
        FolderDataset(root)
    message = str(caught.value)
    assert message.startswith(f"{root / 'classes.txt'}:{line}: {what}") and "\n" not in message


def test_empty_file_is_one_line(tmp_path):
    (tmp_path / "classes.txt").write_bytes(b"\n\n")
    with pytest.raises(BadSampleError, match="holds no class names"):
        read_class_names(tmp_path / "classes.txt")
