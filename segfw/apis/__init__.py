"""What the tools call, and what a notebook calls: one module per job.

``Segmenter`` (a trained model for images, in a notebook), ``build_model`` (a preset in one line),
``train`` (a training run), ``evaluate`` (score a run on a split), ``infer`` (label image files),
``export`` (ONNX / TorchScript), ``browse`` (a grid of augmented samples), ``convert_dataset`` (label
conversions) and ``run`` (a run folder as an object). Each takes a composed config of its tool and
returns a value; the tools in ``tools/`` only compose the config, call one of these and print.

Floor 4: may import everything below (``segfw.engine``, the library, the shared vocabulary).
"""

from segfw.apis.models import build_model  # noqa: E402
from segfw.apis.segmenter import Prediction, Segmenter  # noqa: E402

__all__ = ["Prediction", "Segmenter", "build_model"]
