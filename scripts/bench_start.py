#!/usr/bin/env python3
"""Cold-start benchmark: ``amcr run --image busybox -- /bin/true`` vs bwrap and runc.

Why this shape: the issue's target is "amcr starts no slower than runc", and a
number is only meaningful next to baselines measured the same way. So all three
tools run rootless as the same unprivileged user, on the very same root
filesystem (the busybox image amcr builds on first use), with comparable
namespaces, interleaved round-robin (rotating the order each round) so machine
noise hits all of them alike. Run as root, the script re-executes itself as
``--user`` via runuser (piping its own source on stdin, so the user needs no
access to this checkout); run as a normal user, it measures as that user.

Example (development copy of amcr):
    PYTHONPATH=/tmp/amcr-src python3 scripts/bench_start.py --amcr "python3 -m amcr"
The whole environment (minus identity variables such as HOME and USER) is
passed through runuser, and ``--env KEY=VAL`` adds to it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pwd
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional

# Variables that describe the invoking user; runuser sets the target's own.
IDENTITY_VARS = {"HOME", "USER", "LOGNAME", "SHELL", "MAIL", "PWD", "OLDPWD", "XDG_RUNTIME_DIR",
                 "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"}


def parse_args(argv: list) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="measured starts per tool (default 20)")
    p.add_argument("--user", default="amcrtest", help="unprivileged user when started as root")
    p.add_argument("--amcr", help="amcr command, shlex-split (default: amcr on PATH, else "
                   "/opt/amcr/venv/bin/amcr); e.g. 'python3 -m amcr'")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VAL",
                   help="extra environment for the measured commands (repeatable)")
    p.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    p.add_argument("--workdir", help=argparse.SUPPRESS)  # set by the root parent
    a = p.parse_args(argv)
    if a.runs < 1 or any("=" not in kv for kv in a.env):
        p.error("--runs must be >= 1 and --env takes KEY=VAL")
    return a


def rmtree_force(path: str) -> None:
    """Remove a tree even if it holds mode-000 dirs (overlay leaves ``work/work`` so)."""
    def retry(func, p, _exc) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
                shutil.rmtree(p, onerror=retry)
            else:
                func(p)
        except OSError:
            pass
    if os.path.lexists(path):
        shutil.rmtree(path, onerror=retry)


def reexec_as(user: str, argv: list) -> int:
    """Root parent: measure as ``user`` so every tool runs rootless as the same uid.

    The work dir is made here and chowned to the user, so root can remove it
    afterwards whatever uids the containers left behind.
    """
    pw = pwd.getpwnam(user)
    work = tempfile.mkdtemp(prefix="amcr-bench-", dir="/tmp")
    os.chown(work, pw.pw_uid, pw.pw_gid)
    env = [f"{k}={v}" for k, v in os.environ.items() if k not in IDENTITY_VARS and "=" not in k]
    # "python3" found on PATH by the user: sys.executable may sit somewhere only root can
    # reach (e.g. a pyenv under /root); execvp skips PATH entries the user cannot search.
    cmd = ["runuser", "-u", user, "--", "env", *env, "python3", "-", "--workdir", work, *argv]
    try:
        with open(os.path.abspath(__file__), "rb") as src:
            return subprocess.run(cmd, stdin=src, cwd=work).returncode
    finally:
        rmtree_force(work)


def run_checked(name: str, argv: list, env: dict, cwd: str) -> float:
    """One timed start; returns seconds. A failure aborts: a wrong number is worse than none."""
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env, cwd=cwd)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {p.returncode}): {shlex.join(argv)}\n"
                           + p.stderr.decode(errors="replace").strip())
    return dt


def amcr_command(spec: Optional[str]) -> list:
    if spec:
        return shlex.split(spec)
    found = shutil.which("amcr") or "/opt/amcr/venv/bin/amcr"
    if not os.access(found, os.X_OK):
        raise RuntimeError("amcr not found on PATH nor at /opt/amcr/venv/bin/amcr; use --amcr")
    return [found]


def bwrap_argv(rootfs: str) -> list:
    """Same namespaces as amcr; bwrap has no overlay and no sysfs, so it does less work."""
    return ["bwrap", "--unshare-user", "--uid", "0", "--gid", "0", "--unshare-pid",
            "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
            "--ro-bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--hostname", "amcr", "/bin/true"]


def setup_runc(work: str, rootfs: str, env: dict) -> tuple:
    """Build a rootless OCI bundle on the shared rootfs; returns (argv_for, state_dir, reason)."""
    if not shutil.which("runc", path=env.get("PATH")):
        return None, None, "runc not found on PATH"
    bundle, state = os.path.join(work, "bundle"), os.path.join(work, "runc-state")
    os.mkdir(bundle, 0o700)
    os.mkdir(state, 0o700)  # --root: XDG_RUNTIME_DIR may be unset under runuser

    def argv_for(i: object) -> list:  # runc needs a fresh container id per run
        return ["runc", "--root", state, "run", "--bundle", bundle, f"bench-{i}"]
    try:
        run_checked("runc spec", ["runc", "spec", "--rootless"], env, bundle)
        edit_runc_config(bundle, rootfs)
        run_checked("runc", argv_for("warm"), env, work)  # trial start doubles as warm-up
    except RuntimeError as e:
        return None, state, str(e)
    return argv_for, state, ""


def edit_runc_config(bundle: str, rootfs: str) -> None:
    """Point the rootless spec at the shared rootfs and add amcr's extra namespaces."""
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["root"] = {"path": rootfs, "readonly": True}
    cfg["process"]["args"] = ["/bin/true"]
    cfg["process"]["terminal"] = False
    linux = cfg.setdefault("linux", {})
    have = {ns["type"] for ns in linux.setdefault("namespaces", [])}
    linux["namespaces"] += [{"type": t} for t in ("network", "ipc", "uts", "cgroup") if t not in have]
    linux.pop("resources", None)  # rootless on cgroup v1: no limits, no cgroupsPath
    linux.pop("cgroupsPath", None)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


def runc_cleanup(state: Optional[str], env: dict) -> None:
    """`runc run` deletes its container on exit; force-delete any a failure left."""
    if not state or not os.path.isdir(state):
        return
    p = subprocess.run(["runc", "--root", state, "list", "-q"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    for cid in p.stdout.split():
        subprocess.run(["runc", "--root", state, "delete", "-f", cid], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True)


def summarize(samples: list) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": round(statistics.median(ms), 2),
            "p90_ms": round(ms[math.ceil(0.9 * len(ms)) - 1], 2),  # nearest rank
            "min_ms": round(ms[0], 2), "samples_ms": [round(x, 2) for x in ms]}


def bench(args: argparse.Namespace, work: str, env: dict) -> int:
    user = pwd.getpwuid(os.getuid()).pw_name
    home = os.path.join(work, "amcr-home")
    os.mkdir(home, 0o700)
    env["AMCR_HOME"] = home
    amcr = amcr_command(args.amcr) + ["run", "--image", "busybox", "--", "/bin/true"]
    run_checked("amcr (warm-up, builds the busybox image)", amcr, env, work)
    rootfs = os.path.join(home, "images", "busybox", "rootfs")
    if not os.path.lexists(os.path.join(rootfs, "bin", "true")):
        raise RuntimeError(f"amcr warm-up did not leave a busybox rootfs at {rootfs}")

    # "amcr" is the default (seccomp default profile); the other profiles run
    # beside it so their cost per start is measured in the same conditions.
    base = amcr_command(args.amcr) + ["run", "--image", "busybox"]
    tools: list = [("amcr", lambda i: amcr)]
    for profile in ("strict", "unconfined"):
        variant = base + ["--seccomp", profile, "--", "/bin/true"]
        run_checked(f"amcr --seccomp {profile} (warm-up)", variant, env, work)
        tools.append((f"amcr-{profile[:5]}", lambda i, v=variant: v))
    skipped: dict = {}
    if shutil.which("bwrap", path=env.get("PATH")):
        try:
            run_checked("bwrap", bwrap_argv(rootfs), env, work)
            tools.append(("bwrap", lambda i: bwrap_argv(rootfs)))
        except RuntimeError as e:
            skipped["bwrap"] = str(e)
    else:
        skipped["bwrap"] = "bwrap not found on PATH"
    state = None
    try:
        runc_for, state, why = setup_runc(work, rootfs, env)
        if runc_for:
            tools.append(("runc", runc_for))
        else:
            skipped["runc"] = why
        for name, why in skipped.items():
            print(f"warning: {name} cannot run here, measuring without it:\n  "
                  + why.replace("\n", "\n  "), file=sys.stderr)

        times: dict = {name: [] for name, _ in tools}
        for i in range(args.runs):
            k = i % len(tools)
            for name, argv_for in tools[k:] + tools[:k]:
                times[name].append(run_checked(name, argv_for(i), env, work))
    finally:
        runc_cleanup(state, env)

    stats = {name: summarize(s) for name, s in times.items()}
    print(f"cold start, /bin/true, busybox rootfs, user {user}, "
          f"{args.runs} runs each (interleaved)")
    print(f"{'tool':<12}{'median':>10}{'p90':>10}{'min':>10}")
    for name, s in stats.items():
        print(f"{name:<12}" + "".join(f"{s[k]:>7.1f} ms" for k in ("median_ms", "p90_ms", "min_ms")))
    ratios = {f"amcr/{b}": round(stats["amcr"]["median_ms"] / stats[b]["median_ms"], 2)
              for b in ("runc", "bwrap") if b in stats}
    for key, r in ratios.items():
        print(f"ratio {key} {r:.2f}" + ("   (target <= 1.0)" if key == "amcr/runc" else ""))
    unconfined = stats["amcr-uncon"]["median_ms"]
    for name in ("amcr", "amcr-stric"):
        label = "default" if name == "amcr" else "strict"
        print(f"seccomp {label} costs {stats[name]['median_ms'] - unconfined:+.1f} ms per start "
              "over unconfined (target <= 2 ms)")
    print(f"amcr: {shlex.join(amcr)}")
    print("notes: amcr adds an overlay writable layer and sysfs; bwrap has no overlay "
          "(read-only bind of the rootfs, no sysfs); runc: read-only rootfs, no overlay, "
          "no cgroup limits (linux.resources removed)")
    for name, why in skipped.items():
        print(f"{name}: not measured: {why.splitlines()[-1] if why else 'unknown'}")
    if args.json:
        print(json.dumps({"runs": args.runs, "user": user, "command": "/bin/true",
                          "tools": stats, "ratios": ratios, "skipped": skipped}, indent=2))
    return 0


def main(argv: Optional[list] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if os.geteuid() == 0:
        if args.workdir:
            sys.exit("refusing to measure as root: --user must be unprivileged")
        return reexec_as(args.user, argv)
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in args.env)
    own = args.workdir is None
    work = args.workdir or tempfile.mkdtemp(prefix="amcr-bench-", dir="/tmp")
    try:
        return bench(args, work, env)
    except RuntimeError as e:
        print(f"bench_start: {e}", file=sys.stderr)
        return 1
    finally:
        if own:
            rmtree_force(work)


if __name__ == "__main__":
    sys.exit(main())
