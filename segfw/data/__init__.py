"""Data: datasets on disk, albumentations pipelines, loaders."""

from segfw.data import datasets  # noqa: F401  (registers datasets)
