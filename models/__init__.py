"""Compressed Vision Transformers (torch + timm): GSB quantizers, models, training.

Importing this package is cheap (no torch): ``vitsim --help`` imports :mod:`models.cli`.
``create_model``, ``list_models`` and ``register_model`` are loaded on first access.
"""

__all__ = ["create_model", "list_models", "register_model"]


def __getattr__(name):
    if name in __all__:
        from models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
