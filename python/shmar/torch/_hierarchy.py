# SPDX-License-Identifier: MIT
"""Collectives of a process group whose ranks span hosts: libshmar in each
host, gloo between them, the numerics of libshmar-mpi.

The steps are libshmar-mpi's (shmar_mpi_allreduce(3) and its companions),
with gloo where it uses MPI; "server of v" and "exchange group v" are
defined in shmar.torch._hosts and shmar.torch._across.

all_reduce, more than SMALL_MAX bytes in the accumulator type:
  1. reduce-scatter in the host (libshmar): the buffer is cut into vmax
     slices, and the server of slice v receives the host's partials of it;
  2. the servers of slice v all-gather their partials (gloo) and each
     combines them in host order (shmar.torch._numerics);
  3. all-gather of the finished slices in the host (libshmar).
all_reduce, up to SMALL_MAX bytes: an all-reduce in the host, then every
  rank all-gathers the whole partials with its peers and combines them.
reduce_scatter: as all_reduce's steps 1 and 2, where step 2 sends each
  host's server the partials of that host's blocks only (gloo all-to-all).
all_gather: the servers of v all-gather their blocks (gloo), then an
  all-gather in the host (libshmar) gives every rank every block.
broadcast: the root sends the buffer to the server of its local rank on
  every other host (gloo), which broadcasts it in its host (libshmar).
barrier: a barrier in the host, the local ranks 0 of the hosts exchange
  headers (gloo), a barrier in the host again.

Failures.  A libshmar error in the host, a gloo error or a failure another
host reports revokes the hierarchy: the rank still takes part in every
exchange across hosts of this and later calls, with the error in its
headers, so the other hosts learn of it there; it aborts its host's libshmar
job, so its host-mates stop waiting at once; then it raises.  Every later
call raises the same error.
"""

import contextlib
import errno
import re
import threading

import torch
import torch.distributed as dist

from shmar import _errors, _lib
from shmar.torch import _across, _numerics
from shmar.torch._across import HEADER

# All-reduces up to this many bytes (in the accumulator type) take the two
# steps; the same threshold as libshmar-mpi's, which gives the same bits.
SMALL_MAX = 16384

_OP_NAMES = {_lib.SUM: "sum", _lib.PROD: "prod", _lib.MAX: "max", _lib.MIN: "min",
             _lib.AVG: "avg"}
_TORCH = _numerics.TORCH_DTYPES
_RANK_IN_TEXT = re.compile(r"\brank (\d+)\b")


def _ceil_div(a, b):
    return -(-a // b)


class Hierarchy:
    """The collectives of one process group across hosts.

    ``comm`` is this host's libshmar job (its ranks in the group's order),
    ``across`` the exchange groups (shmar.torch._across.Across).  join makes
    the libshmar job: join(store, local rank, ranks of the host, timeout).
    """

    def __init__(self, store, layout, size, timeout, join):
        self.layout = layout
        self.size = size
        self._slots = _ceil_div(layout.vmax, len(layout.local_ranks))
        self.comm = join(dist.PrefixStore(f"shmar-host-{layout.host}", store), layout.local,
                         len(layout.local_ranks), timeout)
        try:
            self.across = _across.Across(store, layout, timeout)
        except BaseException:
            self.comm.close()
            raise
        self._seq = 0
        self._failure = None  # the shmar.Error that revoked the hierarchy
        self._busy = threading.Lock()

    def close(self):
        """Leave the host's libshmar job."""
        self.comm.close()

    # ------------------------------------------------------------ state

    @contextlib.contextmanager
    def _collective(self, kind, count=0, dtype=0, op=0):
        """One collective: its Call; raises the failure at the end, if any."""
        if self.comm.closed:
            raise ValueError("shmar: operation on a closed Comm")
        if not self._busy.acquire(False):
            raise _errors.from_code(-errno.EBUSY, _lib.strerror(-errno.EBUSY),
                                    "another thread is using this process group")
        try:
            self._seq += 1
            try:
                yield _across.Call(self._seq, kind, count, dtype, op)
            except _errors.Error as err:
                self._fail(err)
            except BaseException as exc:
                # half a collective: the others must not wait for the rest
                self._fail(_errors.from_code(
                    -errno.ECANCELED, _lib.strerror(-errno.ECANCELED),
                    f"rank {self.layout.rank} stopped in a collective: {exc!r}"))
                raise
            if self._failure is not None:
                failure = self._failure
                raise type(failure)(failure.errno, failure.strerror, failure.details)
        finally:
            self._busy.release()

    def _fail(self, err, *, learned=False):
        """Remember the first failure; tell the other ranks; stop the host's job.

        learned: err came from another rank, which published it already.
        The failure is published before the job is aborted, so a host-mate
        that sees the abort finds the reason in the store.
        """
        if self._failure is None:
            self._failure = err
            if not learned:
                self.across.publish(err)
        try:
            self.comm.abort()
        except (ValueError, _errors.Error):
            pass

    def _local(self, method, *args):
        """A libshmar call in the host, unless revoked; True when it succeeded."""
        if self._failure is not None:
            return False
        try:
            method(*args)
            return True
        except _errors.Error as err:
            if err.errno == errno.ECANCELED:
                # a host-mate aborted the job: it learned of a failure, which
                # it published; say that one rather than the abort
                elsewhere = self.across.flagged()
                if elsewhere is not None:
                    self._fail(elsewhere, learned=True)
                    return False
            self._fail(self._host_error(err))
            return False

    def _host_error(self, err):
        """err of the host's libshmar job, its ranks named as in the group."""
        ranks = self.layout.local_ranks

        def rename(match):
            local = int(match.group(1))
            return f"rank {ranks[local]}" if local < len(ranks) else match.group(0)
        details = _RANK_IN_TEXT.sub(rename, err.details or "")
        where = self.layout.describe_host(self.layout.host)
        return type(err)(err.errno, err.strerror, f"{where}: {details}" if details else where)

    # ------------------------------------------------------------ exchanges

    def _exchange(self, v, block, call, out=None):
        """All-gather block among the servers of v: the hosts' blocks, or None on failure."""
        if v in self.across.broken:
            return None
        _across.write_header(block, call, self.layout.host, self._failure)
        rows = out if out is not None else \
            torch.empty((len(self.layout.hosts), block.numel()), dtype=torch.uint8)
        return rows if self._over_hosts(self.across.all_gather, v, block, rows, call) else None

    def _over_hosts(self, method, *args):
        """An exchange across hosts: True when every host made this call and none failed."""
        try:
            failure, learned = method(*args)
        except _errors.Error as err:
            self._fail(err)
            return False
        if failure is None:
            return True
        self._fail(failure, learned=learned)
        return False

    # ------------------------------------------------------------ all_reduce

    def all_reduce(self, flat, dtype, op):
        """Reduce flat (a contiguous 1-D tensor of library dtype dtype) in place."""
        count = flat.numel()
        with self._collective(_across.ALLREDUCE, count, dtype, op) as call:
            if count == 0:
                return
            acc = _numerics.accumulator(dtype, op)
            if count * _across.itemsize(_TORCH[acc]) <= SMALL_MAX:
                self._all_reduce_small(call, flat, dtype, op, acc)
            else:
                self._all_reduce_large(call, flat, dtype, op, acc)

    def _all_reduce_small(self, call, flat, dtype, op, acc):
        count, wide = flat.numel(), _TORCH[acc]
        block = _across.new_block(count * _across.itemsize(wide))
        partial = _across.data(block, wide, count)
        if self._failure is None:
            source = flat if acc == dtype else flat.to(wide)  # widening is exact
            self._local(self.comm.all_reduce, source, _OP_NAMES[_numerics.host_op(op)],
                        partial)
        rows = None
        # a rank serving several v exchanges on each, so that every exchange
        # group is complete; the partials are the same in each
        for v in self.layout.served():
            rows = self._exchange(v, block, call)
        if rows is not None and self._failure is None:
            _numerics.combine(flat, [_across.data(row, wide, count) for row in rows], dtype,
                              op, self.size)

    def _all_reduce_large(self, call, flat, dtype, op, acc):
        layout, slots = self.layout, self._slots
        nlocal, vmax = len(layout.local_ranks), layout.vmax
        count, wide = flat.numel(), _TORCH[acc]
        esize = _across.itemsize(wide)
        b = _ceil_div(count, vmax)         # elements per slice
        room = HEADER // esize              # room for a header before each slice
        direct_out = slots == 1 and count == vmax * b
        direct_in = direct_out and acc == dtype

        def length(v):
            return max(0, min(b, count - v * b))

        # step 1: partials of this rank's slices, each after a header's room
        # (zeros, reduced too, then overwritten by the header)
        partial = torch.empty((slots, room + b), dtype=wide)
        node_op = _OP_NAMES[_numerics.host_op(op)]
        if self._failure is None:
            if direct_in:
                self._local(self.comm.reduce_scatter, flat, partial[0, room:], node_op)
            else:
                stage = torch.zeros((nlocal, slots, room + b), dtype=wide)
                for v in range(vmax):
                    n = length(v)
                    stage[v % nlocal, v // nlocal, room:room + n].copy_(flat[v * b:v * b + n])
                self._local(self.comm.reduce_scatter, stage.view(-1), partial.view(-1), node_op)
        # step 2: across hosts, slice by slice
        out = flat[layout.local * b:(layout.local + 1) * b].view(1, b) if direct_out else \
            torch.empty((slots, b), dtype=_TORCH[dtype])
        blocks = partial.view(torch.uint8)
        for j, v in enumerate(layout.served()):
            n = length(v)
            if n == 0:  # the same on every host: nobody sends
                continue
            rows = self._exchange(v, blocks[j, :HEADER + n * esize], call)
            if rows is not None and self._failure is None:
                _numerics.combine(out[j, :n], [_across.data(row, wide, n) for row in rows],
                                  dtype, op, self.size)
        # step 3: every slice to every rank of the host
        if direct_out:
            self._local(self.comm.all_gather, out.view(-1), flat)
            return
        gathered = torch.empty((nlocal, slots, b), dtype=_TORCH[dtype])
        if self._local(self.comm.all_gather, out.view(-1), gathered.view(-1)):
            for v in range(vmax):
                n = length(v)
                flat[v * b:v * b + n].copy_(gathered[v % nlocal, v // nlocal, :n])

    # ------------------------------------------------------------ reduce_scatter

    def reduce_scatter(self, output, inp, dtype, op):
        """output (count elements) gets block ``rank`` of the reduction of inp (size x count)."""
        count = output.numel()
        with self._collective(_across.REDUCE_SCATTER, count, dtype, op) as call:
            if count == 0:
                return
            self._reduce_scatter(call, output, inp, dtype, op)

    def _reduce_scatter(self, call, output, inp, dtype, op):
        layout, slots = self.layout, self._slots
        hosts, nlocal = layout.hosts, len(layout.local_ranks)
        count = output.numel()
        acc = _numerics.accumulator(dtype, op)
        wide = _TORCH[acc]
        esize = _across.itemsize(wide)
        room = HEADER // esize
        block = HEADER + count * esize   # bytes of one host's block in step 2
        # step 1: slot j of local rank p holds, for every host m, the block of
        # the rank of m with local rank v = p + j * nlocal (zeros if m has none)
        partial = torch.empty((slots, len(hosts), room + count), dtype=wide)
        if self._failure is None:
            stage = torch.zeros((nlocal, slots, len(hosts), room + count), dtype=wide)
            blocks = inp.view(self.size, count)
            for v in range(layout.vmax):
                for m, ranks in enumerate(hosts):
                    if v < len(ranks):
                        stage[v % nlocal, v // nlocal, m, room:].copy_(blocks[ranks[v]])
            self._local(self.comm.reduce_scatter, stage.view(-1), partial.view(-1),
                        _OP_NAMES[_numerics.host_op(op)])
        # step 2: the server of v sends each host the partials of its block
        # of slice v and receives those of its own block (slot 0) from every host
        blocks = partial.view(torch.uint8)
        for j, v in enumerate(layout.served()):
            if v in self.across.broken:
                continue
            for m in range(len(hosts)):
                _across.write_header(blocks[j, m], call, layout.host, self._failure)
            to = [m for m, ranks in enumerate(hosts) if v < len(ranks)]
            rows = torch.empty((len(hosts) if j == 0 else 0, block), dtype=torch.uint8)
            if (self._over_hosts(self.across.all_to_all, v, blocks[j], to, rows, call)
                    and j == 0 and self._failure is None):
                _numerics.combine(output, [_across.data(row, wide, count) for row in rows],
                                  dtype, op, self.size)

    # ------------------------------------------------------------ copies

    def all_gather(self, out, inp):
        """out (uint8, size x n) gets inp (uint8, n) of every rank, in rank order."""
        nbytes = inp.numel()
        with self._collective(_across.ALLGATHER, nbytes) as call:
            if nbytes == 0:
                return
            layout, slots = self.layout, self._slots
            hosts, nlocal = layout.hosts, len(layout.local_ranks)
            block = _across.new_block(nbytes)
            block[HEADER:].copy_(inp)
            # a rank serving a v its host lacks sends its own block as a dummy
            gathered = torch.empty((slots, len(hosts), HEADER + nbytes), dtype=torch.uint8)
            for j, v in enumerate(layout.served()):
                self._exchange(v, block, call, gathered[j])
            if self._failure is not None:
                return
            everything = torch.empty((nlocal,) + tuple(gathered.shape), dtype=torch.uint8)
            if not self._local(self.comm.all_gather, gathered.view(-1), everything.view(-1)):
                return
            blocks = out.view(self.size, nbytes)
            for v in range(layout.vmax):
                for m, ranks in enumerate(hosts):
                    if v < len(ranks):
                        blocks[ranks[v]].copy_(everything[v % nlocal, v // nlocal, m, HEADER:])

    def broadcast(self, buf, root):
        """buf (uint8) of rank root to every rank."""
        nbytes = buf.numel()
        with self._collective(_across.BROADCAST, nbytes, 0, root) as call:
            if nbytes == 0:
                return
            layout = self.layout
            q, root_host = layout.local_of[root], layout.host_of[root]
            here = q % len(layout.local_ranks)  # the server of q on this host
            if layout.local == here:
                self._broadcast_across(call, buf, q, root_host)
            self._local(self.comm.broadcast, buf, here)

    def _broadcast_across(self, call, buf, q, root_host):
        if q in self.across.broken:
            return
        header = _across.new_block(0)
        _across.write_header(header, call, self.layout.host, self._failure)
        self._over_hosts(self.across.broadcast, q, header, buf, root_host, call)

    def barrier(self):
        """Return when every rank of every host has called barrier()."""
        with self._collective(_across.BARRIER) as call:
            self._local(self.comm.barrier)
            if self.layout.local == 0:
                self._exchange(0, _across.new_block(0), call)
            self._local(self.comm.barrier)

