/*
 * amcr.tui._relay: the two hot steps of a keystroke's echo, as event-loop
 * reader callbacks written in C (see docs/multiplexer.md, "The echo path").
 *
 * Why C: between a typist's keys the interpreter goes cold, and the Python
 * that read a key and wrote it to the container, or read the echo and wrote
 * it to the terminal early (echo.py), then cost about 45 and 40 µs: tmux
 * spends a few on each. Here the event loop calls a C object; it reads, and
 * when Python has said beforehand that the bytes may go straight on (it
 * *arms* the object after each paint, when it knows the whole state), it
 * writes them and only then, if at all, enters Python. Every decision stays
 * in Python: this file only follows what it was told, and any read it does
 * not relay goes to Python as before, with the relay disarmed until Python
 * arms it again.
 *
 * - KeyRelay(fd, fallback) reads the user's terminal. A read of plain typing
 *   (TAB, CR, 0x20-0x7e, and DEL, the backspace key) goes to the target,
 *   the active container's PTY, when on; anything else (or what the target
 *   did not take) goes to fallback(bytes), b"" at the end of input. The
 *   target is our own duplicate of the descriptor (aim()), so a container's
 *   descriptor closed and its number reused can never receive keys.
 * - EchoReader(fd, dispatch) reads a container's PTY (one bounded read per
 *   readiness, as amcr.runtime.streams.Source) and passes every read to
 *   dispatch(bytes), b"" at the end. Armed (arm()), the next read first
 *   writes its leading run of printable ASCII, at most `room` bytes, to the
 *   terminal, if that read is small, prompt_toolkit's output buffer is empty
 *   and the pacer's paint interval has passed; `fired` says how many bytes
 *   went. Any read disarms it.
 *
 * After each write a keystroke waits for, the CPU is let go: a write to a
 * PTY reaches its reader through a kernel worker, woken on the writer's CPU,
 * and the reader is then often woken on the CPU the writer runs on too; the
 * scheduler (EEVDF) frequently lets the writer run on. After the key the
 * loop has nothing left to do, and a sched_yield() lets the worker hand the
 * key to the container at once. After the early echo, though, Python feeds
 * and paints the read (0.3 ms, cold), and traced here (perf, sched_switch
 * and the read/write system calls of every process) the terminal's reader
 * often sat behind that whole paint. So the echo is followed by a pause of
 * 0.1 ms, without the GIL: the worker and the terminal run first. It costs
 * the loop 0.1-0.15 ms per echoed keystroke, never during a flood (no plan
 * is armed then), and the paint that follows is only the same row again.
 *
 * Everything runs on the event loop's thread with the GIL held (released
 * only for that pause); every read and write is non-blocking.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define KEY_READ 1024           /* what prompt_toolkit's reader reads at once */
#define CHUNK 65536             /* amcr.runtime.streams.CHUNK */

#define ECHO_PAUSE_NS 100000    /* after an early echo: see the top of the file */

static PyObject *s_buffer;      /* "_buffer", interned */

/* passthrough.PLAIN_ASCII: what means the same to every program whatever
 * its modes, and nothing to the multiplexer outside a prompt. */
static int plain_typing(const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (!((p[i] >= 0x20 && p[i] <= 0x7f) || p[i] == '\r' || p[i] == '\t'))
            return 0;
    return 1;
}

/* callable(bytes(p[:n])), holding its own reference to callable for the call
 * (which may re-initialise the object that holds it). */
static PyObject *call_with_bytes(PyObject *callable, const unsigned char *p, Py_ssize_t n)
{
    if (callable == NULL)
        Py_RETURN_NONE;
    PyObject *data = PyBytes_FromStringAndSize((const char *)p, n);
    if (data == NULL)
        return NULL;
    Py_INCREF(callable);
    PyObject *result = PyObject_CallOneArg(callable, data);
    Py_DECREF(callable);
    Py_DECREF(data);
    return result;
}

/* ---------------------------------------------------------------- KeyRelay */

typedef struct {
    PyObject_HEAD
    int fd;
    int target;                 /* our duplicate of the container's PTY master, or -1 */
    int on;
    PyObject *fallback;
} KeyRelay;

static void keys_close_target(KeyRelay *self)
{
    if (self->target >= 0)
        close(self->target);
    self->target = -1;
    self->on = 0;
}

static int keys_init(KeyRelay *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"fd", "fallback", NULL};
    PyObject *fallback;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iO:KeyRelay", names, &self->fd, &fallback))
        return -1;
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return -1;
    }
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    keys_close_target(self);
    return 0;
}

static PyObject *keys_call(KeyRelay *self, PyObject *args, PyObject *kw)
{
    unsigned char buf[KEY_READ];
    ssize_t n = read(self->fd, buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            Py_RETURN_NONE;     /* not readable after all */
        n = 0;                  /* the terminal is gone: the end of input */
    }
    ssize_t done = 0;
    if (n > 0 && self->on && plain_typing(buf, n)) {
        done = write(self->target, buf, (size_t)n);
        if (done == n) {
            sched_yield();      /* the worker that hands the key to the container first */
            Py_RETURN_NONE;
        }
        if (done < 0)
            done = 0;           /* full, or gone: Python queues or reports the rest */
    }
    self->on = 0;               /* Python decides until it arms the relay again */
    return call_with_bytes(self->fallback, buf + done, n - done);
}

static PyObject *keys_aim(KeyRelay *self, PyObject *arg)
{
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    if (fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "not a file descriptor");
        return NULL;
    }
    int copy = -1;
    if (fd >= 0 && (copy = fcntl((int)fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    keys_close_target(self);
    self->target = copy;
    self->on = copy >= 0;
    Py_RETURN_NONE;
}

static PyObject *keys_get_on(KeyRelay *self, void *closure)
{
    return PyBool_FromLong(self->on);
}

static int keys_set_on(KeyRelay *self, PyObject *value, void *closure)
{
    int on = value == NULL ? 0 : PyObject_IsTrue(value);
    if (on < 0)
        return -1;
    self->on = on && self->target >= 0;
    return 0;
}

static PyObject *keys_get_aimed(KeyRelay *self, void *closure)
{
    return PyBool_FromLong(self->target >= 0);
}

static int keys_traverse(KeyRelay *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback);
    return 0;
}

static int keys_clear(KeyRelay *self)
{
    Py_CLEAR(self->fallback);
    return 0;
}

static void keys_dealloc(KeyRelay *self)
{
    PyObject_GC_UnTrack(self);
    keys_close_target(self);
    keys_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *keys_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    KeyRelay *self = (KeyRelay *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->fd = -1;
        self->target = -1;
    }
    return (PyObject *)self;
}

static PyMethodDef keys_methods[] = {
    {"aim", (PyCFunction)keys_aim, METH_O,
     "aim(fd): relay to (a duplicate of) fd from now on, and turn on; -1: to nothing"},
    {NULL}
};

static PyGetSetDef keys_getset[] = {
    {"on", (getter)keys_get_on, (setter)keys_set_on,
     "plain typing goes straight to the target (only while aimed; any fallback turns it off)"},
    {"aimed", (getter)keys_get_aimed, NULL, "a target is held"},
    {NULL}
};

static PyTypeObject KeyRelayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "amcr.tui._relay.KeyRelay",
    .tp_doc = "KeyRelay(fd, fallback): the terminal's reader callback; plain typing "
              "straight to the aimed PTY while on, everything else to fallback(bytes)",
    .tp_basicsize = sizeof(KeyRelay),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = keys_new,
    .tp_init = (initproc)keys_init,
    .tp_dealloc = (destructor)keys_dealloc,
    .tp_traverse = (traverseproc)keys_traverse,
    .tp_clear = (inquiry)keys_clear,
    .tp_call = (ternaryfunc)keys_call,
    .tp_methods = keys_methods,
    .tp_getset = keys_getset,
};

/* -------------------------------------------------------------- EchoReader */

typedef struct {
    PyObject_HEAD
    int fd;
    PyObject *dispatch;
    unsigned char *buf;
    Py_ssize_t fired;
    /* the plan, while armed */
    int armed;
    int tty;
    Py_ssize_t room;
    Py_ssize_t small;
    double not_before;          /* CLOCK_MONOTONIC seconds, as asyncio's loop.time() */
    PyObject *output;           /* prompt_toolkit's Output: its _buffer must be empty */
} EchoReader;

static int echo_init(EchoReader *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"fd", "dispatch", NULL};
    PyObject *dispatch;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iO:EchoReader", names, &self->fd, &dispatch))
        return -1;
    if (!PyCallable_Check(dispatch)) {
        PyErr_SetString(PyExc_TypeError, "dispatch must be callable");
        return -1;
    }
    if (self->buf == NULL && (self->buf = PyMem_Malloc(CHUNK)) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_XSETREF(self->dispatch, Py_NewRef(dispatch));
    return 0;
}

static void echo_disarm(EchoReader *self)
{
    self->armed = 0;
    Py_CLEAR(self->output);
}

/* Nothing of prompt_toolkit's is waiting to be written (it would reach the
 * terminal after the early bytes). */
static int output_idle(PyObject *output)
{
    Py_INCREF(output);          /* getattr may run code that disarms (and drops it) */
    PyObject *buffer = PyObject_GetAttr(output, s_buffer);
    Py_DECREF(output);
    if (buffer == NULL) {
        PyErr_Clear();
        return 0;
    }
    int idle = PyList_Check(buffer) && PyList_GET_SIZE(buffer) == 0;
    Py_DECREF(buffer);
    return idle;
}

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static PyObject *echo_call(EchoReader *self, PyObject *args, PyObject *kw)
{
    if (self->dispatch == NULL || self->buf == NULL)
        Py_RETURN_NONE;
    ssize_t n = read(self->fd, self->buf, CHUNK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            Py_RETURN_NONE;
        n = 0;                  /* EIO: every slave side of the PTY is closed, for good */
    }
    self->fired = 0;
    if (self->armed) {
        if (n > 0 && n <= self->small && output_idle(self->output)
                && monotonic() >= self->not_before) {
            Py_ssize_t run = 0;
            while (run < n && run < self->room && self->buf[run] >= 0x20 && self->buf[run] < 0x7f)
                run++;
            if (run > 0) {
                /* Whatever came of the write, the paint puts the row right. */
                self->fired = run;
                if (write(self->tty, self->buf, (size_t)run) > 0) {
                    struct timespec pause = {0, ECHO_PAUSE_NS};
                    Py_BEGIN_ALLOW_THREADS
                    nanosleep(&pause, NULL);
                    Py_END_ALLOW_THREADS
                }
            }
        }
        echo_disarm(self);      /* one read fires the plan or makes it stale */
    }
    return call_with_bytes(self->dispatch, self->buf, n);
}

static PyObject *echo_arm(EchoReader *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"tty", "room", "small", "not_before", "output", NULL};
    int tty;
    Py_ssize_t room, small;
    double not_before;
    PyObject *output;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "inndO:arm", names, &tty, &room, &small,
                                     &not_before, &output))
        return NULL;
    echo_disarm(self);
    if (tty < 0 || room <= 0)
        Py_RETURN_NONE;
    self->tty = tty;
    self->room = room;
    self->small = small;
    self->not_before = not_before;
    self->output = Py_NewRef(output);
    self->armed = 1;
    Py_RETURN_NONE;
}

static PyObject *echo_disarm_py(EchoReader *self, PyObject *unused)
{
    echo_disarm(self);
    Py_RETURN_NONE;
}

static PyObject *echo_get_fired(EchoReader *self, void *closure)
{
    return PyLong_FromSsize_t(self->fired);
}

static PyObject *echo_get_armed(EchoReader *self, void *closure)
{
    return PyBool_FromLong(self->armed);
}

static PyObject *echo_get_fd(EchoReader *self, void *closure)
{
    return PyLong_FromLong(self->fd);
}

static int echo_traverse(EchoReader *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dispatch);
    Py_VISIT(self->output);
    return 0;
}

static int echo_clear(EchoReader *self)
{
    Py_CLEAR(self->dispatch);
    echo_disarm(self);
    return 0;
}

static void echo_dealloc(EchoReader *self)
{
    PyObject_GC_UnTrack(self);
    echo_clear(self);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *echo_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    EchoReader *self = (EchoReader *)type->tp_alloc(type, 0);
    if (self != NULL)
        self->fd = self->tty = -1;
    return (PyObject *)self;
}

static PyMethodDef echo_methods[] = {
    {"arm", (PyCFunction)(void (*)(void))echo_arm, METH_VARARGS | METH_KEYWORDS,
     "arm(tty, room, small, not_before, output): the next read may write early"},
    {"disarm", (PyCFunction)echo_disarm_py, METH_NOARGS, "the next read writes nothing early"},
    {NULL}
};

static PyGetSetDef echo_getset[] = {
    {"fired", (getter)echo_get_fired, NULL, "bytes the last read wrote to the terminal early"},
    {"armed", (getter)echo_get_armed, NULL, "the next read may write early"},
    {"fd", (getter)echo_get_fd, NULL, "the descriptor read"},
    {NULL}
};

static PyTypeObject EchoReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "amcr.tui._relay.EchoReader",
    .tp_doc = "EchoReader(fd, dispatch): a PTY's reader callback; every read to "
              "dispatch(bytes), its printable start first to the terminal when armed",
    .tp_basicsize = sizeof(EchoReader),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = echo_new,
    .tp_init = (initproc)echo_init,
    .tp_dealloc = (destructor)echo_dealloc,
    .tp_traverse = (traverseproc)echo_traverse,
    .tp_clear = (inquiry)echo_clear,
    .tp_call = (ternaryfunc)echo_call,
    .tp_methods = echo_methods,
    .tp_getset = echo_getset,
};

/* ------------------------------------------------------------------ module */

static struct PyModuleDef relay_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "amcr.tui._relay",
    .m_doc = "The two hot steps of a keystroke's echo in C (see relay.c).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__relay(void)
{
    if ((s_buffer = PyUnicode_InternFromString("_buffer")) == NULL)
        return NULL;
    if (PyType_Ready(&KeyRelayType) < 0 || PyType_Ready(&EchoReaderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&relay_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "KeyRelay", (PyObject *)&KeyRelayType) < 0
            || PyModule_AddObjectRef(m, "EchoReader", (PyObject *)&EchoReaderType) < 0
            || PyModule_AddIntConstant(m, "CHUNK", CHUNK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
