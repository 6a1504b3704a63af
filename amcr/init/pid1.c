/*
 * amcr.init._pid1: clone a container's PID 1 and run its set-up program in C.
 *
 * Why C: a container's PID 1 used to set itself up in Python, cloned from a
 * Python process. That cost ~6.8 ms of CPU per container here: the
 * interpreter's after-fork hooks, some 470 copy-on-write faults of the
 * cloned heap, 2.4 ms of Python running the steps, and the teardown of a
 * 10 MB address space at exec (docs/startup.md). Here the child never runs
 * Python again: it runs a *program* the parent built (amcr/init/program.py),
 * a flat list of operations (mount this, bind that, open the terminal, drop
 * capabilities, exec), touching a handful of pages.
 *
 * All decisions stay in Python. This file only does system calls, in the
 * order the program says, and reports the first failure as
 * "step\0errno\0message" on the error pipe (the same format as ever).
 *
 * The child runs after a raw clone3 of a possibly multithreaded process: it
 * calls only async-signal-safe functions and system-call wrappers, never
 * malloc, stdio or anything that takes a lock; set*id go through syscall(2)
 * directly (glibc's wrappers would signal threads that exist only in the
 * parent).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>   /* the ST_* flags */
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <termios.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#define CLONE_PARENT_FLAG 0x00008000ULL

/* Operation codes: the same numbers as amcr/init/program.py's Op. */
enum {
    OP_STEP = 1,        /* name: the step a failure is reported under */
    OP_WRITE_FD,        /* fd index, data */
    OP_UNSHARE,         /* flags */
    OP_EXPECT,          /* tag: wait for this message on the sync socket */
    OP_WRITE_FILE,      /* path, data */
    OP_MOUNT,           /* source, target, fstype, flags, data ("" = NULL) */
    OP_BIND,            /* source, target, readonly, recursive */
    OP_MKDIR,           /* path, mode */
    OP_MOUNT_IN,        /* root, path inside, source, fstype, flags, data */
    OP_BIND_IN,         /* root, path inside, source, readonly */
    OP_SYMLINK,         /* target, link path */
    OP_CREATE_FILE,     /* path, mode, data */
    OP_SETXATTR,        /* path, name */
    OP_UMOUNT,          /* path, flags */
    OP_MASK,            /* path */
    OP_READONLY,        /* path */
    OP_PIVOT_ROOT,      /* new root */
    OP_MOVE_ROOT,       /* new root */
    OP_HOSTNAME,        /* name */
    OP_LOOPBACK,        /* - */
    OP_WORKDIR,         /* path */
    OP_TERMINAL,        /* rows, cols (0, 0: leave the size) */
    OP_STDIO,           /* fd index for 0, 1, 2 */
    OP_IDENTITY,        /* clear supplementary groups (0/1) */
    OP_RLIMIT,          /* resource, soft, hard */
    OP_CLOEXEC_FROM,    /* first fd */
    OP_CAPABILITIES,    /* numbers to drop from the bounding set (bytes), sets to keep */
    OP_NO_NEW_PRIVS,    /* - */
    OP_SYNC,            /* ready tag, go tag */
    OP_SECCOMP,         /* BPF program */
    OP_EXEC,            /* argc, argv..., env... */
    OP_LAST
};

/* Flags of an operation. */
#define F_OPTIONAL 1    /* a failure clears the "ok" register instead of failing */
#define F_IF_FAILED 2   /* run only when "ok" is clear (the previous optional failed) */
#define F_NO_SYMLINK 4  /* MOUNT_IN, BIND_IN: the target must be its plain path inside the
                         * root, no symlink on the way (/proc, /dev, /sys: later operations
                         * name paths below them) */

/* Per operation: how many arguments it takes, and how a failure it returns
 * (rather than reports itself) is worded: what failed, and which argument
 * names the path (-1: none). */
static const struct {
    uint8_t nargs;
    const char *what;
    int8_t path;
} OPS[OP_LAST] = {
    [OP_STEP] = {1}, [OP_WRITE_FD] = {2}, [OP_UNSHARE] = {1}, [OP_EXPECT] = {1},
    [OP_WRITE_FILE] = {2}, [OP_MOUNT] = {5, "mount", 1}, [OP_BIND] = {4, "bind", 0},
    [OP_MKDIR] = {2, "mkdir", 0}, [OP_MOUNT_IN] = {6, "mount", 1}, [OP_BIND_IN] = {4, "bind", 1},
    [OP_SYMLINK] = {2, "symlink", 1}, [OP_CREATE_FILE] = {3, "create", 0},
    [OP_SETXATTR] = {2, "setxattr", 0}, [OP_UMOUNT] = {2, "umount", 0}, [OP_MASK] = {1, "mask", 0},
    [OP_READONLY] = {1, "bind", 0}, [OP_PIVOT_ROOT] = {1, "pivot_root", 0},
    [OP_MOVE_ROOT] = {1, "move the root", 0}, [OP_HOSTNAME] = {1, "sethostname", -1},
    [OP_LOOPBACK] = {0, "bring up lo", -1}, [OP_WORKDIR] = {1}, [OP_TERMINAL] = {2},
    [OP_STDIO] = {3}, [OP_IDENTITY] = {1}, [OP_RLIMIT] = {3}, [OP_CLOEXEC_FROM] = {1},
    [OP_CAPABILITIES] = {2}, [OP_NO_NEW_PRIVS] = {0}, [OP_SYNC] = {2}, [OP_SECCOMP] = {1},
    [OP_EXEC] = {2},    /* at least */
};

#define MAX_FDS 64
#define PATHBUF (PATH_MAX * 2)

/* The child's state: all on the stack of the cloned thread or static (the
 * child has its own copy of this module's statics). */
static const char *g_step = "start";
static int g_errfd = -1;
static int g_sock = -1;
static const int *g_fds;
static int g_nfds;
static int g_master = -1;
static const char *g_root_method = "pivot_root";

typedef struct {
    const char *s;      /* points into the program; NUL-terminated */
    uint32_t len;
} arg_t;

/* --- reporting ------------------------------------------------------------ */

static size_t put(char *buf, size_t at, size_t cap, const char *s, size_t n)
{
    if (at >= cap)
        return at;
    if (n > cap - at)
        n = cap - at;
    memcpy(buf + at, s, n);
    return at + n;
}

/* "step\0errno\0what path" in one write (below PIPE_BUF, so atomic). */
static void report(int err, const char *what, const char *path)
{
    char buf[3800];
    char digits[16];
    size_t at = 0;
    int i = 0, e = err < 0 ? 0 : err;
    char tmp[16];
    do {
        tmp[i++] = (char)('0' + e % 10);
        e /= 10;
    } while (e && i < 15);
    for (int j = 0; j < i; j++)
        digits[j] = tmp[i - 1 - j];
    at = put(buf, at, sizeof buf, g_step, strlen(g_step) + 1);
    at = put(buf, at, sizeof buf, digits, (size_t)i);
    at = put(buf, at, sizeof buf, "", 1);
    at = put(buf, at, sizeof buf, what, strlen(what));
    if (path) {
        at = put(buf, at, sizeof buf, " ", 1);
        at = put(buf, at, sizeof buf, path, strlen(path));
    }
    if (g_errfd >= 0) {
        ssize_t r = write(g_errfd, buf, at);
        (void)r;
    }
}

static _Noreturn void fail_err(int err, const char *what, const char *path)
{
    report(err, what, path);
    _exit(125);
}

static _Noreturn void fail(const char *what, const char *path)
{
    fail_err(errno, what, path);
}

/* --- arguments -------------------------------------------------------------- */

#define FEW 64

/* Room for `count` items of `size` bytes past what fits on the stack: fresh
 * pages, because the child must not malloc, and the caller may be a thread
 * with a small stack (a command with 60,000 environment variables). */
static void *room(size_t count, size_t size)
{
    void *p = mmap(NULL, count * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap", NULL);
    return p;
}

static uint64_t num(const arg_t *a)
{
    uint64_t v;
    if (a->len != 8)
        fail_err(EINVAL, "malformed program: a number is not 8 bytes", NULL);
    memcpy(&v, a->s, 8);
    return v;
}

static const char *opt_str(const arg_t *a)
{
    return a->len ? a->s : NULL;
}

static int fd_at(const arg_t *a)
{
    uint64_t i = num(a);
    if (i >= (uint64_t)g_nfds)
        fail_err(EBADF, "program names a descriptor it was not given", NULL);
    return g_fds[i];
}

/* --- paths inside the container's root ------------------------------------ */

static int cat3(char *out, size_t cap, const char *a, const char *b, const char *c, size_t clen)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + clen + 1 > cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memmove(out, a, la);         /* a may be out itself */
    memmove(out + la, b, lb);
    memmove(out + la + lb, c, clen);
    out[la + lb + clen] = 0;
    return 0;
}

/*
 * root + path with every symlink resolved as if root were "/": a bind target
 * inside an image must not follow the image's symlinks out to the host
 * ("/data -> /etc" would mount over the host's /etc). runc's securejoin does
 * the same walk. A missing component is taken as is (it will be created).
 */
static int join_in(const char *root, const char *path, char *out)
{
    char rest[PATHBUF], tmp[PATHBUF], done[PATHBUF], cand[PATHBUF], target[PATH_MAX];
    int links = 0;
    size_t plen = strlen(path);
    const char *q;
    struct stat st;

    if (plen >= sizeof rest) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(rest, path, plen + 1);
    done[0] = 0;
    q = rest;
    for (;;) {
        const char *e;
        size_t clen;
        while (*q == '/')
            q++;
        if (!*q)
            break;
        e = strchr(q, '/');
        clen = e ? (size_t)(e - q) : strlen(q);
        if (clen == 1 && q[0] == '.') {
            q += clen;
            continue;
        }
        if (clen == 2 && q[0] == '.' && q[1] == '.') {
            char *slash = strrchr(done, '/');
            if (slash)
                *slash = 0;
            q += clen;
            continue;
        }
        int r;
        if (cat3(cand, sizeof cand, root, done, "/", 1) < 0 ||
            cat3(cand, sizeof cand, cand, "", q, clen) < 0)
            return -1;
        r = lstat(cand, &st);
        if (r < 0 && errno != ENOENT)
            return -1;
        if (r == 0 && S_ISLNK(st.st_mode)) {
            ssize_t n;
            if (++links > 40) {
                errno = ELOOP;
                return -1;
            }
            n = readlink(cand, target, sizeof target - 1);
            if (n < 0)
                return -1;
            target[n] = 0;
            if (target[0] == '/')
                done[0] = 0;
            if (cat3(tmp, sizeof tmp, target, "/", q + clen, strlen(q + clen)) < 0)
                return -1;
            memcpy(rest, tmp, strlen(tmp) + 1);
            q = rest;
            continue;
        }
        if (cat3(done, sizeof done, done, "/", q, clen) < 0)
            return -1;
        q += clen;
    }
    return cat3(out, PATHBUF, root, done, "", 0);
}

/* mkdir -p; an existing directory is fine, anything else there is not. */
static int mkdirs(const char *path, mode_t mode)
{
    char buf[PATHBUF];
    size_t n = strlen(path);
    struct stat st;
    if (n == 0) {
        errno = ENOENT;
        return -1;
    }
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    if (stat(buf, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* With F_NO_SYMLINK: refuse a target the image made a symlink (runc: "must be
 * mounted on ordinary directory"). The operations after a /dev, /proc or /sys
 * mount name paths below it as plain strings, which the kernel would follow
 * through the image's link to the host: `/dev -> /home/you` would get device
 * nodes and a world-writable shm directory made there. */
static void plain_target(const char *root, const char *path, const char *resolved)
{
    char plain[PATHBUF];
    if (cat3(plain, sizeof plain, root, path, "", 0) < 0)
        fail("resolve", path);
    if (strcmp(plain, resolved) != 0)
        fail_err(0, "the image makes this path a symlink; refusing to mount over it:", path);
}

static void mkdirs_in(const char *root, const char *path, char *out, int flags)
{
    if (join_in(root, path, out) < 0)
        fail("resolve", path);
    if (flags & F_NO_SYMLINK)
        plain_target(root, path, out);
    if (mkdirs(out, 0755) < 0)
        fail("create", path);
}

/* A file to bind a file onto, made inside root when missing. */
static void touch_in(const char *root, const char *path, char *out, int flags)
{
    char dir[PATHBUF];
    struct stat st;
    char *slash;
    if (join_in(root, path, out) < 0)
        fail("resolve", path);
    if (flags & F_NO_SYMLINK)
        plain_target(root, path, out);
    memcpy(dir, out, strlen(out) + 1);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdirs(dir, 0755) < 0)
            fail("create", dir);
    }
    if (lstat(out, &st) == 0)
        return;
    int fd = open(out, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        fail("create", path);
    close(fd);
}

/* --- mounts ------------------------------------------------------------------ */

/* The flags a remount must repeat: inside a user namespace the kernel locks
 * the ones a mount inherited from a more privileged namespace. */
static unsigned long locked_flags(const char *path)
{
    /* statfs, not statvfs: glibc's statvfs may parse /proc/mounts (stdio,
     * malloc) where the kernel does not say ST_VALID. */
    struct statfs sf;
    unsigned long f, out = 0;
    if (statfs(path, &sf) < 0)
        fail("statfs", path);
    f = (unsigned long)sf.f_flags;
    if (f & ST_RDONLY) out |= MS_RDONLY;
    if (f & ST_NOSUID) out |= MS_NOSUID;
    if (f & ST_NODEV) out |= MS_NODEV;
    if (f & ST_NOEXEC) out |= MS_NOEXEC;
    if (f & ST_NOATIME) out |= MS_NOATIME;
    if (f & ST_NODIRATIME) out |= MS_NODIRATIME;
    if (f & ST_RELATIME) out |= MS_RELATIME;
    return out;
}

static int bind_mount(const char *src, const char *dst, int readonly, int recursive)
{
    if (mount(src, dst, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
        return -1;
    if (readonly &&
        mount(NULL, dst, NULL, locked_flags(dst) | MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return -1;
    return 0;
}

/* What docker hides: a directory gets an empty read-only tmpfs, a file /dev/null. */
static int mask(const char *path)
{
    struct stat st, target;
    if (lstat(path, &st) < 0)
        return 0;
    if (S_ISDIR(st.st_mode))
        return mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     "size=0");
    if (!S_ISLNK(st.st_mode) || stat(path, &target) == 0)
        return mount("/dev/null", path, NULL, MS_BIND, NULL);
    return 0;
}

/* --- the terminal, the sync, exec -------------------------------------------- */

static void terminal(uint64_t rows, uint64_t cols)
{
    int unlock = 0, slave;
    /* After the root switch: the container's own devpts, so `tty` names a
     * /dev/pts/N that exists inside. */
    g_master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (g_master < 0)
        fail("open", "/dev/ptmx");
    if (ioctl(g_master, TIOCSPTLCK, &unlock) < 0)
        fail("unlock", "/dev/ptmx");
    slave = ioctl(g_master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0)
        fail("open the terminal's peer", NULL);
    if (rows && cols) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
            fail("set the window size", NULL);
    }
    setsid();   /* fails only when already a session leader */
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        fail("make the controlling terminal", NULL);
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            fail("dup2", NULL);
    if (slave > 2)
        close(slave);
}

static void send_ready(const char *tag)
{
    char buf[64];
    size_t tl = strlen(tag), rl = strlen(g_root_method);
    struct iovec iov;
    struct msghdr msg = {0};
    union {
        char space[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;

    if (tl + rl + 1 > sizeof buf)
        fail_err(EINVAL, "sync", NULL);
    memcpy(buf, tag, tl);
    buf[tl] = 0;
    memcpy(buf + tl + 1, g_root_method, rl);
    iov.iov_base = buf;
    iov.iov_len = tl + 1 + rl;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (g_master >= 0) {
        struct cmsghdr *c;
        memset(&control, 0, sizeof control);
        msg.msg_control = control.space;
        msg.msg_controllen = sizeof control.space;
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &g_master, sizeof(int));
    }
    if (sendmsg(g_sock, &msg, MSG_NOSIGNAL) < 0)
        fail("send", "ready");
    if (g_master >= 0) {
        close(g_master);
        g_master = -1;
    }
}

/* The next message must be `tag`; the runtime's death (EOF) ends us quietly. */
static void expect(const char *tag)
{
    char buf[4096];
    ssize_t n = recv(g_sock, buf, sizeof buf - 1, 0);
    if (n == 0)
        _exit(125);
    if (n < 0)
        fail("receive", tag);
    buf[n] = 0;
    if (strcmp(buf, tag) != 0)
        fail_err(0, "protocol error: unexpected message instead of", tag);
}

static _Noreturn void exec_command(const arg_t *a, uint32_t nargs)
{
    uint64_t argc = num(&a[0]);
    const char *few_argv[FEW + 1], *few_envp[FEW + 1];
    const char **argv = nargs <= FEW ? few_argv : room(nargs + 1, sizeof *argv);
    const char **envp = nargs <= FEW ? few_envp : room(nargs + 1, sizeof *envp);
    const char *path = "/usr/bin:/bin";
    int saved = ENOENT;
    uint32_t i, n = 0;

    if (argc < 1 || argc >= nargs)
        fail_err(EINVAL, "program has no command", NULL);
    for (i = 0; i < argc; i++)
        argv[i] = a[1 + i].s;
    argv[argc] = NULL;
    for (i = 1 + (uint32_t)argc; i < nargs; i++) {
        envp[n++] = a[i].s;
        if (strncmp(a[i].s, "PATH=", 5) == 0)
            path = a[i].s + 5;
    }
    envp[n] = NULL;
    g_step = "exec";
    if (strchr(argv[0], '/')) {
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        report(errno, argv[0], NULL);
        _exit(127);
    }
    /* execvpe(3) with the container's PATH: ENOENT and ENOTDIR keep looking,
     * any other error is remembered and we keep looking (as glibc does). */
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t dl = end ? (size_t)(end - p) : strlen(p);
        char full[PATHBUF];
        if (dl == 0) {
            if (cat3(full, sizeof full, "./", "", argv[0], strlen(argv[0])) == 0) {
                execve(full, (char *const *)argv, (char *const *)envp);
                if (errno != ENOENT && errno != ENOTDIR)
                    saved = errno;
            }
        } else if (dl + strlen(argv[0]) + 2 <= sizeof full) {
            memcpy(full, p, dl);
            full[dl] = '/';
            memcpy(full + dl + 1, argv[0], strlen(argv[0]) + 1);
            execve(full, (char *const *)argv, (char *const *)envp);
            if (errno != ENOENT && errno != ENOTDIR)
                saved = errno;
        }
        if (!end)
            break;
        p = end + 1;
    }
    report(saved, argv[0], NULL);
    _exit(127);
}

/* --- the interpreter ---------------------------------------------------------- */

static void capabilities(const arg_t *drop, uint64_t keep)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    for (uint32_t i = 0; i < drop->len; i++)
        if (prctl(PR_CAPBSET_DROP, (unsigned char)drop->s[i], 0, 0, 0) < 0)
            fail("prctl(PR_CAPBSET_DROP)", NULL);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        fail("prctl(PR_CAP_AMBIENT)", NULL);
    if (syscall(SYS_capget, &h, d) < 0)
        fail("capget", NULL);
    for (int half = 0; half < 2; half++) {
        uint32_t bits = (uint32_t)(keep >> (32 * half));
        uint32_t held = d[half].permitted & bits;
        d[half].effective = held;
        d[half].permitted = held;
        d[half].inheritable = 0;
    }
    if (syscall(SYS_capset, &h, d) < 0)
        fail("capset", NULL);
}

/* One operation; returns 0, or -1 with errno for an optional one that failed. */
static int run_op(int code, int flags, const arg_t *a, uint32_t n)
{
    char path[PATHBUF];
    struct stat st;

    if (code <= 0 || code >= OP_LAST || (code == OP_EXEC ? n < OPS[code].nargs
                                                          : n != OPS[code].nargs))
        fail_err(EINVAL, "malformed program", NULL);
    switch (code) {
    case OP_STEP:
        g_step = a[0].s;
        return 0;
    case OP_WRITE_FD:
        if (write(fd_at(&a[0]), a[1].s, a[1].len) != (ssize_t)a[1].len)
            fail("write", "cgroup.procs");
        return 0;
    case OP_UNSHARE:
        if (unshare((int)num(&a[0])) < 0)
            fail("unshare", NULL);
        return 0;
    case OP_EXPECT:
        expect(a[0].s);
        return 0;
    case OP_WRITE_FILE: {
        int fd = open(a[0].s, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, a[1].s, a[1].len) != (ssize_t)a[1].len)
            fail("write", a[0].s);
        close(fd);
        return 0;
    }
    case OP_MOUNT:
        return mount(opt_str(&a[0]), a[1].s, opt_str(&a[2]), num(&a[3]), opt_str(&a[4]));
    case OP_BIND:
        return bind_mount(a[0].s, a[1].s, (int)num(&a[2]), (int)num(&a[3]));
    case OP_MKDIR:
        return mkdir(a[0].s, (mode_t)num(&a[1]));
    case OP_MOUNT_IN:
        mkdirs_in(a[0].s, a[1].s, path, flags);
        return mount(opt_str(&a[2]), path, opt_str(&a[3]), num(&a[4]), opt_str(&a[5]));
    case OP_BIND_IN:
        if (stat(a[2].s, &st) < 0)
            fail("stat", a[2].s);
        if (S_ISDIR(st.st_mode))
            mkdirs_in(a[0].s, a[1].s, path, flags);
        else
            touch_in(a[0].s, a[1].s, path, flags);
        return bind_mount(a[2].s, path, (int)num(&a[3]), 1);
    case OP_SYMLINK:
        return symlink(a[0].s, a[1].s);
    case OP_CREATE_FILE: {
        int fd = open(a[0].s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)num(&a[1]));
        int ok = fd >= 0 && write(fd, a[2].s, a[2].len) == (ssize_t)a[2].len;
        int err = errno;
        if (fd >= 0)
            close(fd);
        errno = err;
        return ok ? 0 : -1;
    }
    case OP_SETXATTR:
        return setxattr(a[0].s, a[1].s, "", 0, 0);
    case OP_UMOUNT:
        return umount2(a[0].s, (int)num(&a[1]));
    case OP_MASK:
        return mask(a[0].s);
    case OP_READONLY:
        if (stat(a[0].s, &st) < 0)
            return 0;
        return bind_mount(a[0].s, a[0].s, 1, 1);
    case OP_PIVOT_ROOT:
        /* pivot_root(".", ".") stacks the old root under the new one, and the
         * lazy unmount removes it: no directory for the old root is needed. */
        if (chdir(a[0].s) < 0)
            fail("chdir", a[0].s);
        if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0)
            return -1;
        if (chdir("/") < 0)
            fail("chdir", "/");
        g_root_method = "pivot_root";
        return 0;
    case OP_MOVE_ROOT:
        if (chdir(a[0].s) < 0 || mount(a[0].s, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
            chdir("/") < 0)
            return -1;
        g_root_method = "chroot";
        return 0;
    case OP_HOSTNAME:
        return sethostname(a[0].s, a[0].len);
    case OP_LOOPBACK: {
        struct ifreq ifr;
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r, err;
        if (s < 0)
            return -1;
        memset(&ifr, 0, sizeof ifr);
        memcpy(ifr.ifr_name, "lo", 3);
        r = ioctl(s, SIOCGIFFLAGS, &ifr);
        if (r == 0) {
            ifr.ifr_flags |= IFF_UP;
            r = ioctl(s, SIOCSIFFLAGS, &ifr);
        }
        err = errno;
        close(s);
        errno = err;
        return r;
    }
    case OP_WORKDIR:
        /* After the root switch, so the path resolves inside the container
         * only; created when missing, as docker and podman do. */
        if (mkdirs(a[0].s, 0755) < 0 || chdir(a[0].s) < 0)
            fail("chdir", a[0].s);
        /* A path that resolved through a magic link to a place outside the
         * root leaves a working directory getcwd() cannot name. */
        /* The system call, not getcwd(3): glibc's falls back to a walk that
         * allocates when the path is longer than the buffer. */
        if (syscall(SYS_getcwd, path, sizeof path) < 0 || path[0] != '/')
            fail_err(EPERM, "working directory is outside the container:", a[0].s);
        return 0;
    case OP_TERMINAL:
        terminal(num(&a[0]), num(&a[1]));
        return 0;
    case OP_STDIO:
        setsid();
        for (int target = 0; target < 3; target++) {
            int fd = fd_at(&a[target]);
            if (fd == target ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, target) < 0)
                fail("dup2", NULL);
        }
        return 0;
    case OP_IDENTITY:
        /* Supplementary groups of the host user would still grant access to
         * host files; dropped where setgroups is allowed. */
        if (num(&a[0]) && syscall(SYS_setgroups, 0, NULL) < 0)
            fail("setgroups", NULL);
        if (syscall(SYS_setresgid, 0, 0, 0) < 0)
            fail("setresgid", NULL);
        if (syscall(SYS_setresuid, 0, 0, 0) < 0)
            fail("setresuid", NULL);
        return 0;
    case OP_RLIMIT: {
        struct rlimit rl = {(rlim_t)num(&a[1]), (rlim_t)num(&a[2])};
        if (setrlimit((int)num(&a[0]), &rl) < 0)
            fail("setrlimit", NULL);
        return 0;
    }
    case OP_CLOEXEC_FROM:
        /* Marking rather than closing keeps the error pipe until execve. */
        if (syscall(SYS_close_range, (unsigned)num(&a[0]), ~0U, CLOSE_RANGE_CLOEXEC) < 0)
            fail("close_range", NULL);
        return 0;
    case OP_CAPABILITIES:
        capabilities(&a[0], num(&a[1]));
        return 0;
    case OP_NO_NEW_PRIVS:
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            fail("prctl(PR_SET_NO_NEW_PRIVS)", NULL);
        return 0;
    case OP_SYNC:
        send_ready(a[0].s);
        expect(a[1].s);
        /* The runtime is alive and holds what it needs from us (our PID, the
         * PTY master): from here on, its death is ours. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
            fail("prctl(PR_SET_PDEATHSIG)", NULL);
        return 0;
    case OP_SECCOMP: {
        struct sock_fprog prog = {(unsigned short)(a[0].len / 8), (struct sock_filter *)a[0].s};
        if (a[0].len % 8 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
            fail("prctl(PR_SET_SECCOMP)", NULL);
        return 0;
    }
    case OP_EXEC:
        exec_command(a, n);
    }
    return 0;
}

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Op header: code (1), flags (1), argument count (2); each argument: length
 * (4), the bytes, a NUL the length does not count. Little-endian. */
static _Noreturn void run_program(const unsigned char *p, const unsigned char *end)
{
    int ok = 1;
    while (p + 4 <= end) {
        int code = p[0], flags = p[1];
        uint32_t n = (uint32_t)p[2] | ((uint32_t)p[3] << 8);
        arg_t few[FEW];
        arg_t *a = n <= FEW ? few : room(n, sizeof *a);
        int r;
        p += 4;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len;
            if (p + 4 > end)
                fail_err(EINVAL, "malformed program", NULL);
            len = rd32(p);
            if ((size_t)(end - p) < 4 + (size_t)len + 1 || p[4 + len] != 0)
                fail_err(EINVAL, "malformed program", NULL);
            a[i].s = (const char *)p + 4;
            a[i].len = len;
            p += 4 + len + 1;
        }
        if ((flags & F_IF_FAILED) && ok) {
            if (a != few)
                munmap(a, n * sizeof *a);
            continue;
        }
        errno = 0;
        r = run_op(code, flags, a, n);
        if (r == 0 || (flags & F_OPTIONAL)) {
            ok = r == 0;
            if (a != few)
                munmap(a, n * sizeof *a);
            continue;
        }
        fail(OPS[code].what ? OPS[code].what : "create",
             OPS[code].path < 0 ? NULL : a[OPS[code].path].s);
    }
    fail_err(EINVAL, "malformed program: it does not end in exec", NULL);
}

/* The child's first moves: signals back to their defaults (ignored ones
 * survive execve: Python ignores SIGPIPE, and `yes | head` would never end),
 * nothing blocked, descriptors of the caller's we must not hold closed. */
static _Noreturn void child(const unsigned char *prog, size_t len, const int *fds, int nfds,
                            const int *closing, int nclose)
{
    sigset_t none;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int i = 0; i < nclose; i++)
        close(closing[i]);
    g_fds = fds;
    g_nfds = nfds;
    g_sock = fds[0];
    g_errfd = fds[1];
    run_program(prog, prog + len);
}

static int int_list(PyObject *seq, int *out, int cap, const char *what)
{
    PyObject *fast = PySequence_Fast(seq, what);
    Py_ssize_t n;
    if (!fast)
        return -1;
    n = PySequence_Fast_GET_SIZE(fast);
    if (n > cap) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "%s: at most %d descriptors", what, cap);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        out[i] = (int)v;
    }
    Py_DECREF(fast);
    return (int)n;
}

PyDoc_STRVAR(spawn_doc,
"spawn(flags, program, fds, close) -> pid\n\n"
"clone3(flags) (namespaces, CLONE_PARENT); the child runs `program` (bytes from\n"
"amcr.init.program) and never returns. fds[0] is the sync socket, fds[1] the\n"
"error pipe, the rest what the program names by index; `close` are closed in\n"
"the child first. Returns the child's PID (as seen here) or raises OSError.");

static PyObject *spawn(PyObject *Py_UNUSED(self), PyObject *args)
{
    unsigned long long flags;
    Py_buffer prog;
    PyObject *fd_seq, *close_seq;
    int fds[MAX_FDS], closing[MAX_FDS], nfds, nclose;
    uint64_t cargs[11] = {0};
    sigset_t all, old;
    long pid;
    int err;

    if (!PyArg_ParseTuple(args, "Ky*OO:spawn", &flags, &prog, &fd_seq, &close_seq))
        return NULL;
    /* The child runs on a copy of the caller's stack and memory: nothing shared. */
    if (flags & (CLONE_VM | CLONE_THREAD | CLONE_SETTLS | CLONE_VFORK | CLONE_SIGHAND |
                 CLONE_FILES | CLONE_FS)) {
        PyBuffer_Release(&prog);
        PyErr_SetString(PyExc_ValueError, "spawn: flags that share the caller's memory, "
                        "threads, descriptors or signal handlers");
        return NULL;
    }
    nfds = int_list(fd_seq, fds, MAX_FDS, "fds");
    nclose = nfds < 0 ? -1 : int_list(close_seq, closing, MAX_FDS, "close");
    if (nfds < 2 || nclose < 0) {
        if (nfds >= 0 && nfds < 2 && !PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "fds: the sync socket and the error pipe first");
        PyBuffer_Release(&prog);
        return NULL;
    }
    /* struct clone_args v0: flags, pidfd, child_tid, parent_tid, exit_signal,
     * stack, stack_size, tls. With CLONE_PARENT exit_signal must be 0. */
    cargs[0] = flags;
    cargs[4] = (flags & CLONE_PARENT_FLAG) ? 0 : SIGCHLD;
    /* Every signal blocked across the clone: a handler of the caller's
     * (Python's, writing to an event loop's wakeup fd) must never run in the
     * child before it has reset them. The GIL stays held, as os.fork holds it. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = syscall(SYS_clone3, cargs, 64);
    if (pid == 0)
        child(prog.buf, (size_t)prog.len, fds, nfds, closing, nclose);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    PyBuffer_Release(&prog);
    if (pid < 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(pid);
}

static PyMethodDef methods[] = {
    {"spawn", spawn, METH_VARARGS, spawn_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "amcr.init._pid1",
    "A container's PID 1, cloned and set up in C (see amcr/init/pid1.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__pid1(void)
{
    return PyModule_Create(&module);
}
