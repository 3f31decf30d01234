# SPDX-License-Identifier: MIT
"""What crosses hosts: blocks of a header and data, moved by gloo.

Exchange group v joins the ranks that serve virtual local rank v (see
shmar.torch._hosts), one per host, its gloo ranks being the host numbers,
so every gather arrives in host order.

Every block a rank sends to another host starts with a header of HEADER
bytes: the call it belongs to (number, kind, count, dtype, op or root) and
the sender's state.  A rank whose collective failed still sends its blocks,
marked with the error and its description, so that the ranks of the other
hosts learn of the failure in the same exchange instead of waiting for it,
and a rank that made a different call is told so (MismatchError) instead
of reading the wrong data.  This is libshmar-mpi's scheme.

Gloo ends the process (std::terminate) that receives a longer message than
it expects, so the ranks of an exchange group never send messages whose
size only the sender knows: the first message of every exchange on group v
has the size of the previous exchange's blocks there (the same on every
member: the headers showed that they agreed), at most FIRST_MAX bytes,
padded or cut; the headers in it are checked, and only when every host made
the same call does the rest follow, its size now known to all.  In a loop
of equal calls, the first message is the whole block.  (A broadcast sends
the headers alone first, then the root's data.)

What the header cannot reach, the group's store does: a rank that fails
sets a flag there, and a rank blocked in a gloo operation looks at the flag
every POLL (a rank that gave up on an exchange can leave a peer of a third
host waiting for data that never comes).  Gloo's own timeout, the process
group's, bounds every wait in any case.
"""

import ctypes
import errno
from collections import namedtuple
from datetime import timedelta

import torch
import torch.distributed as dist

from shmar import _errors, _lib

HEADER = 256                # bytes in front of the data of every block
_FIELDS = 8                 # int64 fields at the start of the header
_TEXT = HEADER - 8 * _FIELDS  # then the description of a failure (UTF-8)
_MAGIC = 0x53484D5254484452  # "SHMRTHDR"
POLL = timedelta(milliseconds=100)
FIRST_MAX = 1 << 16         # bytes of a first message at most

ALLREDUCE, REDUCE_SCATTER, ALLGATHER, BROADCAST, BARRIER = range(1, 6)
_KIND_NAMES = {ALLREDUCE: "all_reduce", REDUCE_SCATTER: "reduce_scatter",
               ALLGATHER: "all_gather", BROADCAST: "broadcast", BARRIER: "barrier"}

Call = namedtuple("Call", "seq kind count dtype op")
Call.__doc__ = """One collective: its number on the group, kind, count, dtype, and op (or root)."""


def new_block(nbytes):
    """A uint8 tensor of a header and nbytes of data (64-byte aligned, as torch allocates)."""
    return torch.empty(HEADER + nbytes, dtype=torch.uint8)


def itemsize(dtype):
    """Bytes of an element of torch dtype dtype."""
    size = _ITEMSIZE.get(dtype)
    if size is None:
        size = _ITEMSIZE[dtype] = torch.empty((), dtype=dtype).element_size()
    return size


_ITEMSIZE = {}


def data(block, dtype, count):
    """The data of a block (a row of uint8) as count elements of torch dtype dtype."""
    return block[HEADER:HEADER + count * itemsize(dtype)].view(dtype)


def write_header(block, call, host, failure):
    """Fill the header of block: call, the sender's host and failure (a shmar.Error or None)."""
    status = failure.errno if failure is not None else 0
    fields = torch.tensor([_MAGIC, status, host, call.seq, call.kind, call.count, call.dtype,
                           call.op], dtype=torch.int64)
    block[:8 * _FIELDS].copy_(fields.view(torch.uint8))
    if failure is not None:
        text = (failure.details or "").encode()[:_TEXT]
        text += b"\0" * (_TEXT - len(text))
        block[8 * _FIELDS:HEADER].copy_(torch.frombuffer(bytearray(text), dtype=torch.uint8))


def _text(row):
    raw = bytes(row[8 * _FIELDS:HEADER].tolist())
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def judge(rows, call, host):
    """What the headers of rows (one block per host, in host order) say to host.

    (None, False) when every host made this call and none failed; else
    (error, learned): the first failure in host order that is not only the
    echo of another one (ECANCELED), learned from its sender; or a
    MismatchError found here.
    """
    fields = _fields(rows)
    canceled = None
    for other, (magic, status, *_rest) in enumerate(fields):
        if magic != _MAGIC:
            return _error(errno.EPROTO, f"host {other} sent a block that is not "
                          "shmar.torch's"), False
        if status == errno.ECANCELED:
            if canceled is None:
                canceled = _error(status, _text(rows[other]))
        elif status:
            return _error(status, _text(rows[other])), True
    if canceled is not None:
        return canceled, True
    mine = list(call)
    for other, row in enumerate(fields):
        if row[3:] != mine:
            return _error(errno.EPROTO, "ranks made different calls: "
                          f"host {other}'s call {row[3]} is {_describe(row[4:])}, host "
                          f"{host}'s call {call.seq} is {_describe(mine[1:])}"), False
    return None, False


def _fields(rows):
    """The int64 fields of the header of every row, as lists."""
    heads = torch.empty((rows.shape[0], 8 * _FIELDS), dtype=torch.uint8)
    return heads.copy_(rows[:, :8 * _FIELDS]).view(torch.int64).tolist()  # rows: unaligned


def _abandon(group):
    """Keep a gloo group whose operation this rank gave up on, forever.

    torch cannot cancel a gloo operation, and destroying the group (also at
    the exit of the process) would wait until it times out: up to the
    process group's timeout, 30 minutes by default.  A leaked group costs
    its threads and sockets until the process ends.
    """
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(group))


def _fit(block, nbytes):
    """The first nbytes of block: a view, or a copy padded with zeros."""
    if block.numel() >= nbytes:
        return block[:nbytes]
    padded = torch.zeros(nbytes, dtype=torch.uint8)
    padded[:block.numel()].copy_(block)
    return padded


def _describe(kind_count_dtype_op):
    kind, count, dtype, op = kind_count_dtype_op
    return f"{_KIND_NAMES.get(kind, '?')} (count {count}, dtype {dtype}, op/root {op})"


def _error(code, details):
    return _errors.from_code(code, _lib.strerror(-code), details)


class Across:
    """The exchange groups of this rank and the failure flag of its process group.

    Each exchange returns what the headers said, as judge() does: (None,
    False) when the data followed, else (error, learned).  A gloo failure
    raises a shmar.Error.
    """

    def __init__(self, store, layout, timeout):
        self.layout = layout
        self.broken = set()  # groups that failed once: never used again
        self._flag = dist.PrefixStore("shmar-failure", store)
        self._first = {}     # v -> bytes of the first message of the next exchange
        self.groups = {}
        # every rank makes its groups in increasing v: nobody waits for a
        # rank that waits for it
        for v in layout.served():
            self.groups[v] = dist.ProcessGroupGloo(
                dist.PrefixStore(f"shmar-across-{v}", store), layout.host,
                len(layout.hosts), timeout)

    def _sizes(self, v, nbytes):
        """(bytes of the first message, bytes of this call's blocks) on group v."""
        return self._first.get(v, HEADER), nbytes

    def _agreed(self, v, nbytes, verdict):
        if verdict[0] is None:  # every member saw the same headers: the same next size
            self._first[v] = min(nbytes, FIRST_MAX)
        return verdict

    # ------------------------------------------------------------ operations

    def all_gather(self, v, block, out, call):
        """Gather block of every host into the rows of out (hosts x block), in host order."""
        first, nbytes = self._sizes(v, block.numel())
        if nbytes == first:
            self._gather(v, block, out)
            return self._agreed(v, nbytes, judge(out, call, self.layout.host))
        heads = torch.empty((out.shape[0], first), dtype=torch.uint8)
        self._gather(v, _fit(block, first), heads)
        verdict = judge(heads, call, self.layout.host)
        if verdict[0] is None:
            shown = min(first, nbytes)
            out[:, :shown].copy_(heads[:, :shown])
            if nbytes > first:
                rest = [out[h, first:] for h in range(out.shape[0])]
                self._run(v, lambda group: group.allgather([rest], [block[first:]]))
        return self._agreed(v, nbytes, verdict)

    def all_to_all(self, v, blocks, to, out, call):
        """Row m of blocks (hosts x block) to host m, for the hosts in to.

        out: the blocks every host sends this rank (hosts x block), or an
        empty tensor when this rank receives none.  Every member sends every
        other the first message, so that all see the same headers.
        """
        hosts, nbytes = blocks.shape
        first, _ = self._sizes(v, nbytes)
        receive = out.numel() != 0
        if nbytes == first and len(to) == hosts and receive:
            self._run(v, lambda group: group.alltoall_base(
                out.view(-1), blocks.view(-1), [nbytes] * hosts, [nbytes] * hosts))
            return self._agreed(v, nbytes, judge(out, call, self.layout.host))
        heads = torch.empty((hosts, first), dtype=torch.uint8)
        sent = torch.stack([_fit(row, first) for row in blocks])
        self._run(v, lambda group: group.alltoall_base(
            heads.view(-1), sent.view(-1), [first] * hosts, [first] * hosts))
        verdict = judge(heads, call, self.layout.host)
        if verdict[0] is None:
            shown = min(first, nbytes)
            if receive:
                out[:, :shown].copy_(heads[:, :shown])
            if nbytes > first:
                rest = nbytes - first
                sent = blocks[to, first:].contiguous()
                got = torch.empty((hosts if receive else 0, rest), dtype=torch.uint8)
                self._run(v, lambda group: group.alltoall_base(
                    got.view(-1), sent.view(-1), [rest if receive else 0] * hosts,
                    [rest if m in to else 0 for m in range(hosts)]))
                if receive:
                    out[:, first:].copy_(got)
        return self._agreed(v, nbytes, verdict)

    def broadcast(self, v, header, buf, root_host, call):
        """buf (uint8) of host root_host to the other members of group v.

        Every member sends its header first (an all-gather of headers
        alone), so that all of them, the root too, see who disagrees; only
        then does the root send buf.  One more round trip than a bare
        broadcast; broadcasts are rare next to all-reduces.
        """
        heads = torch.empty((len(self.layout.hosts), HEADER), dtype=torch.uint8)
        self._gather(v, header, heads)
        verdict = judge(heads, call, self.layout.host)
        if verdict[0] is None:
            opts = dist.BroadcastOptions()
            opts.rootRank = root_host
            opts.rootTensor = 0
            self._run(v, lambda group: group.broadcast([buf], opts))
        return verdict

    def _gather(self, v, block, out):
        """block of every member into the rows of out (contiguous), in host order.

        Up to FIRST_MAX bytes, as an all-to-all of copies of block: gloo's
        all-to-all sends to each peer directly (its all-gather is a ring,
        where one rank that gives up stalls the next), and took 0.6 of the
        time of its all-gather for 260 bytes at two members, measured here.
        Larger blocks take the all-gather, which copies less.
        """
        if block.numel() > FIRST_MAX:
            self._run(v, lambda group: group.allgather([list(out.unbind(0))], [block]))
            return
        sizes = [block.numel()] * out.shape[0]
        copies = block.repeat(out.shape[0])
        self._run(v, lambda group: group.alltoall_base(out.view(-1), copies, sizes, sizes))

    def _run(self, v, start):
        """Start an operation on group v, wait for it; a shmar.Error when it fails.

        The group is broken afterwards: an operation left unfinished could
        otherwise meet the next one's data.
        """
        work = None
        try:
            work = start(self.groups[v])
            self._wait(work)
        except RuntimeError as err:
            self.broken.add(v)
            raise self._gloo_error(v, err) from None
        except BaseException:
            self.broken.add(v)
            if work is not None and not work.is_completed():
                _abandon(self.groups[v])
            raise

    def _wait(self, work):
        """Wait for work, looking at the flag every POLL.

        A poll's "Operation timed out!" is not the work's result even when
        the work is complete by the time we look: it may have completed just
        after the poll gave up.  Then wait() once more, which returns at once
        or raises the work's own error (gloo's timeout included).
        """
        while True:
            try:
                work.wait(POLL)
                return
            except RuntimeError:
                if work.is_completed():
                    work.wait()
                    return
            failure = self.flagged()
            if failure is not None:
                raise failure

    def _gloo_error(self, v, err):
        """A gloo failure as a shmar.Error that says between which ranks."""
        text = str(err).strip()
        others = [r for r in self.layout.servers(v) if r not in self.layout.local_ranks]
        if len(others) == 1:
            peers = f"rank {others[0]}"
        else:
            peers = "one of ranks " + ", ".join(map(str, others))
        low = text.lower()
        if "timed out" in low or "timeout" in low:
            return _error(errno.ETIMEDOUT, f"{peers} did not answer across hosts "
                          f"before the process group's timeout (gloo: {text})")
        if "closed" in low or "reset" in low or "broken pipe" in low:
            return _error(errno.EOWNERDEAD, f"the connection to {peers} on another host "
                          f"closed: it died or left the job (gloo: {text})")
        return _error(errno.EIO, f"gloo failed between this rank and {peers}: {text}")

    # ------------------------------------------------------------ the flag

    def publish(self, failure):
        """Tell every rank of the group about failure through the store (best effort)."""
        try:
            self._flag.set("what", f"{failure.errno} {failure.details}")
            self._flag.add("count", 1)
        except Exception:  # noqa: BLE001 (the store may be gone with its host)
            pass

    def flagged(self):
        """The failure some rank published, or None."""
        try:
            if self._flag.add("count", 0) == 0:
                return None
            code, _, details = self._flag.get("what").decode(errors="replace").partition(" ")
            return _error(int(code), details)
        except Exception:  # noqa: BLE001 (the store is unreachable: nothing to learn there)
            return None
