"""Values every layer shares: the ignore label, the normalisation statistics, the default palette.

This module is on the bottom floor (it imports nothing from segfw), so data, models, losses, metrics and
pictures all read these from here and never from one another.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = 255  # label id of pixels that are neither trained on nor scored
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel mean of RGB in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
IGNORE_COLOUR = (0, 0, 0)  # how an ignored or unknown id is drawn
AUX_WEIGHT = 0.4  # weight of the auxiliary head's loss (PSPNet's, mmseg's), the model's ``aux_weight`` default

# ``trainer.hooks`` and ``trainer.loggers`` of a run that does not name them (the schema's defaults, and those
# of a run saved before these keys existed): curves, evaluation, the weight average (``trainer.ema.enabled``),
# checkpoints, then the signal check (which saves and stops); TensorBoard and ``scalars.jsonl``.
TRAINER_HOOKS = ("write_scalars", "evaluate", "ema", "save_checkpoints", "stop_on_signal")
TRAINER_LOGGERS = ("tensorboard", "jsonl")


def default_palette(num_classes: int) -> np.ndarray:
    """Distinct colours (K, 3) uint8, the PASCAL VOC bit-interleaving scheme."""
    palette = np.zeros((num_classes, 3), dtype=np.uint8)
    for k in range(num_classes):
        label, colour = k, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                colour[channel] |= ((label >> channel) & 1) << shift
            label >>= 3
        palette[k] = colour
    return palette

NO_DISTANCE = 65535  # a pixel without deciding evidence in a dataset's distance map (context_arena)
