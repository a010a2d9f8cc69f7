"""Silent wrong data becomes right or one line (issue 9, item 7): 16-bit images, EXIF orientation,
JPEG masks, duplicate stems, empty classes.txt."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from segfw.data.datasets.folder import FolderDataset
from segfw.errors import BadSampleError
from segfw.data.io import read_image, read_label

ROTATE_90_CW = 6  # EXIF orientation: shown rotated 90° clockwise


def folder_layout(root: Path, classes: str = "a\nb\n") -> tuple[Path, Path]:
    images, masks = root / "images" / "train", root / "masks" / "train"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    (root / "classes.txt").write_text(classes)
    return images, masks


def save_with_orientation(array: np.ndarray, path: Path, orientation: int) -> None:
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, exif=exif)


def test_16_bit_greyscale_is_scaled_by_its_full_range(tmp_path):
    values = np.array([[0, 257, 1000, 30000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.dtype == np.uint8 and image.shape == (1, 5, 3)
    assert image[0, :, 0].tolist() == [0, 1, 3, 117, 255]  # v >> 8, not clipped to 0/255


def test_16_bit_rgb_is_scaled_by_its_full_range(tmp_path):
    values = np.array([[[65535, 30000, 1000]]], dtype=np.uint16)  # BGR, as OpenCV writes
    cv2.imwrite(str(tmp_path / "rgb16.png"), values)
    assert read_image(tmp_path / "rgb16.png")[0, 0].tolist() == [3, 117, 255]  # the same scaling as greyscale


def test_exif_orientation_is_applied_to_image_and_mask_alike(tmp_path):
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[0, 0] = 255  # top-left as stored
    ids = np.zeros((2, 3), np.uint8)
    ids[0, 0] = 1
    save_with_orientation(pixels, tmp_path / "photo.jpg", ROTATE_90_CW)
    save_with_orientation(ids, tmp_path / "mask.png", ROTATE_90_CW)
    image, label = read_image(tmp_path / "photo.jpg"), read_label(tmp_path / "mask.png")
    assert image.shape[:2] == label.shape == (3, 2)  # shown upright: rotated
    assert image[0, 1].min() > 200 and label[0, 1] == 1  # the marked pixel moved to the top-right, in both


def test_a_mask_drawn_on_the_stored_pixels_of_a_rotated_photo_says_why_it_mismatches(tmp_path):
    images, masks = folder_layout(tmp_path)
    save_with_orientation(np.zeros((4, 6, 3), np.uint8), images / "p.jpg", ROTATE_90_CW)
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(masks / "p.png")
    with pytest.raises(BadSampleError, match="EXIF orientation 6"):
        FolderDataset(tmp_path).load(0)


def test_a_jpeg_saved_as_png_mask_is_refused_by_content(tmp_path):
    images, masks = folder_layout(tmp_path)
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(images / "s.png")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(masks / "s.png", format="JPEG")
    with pytest.raises(BadSampleError, match=r"s\.png: label is a JPEG file despite its name"):
        FolderDataset(tmp_path).load(0)


def test_jpeg_masks_are_refused_by_extension(tmp_path):
    images, masks = folder_layout(tmp_path)
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(images / "s.png")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(masks / "s.jpg")
    with pytest.raises(BadSampleError, match=r"s\.jpg: JPEG masks are lossy"):
        FolderDataset(tmp_path)


def test_duplicate_stems_name_both_files(tmp_path):
    images, masks = folder_layout(tmp_path)
    for name in ("s03.jpg", "s03.png"):
        Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(images / name)
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(masks / "s03.png")
    with pytest.raises(BadSampleError, match=r"s03\.jpg and s03\.png: two images named 's03'") as caught:
        FolderDataset(tmp_path)
    assert "\n" not in str(caught.value)


def test_an_empty_classes_file_is_named(tmp_path):
    folder_layout(tmp_path, classes="\n\n")
    with pytest.raises(BadSampleError, match=r"classes\.txt: holds no class names"):
        FolderDataset(tmp_path)
