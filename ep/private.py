"""Files the app writes hold personal data: on POSIX systems, folders are 0700 and files
0600, so that only the account running the app reads them. Elsewhere (Windows), the
folder's access rights are the operator's business and nothing is changed."""

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

POSIX = os.name == "posix"


def folder(path):
    """The folder, created if needed, private."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _chmod(path, 0o700)
    return path


def create(path):
    """A new file open for binary writing, private from its first byte; fails if it exists."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def database(path):
    """Create the SQLite file private before SQLite does (its -wal and -shm files then get
    the database file's mode), and make existing ones private."""
    path = Path(path)
    if path.name == ":memory:":
        return
    try:
        create(path).close()  # an empty file is an empty SQLite database
    except FileExistsError:
        pass
    except OSError:
        return  # no folder, read-only…: SQLite tells why when it connects
    for suffix in ("", "-wal", "-shm", "-journal"):
        other = path.with_name(path.name + suffix)
        if other.exists():
            _chmod(other, 0o600)


def tree(root):
    """Make a folder and everything in it private: installations made before are fixed."""
    if not POSIX:
        return
    for dirpath, _dirs, files in os.walk(root):
        _chmod(Path(dirpath), 0o700)
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                _chmod(path, 0o600)


def _chmod(path, mode):
    if POSIX and stat.S_IMODE(path.lstat().st_mode) != mode:
        try:
            os.chmod(path, mode)
        except PermissionError:  # another account's file: say so, the app still starts
            log.warning("%s is not private (mode %o) and cannot be changed", path, mode)
