"""Measurements of models, blocks and data pipelines: FLOPs, parameters, speed, memory, loader throughput.

Floor 4, beside ``segfw.apis``: called by ``tools/benchmark*.py``; nothing below imports it.
"""
