"""amcr.images.tarsafe: untrusted rootfs tarballs extract into dest and nowhere else."""
from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from amcr.errors import ImageError
from amcr.images.tarsafe import ExtractReport, extract

IS_ROOT = os.geteuid() == 0


def _entry(name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes = b"", mode: int = 0o644,
           linkname: str = "", uid: int = 0, gid: int = 0) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.uid, info.gid = uid, gid
    info.mtime = 1_700_000_000
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def _dir(name: str, mode: int = 0o755, **kw: int) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, tarfile.DIRTYPE, mode=mode, **kw)


def _sym(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def _hard(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, tarfile.LNKTYPE, linkname=target)


def _archive(path: Path, entries: list[tuple[tarfile.TarInfo, bytes]], compression: str = "gz") -> str:
    with tarfile.open(path, f"w:{compression}", format=tarfile.GNU_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return str(path)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "dest"
    d.mkdir()
    return d


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to dest that hostile members aim at; it must stay untouched."""
    d = tmp_path / "outside"
    d.mkdir()
    return d


def _run(tmp_path: Path, dest: Path, entries: list[tuple[tarfile.TarInfo, bytes]],
         rootless: bool = True, compression: str = "gz") -> ExtractReport:
    tarball = _archive(tmp_path / f"image.tar.{compression or 'plain'}", entries, compression)
    report = extract(tarball, str(dest), rootless=rootless)
    extra = set(os.listdir(tmp_path)) - {"dest", "outside", os.path.basename(tarball)}
    assert not extra, f"extraction wrote next to dest: {extra}"
    return report


def _skipped_names(report: ExtractReport) -> list[str]:
    return [name for name, _ in report.skipped]


MINIROOTFS = [
    _dir("./"),
    _dir("bin/"),
    _entry("bin/busybox", data=b"\x7fELF busybox", mode=0o755, uid=1234, gid=1234),
    _sym("bin/sh", "/bin/busybox"),
    _entry("bin/bbsuid", data=b"suid", mode=0o4755),
    _dir("lib/"),
    _entry("lib/libc.musl.so.1", data=b"libc", mode=0o755),
    _sym("lib/ld-musl.so.1", "libc.musl.so.1"),
    _dir("usr/bin/"),  # parent usr/ is implied, as in real archives with sparse dir entries
    _hard("usr/bin/busybox-hard", "bin/busybox"),
    _dir("ro/", mode=0o555),
    _dir("ro/sub/", mode=0o555),
    _entry("ro/sub/file", data=b"inside read-only dirs", mode=0o444),
    _entry("etc/motd", data=b"welcome"),
]


def test_minirootfs_like_archive_extracts_every_kind_of_entry(tmp_path: Path, dest: Path) -> None:
    report = _run(tmp_path, dest, MINIROOTFS)

    assert report == ExtractReport(files=5, dirs=6, symlinks=2, hardlinks=1, skipped=())
    assert (dest / "bin/busybox").read_bytes() == b"\x7fELF busybox"
    assert (dest / "etc/motd").read_bytes() == b"welcome"
    assert stat.S_IMODE((dest / "bin/busybox").stat().st_mode) == 0o755


def test_absolute_symlink_text_is_kept_verbatim(tmp_path: Path, dest: Path) -> None:
    _run(tmp_path, dest, MINIROOTFS)
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert os.readlink(dest / "lib/ld-musl.so.1") == "libc.musl.so.1"


def test_hardlink_inside_archive_shares_the_inode(tmp_path: Path, dest: Path) -> None:
    _run(tmp_path, dest, MINIROOTFS)
    assert os.stat(dest / "usr/bin/busybox-hard").st_ino == os.stat(dest / "bin/busybox").st_ino


def test_read_only_dir_gets_its_mode_after_its_content_is_written(tmp_path: Path, dest: Path) -> None:
    _run(tmp_path, dest, MINIROOTFS)
    assert (dest / "ro/sub/file").read_bytes() == b"inside read-only dirs"
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((dest / "ro/sub").stat().st_mode) == 0o555
    assert stat.S_IMODE((dest / "ro/sub/file").stat().st_mode) == 0o444


def test_setuid_bit_is_kept(tmp_path: Path, dest: Path) -> None:
    _run(tmp_path, dest, MINIROOTFS)
    assert stat.S_IMODE((dest / "bin/bbsuid").stat().st_mode) == 0o4755


def test_rootless_extraction_leaves_files_owned_by_the_extracting_user(tmp_path: Path, dest: Path) -> None:
    _run(tmp_path, dest, MINIROOTFS, rootless=True)
    assert (dest / "bin/busybox").stat().st_uid == os.geteuid()
    assert (dest / "bin").stat().st_uid == os.geteuid()


@pytest.mark.skipif(not IS_ROOT, reason="applying archive ownership needs root")
def test_root_extraction_applies_archive_ownership_and_keeps_setuid(tmp_path: Path, dest: Path) -> None:
    entries = [_dir("d/", uid=42, gid=43), _entry("d/suid", data=b"x", mode=0o4755, uid=1234, gid=1235),
               _sym("d/link", "/nowhere")]
    entries[2][0].uid, entries[2][0].gid = 7, 8
    _run(tmp_path, dest, entries, rootless=False)
    st = (dest / "d/suid").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 1235, 0o4755)
    assert ((dest / "d").stat().st_uid, (dest / "d").stat().st_gid) == (42, 43)
    assert ((dest / "d/link").lstat().st_uid, (dest / "d/link").lstat().st_gid) == (7, 8)


@pytest.mark.parametrize("compression", ["", "gz", "xz", "bz2"])
def test_compression_is_detected_automatically(tmp_path: Path, dest: Path, compression: str) -> None:
    report = _run(tmp_path, dest, [_entry("hello", data=b"hi")], compression=compression)
    assert report.files == 1 and (dest / "hello").read_bytes() == b"hi"


def test_absolute_member_path_is_placed_inside_dest(tmp_path: Path, dest: Path, outside: Path) -> None:
    report = _run(tmp_path, dest, [_entry(f"{outside}/abs.txt", data=b"x"), _entry("/etc/passwd", data=b"y")])

    assert os.listdir(outside) == []
    assert (dest / str(outside).lstrip("/") / "abs.txt").read_bytes() == b"x"
    assert (dest / "etc/passwd").read_bytes() == b"y"
    assert report.files == 2 and report.skipped == ()


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "../outside/escape", "./../escape"])
def test_dotdot_member_that_escapes_is_refused(tmp_path: Path, dest: Path, outside: Path, name: str) -> None:
    report = _run(tmp_path, dest, [_entry(name, data=b"evil")])

    assert _skipped_names(report) == [name]
    assert "escapes" in report.skipped[0][1]
    assert os.listdir(outside) == [] and os.listdir(dest) == []


def test_dotdot_member_that_stays_inside_is_normalised(tmp_path: Path, dest: Path) -> None:
    report = _run(tmp_path, dest, [_entry("a/../ok", data=b"fine")])
    assert report.skipped == () and (dest / "ok").read_bytes() == b"fine"


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_member_below_a_symlink_to_outside_is_refused(tmp_path: Path, dest: Path, outside: Path,
                                                      how: str) -> None:
    target = str(outside) if how == "absolute" else "../outside"
    report = _run(tmp_path, dest, [_sym("evil", target), _entry("evil/pwned", data=b"evil"),
                                   _dir("evil/sub/"), _entry("evil/sub/pwned2", data=b"evil")])

    assert os.listdir(outside) == []
    assert os.readlink(dest / "evil") == target  # the link itself is kept
    assert _skipped_names(report) == ["evil/pwned", "evil/sub", "evil/sub/pwned2"]
    assert all("symlink" in reason for _, reason in report.skipped)


def test_symlink_to_parent_cannot_be_used_to_climb_out(tmp_path: Path, dest: Path, outside: Path) -> None:
    report = _run(tmp_path, dest, [_sym("up", ".."), _entry("up/outside/pwned", data=b"evil")])
    assert os.listdir(outside) == [] and _skipped_names(report) == ["up/outside/pwned"]


def test_file_member_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path, dest: Path,
                                                                      outside: Path) -> None:
    victim = outside / "victim"
    victim.write_bytes(b"original")
    report = _run(tmp_path, dest, [_sym("link", str(victim)), _entry("link", data=b"new", mode=0o600)])

    assert victim.read_bytes() == b"original"
    assert not (dest / "link").is_symlink() and (dest / "link").read_bytes() == b"new"
    assert report.skipped == ()


def test_directory_member_replaces_a_symlink_so_later_members_stay_inside(tmp_path: Path, dest: Path,
                                                                         outside: Path) -> None:
    report = _run(tmp_path, dest, [_sym("d", str(outside)), _dir("d/"), _entry("d/f", data=b"in")])

    assert os.listdir(outside) == []
    assert not (dest / "d").is_symlink() and (dest / "d/f").read_bytes() == b"in"
    assert report.skipped == ()


@pytest.mark.parametrize("target", ["/etc/passwd", "{outside}/secret", "../../x", "../outside/secret"])
def test_hardlink_to_a_host_file_is_refused(tmp_path: Path, dest: Path, outside: Path, target: str) -> None:
    secret = outside / "secret"
    secret.write_bytes(b"secret")
    target = target.format(outside=outside)
    passwd_links = os.stat("/etc/passwd").st_nlink

    report = _run(tmp_path, dest, [_hard("stolen", target)])

    assert _skipped_names(report) == ["stolen"] and report.hardlinks == 0
    assert not os.path.lexists(dest / "stolen")
    assert secret.stat().st_nlink == 1 and os.stat("/etc/passwd").st_nlink == passwd_links
    assert os.listdir(outside) == ["secret"]


def test_hardlink_through_a_symlink_member_is_refused(tmp_path: Path, dest: Path, outside: Path) -> None:
    secret = outside / "secret"
    secret.write_bytes(b"secret")
    report = _run(tmp_path, dest, [_sym("ln", str(secret)), _hard("stolen", "ln"),
                                   _sym("dir", str(outside)), _hard("stolen2", "dir/secret")])

    assert _skipped_names(report) == ["stolen", "stolen2"]
    assert secret.stat().st_nlink == 1


@pytest.mark.parametrize("rootless", [True, False])
def test_device_nodes_are_skipped_and_reported(tmp_path: Path, dest: Path, rootless: bool) -> None:
    null = _entry("dev/null", tarfile.CHRTYPE, mode=0o666)
    null[0].devmajor, null[0].devminor = 1, 3
    sda = _entry("dev/sda", tarfile.BLKTYPE, mode=0o660)
    sda[0].devmajor, sda[0].devminor = 8, 0

    report = _run(tmp_path, dest, [null, sda], rootless=rootless)

    assert _skipped_names(report) == ["dev/null", "dev/sda"]
    assert all("device" in reason for _, reason in report.skipped)
    assert os.listdir(dest) == []


def test_fifo_member_is_created_with_its_mode(tmp_path: Path, dest: Path) -> None:
    report = _run(tmp_path, dest, [_entry("run/fifo", tarfile.FIFOTYPE, mode=0o620)])
    st = os.lstat(dest / "run/fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620
    assert report.skipped == ()


def test_non_tar_file_raises_image_error_naming_the_file(tmp_path: Path, dest: Path) -> None:
    bogus = tmp_path / "image.tar.gz"
    bogus.write_bytes(b"this is not a tarball at all\n" * 100)
    with pytest.raises(ImageError) as info:
        extract(str(bogus), str(dest), rootless=True)
    line = str(info.value)
    assert str(bogus) in line and "not a tar archive" in line and "\n" not in line
    assert info.value.hint


def test_truncated_gzip_archive_raises_image_error(tmp_path: Path, dest: Path) -> None:
    good = _archive(tmp_path / "good.tar", [_entry("big", data=os.urandom(200_000))], "")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(gzip.compress(Path(good).read_bytes())[:50_000])
    with pytest.raises(ImageError, match="not a tar archive or is corrupt"):
        extract(str(cut), str(dest), rootless=True)


def test_missing_tarball_raises_image_error(tmp_path: Path, dest: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        extract(str(tmp_path / "nope.tar.gz"), str(dest), rootless=True)
