# SPDX-License-Identifier: MIT
"""shmar.torch.empty(): tensors in a group's registered memory.

An all-reduce whose tensor lies in registered memory (shmar_mem_alloc(3))
skips a copy: the peers read it where it is.  That is the tensor an engine
all-reduces after every layer, so it is worth allocating there once.
"""

import errno
import math
import warnings

import torch
from torch.distributed.distributed_c10d import GroupMember

import shmar
from shmar.torch._group import ShmarProcessGroup


def _shmar_group(group):
    """The ShmarProcessGroup that group (default: the world) is, or None.

    torch 1.13 and 2.x alike make the ProcessGroup a creator returns the
    group itself, so the type tells.
    """
    pg = GroupMember.WORLD if group is None else group
    return pg if isinstance(pg, ShmarProcessGroup) else None


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    return torch.Size(size)


def empty(*size, dtype=None, group=None):
    """An uninitialised CPU tensor of shape size in registered memory of group.

    Like torch.empty(*size, dtype=dtype), but when group (default: the
    world) is a "shmar" group on one host, the tensor lies in this rank's
    registered memory of the group's libshmar job (shmar.Comm.alloc), where
    the peers read it without a copy: use it for the tensors you all-reduce.
    Anywhere else (other backends, groups across hosts, empty tensors) it is
    an ordinary tensor, and so it is, with a RuntimeWarning once per group,
    when the rank's registered memory (SHMAR_MEM_BYTES) is used up.  The
    memory is freed when the tensor and every view of it are gone.
    """
    shape = _shape(size)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    pg = _shmar_group(group)
    count = math.prod(shape)
    nbytes = count * torch.empty(0, dtype=dtype).element_size()
    if pg is None or pg.comm is None or nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    try:
        buf = pg.comm.alloc(nbytes)
    except shmar.Error as err:
        if err.errno != errno.ENOMEM:  # a forked child, say: as the collectives would
            raise
        if not getattr(pg, "_warned_full", False):
            pg._warned_full = True
            warnings.warn(f"shmar.torch.empty: no registered memory left for {nbytes} "
                          f"bytes ({err}); using ordinary memory, which the collectives "
                          "copy", RuntimeWarning, stacklevel=2)
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(buf, dtype=dtype, count=count).view(shape)


__all__ = ["empty"]
