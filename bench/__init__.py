"""Benchmarks: each prints its figures and the baseline it is compared with, from the same run."""
