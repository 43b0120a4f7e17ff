"""Atomic, non-destructive output: build a directory or file under a temporary name, then
rename it in place, and never replace what is not a vitsim output of the same kind.

Every writer in vitsim goes through here, so an error or an interrupt never leaves a
half-written package, Verilog directory or checkpoint behind.

Each output directory written with a ``kind`` holds a marker file, :data:`MARKER`, whose
text is that kind (``package``, ``checkpoint``, ``verilog``, ``program``...). The rules,
checked before any work by :func:`check_out` (command line) and again by
:func:`atomic_dir` when the result is renamed into place:

- a missing path or an empty directory is written;
- a non-empty directory without a marker (a user's directory) is never replaced;
- one with the marker of another kind is never replaced, not even with ``--force``
  (``vitsim verilog --out CKPT --force`` must not delete a checkpoint);
- one of the same kind is replaced only with ``--force`` (on the command line; library
  callers pass ``overwrite``);
- a path that is, contains or lies inside an input of the command, a file, the current
  directory or one of its parents is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from golden.errors import VitsimError

__all__ = ["MARKER", "OutputError", "atomic_dir", "atomic_write_new", "atomic_write_text",
           "check_out", "file_sha256", "check_out_file", "force_arg", "output_kind"]

#: Name of the marker file holding the kind of a vitsim output directory.
MARKER = ".vitsim-output"


class OutputError(VitsimError):
    """An output path that vitsim refuses to write (it would destroy something)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_kind(path: str | os.PathLike) -> str | None:
    """The kind named by the marker of directory ``path``; ``None`` if it has none."""
    marker = Path(path) / MARKER
    try:
        return marker.read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _overlap(out: Path, inp: Path) -> str | None:
    if out == inp:
        return "is"
    if inp in out.parents:
        return "is inside"
    if out in inp.parents:
        return "contains"
    return None


def _check_parent(real: Path, where: str) -> None:
    """Raise :class:`OutputError` unless the nearest existing ancestor of ``real`` is a
    writable directory (where the output will be created)."""
    anc = real.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{where}: {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: {anc} is not writable")


def _check_target(path: Path, kind: str | None, *, replace: bool, where: str) -> None:
    """Raise :class:`OutputError` when writing ``path`` would destroy something."""
    real = path.resolve()
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise OutputError(f"{where}: is the current directory or one of its parents "
                          "(name a new directory)")
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"{where}: exists and is not a directory")
    _check_parent(real, where)
    if not path.is_dir():
        return
    try:
        empty = not any(path.iterdir())
    except OSError as exc:
        raise OutputError(f"{where}: cannot read the directory ({exc.strerror})") from None
    if empty:
        return
    have = output_kind(path)
    if have is None:
        if kind is None:
            return  # an internal write without a kind (inside another atomic_dir)
        raise OutputError(f"{where}: not empty and not a vitsim output; refusing to replace "
                          "it (name a new or empty directory)")
    if kind is not None and have != kind:
        raise OutputError(f"{where}: holds a vitsim {have} output, not a {kind}; refusing "
                          "to replace it, even with --force")
    if not replace:
        raise OutputError(f"{where}: already holds a vitsim {have} output; give --force to "
                          "replace it")


def check_out(path: str | os.PathLike, kind: str, *, force: bool = False, inputs=(),
              flag: str = "--out") -> Path:
    """Check, before any work, that a ``kind`` output may be written to directory ``path``.

    ``inputs``: the paths the command reads (files or directories; ``None`` entries are
    skipped); the output may not be, contain or lie inside any of them. Raises
    :class:`OutputError` (one line naming ``flag`` and ``path``) when it may not (see the
    module doc); returns ``Path(path)``.
    """
    path = Path(path)
    where = f"{flag} {path}"
    if str(path) == "" or "\n" in str(path):
        raise OutputError(f"{flag}: {str(path)!r} is not a usable directory name")
    real = path.resolve()
    for inp in inputs:
        if inp is None:
            continue
        rel = _overlap(real, Path(inp).resolve())
        if rel is not None:
            raise OutputError(f"{where}: {rel} the input {inp}; refusing to write there")
    _check_target(path, kind, replace=force, where=where)
    return path


def check_out_file(path: str | os.PathLike, *, flag: str = "--out", inputs=()) -> Path:
    """Check that the file ``path`` may be written: not a directory, not an input, its
    directory writable. An existing file is replaced (as shells and compilers do)."""
    path = Path(path)
    where = f"{flag} {path}"
    if str(path) in ("", ".") or path.is_dir():
        raise OutputError(f"{where}: is a directory, not a file")
    real = path.resolve()
    for inp in inputs:
        if inp is not None and _overlap(real, Path(inp).resolve()) is not None:
            raise OutputError(f"{where}: is the input {inp}; refusing to overwrite it")
    _check_parent(real, where)
    return path


def force_arg(parser, what: str = "--out") -> None:
    """Add ``--force`` (replace an existing vitsim output of the same kind) to ``parser``."""
    parser.add_argument("--force", action="store_true",
                        help=f"replace an existing vitsim output of the same kind at {what} "
                        "(never a user's directory, another kind of output or an input)")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, kind: str | None = None, overwrite: bool = True):
    """Yield a fresh temporary directory that becomes ``path`` when the block succeeds.

    The temporary directory is a hidden sibling of ``path`` (same filesystem, so the final
    rename is atomic). On an exception it is removed and ``path`` is left as it was.
    ``kind``: the marker written into the result; an existing non-empty ``path`` is then
    replaced only when its marker names the same kind and ``overwrite`` is true
    (:class:`OutputError` otherwise, before the block runs). Without ``kind`` (a write
    nested in another ``atomic_dir``) no marker is written and an existing directory is
    replaced when ``overwrite`` is true. A file, the current directory or a parent of it
    is never replaced.
    """
    path = Path(path)
    where = str(path)
    if path.exists() and not overwrite and kind is None:
        raise FileExistsError(f"{path}: already exists")
    _check_target(path, kind, replace=overwrite, where=where)
    real = path.resolve()
    real.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{real.name}.tmp-", dir=real.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
    try:
        yield tmp
        if kind is not None:
            (tmp / MARKER).write_text(kind + "\n")
        _check_target(path, kind, replace=overwrite, where=where)  # changed meanwhile?
        if real.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{real.name}.old-", dir=real.parent))
            os.replace(real, old / "x")
            os.replace(tmp, real)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, real)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _temp_beside(path: Path, text: str) -> str:
    """A temporary file holding ``text`` in ``path``'s directory (made if missing), with the
    mode ``open()`` would give ``path``; the caller renames or links it, then removes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, not a file")
    tmp = _temp_beside(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_new(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a new file ``path``, or when that exists to the first free
    ``<stem>.1<suffix>``, ``<stem>.2<suffix>``...; return the path written.

    Never replaces a file (the name is claimed with a hard link, which fails on an existing
    name) and never leaves a half-written one (the text is written to a temporary file
    first)."""
    path = Path(path)
    tmp = _temp_beside(path, text)
    try:
        for i in range(10_000):
            name = path if i == 0 else path.with_name(f"{path.stem}.{i}{path.suffix}")
            try:
                os.link(tmp, name)
                return name
            except FileExistsError:
                continue
        raise OutputError(f"{path}: no free name beside it")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the file ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
