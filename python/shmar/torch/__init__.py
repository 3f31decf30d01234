# SPDX-License-Identifier: MIT
"""The torch.distributed backend "shmar": libshmar on each host, gloo between hosts.

    import shmar.torch                      # registers the backend
    dist.init_process_group("shmar", ...)   # instead of "gloo"

Each process group learns where its ranks run through the store torch gives
it (see shmar.torch._hosts).  On one host it forms one libshmar job; across
hosts it runs libshmar-mpi's hierarchy with gloo between the hosts (see
shmar.torch._hierarchy), with libshmar-mpi's numerics: every rank gets the
same bits, whatever the timing.  Collectives libshmar has no part in go to
gloo.  shmar.torch.all_reduce_() is the direct call for an engine's own
all-reduce, and shmar.torch.empty() makes the tensors to give it in memory
the peers read without a copy.
"""

import ctypes
import errno

import torch.distributed as dist
from torch.distributed.distributed_c10d import GroupMember

from shmar import _errors, _lib, _ops
from shmar.torch._group import ShmarProcessGroup, _dtype_codes, runtime_error
from shmar.torch._memory import empty

__all__ = ["ShmarProcessGroup", "all_reduce_", "empty", "BACKEND"]

BACKEND = "shmar"

_SUM = dist.ReduceOp.SUM
_SUM_CODE = _lib.SUM
_raw_allreduce = _lib.raw_allreduce


def _create(store, rank, size, timeout):
    return ShmarProcessGroup(store, rank, size, timeout)


def _register():
    if hasattr(dist.Backend, BACKEND.upper()):
        return  # already registered (a reload of this module)
    try:
        dist.Backend.register_backend(BACKEND, _create, devices=["cpu"])  # torch >= 2.0
    except TypeError:
        dist.Backend.register_backend(BACKEND, _create)  # torch 1.13


def all_reduce_(tensor, op=_SUM, group=None):
    """All-reduce tensor in place and return it.

    The direct path: when group (default: the world) is a shmar group on one
    host and tensor a contiguous CPU tensor of a libshmar dtype, it calls the
    library straight away, skipping torch.distributed's dispatch; otherwise
    (across hosts too) it calls torch.distributed.all_reduce.
    """
    pg = GroupMember.WORLD if group is None else group
    comm = pg._comm if pg.__class__ is ShmarProcessGroup else None
    if comm is not None and tensor.is_cpu:
        dtype = _dtype_codes.get(tensor.dtype)
        code = _SUM_CODE if op is _SUM else _ops.torch_code(op)
        if dtype is not None and code is not None:
            try:
                address = tensor.data_ptr() if tensor.is_contiguous() else None
            except RuntimeError:  # no strides or storage (sparse): not for libshmar
                address = None
            if address is not None:
                # Comm._all_reduce_raw() written out (keep the two the same):
                # one Python call less is a tenth of the cost of this path.
                count = tensor.numel()
                args = comm._raw_args
                if args[0] != address or args[1] != count:
                    args = (address, count, ctypes.c_void_p(address), ctypes.c_size_t(count))
                    comm._raw_args = args
                if not comm._try_lock(False):
                    raise runtime_error(_errors.from_code(
                        -errno.EBUSY, _lib.strerror(-errno.EBUSY),
                        "another thread is using this Comm"))
                try:
                    handle = comm._handle_arg
                    if handle is None:
                        raise ValueError("shmar: operation on a closed Comm")
                    rc = _raw_allreduce(handle, args[2], args[2], args[3], dtype, code)
                    if rc < 0:
                        raise runtime_error(_errors.from_code(
                            rc, _lib.strerror(rc), _lib.last_error(comm._handle)))
                finally:
                    comm._unlock()
                return tensor
    dist.all_reduce(tensor, op=op, group=group)
    return tensor


_register()
