"""Thin Prefect task wrappers around :mod:`storage` and :mod:`omnimotion_core` (one task per stage)."""
