"""Extract untrusted root filesystem tarballs without ever writing outside dest.

Not ``tarfile.extractall``: its filters differ across Python versions. Every
write here is anchored on a directory fd of ``dest`` and every path component
is opened with ``O_NOFOLLOW``, so a symlink planted by an earlier member
(``evil -> /tmp`` then ``evil/pwned``) can never redirect a later write.
Symlink *text* is kept verbatim: it is resolved inside the container later.
"""
from __future__ import annotations

import errno
import lzma
import os
import stat
import tarfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Iterator

from amcr.errors import ImageError

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_EXCL also refuses to open through a symlink (even a dangling one) at the final component.
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FIFO_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)
_HINT = "pass an unpacked rootfs .tar or .tar.gz such as alpine-minirootfs-*.tar.gz"

Parts = tuple[str, ...]


@dataclass(frozen=True)
class ExtractReport:
    """What ``extract`` did. ``files`` counts regular files and fifos; ``skipped`` holds
    (member name, reason) for every member refused."""

    files: int
    dirs: int
    symlinks: int
    hardlinks: int
    skipped: tuple[tuple[str, str], ...]


class _Refused(Exception):
    """A member we will not extract (``args[0]`` is why): recorded, never raised to callers."""


@dataclass
class _State:
    """Bookkeeping for one extraction, so helpers stay small."""

    root: int
    rootless: bool
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("files", "dirs", "symlinks", "hardlinks"), 0))
    skipped: list[tuple[str, str]] = field(default_factory=list)
    regular: set[Parts] = field(default_factory=set)  # valid hardlink targets
    dirs: dict[Parts, tarfile.TarInfo] = field(default_factory=dict)  # final modes, applied last


def extract(tarball: str, dest: str, *, rootless: bool) -> ExtractReport:
    """Extract ``tarball`` (plain, gz, xz or bz2) into the existing directory ``dest``.

    Hostile members are neutralised (leading ``/`` stripped) or skipped and
    recorded; device nodes are always skipped because the runtime provides
    /dev.  With ``rootless`` ownership is left to the extracting user, else the
    archive's numeric uid/gid are applied.  On a corrupt archive ``ImageError``
    is raised and ``dest`` may be partially populated: the caller discards it.
    """
    try:
        state = _State(root=os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), rootless=rootless)
    except OSError as exc:
        raise _io_error(f"cannot extract into {dest}", "create an empty directory to extract into",
                        dest, exc) from exc
    doing = f"cannot open {tarball}"
    try:  # archive read errors become ImageError in _reading; OSErrors left are write errors
        with _reading(tarball):
            tf = tarfile.open(tarball, "r:*")
        with tf:
            for member in _members(tf, tarball):
                doing = f"cannot extract {member.name} from {tarball}"
                try:
                    _extract_member(tf, member, state, tarball)
                except _Refused as refused:
                    state.skipped.append((member.name, refused.args[0]))
        doing = f"cannot set directory modes in {dest}"
        _finish_dirs(state)
    except OSError as exc:
        raise _io_error(doing, f"check free space and permissions of {dest}", dest, exc) from exc
    finally:
        os.close(state.root)
    return ExtractReport(**state.counts, skipped=tuple(state.skipped))


@contextmanager
def _reading(tarball: str) -> Iterator[None]:
    """Turn any failure to read or decode the archive into one ImageError naming it."""
    try:
        yield
    except _READ_ERRORS as exc:
        if isinstance(exc, OSError) and exc.errno:  # the file itself, not its contents
            raise _io_error(f"cannot read {tarball}", "check that the image tarball exists and is readable",
                            tarball, exc) from exc
        raise ImageError(f"{tarball} is not a tar archive or is corrupt", hint=_HINT, path=tarball) from exc


def _members(tf: tarfile.TarFile, tarball: str) -> Iterator[tarfile.TarInfo]:
    while True:
        with _reading(tarball):
            member = tf.next()
        if member is None:
            return
        yield member


def _io_error(what: str, hint: str, path: str, exc: OSError) -> ImageError:
    return ImageError(f"{what}: {(exc.strerror or str(exc)).lower()}", hint=hint, path=path,
                      errno=exc.errno or 0)


def _clean(name: str, what: str) -> Parts:
    """Split a member path into components relative to dest (absolute -> relative)."""
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if not parts:
                raise _Refused(f"{what} escapes the destination")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return tuple(parts)


def _walk(root: int, parts: Parts, *, create: bool) -> int:
    """Open dest/parts as a directory fd, refusing any component that is a symlink."""
    fd = os.dup(root)
    try:
        for i, part in enumerate(parts):
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise _Refused(f"{'/'.join(parts[:i + 1])} does not exist") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise _Refused(f"{'/'.join(parts[:i + 1])} is a symlink or not a directory") from None
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _clear(parent: int, name: str, *, keep_dir: bool = False) -> bool:
    """Remove what is at parent/name without following it (tar's unlink-first).

    Returns True when a directory is there and ``keep_dir`` asked to keep it.
    """
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(mode):
        os.unlink(name, dir_fd=parent)
    elif keep_dir:
        return True
    else:
        try:
            os.rmdir(name, dir_fd=parent)
        except OSError:
            raise _Refused("a non-empty directory is in the way") from None
    return False


def _extract_member(tf: tarfile.TarFile, member: tarfile.TarInfo, state: _State, tarball: str) -> None:
    parts = _clean(member.name, "path")
    if member.isdir():
        return _make_dir(state, parts, member)
    if not parts:
        raise _Refused("member has an empty name")
    if member.ischr() or member.isblk():
        raise _Refused("device node skipped (the container runtime provides /dev)")
    if not (member.isreg() or member.issym() or member.islnk() or member.isfifo()):
        raise _Refused(f"unsupported member type {member.type!r}")
    parent = _walk(state.root, parts[:-1], create=True)
    try:
        if member.islnk():
            _link(state, parent, parts, member)
        else:
            _clear(parent, parts[-1])
            _create(tf, member, parent, parts[-1], state, tarball)
    finally:
        os.close(parent)
    state.dirs.pop(parts, None)
    state.regular.discard(parts)
    if member.isreg() or member.islnk():
        state.regular.add(parts)
    kind = "hardlinks" if member.islnk() else "symlinks" if member.issym() else "files"
    state.counts[kind] += 1


def _make_dir(state: _State, parts: Parts, member: tarfile.TarInfo) -> None:
    """Create the directory owner-writable; its real mode is applied by _finish_dirs."""
    if parts:
        parent = _walk(state.root, parts[:-1], create=True)
        try:
            if not _clear(parent, parts[-1], keep_dir=True):  # a symlink here is replaced
                os.mkdir(parts[-1], 0o700, dir_fd=parent)
        finally:
            os.close(parent)
    state.regular.discard(parts)
    state.dirs[parts] = member
    state.counts["dirs"] += 1


def _create(tf: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str,
            state: _State, tarball: str) -> None:
    """Create a regular file, symlink or fifo at parent/name (already cleared)."""
    if member.issym():
        if not member.linkname:
            raise _Refused("symlink with an empty target")
        os.symlink(member.linkname, name, dir_fd=parent)
        if not state.rootless:  # a symlink's own mode and mtime do not matter
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        return
    if member.isfifo():
        os.mkfifo(name, 0o600, dir_fd=parent)
        fd = os.open(name, _FIFO_FLAGS, dir_fd=parent)  # non-blocking: no writer needed
    else:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
    try:
        if member.isreg():
            _copy(tf.extractfile(member), fd, tarball)
        _apply_meta(fd, member, state.rootless)
    finally:
        os.close(fd)


def _link(state: _State, parent: int, parts: Parts, member: tarfile.TarInfo) -> None:
    """Hardlink only to a regular file this extraction wrote, never to a host file."""
    target = _clean(member.linkname, "hardlink target")
    if target == parts:
        raise _Refused("hardlink to itself")
    if target not in state.regular:
        raise _Refused(f"hardlink target {member.linkname} is not a regular file from this archive")
    src = _walk(state.root, target[:-1], create=False)
    try:
        if not stat.S_ISREG(os.stat(target[-1], dir_fd=src, follow_symlinks=False).st_mode):
            raise _Refused(f"hardlink target {member.linkname} is not a regular file")
        _clear(parent, parts[-1])
        os.link(target[-1], parts[-1], src_dir_fd=src, dst_dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(src)


def _copy(src: IO[bytes] | None, fd: int, tarball: str) -> None:
    """Copy member data in chunks; read errors mean the archive is corrupt."""
    while src is not None:
        with _reading(tarball):
            chunk = src.read(_CHUNK)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def _apply_meta(fd: int, member: tarfile.TarInfo, rootless: bool) -> None:
    """chown before chmod: the kernel clears setuid/setgid bits on chown."""
    if not rootless:
        os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, member.mode & 0o7777)
    try:
        os.utime(fd, (member.mtime, member.mtime))
    except (OverflowError, ValueError):
        pass  # an absurd timestamp is not worth failing an import for


def _finish_dirs(state: _State) -> None:
    """Apply final directory modes deepest first, so a 0o555 parent never blocks its children."""
    for parts in sorted(state.dirs, key=len, reverse=True):
        try:
            fd = _walk(state.root, parts, create=False)
        except _Refused:
            continue  # replaced by a non-directory later in the archive
        try:
            _apply_meta(fd, state.dirs[parts], state.rootless)
        finally:
            os.close(fd)
