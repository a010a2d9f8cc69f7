"""What the tools call, and what a notebook calls: one module per job.

``train`` (a training run), ``evaluate`` (score a run on a split), ``infer`` (label image files),
``export`` (ONNX / TorchScript), ``browse`` (a grid of augmented samples), ``convert_dataset`` (label
conversions) and ``run`` (a run folder as an object). Each takes a composed config of its tool and
returns a value; the tools in ``tools/`` only compose the config, call one of these and print.

Floor 4: may import everything below (``segfw.engine``, the library, the shared vocabulary).
"""
