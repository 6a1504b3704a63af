"""Seccomp profiles as data: ``default``, ``strict``, and docker's JSON format.

``default`` follows docker's default profile in effect (an allowlist whose
default answer is EPERM, namespace-creating and kernel-administration calls
only with the capability that would make them meaningful, ``clone3`` answering
ENOSYS so glibc falls back to ``clone``); ``strict`` is a short whitelist for
shells, coreutils and interpreters whose default is to kill the process.
Terminal-injection ioctls are refused by a second filter in every profile but
``unconfined`` (see :mod:`amcr.kernel.seccomp`).
"""
from __future__ import annotations

import errno

from amcr._record import Record
from amcr.errors import SpecError

CLONE_NAMESPACE_FLAGS = 0x7E020000   # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


class Rule(Record):
    """One action for some syscalls, possibly only for some arguments, caps or arches."""

    __slots__ = ("names", "action", "errno", "args", "caps", "not_caps", "arches")
    _defaults = {"errno": errno.EPERM, "args": (), "caps": (), "not_caps": (), "arches": ()}
    names: tuple[str, ...]
    action: str                    # allow | errno | kill | trap | log
    errno: int
    args: tuple[tuple[int, str, int, int], ...]   # (index, op, value, mask-or-value2)
    caps: tuple[str, ...]          # only when the container has all of these
    not_caps: tuple[str, ...]      # only when it has none of these
    arches: tuple[str, ...]        # only on these (uname -m names)


class Profile(Record):
    __slots__ = ("name", "default_action", "default_errno", "rules")
    name: str
    default_action: str
    default_errno: int
    rules: tuple[Rule, ...]

    def applicable(self, caps: frozenset[str], arch: str) -> list[Rule]:
        return [r for r in self.rules
                if all(c in caps for c in r.caps) and not any(c in caps for c in r.not_caps)
                and (not r.arches or arch in r.arches)]


_BASE = """
accept accept4 access alarm bind brk capget capset chdir chmod chown clock_getres
clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait eventfd eventfd2 execve
execveat exit exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod
fchmodat fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr
fstat fstatfs fsync ftruncate futex futex_waitv futimesat getcpu getcwd getdents getdents64
getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid getppid
getpriority getrandom getresgid getresuid getrlimit get_robust_list getrusage getsid
getsockname getsockopt gettid gettimeofday getuid getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents ioprio_get
ioprio_set io_setup io_submit kill landlock_add_rule landlock_create_ruleset
landlock_restrict_self lchown lgetxattr link linkat listen listxattr llistxattr lremovexattr
lseek lsetxattr lstat madvise membarrier memfd_create mincore mkdir mkdirat mknod mknodat mlock
mlock2 mlockall mmap mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend
mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at
nanosleep newfstatat open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
pkey_free pkey_mprotect poll ppoll prctl pread64 preadv preadv2 prlimit64 process_mrelease
pselect6 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recvfrom recvmmsg
recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
semctl semget semop semtimedop sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid
setgroups setitimer setpgid setpriority setregid setresgid setresuid setreuid setrlimit
set_robust_list setsid setsockopt set_tid_address setuid setxattr shmat shmctl shmdt shmget
shutdown sigaltstack signalfd signalfd4 socketpair splice stat statfs statx symlink symlinkat
sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime times tkill truncate
umask uname unlink unlinkat utime utimensat utimes vfork vmsplice wait4 waitid write writev
ptrace process_vm_readv process_vm_writev
""".split()

#: (syscalls, capability that makes them meaningful) — refused (EPERM) without it
_CAP_GATED: tuple[tuple[str, str], ...] = (
    ("bpf clone fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr "
     "move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns "
     "syslog umount2 unshare", "SYS_ADMIN"),
    ("reboot", "SYS_BOOT"), ("chroot", "SYS_CHROOT"),
    ("delete_module init_module finit_module", "SYS_MODULE"), ("acct", "SYS_PACCT"),
    ("kcmp pidfd_getfd process_madvise", "SYS_PTRACE"), ("iopl ioperm", "SYS_RAWIO"),
    ("settimeofday clock_settime clock_adjtime adjtimex", "SYS_TIME"),
    ("vhangup", "SYS_TTY_CONFIG"),
    ("get_mempolicy mbind set_mempolicy", "SYS_NICE"), ("syslog", "SYSLOG"),
    ("bpf", "BPF"), ("perf_event_open", "PERFMON"),
    ("open_by_handle_at", "DAC_READ_SEARCH"),
)


def _default_rules() -> tuple[Rule, ...]:
    rules = [Rule(tuple(_BASE), "allow"),
             # AF_VSOCK (40) reaches the hypervisor's host side
             Rule(("socket",), "allow", args=((0, "ne", 40, 0),)),
             Rule(("arch_prctl", "modify_ldt"), "allow", arches=("x86_64",)),
             # clone without namespace flags: new namespaces need SYS_ADMIN
             Rule(("clone",), "allow", args=((0, "masked_eq", 0, CLONE_NAMESPACE_FLAGS),),
                  not_caps=("SYS_ADMIN",)),
             # clone3 hides its flags in memory a filter cannot read: ENOSYS, and glibc
             # falls back to clone
             Rule(("clone3",), "errno", errno=errno.ENOSYS, not_caps=("SYS_ADMIN",))]
    for persona in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        rules.append(Rule(("personality",), "allow", args=((0, "eq", persona, 0),)))
    for names, cap in _CAP_GATED:
        rules.append(Rule(tuple(names.split()), "allow", caps=(cap,)))
    return tuple(rules)


_STRICT = """
read write readv writev pread64 pwrite64 open openat close stat fstat lstat newfstatat statx
statfs fstatfs lseek mmap mprotect munmap brk mremap madvise rt_sigaction rt_sigprocmask
rt_sigreturn rt_sigsuspend sigaltstack ioctl access faccessat faccessat2 pipe pipe2 select
pselect6 poll ppoll dup dup2 dup3 nanosleep clock_nanosleep clock_gettime clock_getres
gettimeofday getpid getppid gettid getuid geteuid getgid getegid getgroups getresuid getresgid
getpgrp getpgid setpgid getsid setsid getrlimit prlimit64 getrusage times sysinfo uname fcntl
flock fsync fdatasync ftruncate truncate getdents64 getcwd chdir fchdir rename renameat
renameat2 mkdir mkdirat rmdir unlink unlinkat link linkat symlink symlinkat readlink readlinkat
chmod fchmod fchmodat chown fchown fchownat lchown umask utimensat kill tgkill tkill wait4
waitid exit exit_group execve fork vfork set_tid_address set_robust_list get_robust_list futex
arch_prctl rseq getrandom sched_yield sched_getaffinity epoll_create1 epoll_ctl epoll_wait
epoll_pwait eventfd2 sendfile copy_file_range splice socketpair prctl alarm setitimer
getitimer restart_syscall membarrier
""".split()


def _strict_rules() -> tuple[Rule, ...]:
    return (Rule(tuple(_STRICT), "allow"),
            Rule(("clone",), "allow", args=((0, "masked_eq", 0, CLONE_NAMESPACE_FLAGS),)),
            Rule(("clone3",), "errno", errno=errno.ENOSYS))


DEFAULT = Profile("default", "errno", errno.EPERM, _default_rules())
STRICT = Profile("strict", "kill", 0, _strict_rules())
BUILTIN = {"default": DEFAULT, "strict": STRICT}

# --- docker's JSON profile format ------------------------------------------------

_DOCKER_ACTIONS = {"SCMP_ACT_ALLOW": "allow", "SCMP_ACT_ERRNO": "errno",
                   "SCMP_ACT_KILL": "kill", "SCMP_ACT_KILL_PROCESS": "kill",
                   "SCMP_ACT_KILL_THREAD": "kill", "SCMP_ACT_TRAP": "trap",
                   "SCMP_ACT_LOG": "log"}
_DOCKER_OPS = {"SCMP_CMP_NE": "ne", "SCMP_CMP_LT": "lt", "SCMP_CMP_LE": "le",
               "SCMP_CMP_EQ": "eq", "SCMP_CMP_GE": "ge", "SCMP_CMP_GT": "gt",
               "SCMP_CMP_MASKED_EQ": "masked_eq"}
_DOCKER_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


def load_docker_profile(path: str) -> Profile:
    """Read a docker/podman seccomp JSON profile; one clear error for a bad file."""
    import json   # only here: json imports re and enum (milliseconds per start)

    def bad(what: str) -> SpecError:
        return SpecError(f"seccomp profile {path}: {what}",
                         hint="use docker's JSON format (defaultAction, syscalls[])")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise SpecError(f"cannot read seccomp profile {path}: {exc.strerror}",
                        hint="check the path") from exc
    except ValueError as exc:
        raise bad(f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("defaultAction") not in _DOCKER_ACTIONS:
        raise bad("missing or unknown defaultAction")
    rules = []
    for i, entry in enumerate(data.get("syscalls") or []):
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
        action = _DOCKER_ACTIONS.get(entry.get("action", ""))
        if not names or action is None:
            raise bad(f"syscalls[{i}] needs names and a known action")
        args = []
        for a in entry.get("args") or []:
            op = _DOCKER_OPS.get(a.get("op", ""))
            if op is None:
                raise bad(f"syscalls[{i}] has an unknown op {a.get('op')!r}")
            # docker's MASKED_EQ: value is the mask, valueTwo the expected value
            value, two = int(a.get("value", 0)), int(a.get("valueTwo", 0))
            args.append((int(a["index"]), op, two, value) if op == "masked_eq"
                        else (int(a["index"]), op, value, two))
        inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
        if exc.get("arches"):
            continue   # rare, arch-specific exclusions: the rule is not for us
        rules.append(Rule(tuple(names), action, errno=int(entry.get("errnoRet") or errno.EPERM),
                          args=tuple(args),
                          caps=tuple(c.removeprefix("CAP_") for c in inc.get("caps") or ()),
                          not_caps=tuple(c.removeprefix("CAP_") for c in exc.get("caps") or ()),
                          arches=tuple(_DOCKER_ARCH.get(a, a) for a in inc.get("arches") or ())))
    return Profile(path, _DOCKER_ACTIONS[data["defaultAction"]],
                   int(data.get("defaultErrnoRet") or errno.EPERM), tuple(rules))
