"""On-disk formats of omnimotion-pipeline.

This package is the only place that knows paths and file formats: zarr video groups (frames and
everything derived from them), TAP-Vid pickles, results tables. See :mod:`storage.layout` for the whole
on-disk layout.
"""
