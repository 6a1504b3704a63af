"""Removing directory trees, fast and thoroughly, without importing shutil.

Layers are removed after every container, so this sits on the start/stop
path; it also copes with what overlayfs and containers leave: directories
without write or search permission (overlay's ``work/work`` is mode 000).
"""
from __future__ import annotations

import os
import stat


def remove_tree(path: str) -> None:
    """rm -rf ``path``; raises OSError (with the offending path) if it cannot."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    _empty_dir(path, st)
    os.rmdir(path)


def _empty_dir(path: str, st: os.stat_result) -> None:
    if (st.st_mode & 0o700) != 0o700 and st.st_uid == os.geteuid():
        os.chmod(path, 0o700)
    with os.scandir(path) as it:
        entries = list(it)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _empty_dir(entry.path, entry.stat(follow_symlinks=False))
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)
