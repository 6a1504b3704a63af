"""The original checks: a real container, started by the installed command."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import Amcr


def test_amcr_command_is_installed_and_runs(amcr: Amcr) -> None:
    proc = amcr("--help")
    assert proc.returncode == 0
    assert "run" in proc.stdout and "image" in proc.stdout


def test_uid_is_0_inside(amcr: Amcr) -> None:
    proc = amcr.sh("id -u; id -g")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "0"]


def test_hostname_is_the_one_asked_for(amcr: Amcr) -> None:
    proc = amcr("run", "--image", "busybox", "--hostname", "mcr", "--", "hostname")
    assert (proc.returncode, proc.stdout) == (0, "mcr\n"), proc.stderr


def test_hostname_defaults_to_the_name_then_amcr(amcr: Amcr) -> None:
    assert amcr("run", "--image", "busybox", "--name", "web", "--", "hostname").stdout == "web\n"
    assert amcr("run", "--image", "busybox", "--", "hostname").stdout == "amcr\n"


def test_busybox_image_is_the_root_filesystem(amcr: Amcr) -> None:
    proc = amcr.sh("cat /etc/os-release")
    assert "ID=busybox" in proc.stdout, proc.stderr


def test_host_image_is_the_root_filesystem_without_host_secrets(amcr: Amcr) -> None:
    with open("/etc/os-release", encoding="utf-8") as f:
        host_id = next(ln for ln in f if ln.startswith("ID="))
    proc = amcr.run("sh", "-c", "cat /etc/os-release; ls /etc; cat /etc/passwd")
    assert proc.returncode == 0, proc.stderr
    assert host_id in proc.stdout
    assert "shadow" not in proc.stdout and "ssh" not in proc.stdout
    assert os.environ.get("USER", "nobody-here") not in proc.stdout.split(":")


def test_host_usr_is_read_only(amcr: Amcr) -> None:
    proc = amcr.run("sh", "-c", "touch /usr/amcr-test-file")
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr
    assert not os.path.exists("/usr/amcr-test-file")


def test_echo_works(amcr: Amcr) -> None:
    proc = amcr("run", "--image", "busybox", "--", "echo", "hello", "world")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hello world\n", "")


def test_sh_c_works_and_stdout_stderr_stay_apart(amcr: Amcr) -> None:
    proc = amcr.sh("echo out; echo err >&2; exit 3")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")


def test_working_directory_is_root_and_w_changes_it(amcr: Amcr) -> None:
    assert amcr.sh("pwd").stdout == "/\n"
    assert amcr.sh("pwd", "-w", "/var/tmp").stdout == "/var/tmp\n"
    assert amcr.sh("pwd", "-w", "/new/dir").stdout == "/new/dir\n"   # created, like docker


def test_proc_is_mounted_and_pid_1_is_the_command(amcr: Amcr) -> None:
    proc = amcr.sh("echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
    assert proc.returncode == 0, proc.stderr
    pid, cmdline = proc.stdout.splitlines()
    assert pid == "1"
    assert cmdline.startswith("sh -c echo $$;")


def test_tmp_is_a_writable_tmpfs(amcr: Amcr) -> None:
    proc = amcr.sh("stat -f -c %T /tmp; echo x > /tmp/f && cat /tmp/f")
    assert proc.stdout.split() == ["tmpfs", "x"], proc.stderr


def test_environment_and_e_flag(amcr: Amcr) -> None:
    proc = amcr.sh("echo $FOO $HOSTNAME; echo $PATH", "-e", "FOO=bar baz", "--name", "n1")
    lines = proc.stdout.splitlines()
    assert lines[0] == "bar baz n1"
    assert "/usr/bin" in lines[1]


def test_stdin_is_attached_with_i(amcr: Amcr) -> None:
    proc = amcr("run", "-i", "--image", "busybox", "--", "cat", input=b"through stdin\n")
    assert proc.stdout == "through stdin\n"
    proc = amcr("run", "--image", "busybox", "--", "cat", input=b"not attached\n")
    assert proc.stdout == ""


def test_volume_bind_mount_read_write_and_read_only(amcr: Amcr, tmp_path: "os.PathLike[str]") -> None:
    host_dir = os.path.join(str(tmp_path), "vol")
    os.mkdir(host_dir)
    os.chmod(str(tmp_path), 0o755)
    os.chmod(host_dir, 0o777)
    with open(os.path.join(host_dir, "in.txt"), "w") as f:
        f.write("from host\n")
    proc = amcr.sh("cat /data/in.txt; echo back > /data/out.txt", "-v", f"{host_dir}:/data")
    assert proc.stdout == "from host\n", proc.stderr
    with open(os.path.join(host_dir, "out.txt")) as f:
        assert f.read() == "back\n"
    proc = amcr.sh("echo no > /data/x", "-v", f"{host_dir}:/data:ro")
    assert proc.returncode != 0 and "Read-only" in proc.stderr


def test_read_only_root(amcr: Amcr) -> None:
    proc = amcr.sh("touch /x", "--read-only")
    assert proc.returncode != 0 and "Read-only file system" in proc.stderr
    assert amcr.sh("echo ok > /tmp/x && cat /tmp/x", "--read-only").stdout == "ok\n"


def test_large_output_arrives_whole(amcr: Amcr) -> None:
    proc = subprocess.run(amcr.command + ["run", "--image", "busybox", "--", "sh", "-c",
                                          "head -c 5000000 /dev/zero"],
                          capture_output=True, env=amcr.env(), stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0
    assert len(proc.stdout) == 5_000_000


@pytest.mark.parametrize("args", [["run"], ["run", "--image", "busybox"]])
def test_no_command_is_a_usage_error(amcr: Amcr, args: list[str]) -> None:
    proc = amcr(*args, check_one_line=True)
    assert proc.returncode == 125
    assert "no command" in proc.stderr
