"""Versions of vitsim and the tools that produced an artefact (recorded in every manifest)."""

from __future__ import annotations

from importlib import metadata

import numpy as np

__all__ = ["producer", "tool_version"]


def tool_version(dist: str) -> str | None:
    """Installed version of distribution ``dist``, or ``None`` if it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def producer(**extra: str | None) -> dict:
    """Return ``{"tool": "vitsim", "version": ..., "numpy": ..., **extra}``."""
    return {"tool": "vitsim", "version": tool_version("vitsim"), "numpy": np.__version__,
            **extra}
