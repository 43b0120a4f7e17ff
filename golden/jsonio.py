"""Reading a JSON object from a file, with one clear error line for every way it can fail."""

from __future__ import annotations

import json
from pathlib import Path

from golden.errors import VitsimError

__all__ = ["read_json_object"]


def read_json_object(path, *, missing: str = "no such file",
                     error: type[VitsimError] = VitsimError) -> dict:
    """Return the JSON object stored at ``path``.

    Raises ``error`` (a :class:`VitsimError`) naming ``path``: ``"<path>: <missing>"``
    when the file does not exist, ``"<path>: not valid JSON (...)"`` when it does not
    parse, ``"<path>: top level must be an object"`` when it is not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise error(f"{path}: not readable (permission denied)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: top level must be an object")
    return data
