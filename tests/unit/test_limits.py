"""Parsing and planning of resource limits (``amcr.limits``), no privileges needed."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from amcr.errors import SpecError
from amcr.limits import Limits, format_bytes, parse_cpus, parse_pids, parse_size, plan

MiB = 1024 * 1024


@pytest.mark.parametrize("text, expected", [
    ("64m", 64 * MiB), ("64M", 64 * MiB), ("1g", 1024 * MiB), ("512k", 512 * 1024),
    ("1048576", MiB), ("64MiB", 64 * MiB), ("64mb", 64 * MiB), ("1.5g", 1536 * MiB),
    (" 64m ", 64 * MiB), ("64 m", 64 * MiB), ("2t", 2 * 1024 ** 4), ("100b", 100),
    (67108864, 64 * MiB),
])
def test_sizes_use_docker_binary_units(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["12q", "", "m", "-5m", ".5g", "1..5g", "1.2.3m", "６４m",
                                  "64 mm", "0x40m", "1e3m", "kb"])
def test_bad_sizes_are_one_clear_line(text: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_size(text)
    line = exc.value.line()
    assert line == f"invalid --memory {text!r} (use a number with k, m or g, e.g. 64m)"
    assert "\n" not in line


def test_error_names_the_flag_it_came_from() -> None:
    with pytest.raises(SpecError, match=r"^invalid --memory-swap '2x'"):
        Limits.parse(memory="64m", memory_swap="2x")
    with pytest.raises(SpecError, match=r"^invalid memory 'lots'"):
        parse_size("lots", "memory")      # amcr.toml key


def test_memory_below_docker_minimum_is_refused() -> None:
    with pytest.raises(SpecError, match="--memory 1 MiB is too small"):
        Limits.parse(memory="1m")


def test_memory_swap_rules_follow_docker() -> None:
    with pytest.raises(SpecError, match="--memory-swap needs --memory"):
        Limits.parse(memory_swap="128m")
    with pytest.raises(SpecError, match="--memory-swap 32 MiB is less than --memory 64 MiB"):
        Limits.parse(memory="64m", memory_swap="32m")
    unset = Limits.parse(memory="64m")
    assert (unset.swap_only(), unset.memsw_total()) == (64 * MiB, 128 * MiB)
    none = Limits.parse(memory="64m", memory_swap="64m")
    assert (none.swap_only(), none.memsw_total()) == (0, 64 * MiB)
    unlimited = Limits.parse(memory="64m", memory_swap="-1")
    assert (unlimited.swap_only(), unlimited.memsw_total()) == (-1, -1)
    assert Limits().swap_only() is None and Limits().memsw_total() is None


def test_cpus() -> None:
    assert Limits.parse(cpus="0.5").cpus == 0.5
    assert Limits.parse(cpus="0.5").cpu_quota() == 50_000
    assert Limits.parse(cpus=0.01).cpu_quota() == 1000
    for bad in ("abc", "nan", "inf", "", True):
        with pytest.raises(SpecError, match="invalid --cpus"):
            parse_cpus(bad)   # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"invalid --cpus 0 \(this host has \d+ cpus?\)"):
        Limits.parse(cpus="0")
    with pytest.raises(SpecError, match=r"invalid --cpus 1000 \(this host has"):
        Limits.parse(cpus="1000")


def test_pids_limit() -> None:
    assert parse_pids("64") == 64
    assert parse_pids(64) == 64
    assert parse_pids("-1") is None and parse_pids("0") is None     # docker: unlimited
    for bad in ("abc", "-5", "1.5", "-", "", "--1"):
        with pytest.raises(SpecError, match="invalid --pids-limit"):
            parse_pids(bad)


def test_mode() -> None:
    assert Limits.parse(mode="warn").mode == "warn"
    assert Limits.parse().mode == "enforce"
    with pytest.raises(SpecError, match="invalid --limits 'maybe'"):
        Limits.parse(mode="maybe")


def test_api_values_are_validated_too() -> None:
    with pytest.raises(SpecError):
        Limits(memory="64m")          # type: ignore[arg-type]  # strings go through parse()
    with pytest.raises(SpecError):
        Limits(pids=0)
    assert Limits(memory=64 * MiB, cpus=1, pids=10).describe() == "memory 64 MiB, cpus 1, pids 10"
    assert Limits().empty and Limits().describe() == "no limits"


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (100, 512 * 1024, 64 * MiB, 1536 * MiB)] == [
        "100 B", "512 KiB", "64 MiB", "1.5 GiB"]


ALL = frozenset({"memory", "cpu", "pids"})


def test_plan_with_every_controller_puts_everything_in_the_cgroup() -> None:
    lim = Limits.parse(memory="64m", cpus="0.5", pids_limit="64")
    p = plan(lim, ALL)
    assert p.cgroup == lim and p.rlimit_as is None and p.memory_via == "cgroup"
    assert p.warnings == ()


def test_plan_without_cgroups_uses_rlimit_for_memory() -> None:
    p = plan(Limits.parse(memory="64m"), (), why="no cgroup")
    assert p.cgroup is None and p.rlimit_as == 64 * MiB and p.memory_via == "rlimit"


def test_plan_refuses_cpu_and_pids_without_cgroups_in_one_line() -> None:
    with pytest.raises(SpecError) as exc:
        plan(Limits.parse(memory="64m", cpus="0.5", pids_limit="64"), (),
             why="no cgroup amcr can use as uid 1001")
    assert exc.value.line() == ("--cpus 0.5 and --pids-limit 64 cannot be enforced: no cgroup "
                                "amcr can use as uid 1001 (or use --limits warn to run without "
                                "them)")
    assert exc.value.exit_code == 125


def test_plan_warn_mode_runs_with_what_it_has() -> None:
    p = plan(Limits.parse(memory="64m", cpus="0.5", pids_limit="64", mode="warn"),
             {"memory", "pids"}, why="cpu not delegated")
    assert p.cgroup == Limits(memory=64 * MiB, pids=64, mode="warn")
    assert p.warnings == ("warning: --cpus 0.5 is not enforced: cpu not delegated",)


def test_start_path_modules_import_nothing_heavy() -> None:
    """dataclasses/inspect, re, typing, subprocess, shutil cost milliseconds per start."""
    code = ("import sys; import amcr.limits, amcr.kernel.cgroups, amcr.kernel.cgroups_v1, "
            "amcr.kernel.cgroups_v2; heavy = {'dataclasses', 're', 'typing', 'subprocess', "
            "'shutil', 'inspect'} & set(sys.modules); print(sorted(heavy))")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": root}, check=True)
    assert out.stdout.strip() == "[]"
