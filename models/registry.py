"""Model registry: a decorator, ``create_model(name, **kw)`` and ``list_models()``.

Entry points live in :mod:`models.vit`, registered by :func:`register_model` when that
module is imported; :func:`create_model` and :func:`list_models` import it on first use.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable

from golden.errors import VitsimError

__all__ = ["create_model", "is_model", "list_models", "register_model"]

_ENTRYPOINTS: dict[str, Callable] = {}
_MODULES = ("models.vit",)


def register_model(fn: Callable, *, name: str | None = None) -> Callable:
    """Register ``fn`` as a model entry point under ``name`` (default ``fn.__name__``)."""
    key = name or fn.__name__
    if key in _ENTRYPOINTS and _ENTRYPOINTS[key] is not fn:
        raise ValueError(f"model {key!r} is already registered")
    _ENTRYPOINTS[key] = fn
    return fn


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(module)


def list_models(pattern: str = "*") -> list[str]:
    """Return the sorted registered names matching the shell-style ``pattern``."""
    _load()
    return sorted(n for n in _ENTRYPOINTS if fnmatch.fnmatchcase(n, pattern))


def is_model(name: str) -> bool:
    """Whether ``name`` is registered."""
    _load()
    return name in _ENTRYPOINTS


def create_model(name: str, **kwargs):
    """Build the registered model ``name``; ``kwargs`` override its config fields.

    Raises
    ------
    VitsimError
        Unknown name, or a field that is unknown or out of range.
    """
    _load()
    if name not in _ENTRYPOINTS:
        raise VitsimError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _ENTRYPOINTS[name](**kwargs)
