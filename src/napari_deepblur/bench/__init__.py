"""Benchmarks (accuracy and speed) run by ``napari-deepblur bench ...``."""
