# SPDX-License-Identifier: MIT
"""shmar.Comm: one rank of a libshmar job."""

import ctypes
import errno
import operator
import os
import threading

from shmar import _buffers, _errors, _lib, _memory, _ops

_c = _lib.lib
_raw_allreduce = _lib.raw_allreduce


def _int(name, value, low):
    if isinstance(value, bool):
        raise TypeError(f"shmar: {name} must be an integer, not bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"shmar: {name} must be an integer, "
                        f"not {type(value).__name__}") from None
    if value < low:
        raise ValueError(f"shmar: {name} must be at least {low}, not {value}")
    return value


def _text(name, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"shmar: {name} must be str or bytes, not {type(value).__name__}")


def _same_dtype(a, b, what):
    if a.dtype != b.dtype:
        raise TypeError(f"shmar: {what} has dtype {_buffers.NAMES[b.dtype]}, "
                        f"the input {_buffers.NAMES[a.dtype]}")


def _disjoint(a, b):
    """ValueError unless the memory of Buffers a and b does not overlap."""
    if a.address is None or b.address is None:
        return
    if a.address < b.address + b.nbytes and b.address < a.address + a.nbytes:
        raise ValueError("shmar: the input and output buffers overlap")


class Comm:
    """This process as rank ``rank`` of the libshmar job ``job`` of ``nranks`` ranks.

    The constructor returns when every rank has arrived (or raises
    shmar.TimeoutError after ``init_timeout_ms``).  ``dir`` is the rendezvous
    directory, ``token`` a secret every rank must present, ``timeout_ms`` the
    deadline of one collective (0: none); None leaves a setting to the library's
    default and its ``SHMAR_*`` environment variables (see shmar(7)).

    Every rank must call the same collectives in the same order.  A failure
    raises a shmar.Error; after PeerDiedError, MismatchError, AbortedError or
    TimeoutError the communicator is revoked and only close() is useful.
    A Comm is a context manager, and is closed when it is garbage-collected.
    One thread at a time may use it: a concurrent second call raises a
    shmar.Error with errno EBUSY.  abort() may be called from any thread.
    """

    def __init__(self, job, nranks, rank, *, dir=None, token=None,  # noqa: A002
                 timeout_ms=None, init_timeout_ms=None):
        self._prepare()
        job_bytes = _text("job", job)
        nranks = _int("nranks", nranks, 1)
        rank = _int("rank", rank, 0)
        if rank >= nranks:
            raise ValueError(f"shmar: rank {rank} is not below nranks {nranks}")
        config = _lib.ConfigBuffer()
        _c.shmar_config_init(ctypes.byref(config))
        cfg = config.cfg
        if dir is not None:
            cfg.dir = os.fsencode(dir)
        if token is not None:
            cfg.token = _text("token", token)
        if timeout_ms is not None:
            cfg.timeout_ms = _int("timeout_ms", timeout_ms, 0)
        if init_timeout_ms is not None:
            cfg.init_timeout_ms = _int("init_timeout_ms", init_timeout_ms, 0)
        handle = ctypes.c_void_p()
        rc = _c.shmar_comm_init(ctypes.byref(handle), job_bytes, nranks, rank,
                                ctypes.byref(config))
        self._adopt(rc, handle, job_bytes.decode(errors="replace"))

    @classmethod
    def from_env(cls):
        """Join the job that SHMAR_JOB, SHMAR_NRANKS and SHMAR_RANK name.

        As shmar_comm_init_env(3): without those, torchrun's LOCAL_RANK,
        LOCAL_WORLD_SIZE and a job named after MASTER_PORT.
        """
        self = cls.__new__(cls)
        self._prepare()
        handle = ctypes.c_void_p()
        rc = _c.shmar_comm_init_env(ctypes.byref(handle))
        self._adopt(rc, handle, os.environ.get("SHMAR_JOB"))
        return self

    def _prepare(self):
        self._handle = None
        self._handle_arg = None
        self._raw_args = (None, None, None, None)  # see _all_reduce_raw
        self._busy = threading.Lock()   # held during every call into a comm
        self._try_lock, self._unlock = self._busy.acquire, self._busy.release
        # makes abort(), close(), alloc() and the freeing of buffers exclusive;
        # reentrant, as a buffer's finalizer may run inside any of them
        self._life = threading.RLock()
        self._live_buffers = 0          # from alloc(), still reachable
        self._deferred = None           # a closed comm's handle, while buffers live
        self._rank = self._size = -1
        self._job = None

    def _adopt(self, rc, handle, job):
        if rc < 0:
            raise _errors.from_code(rc, _lib.strerror(rc), _lib.last_error(None))
        self._handle = handle.value
        self._handle_arg = ctypes.c_void_p(self._handle)
        self._rank = _c.shmar_comm_rank(self._handle)
        self._size = _c.shmar_comm_size(self._handle)
        self._job = job

    # ---------------------------------------------------------------- state

    @property
    def rank(self):
        """This process's rank, 0 to size - 1."""
        return self._rank

    @property
    def size(self):
        """The number of ranks."""
        return self._size

    @property
    def closed(self):
        """True once close() was called."""
        return self._handle is None

    def __repr__(self):
        state = "closed" if self._handle is None else f"rank={self._rank} size={self._size}"
        return f"<shmar.Comm job={self._job!r} {state}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may be gone  # noqa: BLE001
            pass

    def close(self):
        """Leave the job and free the communicator; closing twice is harmless.

        A call still running in another thread is aborted first (it raises
        AbortedError there), so close() never waits for the peers.  While
        buffers from alloc() are still reachable, close() revokes the job as
        abort() does, for the peers' later calls, and the memory stays until
        the last of those buffers is freed.
        """
        if getattr(self, "_handle", None) is None:
            return
        if not self._busy.acquire(False):
            self.abort()
            self._busy.acquire()
        try:
            with self._life:
                handle, self._handle = self._handle, None
                self._handle_arg = None
                if handle is not None and self._live_buffers:
                    # alloc()'s buffers are still reachable: their memory
                    # must stay mapped, so the comm stays until the last is
                    # freed; the peers must not wait for this rank meanwhile
                    _c.shmar_comm_abort(handle)
                    self._deferred = handle
                    self._destroy_if_unused()
                elif handle is not None:
                    _c.shmar_comm_destroy(handle)
        finally:
            self._busy.release()

    def abort(self):
        """Revoke the job on every rank: their calls raise AbortedError at once.

        It never blocks and may be called from any thread, also while another
        thread waits in a collective.  The comm must still be closed.
        """
        with self._life:
            handle = self._handle
            if handle is None:
                raise ValueError("shmar: operation on a closed Comm")
            rc = _c.shmar_comm_abort(handle)
        if rc < 0:
            raise _errors.from_code(rc, _lib.strerror(rc))

    # ---------------------------------------------------------------- memory

    def alloc(self, nbytes):
        """A buffer of nbytes in this rank's registered memory (shmar_mem_alloc(3)).

        A collective whose send buffer lies in registered memory lets the
        peers read it where it is instead of copying it first: all-reduces
        above the one-step size, the other collectives from 64 KiB; the bits
        of the result are the same.  The buffer is a writable memoryview of
        nbytes bytes, aligned to 64 bytes; view it as numbers with
        numpy.frombuffer() or torch.frombuffer() (shmar.torch.empty() does).
        Its memory is freed when no view of it is left.  Each rank may hold
        up to mem_bytes of it (64 MiB unless SHMAR_MEM_BYTES says otherwise;
        rank 0's setting applies): beyond that shmar.Error with errno ENOMEM.
        The ranks allocate independently; a call is not collective.
        """
        nbytes = _int("nbytes", nbytes, 1)
        address = ctypes.c_void_p()
        with self._life:
            handle = self._handle
            if handle is None:
                raise ValueError("shmar: operation on a closed Comm")
            rc = _c.shmar_mem_alloc(handle, nbytes, ctypes.byref(address))
            if rc == -errno.ENOMEM:
                raise _errors.from_code(rc, _lib.strerror(rc), (
                    f"no free block of {nbytes} bytes left in this rank's registered "
                    "memory (mem_bytes, SHMAR_MEM_BYTES)"))
            if rc < 0:
                raise _errors.from_code(rc, _lib.strerror(rc), _lib.last_error(handle))
            self._live_buffers += 1
            try:
                return _memory.registered_buffer(self, address.value, nbytes)
            except BaseException:
                self._release(address.value)
                raise

    def _release(self, address):
        """Give back the block at address: nothing reaches its buffer any more.

        A finalizer: it may run in any thread, inside any method of this
        comm, so it takes only the reentrant life lock, never the busy one
        (shmar_mem_free() may run beside a call, which cannot use this block).
        In a forked child the library refuses (ECHILD) and the parent's
        memory stays the parent's.
        """
        with self._life:
            handle = self._handle if self._handle is not None else self._deferred
            if handle is not None:
                _c.shmar_mem_free(handle, address)
            self._live_buffers -= 1
            self._destroy_if_unused()

    def _destroy_if_unused(self):
        """Destroy a comm that close() kept for its buffers, once none is left."""
        if self._deferred is not None and self._live_buffers == 0:
            handle, self._deferred = self._deferred, None
            _c.shmar_comm_destroy(handle)

    # ---------------------------------------------------------------- calls

    def _call(self, func, *args):
        """func(handle, *args) under the busy lock; raise on an error."""
        handle = self._handle
        if handle is None:
            raise ValueError("shmar: operation on a closed Comm")
        if not self._busy.acquire(False):
            raise _errors.from_code(-errno.EBUSY, _lib.strerror(-errno.EBUSY),
                                    "another thread is using this Comm")
        try:
            if self._handle is None:  # closed between the check and the lock
                raise ValueError("shmar: operation on a closed Comm")
            rc = func(handle, *args)
            if rc < 0:
                raise _errors.from_code(rc, _lib.strerror(rc), _lib.last_error(handle))
        finally:
            self._busy.release()

    def _all_reduce_raw(self, address, count, dtype, op):
        """In-place all-reduce of count elements at address; no checks of them.

        The hot path of shmar.torch, whose caller vouches for the arguments.
        The ctypes objects of address and count are kept and reused while the
        same buffer comes back, as a decode loop's activations usually do:
        making them costs as much as the rest of the call.
        """
        args = self._raw_args
        if args[0] != address or args[1] != count:
            args = (address, count, ctypes.c_void_p(address), ctypes.c_size_t(count))
            self._raw_args = args  # one store: threads never see half of it
        if not self._try_lock(False):
            raise _errors.from_code(-errno.EBUSY, _lib.strerror(-errno.EBUSY),
                                    "another thread is using this Comm")
        try:
            handle = self._handle_arg  # None once closed
            if handle is None:
                raise ValueError("shmar: operation on a closed Comm")
            rc = _raw_allreduce(handle, args[2], args[2], args[3], dtype, op)
            if rc < 0:
                raise _errors.from_code(rc, _lib.strerror(rc), _lib.last_error(self._handle))
        finally:
            self._unlock()

    def all_reduce(self, buf, op="sum", out=None):
        """Reduce buf over all ranks with op; in place, or into out.

        op is "sum", "prod", "max", "min", "avg" or a torch ReduceOp.
        Returns the buffer holding the result (out, else buf).
        """
        src = _buffers.describe(buf, out is None)
        code = _ops.code(op)
        dst = src
        if out is not None:
            dst = _buffers.describe(out, True)
            _same_dtype(src, dst, "out")
            if dst.count != src.count:
                raise ValueError(f"shmar: out holds {dst.count} elements, "
                                 f"the input {src.count}")
            if dst.address != src.address:
                _disjoint(src, dst)
        self._call(_c.shmar_allreduce, src.address, dst.address, src.count, src.dtype, code)
        return dst.obj

    def reduce_scatter(self, inp, out, op="sum"):
        """Reduce inp (size x n elements) over all ranks; out gets block ``rank``.

        Returns out.
        """
        src = _buffers.describe(inp, False)
        dst = _buffers.describe(out, True)
        code = _ops.code(op)
        _same_dtype(src, dst, "out")
        if src.count != dst.count * self._size:
            raise ValueError(f"shmar: the input holds {src.count} elements, not "
                             f"size ({self._size}) x {dst.count} of out")
        if dst.address != src.address:
            _disjoint(src, dst)
        self._call(_c.shmar_reduce_scatter, src.address, dst.address, dst.count,
                   src.dtype, code)
        return dst.obj

    def all_gather(self, inp, out):
        """Gather inp (n elements) of every rank into out, in rank order.

        out holds size x n elements.  Returns out.
        """
        src = _buffers.describe(inp, False)
        dst = _buffers.describe(out, True)
        _same_dtype(src, dst, "out")
        if dst.count != src.count * self._size:
            raise ValueError(f"shmar: out holds {dst.count} elements, not "
                             f"size ({self._size}) x {src.count} of the input")
        in_place = (src.address is not None and dst.address is not None and
                    src.address == dst.address + self._rank * src.nbytes)
        if not in_place:
            _disjoint(src, dst)
        self._call(_c.shmar_allgather, src.address, dst.address, src.count, src.dtype)
        return dst.obj

    def broadcast(self, buf, root=0):
        """Copy buf of rank root into buf of every other rank.  Returns buf."""
        root = _int("root", root, 0)
        if root >= self._size:
            raise ValueError(f"shmar: root {root} is not below size {self._size}")
        view = _buffers.describe(buf, root != self._rank)
        self._call(_c.shmar_broadcast, view.address, view.count, view.dtype, root)
        return buf

    def barrier(self):
        """Return when every rank has called barrier()."""
        self._call(_c.shmar_barrier)
