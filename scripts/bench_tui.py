#!/usr/bin/env python3
"""The multiplexer against tmux: throughput, keystroke echo latency, idle CPU.

Why this shape: issue 5 promises that ``amcr up`` feels as fast as tmux, so each
figure is measured the same way for both, in one run, at 200x50, and printed
with the ratio. Both run on a real PTY that this script drains continuously,
like a terminal would (a tmux with no attached client renders nothing, so the
tmux client is attached too). Time is taken where the user sees it: when the
bytes reach the terminal. amcr's ``cat`` runs in a busybox container (the file
bound in read-only), tmux's on the host: that is the comparison the issue asks
for. Both run the same shell, busybox sh (tmux's from the host's busybox): an
echo is then the same shell's work on both sides (dash, Debian's /bin/sh,
leaves the echo to the kernel and is 0.13 ms quicker at it). Run as root, the
script re-executes itself as ``--user`` via runuser, piping its own source on
stdin (the user cannot read the checkout).

Each tool runs in several sessions, tmux and amcr alternating (``--sessions``):
on this 2-core VM a session's echo latency depends on where the scheduler
happens to place its processes, and stays so for the whole session (per-session
p50s of the same build ranged 0.4-1.6 ms), so one session per tool is a coin
flip. Latencies and cat times are pooled over the sessions; the per-session
p50s are printed too. Idle CPU is measured in the first session.

    python3 scripts/bench_tui.py [--amcr CMD] [--sessions 5] [--keys 100] [--idle 10] [--runs 2]
    ... --amcr "/opt/amcr/venv/bin/python -m cProfile -o /tmp/p/amcr.prof /opt/amcr/venv/bin/amcr"
"""
from __future__ import annotations

import argparse
import fcntl
import math
import os
import pwd
import pty
import random
import re
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from typing import Callable, Optional

IDENTITY_VARS = {"HOME", "USER", "LOGNAME", "SHELL", "MAIL", "PWD", "OLDPWD", "XDG_RUNTIME_DIR",
                 "TMUX", "TMUX_PANE"}
ROWS, COLS = 50, 200
SIZE = 20_000_000                       # "20 MB", and MB/s below are 10^6 bytes a second
# Typed characters for the latency test: none occurs in amcr's tab bar or status
# line, nor in tmux's default status line (months, "C-b", K/M/G/T units), and "H"
# is left out as the most common CSI final byte.
KEYS = "EILPQRUVWXYZ"
MARK = rb"E(?:\x1b\[[0-9;]*m)*N(?:\x1b\[[0-9;]*m)*D-MARK"   # echo EN''D-MARK prints it


def parse_args(argv: list) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--amcr", default="/opt/amcr/venv/bin/amcr", help="amcr command, shlex-split")
    p.add_argument("--user", default="amcrtest", help="unprivileged user when started as root")
    p.add_argument("--sessions", type=int, default=5,
                   help="sessions per tool, alternating with the other (default 5)")
    p.add_argument("--keys", type=int, default=100, help="keystrokes per session (default 100)")
    p.add_argument("--idle", type=float, default=10.0, help="idle CPU window, s (default 10)")
    p.add_argument("--runs", type=int, default=2, help="cat runs per session (default 2)")
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if min(a.keys, a.runs, a.sessions) < 1 or a.idle <= 0:
        p.error("--sessions, --keys, --runs and --idle must be positive")
    return a


def reexec_as(user: str, argv: list) -> int:
    """Root parent: measure as ``user``; the work dir is made here so root can remove it."""
    pw = pwd.getpwnam(user)
    work = tempfile.mkdtemp(prefix="amcr-bench-tui-", dir="/tmp")
    os.chown(work, pw.pw_uid, pw.pw_gid)
    env = [f"{k}={v}" for k, v in os.environ.items() if k not in IDENTITY_VARS and "=" not in k]
    cmd = ["runuser", "-u", user, "--", "env", *env, "python3", "-", "--workdir", work, *argv]
    try:
        with open(os.path.abspath(__file__), "rb") as src:
            return subprocess.run(cmd, stdin=src, cwd=work, timeout=1800).returncode
    finally:
        rmtree(work)


def rmtree(path: str) -> None:
    """Remove the work dir even where overlay left mode-000 dirs (``work/work``)."""
    subprocess.run(["chmod", "-R", "u+rwX", path], stderr=subprocess.DEVNULL, timeout=60)
    shutil.rmtree(path, ignore_errors=True)


def make_file(path: str) -> None:
    """seq-style lines with one in seven a longer line of words (40-180 columns) and
    one in 499 wider than the screen (it wraps). No capitals: the end marker's
    letters then differ from whatever a redraw replaces, so it reaches the stream whole."""
    rnd, words = random.Random(5), "lorem ipsum dolor sit amet elit sed do eiusmod".split()
    out, total, i = [], 0, 0
    while total < SIZE:
        i += 1
        extra = (" " + "x" * 250 if i % 499 == 0 else " " + " ".join(
            rnd.choice(words) for _ in range(rnd.randint(6, 30)))[:175] if i % 7 == 0 else "")
        out.append(f"{i}{extra}\n")
        total += len(out[-1])
    with open(path, "w") as f:
        f.write("".join(out)[:SIZE - 1] + "\n")


class Term:
    """A program on a 200x50 PTY whose master a thread drains all the time; the thread
    also watches for one pattern and stamps the moment its bytes arrive."""

    def __init__(self, argv: list, env: dict, cwd: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=cwd, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.last, self.tail = time.perf_counter(), b""   # tail: for error messages
        self.lock, self.found, self.found_at = threading.Lock(), threading.Event(), 0.0
        self.watch: Optional[re.Pattern] = None
        self.seen = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data, now = os.read(self.master, 1 << 16), time.perf_counter()
            except OSError:             # EIO: the program is gone
                return
            if not data:
                return
            with self.lock:
                self.last, self.tail = now, (self.tail + data)[-2000:]
                if self.watch is not None and not self.found.is_set():
                    self.seen += data
                    if self.watch.search(self.seen):
                        self.found_at = now     # stamped here, as the bytes arrive
                        self.found.set()
                    del self.seen[:-256]  # a match spans at most this much

    def expect(self, pattern: bytes, send: bytes, timeout: float) -> float:
        """Send ``send``, wait for ``pattern`` in the output after it; seconds taken."""
        with self.lock:
            self.watch, self.seen = re.compile(pattern), bytearray()
            self.found.clear()
        t0 = time.perf_counter()
        os.write(self.master, send)
        if not self.found.wait(timeout):
            raise RuntimeError(f"no {pattern!r} within {timeout:g} s after sending {send!r}; "
                               f"last output: {self.tail[-600:]!r}")
        return self.found_at - t0

    def quiet(self, gap: float = 0.05, limit: float = 2.0) -> None:
        """Wait until nothing has arrived for ``gap`` s (at most ``limit`` s)."""
        end = time.perf_counter() + limit
        while time.perf_counter() < end and time.perf_counter() - self.last < gap:
            time.sleep(gap / 4)

    def close(self, grace: float) -> bool:
        """Wait ``grace`` s for the program to exit, else SIGKILL its process group;
        whether it exited by itself."""
        try:
            self.proc.wait(grace)
            return True
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            return False
        finally:
            os.close(self.master)


def stat(pid: int) -> list:
    """/proc/PID/stat fields after the command name: [0] state, [11] utime, [12] stime."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return ["X"]                    # gone


def descendants(root: int) -> set:
    """Every process below ``root`` (containers included), from /proc's parent links."""
    kids: dict = {}
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        if len(f := stat(pid)) > 1:
            kids.setdefault(int(f[1]), []).append(pid)
    out, todo = set(), [root]
    while todo:
        new = kids.get(todo.pop(), [])
        out.update(new)
        todo += new
    return out


def idle_cpu(pids: list, seconds: float) -> float:
    """% of one core the processes used over ``seconds``, from utime+stime."""
    def cpu() -> float:
        return sum(int(f[11]) + int(f[12]) for f in map(stat, pids)) / os.sysconf("SC_CLK_TCK")
    t0, c0 = time.perf_counter(), cpu()
    time.sleep(seconds)
    return (cpu() - c0) / (time.perf_counter() - t0) * 100


def reap(tree: set) -> None:
    """amcr stops its containers on quit; give them 5 s, then SIGKILL what is left
    (the pids were recorded while amcr ran: nothing else of the user is touched)."""
    end = time.monotonic() + 5
    while time.monotonic() < end and any(stat(p)[0] not in "XZ" for p in tree):
        time.sleep(0.1)
    left = [p for p in tree if stat(p)[0] not in "XZ"]
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    if left:
        print(f"bench_tui: {len(left)} processes outlived amcr by 5 s (killed)", file=sys.stderr)


def latencies(term: Term, n: int) -> list:
    """Type one character at the idle prompt, time its echo, erase it, wait for quiet.
    The lookbehind keeps the letter from matching a CSI final byte or ESC letter."""
    keys = [k for k in KEYS if k.lower() not in os.uname().nodename.lower()]
    out = []
    for i in range(n):
        k = keys[i % len(keys)].encode()
        term.quiet(0.1)
        out.append(term.expect(rb"(?<![\x1b\[;0-9?>])" + k, k, 5.0))
        term.quiet(0.05)
        term.expect(rb"[\x08 ]|\x1b\[[0-9]*[PKXD]", b"\x7f", 5.0)
    return out


def session(term: Term, path: str, args: argparse.Namespace,
            pids_for_idle: Callable[[], list], idle: bool) -> dict:
    """One tool: ready check, idle CPU (``idle``), latency, then throughput (idle
    first: a screen and scrollback full of the file would be a different idle)."""
    term.expect(rb"R(?:\x1b\[[0-9;]*m)*EADY-9", b"echo REA''DY-9\r", 120.0)
    pids = pids_for_idle()
    term.quiet(0.5, 5.0)
    time.sleep(2.0)                     # let start-up work (first stats samples) settle
    res: dict = {"idle": idle_cpu(pids, args.idle) if idle else None}
    res["lat"] = latencies(term, args.keys)
    res["secs"] = []
    for _ in range(args.runs):
        # clear first: a redraw only writes the cells that changed, so the marker's
        # row must not already hold a marker from the run before
        term.expect(rb"\x1b\[", b"clear\r", 10.0)
        term.quiet(0.3, 5.0)
        os.write(term.master, f"cat {path}; echo EN''D-MARK".encode())
        term.quiet(0.3, 5.0)
        res["secs"].append(term.expect(MARK, b"\r", 600.0))
        term.quiet(0.3, 10.0)
    return res


def run_amcr(args: argparse.Namespace, work: str, data: str, idle: bool) -> dict:
    """amcr up a b c, three busybox shells with the data dir bound in; pane a does the work."""
    home = tempfile.mkdtemp(prefix="amcr-home-", dir=work)
    cfg = os.path.join(work, "amcr.toml")
    with open(cfg, "w") as f:
        f.write(f'[defaults]\nimage = "busybox"\ncommand = ["/bin/sh"]\n'
                f'volumes = ["{data}:/data:ro"]\n')
    env = dict(os.environ, AMCR_HOME=home, TERM="xterm-256color")
    term = Term(shlex.split(args.amcr) + ["up", "-f", cfg, "a", "b", "c"], env, work)
    tree: set = set()
    quitting = False
    try:
        def pids() -> list:
            tree.update(descendants(term.proc.pid))
            return [term.proc.pid]
        res = session(term, "/data/big.txt", args, pids, idle)
        res["procs"] = len(tree)
        term.quiet(0.2, 5.0)
        os.write(term.master, b"\x02q")   # C-b q, then y to confirm
        term.quiet(0.2, 3.0)
        os.write(term.master, b"y")
        quitting = True
    finally:
        tree.update(descendants(term.proc.pid))
        if not term.close(20.0 if quitting else 0.0) and quitting:
            print("bench_tui: amcr did not quit on C-b q y; killed it", file=sys.stderr)
        reap(tree)
    return res


def host_shell() -> str:
    """The shell amcr's containers run (busybox sh, with its line editing), from the
    host's busybox: an echo then costs the same shell's work on both sides. Without
    busybox, /bin/sh (dash echoes in the kernel's line discipline: cheaper)."""
    busybox = shutil.which("busybox")
    return f"{busybox} sh" if busybox else "/bin/sh"


def run_tmux(args: argparse.Namespace, work: str, data: str, idle: bool) -> dict:
    """tmux 3 windows of the same shell on the host, the client attached to our PTY."""
    sock = f"bench{os.getpid()}"
    shell = host_shell()
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(TERM="xterm-256color", TMUX_TMPDIR=work, SHELL="/bin/sh")
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    # The shell as separate arguments: tmux runs them without a shell in between.
    term = Term(tmux + ["new-session", "-s", "b", "-x", str(COLS), "-y", str(ROWS)]
                + shell.split(), env, work)

    def ctl(*a: str) -> str:
        return subprocess.run(tmux + list(a), env=env, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        def pids() -> list:
            for _ in range(2):
                ctl("new-window", "-d", *shell.split())
            return [int(ctl("display-message", "-p", "#{pid}")), term.proc.pid]
        res = session(term, os.path.join(data, "big.txt"), args, pids, idle)
    finally:
        ctl("kill-server")
        term.close(10.0)
    return res


def bench(args: argparse.Namespace, work: str) -> int:
    data = os.path.join(work, "data")
    os.mkdir(data)
    make_file(os.path.join(data, "big.txt"))
    size = os.path.getsize(os.path.join(data, "big.txt"))
    if not shutil.which("tmux"):
        raise RuntimeError("tmux not found on PATH")
    load0 = f"{os.getloadavg()[0]:.2f}"
    runs: dict = {"tmux": [], "amcr": []}
    for i in range(args.sessions):
        runs["tmux"].append(run_tmux(args, work, data, idle=i == 0))
        runs["amcr"].append(run_amcr(args, work, data, idle=i == 0))
    r: dict = {}
    for name, sessions in runs.items():
        lat = sorted(x for s in sessions for x in s["lat"])
        secs = [x for s in sessions for x in s["secs"]]
        r[name] = {"p50": statistics.median(lat) * 1000,
                   "p99": lat[math.ceil(0.99 * len(lat)) - 1] * 1000,       # nearest rank
                   "each": [statistics.median(s["lat"]) * 1000 for s in sessions],
                   "secs": secs, "mbs": size / statistics.median(secs) / 1e6,
                   "idle": sessions[0]["idle"], "procs": sessions[0].get("procs")}
    a, t = r["amcr"], r["tmux"]
    ver = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    print(f"amcr up vs {ver} at {COLS}x{ROWS}, user {pwd.getpwuid(os.getuid()).pw_name}, "
          f"amcr: {args.amcr}\nshells: busybox sh in amcr, {host_shell()} in tmux; "
          f"{args.sessions} sessions each, alternating; load average {load0} at start, "
          f"{os.getloadavg()[0]:.2f} at end, {os.cpu_count()} CPUs\n"
          f"1. throughput, cat of a {size / 1e6:.0f} MB text file until its end marker is "
          f"drawn, median of {len(a['secs'])}")
    for n, v in r.items():
        print(f"   {n}{v['mbs']:8.1f} MB/s  (runs: {' '.join(f'{x:.2f}' for x in v['secs'])} s)")
    print(f"   ratio amcr/tmux {a['mbs'] / t['mbs']:.2f}   (target >= 1.0)\n"
          f"2. keystroke echo latency, {args.keys} keystrokes at an idle prompt per session")
    for n, v in r.items():
        print(f"   {n}  p50 {v['p50']:6.2f} ms   p99 {v['p99']:6.2f} ms   (p50 per session: "
              f"{' '.join(f'{x:.2f}' for x in v['each'])})")
    print(f"   ratio amcr/tmux p50 {a['p50'] / t['p50']:.2f}  p99 {a['p99'] / t['p99']:.2f}   "
          f"(target <= 1.0)\n3. idle CPU over {args.idle:g} s, three idle shells, % of a core\n"
          f"   amcr {a['idle']:6.2f} %  (the amcr process; the {a['procs']} processes below it, "
          f"shells and a helper, not counted)   (target <= 0.5 %)\n"
          f"   tmux {t['idle']:6.2f} %  (the tmux server and its client)")
    return 0


def main(argv: Optional[list] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if os.geteuid() == 0:
        if args.workdir:
            sys.exit("refusing to measure as root: --user must be unprivileged")
        return reexec_as(args.user, argv)
    work = args.workdir or tempfile.mkdtemp(prefix="amcr-bench-tui-", dir="/tmp")
    try:
        return bench(args, work)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"bench_tui: {e}", file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
