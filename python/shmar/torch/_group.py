# SPDX-License-Identifier: MIT
"""ShmarProcessGroup: a torch.distributed process group over libshmar, with gloo beside it.

libshmar does all_reduce, all_gather(_into_tensor), reduce_scatter(_tensor),
broadcast and barrier on CPU tensors: the reductions on its seven dtypes,
the gathers and broadcasts on any dtype (moved as bytes).  When the ranks
span hosts, those five go through a hierarchy (shmar.torch._hierarchy):
libshmar in each host, gloo between hosts, with libshmar-mpi's numerics.
Everything else (other collectives, reductions of bool, complex or int8
tensors, the bitwise reductions, tensors off the CPU) goes to an inner gloo
group of all the ranks, built from the same store.
"""

import ctypes
import os
import secrets
import sys

import torch
import torch.distributed as dist

import shmar
from shmar import _buffers, _lib, _ops
from shmar.torch import _hierarchy, _hosts

_c = _lib.lib
_dtype_code = _buffers.torch_dtype_code
_refcount = sys.getrefcount
_STRIDED = torch.strided


def _unshared_refcount():
    """What _done() sees as the reference count of a work nobody else holds.

    Measured, in the same shape of code, rather than assumed, since the
    interpreter's own references differ between Python versions; -1 (never
    reuse) when a work held elsewhere would not count higher.
    """
    class Holder:  # pylint: disable=too-few-public-methods
        pass

    holder = Holder()
    holder.last = object()
    work = holder.last
    unshared = _refcount(work)
    kept = holder.last  # a reference held by a caller
    shared = _refcount(work)
    del kept
    return unshared if shared > unshared else -1


_UNSHARED = _unshared_refcount()
_dtype_codes = {}  # torch.dtype -> the library's code, for the seven it has
for _dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64, torch.int32,
               torch.int64, torch.uint8):
    _dtype_codes[_dtype] = _dtype_code(_dtype)
del _dtype


# ------------------------------------------------------------ errors

_runtime_classes = {}


def runtime_error(err):
    """err (a shmar.Error) as an exception that is also a RuntimeError.

    torch users catch RuntimeError, as gloo raises it; shmar users can still
    catch shmar.PeerDiedError and the others.
    """
    cls = _runtime_classes.get(type(err))
    if cls is None:
        cls = type(type(err).__name__, (type(err), RuntimeError),
                   {"__module__": "shmar.torch", "__str__": _runtime_str})
        _runtime_classes[type(err)] = cls
    return cls(err.errno, err.strerror, err.details)


def _runtime_str(self):
    return f"shmar: {self.strerror}: {self.details}" if self.details else \
        f"shmar: {self.strerror}"


# ------------------------------------------------------------ work objects

class DoneWork(dist.Work):
    """The work of a collective that already completed when it was returned."""

    def __init__(self, result):
        super().__init__()
        self._result = result

    def wait(self, timeout=None):  # pylint: disable=unused-argument
        return True

    def is_completed(self):
        return True

    def is_success(self):
        return True

    def exception(self):
        return None

    def result(self):
        return self._result

    def synchronize(self):
        pass

    def get_future(self):
        future = torch.futures.Future()
        future.set_result(self._result)
        return future


# ------------------------------------------------------------ tensors

def _local_dtype(tensor):
    """The library's dtype code when libshmar can take this tensor, else None."""
    code = _dtype_codes.get(tensor.dtype)
    if code is None or not tensor.is_cpu or tensor.layout is not _STRIDED:
        return None
    return code


def _copyable(tensor):
    """True when libshmar can copy tensor, as bytes if need be (any dtype)."""
    return tensor.is_cpu and tensor.layout is _STRIDED


def _as_bytes(tensor):
    """tensor (contiguous), or a flat uint8 view of it when libshmar lacks its dtype."""
    if _dtype_codes.get(tensor.dtype) is not None:
        return tensor
    return tensor.reshape(-1).view(torch.uint8)


def _all_local(tensors):
    """The common dtype code of tensors when libshmar can take them all, else None."""
    codes = {_local_dtype(t) for t in tensors}
    if len(codes) != 1:
        return None
    return codes.pop()


def _bytes(tensor):
    """A flat uint8 view of a contiguous tensor of any dtype."""
    return tensor.reshape(-1).view(torch.uint8)


def _contiguous(tensor):
    return tensor if tensor.is_contiguous() else tensor.contiguous()


def _copy_back(dst, src):
    if dst is not src:
        dst.copy_(src)


def _reduce_ops_by_hash():
    """{hash(ReduceOp): code} when hashing a ReduceOp gives its kind, else {}.

    Hashing is the cheapest way to tell ReduceOps apart (torch hashes one as
    its RedOpType value; a dict lookup by ReduceOp would also call its slow
    __eq__).  Checked here rather than assumed.
    """
    ops = dist.ReduceOp
    table = {}
    for name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR", "PREMUL_SUM"):
        op = getattr(ops, name, None)
        if op is None:
            continue
        key = hash(op)
        if key in table or hash(getattr(ops, name)) != key or not 0 <= key < 256:
            return {}
        table[key] = _ops.torch_code(op)  # None for those the library lacks
    return {key: code for key, code in table.items() if code is not None}


_OP_BY_HASH = _reduce_ops_by_hash()


def _op_code(opts):
    """The library's code of opts.reduceOp, None when it has no such reduction."""
    if opts is None:
        return _lib.SUM
    op = opts.reduceOp
    code = _OP_BY_HASH.get(hash(op))
    return code if code is not None else _ops.torch_code(op)


_OP_NAMES = {_lib.SUM: "sum", _lib.PROD: "prod", _lib.MAX: "max", _lib.MIN: "min",
             _lib.AVG: "avg"}


# ------------------------------------------------------------ the group

def _rendezvous_dir():
    """The rendezvous directory libshmar picks here, as shmar_comm_init(3) says:
    SHMAR_DIR, else $XDG_RUNTIME_DIR/shmar, else /tmp/shmar-<euid>."""
    config = _lib.ConfigBuffer()
    _c.shmar_config_init(ctypes.byref(config))
    if config.cfg.dir:
        return os.fsdecode(config.cfg.dir)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/"):
        return os.path.join(runtime, "shmar")
    return f"/tmp/shmar-{os.geteuid()}"


def _join_job(store, rank, size, timeout):
    """Form the libshmar job of this group: rank 0 names it in the store.

    Rank 0 also says where to meet, so that ranks whose environments differ
    (one without XDG_RUNTIME_DIR, say) still find each other.
    """
    if rank == 0:
        job, token, where = f"torch-{secrets.token_hex(8)}", secrets.token_hex(16), \
            _rendezvous_dir()
        store.set("shmar/dir", os.fsencode(where))
        store.set("shmar/job", f"{job} {token}")
    else:
        job, token = store.get("shmar/job").decode().split()
        where = os.fsdecode(store.get("shmar/dir"))
    timeout_ms = max(1, int(timeout.total_seconds() * 1000))
    return shmar.Comm(job, size, rank, dir=where, token=token, timeout_ms=timeout_ms)


class ShmarProcessGroup(dist.ProcessGroup):
    """A process group whose collectives libshmar does where it can.

    ``layout`` says where the ranks run (shmar.torch._hosts.Layout);
    ``comm`` is the shmar.Comm of the group when they all run on one host,
    else None; ``hierarchy`` is the shmar.torch._hierarchy.Hierarchy that
    runs the collectives across hosts, else None.
    """

    def __init__(self, store, rank, size, timeout):
        super().__init__(rank, size)
        self.layout = _hosts.exchange(store, rank, size)
        self._gloo = dist.ProcessGroupGloo(dist.PrefixStore("gloo", store), rank, size,
                                           timeout)
        self._comm = None
        self._hierarchy = None
        self._last_work = None
        if self.layout.single_host:
            self._comm = _join_job(dist.PrefixStore("shmar", store), rank, size, timeout)
        else:
            try:
                self._hierarchy = _hierarchy.Hierarchy(store, self.layout, size, timeout,
                                                       _join_job)
            except shmar.Error as err:
                raise runtime_error(err) from None

    @property
    def comm(self):
        """The shmar.Comm of this group, or None when its ranks span hosts."""
        return self._comm

    @property
    def hierarchy(self):
        """What runs the collectives across hosts, or None on one host."""
        return self._hierarchy

    def getBackendName(self):  # noqa: N802 (torch's name)
        return "shmar"

    def close(self):
        """Leave the libshmar job (torch's destroy_process_group does not)."""
        if self._comm is not None:
            self._comm.close()
        if self._hierarchy is not None:
            self._hierarchy.close()

    # ---------------------------------------------------------------- libshmar

    def allreduce(self, tensors, opts=None):
        comm = self._comm
        if comm is not None and len(tensors) == 1:
            tensor = tensors[0]
            dtype = _dtype_codes.get(tensor.dtype)
            op = _op_code(opts)
            if dtype is not None and op is not None and tensor.is_cpu:
                try:
                    simple = tensor.is_contiguous()
                    work = tensor if simple else tensor.contiguous()
                    address = work.data_ptr()
                except RuntimeError:  # no strides or storage (sparse): gloo's business
                    address = None
                if address is not None:
                    try:
                        comm._all_reduce_raw(address, work.numel(), dtype, op)
                    except shmar.Error as err:
                        raise runtime_error(err) from None
                    if not simple:
                        tensor.copy_(work)
                    return self._done(tensors)
        elif self._hierarchy is not None and len(tensors) == 1:
            tensor = tensors[0]
            dtype = _local_dtype(tensor)
            op = _op_code(opts)
            if dtype is not None and op is not None:
                work = _contiguous(tensor)
                self._run(self._hierarchy.all_reduce, work.view(-1), dtype, op)
                _copy_back(tensor, work)
                return self._done(tensors)
        return self._gloo.allreduce(tensors, opts) if opts is not None else \
            self._gloo.allreduce(tensors)

    def _done(self, result):
        """A completed work for result: the last one again when nobody else holds it.

        Making a torch Work costs more than a small all-reduce; dist.all_reduce
        waits on its work and drops it at once, so the same object can serve
        the next call.  A work that the caller kept (async_op=True) is left alone.
        """
        work = self._last_work
        if work is not None and _refcount(work) == _UNSHARED:
            work._result = result
            return work
        work = self._last_work = DoneWork(result)
        return work

    def _allgather_base(self, output, input, opts=None):  # noqa: A002 (torch's name)
        comm, hierarchy = self._comm, self._hierarchy
        if ((comm is not None or hierarchy is not None) and output.dtype == input.dtype
                and _copyable(output) and _copyable(input)):
            out = _contiguous(output)
            if comm is not None:
                self._run(comm.all_gather, _as_bytes(_contiguous(input)), _as_bytes(out))
            else:
                self._gather_across(out, _contiguous(input))
            _copy_back(output, out)
            return DoneWork([output])
        if opts is None:
            return self._gloo._allgather_base(output, input)
        return self._gloo._allgather_base(output, input, opts)

    def _reduce_scatter_base(self, output, input, opts=None):  # noqa: A002
        comm, hierarchy = self._comm, self._hierarchy
        op = _op_code(opts)
        dtype = _all_local((output, input)) if op is not None else None
        if comm is not None and dtype is not None:
            out = _contiguous(output)
            self._run(comm.reduce_scatter, _contiguous(input), out, _OP_NAMES[op])
            _copy_back(output, out)
            return DoneWork([output])
        if hierarchy is not None and dtype is not None:
            out = _contiguous(output)
            self._scatter_across(out, _contiguous(input), dtype, op)
            _copy_back(output, out)
            return DoneWork([output])
        if opts is None:
            return self._gloo._reduce_scatter_base(output, input)
        return self._gloo._reduce_scatter_base(output, input, opts)

    def allgather(self, output_tensors, input_tensors, opts=None):
        comm, hierarchy = self._comm, self._hierarchy
        if ((comm is not None or hierarchy is not None) and len(input_tensors) == 1
                and len(output_tensors) == 1
                and self._gatherable(output_tensors[0], input_tensors[0], _copyable)):
            outputs, tensor = output_tensors[0], input_tensors[0]
            gathered = torch.empty((len(outputs),) + tuple(tensor.shape), dtype=tensor.dtype)
            if comm is not None:
                self._run(comm.all_gather, _as_bytes(_contiguous(tensor)), _as_bytes(gathered))
            else:
                self._gather_across(gathered, _contiguous(tensor))
            for out, block in zip(outputs, gathered):
                out.copy_(block.reshape(out.shape))
            return DoneWork(output_tensors)
        if opts is None:
            return self._gloo.allgather(output_tensors, input_tensors)
        return self._gloo.allgather(output_tensors, input_tensors, opts)

    def reduce_scatter(self, output_tensors, input_tensors, opts=None):
        comm, hierarchy = self._comm, self._hierarchy
        op = _op_code(opts)
        if ((comm is not None or hierarchy is not None) and op is not None
                and len(output_tensors) == 1 and len(input_tensors) == 1
                and self._gatherable(input_tensors[0], output_tensors[0])):
            output, inputs = output_tensors[0], input_tensors[0]
            stacked = torch.stack([t.reshape(output.shape) for t in inputs])
            out = _contiguous(output)
            if comm is not None:
                self._run(comm.reduce_scatter, stacked, out, _OP_NAMES[op])
            else:
                self._scatter_across(out, stacked, _dtype_codes[output.dtype], op)
            _copy_back(output, out)
            return DoneWork(output_tensors)
        if opts is None:
            return self._gloo.reduce_scatter(output_tensors, input_tensors)
        return self._gloo.reduce_scatter(output_tensors, input_tensors, opts)

    def broadcast(self, tensors, opts=None):
        comm, hierarchy = self._comm, self._hierarchy
        if ((comm is not None or hierarchy is not None) and len(tensors) == 1
                and _copyable(tensors[0]) and (opts is None or opts.rootTensor == 0)):
            tensor = tensors[0]
            root = opts.rootRank if opts is not None else 0
            work = _contiguous(tensor)
            if comm is not None:
                self._run(comm.broadcast, _as_bytes(work), root)
            else:
                if not 0 <= root < self.size():
                    raise ValueError(f"shmar: root {root} is not below size {self.size()}")
                self._run(hierarchy.broadcast, _bytes(work), root)
            _copy_back(tensor, work)
            return DoneWork(tensors)
        if opts is None:
            return self._gloo.broadcast(tensors)
        return self._gloo.broadcast(tensors, opts)

    def barrier(self, opts=None):
        comm, hierarchy = self._comm, self._hierarchy
        if comm is not None:
            self._run(comm.barrier)
            return DoneWork([])
        if hierarchy is not None:
            self._run(hierarchy.barrier)
            return DoneWork([])
        if opts is None:
            return self._gloo.barrier()
        return self._gloo.barrier(opts)

    # ---------------------------------------------------------------- across hosts

    def _gather_across(self, out, tensor):
        """All-gather tensor (contiguous) into out (contiguous) through the hierarchy."""
        if out.numel() != tensor.numel() * self.size():
            raise ValueError(f"shmar: out holds {out.numel()} elements, not size "
                             f"({self.size()}) x {tensor.numel()} of the input")
        self._run(self._hierarchy.all_gather, _bytes(out), _bytes(tensor))

    def _scatter_across(self, out, tensor, dtype, op):
        """Reduce-scatter tensor (contiguous) into out (contiguous) through the hierarchy.

        They may overlap: the hierarchy reads all of tensor before it writes out.
        """
        if tensor.numel() != out.numel() * self.size():
            raise ValueError(f"shmar: the input holds {tensor.numel()} elements, not "
                             f"size ({self.size()}) x {out.numel()} of out")
        self._run(self._hierarchy.reduce_scatter, out.view(-1), tensor.view(-1), dtype, op)

    # ---------------------------------------------------------------- helpers

    def _gatherable(self, blocks, tensor, copyable=None):
        """True when libshmar can gather tensor to (or reduce-scatter it from) blocks.

        copyable: a test of each tensor for a plain copy (any dtype);
        without it, the tensors must have a dtype libshmar reduces.
        """
        if len(blocks) != self.size() or any(b.numel() != tensor.numel() or
                                              b.dtype != tensor.dtype for b in blocks):
            return False
        if copyable is not None:
            return copyable(tensor) and all(copyable(b) for b in blocks)
        return _all_local(list(blocks) + [tensor]) is not None

    @staticmethod
    def _run(method, *args):
        try:
            method(*args)
        except shmar.Error as err:
            raise runtime_error(err) from None


def _delegate(name):
    def method(self, *args, **kwargs):
        return getattr(self._gloo, name)(*args, **kwargs)  # pylint: disable=protected-access
    method.__name__ = name
    method.__doc__ = f"{name}: done by the inner gloo group."
    return method


# Everything libshmar does not do goes to gloo, which also reports misuse.
for _name in ("allgather_coalesced", "allreduce_coalesced", "alltoall", "alltoall_base",
              "gather", "monitored_barrier", "recv", "recv_anysource", "reduce", "scatter",
              "send"):
    setattr(ShmarProcessGroup, _name, _delegate(_name))
del _name
