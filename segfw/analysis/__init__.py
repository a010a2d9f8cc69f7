"""Analyses over models and runs: benchmarks, FLOPs, comparisons of runs."""
