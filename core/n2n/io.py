"""Atomic file writes: write to a temporary file beside the target, then rename over it; a write that
the file system refuses is one clear error saying what needed it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .constants import ENV_HOME
from .errors import InvalidInputError, ReadOnlyError

REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)
NAME_MAX = 255  # bytes in one file or folder name (Linux, macOS), UTF-16 units on Windows
PATH_MAX = 4096  # bytes in a whole path, the terminating NUL included (Linux; macOS takes 1024, Windows 32,767)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success it replaces `path`, else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)  # any legal name fits
    except OSError as exc:  # named as the file asked for, not its temporary sibling
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600: the mode of the file it replaces (a user's 0600 stays private), else open()'s
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.is_file() and not path.is_symlink() else 0o666 & ~current_umask())
        _sync(tmp, os.O_RDWR)  # on disk before its name is: a crash or power loss leaves the old file or the new one
        try:
            os.replace(tmp, path)
        except OSError as exc:  # a folder where the file goes, say: named as the file asked for
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        if os.name != "nt":  # the rename itself, best effort: the write succeeded; Windows cannot open a folder, and
            with contextlib.suppress(OSError):  # some network or FUSE file systems cannot sync one
                _sync(path.parent, os.O_RDONLY)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sync(path: str | os.PathLike, flags: int) -> None:
    """fsync a file (opened for writing: Windows syncs nothing else) or a folder (read-only)."""
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def names_a_path(value: Any) -> bool:
    """Whether `value` can name a file or folder: a str or os.PathLike, not empty or blank (`Path("")` is the
    current folder, which nobody means by it)."""
    return isinstance(value, (str, os.PathLike)) and bool(str(os.fspath(value)).strip())


def user_path(ref: str | os.PathLike) -> Path:
    """Path(ref) with a leading ~ or ~user expanded; a ~user this system does not know is left as written. A
    name or a path longer than any file system takes is one clear error (asking whether it exists was a raw
    OSError)."""
    try:
        path = Path(ref).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        path = Path(ref)
    if long := [part for part in path.parts if _length(part) > NAME_MAX]:
        raise InvalidInputError(f"{_shortened(str(ref))}: the name {_shortened(long[0])} is {_length(long[0])} "
                                f"{_UNITS} long, and a file or folder name has at most {NAME_MAX}")
    if os.name != "nt" and (size := len(os.fsencode(str(path)))) >= PATH_MAX:
        raise InvalidInputError(f"{_shortened(str(ref))}: the path is {size} bytes long, and a path has fewer than {PATH_MAX}")
    return path


_UNITS = "characters" if os.name == "nt" else "bytes"


def _length(name: str) -> int:
    """How long a file system measures a name: UTF-16 units on Windows, bytes elsewhere."""
    return len(name.encode("utf-16-le")) // 2 if os.name == "nt" else len(os.fsencode(name))


def _shortened(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else f"{text[:keep]}..."


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextmanager
def writing(path: str | os.PathLike, purpose: str) -> Iterator[None]:
    """Writes under `path` for `purpose` ("caching bert's features"); the file system refusing them
    (read-only, no permission) is a `ReadOnlyError` saying what needs write access and where to point
    instead. What is already cached is read without writing, so a warm read-only home still works."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in REFUSED or isinstance(exc, ReadOnlyError) or not _under(exc.filename, path):
            raise  # not a write n2n made there: a read elsewhere failed, and says so itself
        raise ReadOnlyError(
            f"{purpose} needs write access to {path}, which is refused ({exc.strerror}: {exc.filename}); "
            f"point {ENV_HOME} at a writable folder (e.g. {ENV_HOME}=/tmp/n2n)"
        ) from None


def _under(filename: Any, folder: str | os.PathLike) -> bool:
    """Whether the file an OSError names lies in `folder`, or is a folder it lies in (made on the way to it)."""
    if not isinstance(filename, (str, os.PathLike)):
        return False
    failed, folder = Path(os.path.abspath(filename)), Path(os.path.abspath(folder))
    return failed.is_relative_to(folder) or folder.is_relative_to(failed)
