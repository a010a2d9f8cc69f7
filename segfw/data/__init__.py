"""Data: datasets on disk, albumentations pipelines, loaders."""

from segfw.data import datasets, transforms  # noqa: F401  (registers datasets and transforms)
