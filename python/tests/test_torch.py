# SPDX-License-Identifier: MIT
"""The torch.distributed backend "shmar": every call it does, at 2 and 3 ranks,
against the numpy reference and gloo; gloo fallback; subgroups; hosts; faults.
(Pretend hosts in depth: test_torch_hosts.py.)"""

import contextlib
import errno
import io
import os
import signal
import socket
import time
from datetime import timedelta

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

import shmar  # noqa: E402
import shmar.torch  # noqa: E402
from shmar.torch import ShmarProcessGroup  # noqa: E402

import data  # noqa: E402
import reference  # noqa: E402
from reference import STORAGE  # noqa: E402
from tensors import as_array, as_tensor, same_bits  # noqa: E402

DTYPES = ("float32", "bfloat16", "float16", "float64", "int32", "int64", "uint8")
NRANKS = (2, 3)
OPS = {"sum": dist.ReduceOp.SUM, "prod": dist.ReduceOp.PRODUCT, "max": dist.ReduceOp.MAX,
       "min": dist.ReduceOp.MIN, "avg": dist.ReduceOp.AVG}
COUNTS = (1, 1000, 70_001)
SEED = 4711
TIMEOUT = timedelta(seconds=60)
GLOO = None  # in every rank: a gloo group of the world, to compare with


def _gloo_can(dtype, op=None):
    """Whether torch 1.13's gloo does this (no bfloat16, no AVG)."""
    return dtype != "bfloat16" and op != "avg"


def setup_world(rank, nranks, scratch, init="file", fake_hosts=False):
    """Join the world with the shmar backend (and a gloo group of it)."""
    global GLOO  # pylint: disable=global-statement
    if fake_hosts:
        os.environ["SHMAR_TEST_HOST_ID"] = f"pretend-host-{rank}"
    if init == "file":
        dist.init_process_group("shmar", init_method=f"file://{scratch}", rank=rank,
                                world_size=nranks, timeout=TIMEOUT)
    elif init == "env":
        dist.init_process_group("shmar", init_method="env://", rank=rank, world_size=nranks,
                                timeout=TIMEOUT)
    else:
        dist.init_process_group("shmar", init_method=init, rank=rank, world_size=nranks,
                                timeout=TIMEOUT)
    GLOO = dist.new_group(backend="gloo")


def _world(pools, nranks):
    return pools.get(nranks, setup_world)


# ------------------------------------------------------------ the backend itself

def test_registered():
    assert hasattr(dist.Backend, "SHMAR")


def test_layout():
    from shmar.torch._hosts import Layout  # pylint: disable=import-outside-toplevel
    layout = Layout(["a 1 uid=0", "b 2 uid=0", "a 1 uid=0", "a 1 uid=0", "c 3 uid=0"], 2)
    assert layout.hosts == [[0, 2, 3], [1], [4]] and layout.local_ranks == [0, 2, 3]
    assert (layout.rank, layout.host, layout.local) == (2, 0, 1)
    assert layout.host_of == [0, 1, 0, 0, 2] and layout.local_of == [0, 0, 1, 2, 0]
    assert not layout.single_host
    assert layout.describe() == "3 hosts (a: ranks 0,2-3; b: ranks 1; c: ranks 4)"
    assert layout.describe_host(0) == "host 0 (ranks 0,2-3)"
    # hosts smaller than the largest serve the local ranks they lack
    assert layout.vmax == 3 and layout.served() == [1]
    assert [layout.servers(v) for v in range(3)] == [[0, 1, 4], [2, 1, 4], [3, 1, 4]]
    assert Layout(["a", "b", "a", "a", "c"], 1).served() == [0, 1, 2]
    assert Layout(["x"] * 4, 1).single_host


def rank_world(rank, nranks):
    pg = dist.group.WORLD
    assert isinstance(pg, ShmarProcessGroup) and pg.getBackendName() == "shmar"
    assert str(dist.get_backend()).lower() == "shmar"
    assert pg.comm is not None and pg.layout.single_host
    assert (pg.rank(), pg.size()) == (rank, nranks) == (dist.get_rank(), dist.get_world_size())


@pytest.mark.parametrize("nranks", NRANKS)
def test_world_uses_libshmar(pools, nranks):
    _world(pools, nranks).run(rank_world)


# ------------------------------------------------------------ what libshmar does

def rank_all_reduce(rank, nranks, dtype):
    torch_dtype = as_tensor(np.zeros(1, dtype=STORAGE[dtype]), dtype).dtype
    for name, op in OPS.items():
        for count in COUNTS:
            inputs = [data.make(dtype, count, r, SEED + count) for r in range(nranks)]
            expected = reference.reduce(inputs, name, dtype)
            what = f"all_reduce {dtype} {name} n={count}"
            mine = as_tensor(inputs[rank].copy(), dtype)
            dist.all_reduce(mine, op=op)
            same_bits(as_array(mine, dtype), expected, dtype, what)
            mine = as_tensor(inputs[rank].copy(), dtype)
            assert shmar.torch.all_reduce_(mine, op) is mine
            same_bits(as_array(mine, dtype), expected, dtype, what + " (all_reduce_)")
            # as a row of a matrix: not contiguous
            wide = torch.zeros((count, 3), dtype=torch_dtype)
            wide[:, 1] = as_tensor(inputs[rank].copy(), dtype)
            dist.all_reduce(wide[:, 1], op=op)
            same_bits(as_array(wide[:, 1], dtype), expected, dtype, what + " (strided)")
            assert not wide[:, 0].any() and not wide[:, 2].any()
            if _gloo_can(dtype, name):  # same bits as gloo where the order cannot matter
                exact = [data.exact(dtype, count, r, SEED) for r in range(nranks)]
                ours = as_tensor(exact[rank].copy(), dtype)
                theirs = ours.clone()
                dist.all_reduce(ours, op=op)
                dist.all_reduce(theirs, op=op, group=GLOO)
                assert torch.equal(ours, theirs), what + " differs from gloo"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nranks", NRANKS)
def test_all_reduce(pools, nranks, dtype):
    _world(pools, nranks).run(rank_all_reduce, dtype)


def rank_gathers(rank, nranks, dtype):
    count = 1001
    inputs = [data.make(dtype, count, r, SEED) for r in range(nranks)]
    everything = np.concatenate(inputs)
    mine = as_tensor(inputs[rank].copy(), dtype)
    # all_gather_into_tensor, into a flat and into a strided output
    out = torch.empty(count * nranks, dtype=mine.dtype)
    dist.all_gather_into_tensor(out, mine)
    same_bits(as_array(out, dtype), everything, dtype, "all_gather_into_tensor")
    strided = torch.zeros((count * nranks, 2), dtype=mine.dtype)
    dist.all_gather_into_tensor(strided[:, 0], mine)
    same_bits(as_array(strided[:, 0], dtype), everything, dtype, "all_gather_into_tensor strided")
    # all_gather into a list, compared with gloo's
    blocks = [torch.empty(count, dtype=mine.dtype) for _ in range(nranks)]
    dist.all_gather(blocks, mine)
    for r, block in enumerate(blocks):
        same_bits(as_array(block, dtype), inputs[r], dtype, f"all_gather block {r}")
    if _gloo_can(dtype):
        theirs = [torch.empty(count, dtype=mine.dtype) for _ in range(nranks)]
        dist.all_gather(theirs, mine, group=GLOO)
        assert all(torch.equal(a.view(torch.uint8), b.view(torch.uint8))
                   for a, b in zip(blocks, theirs))
    # broadcast from every rank, with gloo's as a second opinion
    for root in range(nranks):
        buf = as_tensor(inputs[rank].copy(), dtype)
        dist.broadcast(buf, src=root)
        same_bits(as_array(buf, dtype), inputs[root], dtype, f"broadcast from {root}")
        if _gloo_can(dtype):
            theirs = as_tensor(inputs[rank].copy(), dtype)
            dist.broadcast(theirs, src=root, group=GLOO)
            assert torch.equal(buf.view(torch.uint8), theirs.view(torch.uint8))
    strided = torch.zeros((count, 2), dtype=mine.dtype)
    strided[:, 1] = as_tensor(inputs[rank].copy(), dtype)
    dist.broadcast(strided[:, 1], src=nranks - 1)
    same_bits(as_array(strided[:, 1], dtype), inputs[-1], dtype, "broadcast strided")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nranks", NRANKS)
def test_gathers_and_broadcast(pools, nranks, dtype):
    _world(pools, nranks).run(rank_gathers, dtype)


def rank_reduce_scatters(rank, nranks, dtype):
    count = 513
    for name, op in OPS.items():
        inputs = [data.make(dtype, count * nranks, r, SEED + 1) for r in range(nranks)]
        expected = reference.reduce(inputs, name, dtype)[rank * count:(rank + 1) * count]
        mine = as_tensor(inputs[rank].copy(), dtype)
        out = torch.empty(count, dtype=mine.dtype)
        dist.reduce_scatter_tensor(out, mine, op=op)
        same_bits(as_array(out, dtype), expected, dtype, f"reduce_scatter_tensor {name}")
        pieces = list(as_tensor(inputs[rank].copy(), dtype).reshape(nranks, count))
        out = torch.empty(count, dtype=mine.dtype)
        dist.reduce_scatter(out, pieces, op=op)
        same_bits(as_array(out, dtype), expected, dtype, f"reduce_scatter {name}")
        strided = torch.zeros((count * nranks, 2), dtype=mine.dtype)
        strided[:, 0] = mine
        out = torch.zeros((count, 2), dtype=mine.dtype)
        dist.reduce_scatter_tensor(out[:, 1], strided[:, 0], op=op)
        same_bits(as_array(out[:, 1], dtype), expected, dtype, f"reduce_scatter strided {name}")
        if _gloo_can(dtype, name):  # gloo has no reduce_scatter: its all_reduce, sliced
            exact = [data.exact(dtype, count * nranks, r, SEED) for r in range(nranks)]
            ours = torch.empty(count, dtype=mine.dtype)
            dist.reduce_scatter_tensor(ours, as_tensor(exact[rank].copy(), dtype), op=op)
            theirs = as_tensor(exact[rank].copy(), dtype)
            dist.all_reduce(theirs, op=op, group=GLOO)
            assert torch.equal(ours, theirs[rank * count:(rank + 1) * count])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nranks", NRANKS)
def test_reduce_scatters(pools, nranks, dtype):
    _world(pools, nranks).run(rank_reduce_scatters, dtype)


def rank_barrier(rank, nranks):
    dist.barrier()
    if rank == nranks - 1:
        time.sleep(0.3)
    start = time.monotonic()
    dist.barrier()
    return time.monotonic() - start


@pytest.mark.parametrize("nranks", NRANKS)
def test_barrier(pools, nranks):
    waited = _world(pools, nranks).run(rank_barrier)
    assert all(w > 0.2 for w in waited[:-1]), waited


def rank_async(rank, nranks):
    first, second = torch.full((4,), float(rank + 1)), torch.full((2,), 10.0 * (rank + 1))
    work1 = dist.all_reduce(first, async_op=True)
    work2 = dist.all_reduce(second, op=dist.ReduceOp.MAX, async_op=True)
    assert work1 is not work2
    assert work1.wait() and work2.wait() and work1.is_completed() and work1.is_success()
    total = nranks * (nranks + 1) / 2
    assert work1.get_future().wait()[0].tolist() == [total] * 4
    assert work2.get_future().wait()[0].tolist() == [10.0 * nranks] * 2
    for work in (dist.broadcast(first, src=0, async_op=True), dist.barrier(async_op=True),
                 dist.all_gather_into_tensor(torch.empty(4 * nranks), first, async_op=True),
                 dist.reduce_scatter_tensor(torch.empty(1), torch.ones(nranks), async_op=True)):
        assert work.wait() and work.is_completed()


@pytest.mark.parametrize("nranks", NRANKS)
def test_async_op(pools, nranks):
    _world(pools, nranks).run(rank_async)


# ------------------------------------------------------------ what gloo does for us

def rank_gloo_fallback(rank, nranks):
    base = torch.arange(6, dtype=torch.float32) + 100 * rank
    # gather and scatter
    blocks = [torch.empty(6) for _ in range(nranks)] if rank == 0 else None
    dist.gather(base, blocks, dst=0)
    if rank == 0:
        assert [b.tolist() for b in blocks] == [(torch.arange(6.) + 100 * r).tolist()
                                                for r in range(nranks)]
    got = torch.empty(2)
    dist.scatter(got, [torch.full((2,), float(r)) for r in range(nranks)] if rank == 1
                 else None, src=1)
    assert got.tolist() == [float(rank)] * 2
    # all_to_all_single (gloo has no list all_to_all)
    out = torch.empty(nranks)
    dist.all_to_all_single(out, torch.arange(float(nranks)) + 10 * rank)
    assert out.tolist() == [rank + 10.0 * r for r in range(nranks)]
    # send and recv, reduce
    if rank == 0:
        dist.send(torch.tensor([42.0]), dst=1)
    elif rank == 1:
        box = torch.empty(1)
        dist.recv(box, src=0)
        assert box.item() == 42.0
    total = torch.tensor([rank + 1.0])
    dist.reduce(total, dst=0)
    if rank == 0:
        assert total.item() == nranks * (nranks + 1) / 2
    # dtypes and operations libshmar lacks, compared with gloo (which reduces no bool)
    for tensor, op in ((torch.tensor([1 + 2j, rank * 1j]), dist.ReduceOp.SUM),
                       (torch.tensor([3, -rank, 7], dtype=torch.int8), dist.ReduceOp.SUM),
                       (torch.tensor([6, 5 + rank], dtype=torch.int32), dist.ReduceOp.BAND),
                       (torch.tensor([1, 2 * rank], dtype=torch.int64), dist.ReduceOp.BOR)):
        theirs = tensor.clone()
        dist.all_reduce(tensor, op=op)
        dist.all_reduce(theirs, op=op, group=GLOO)
        assert torch.equal(tensor, theirs), (tensor, theirs)

    # copies of any dtype (gloo moves no bool), as bytes by libshmar
    bools = [torch.empty(2, dtype=torch.bool) for _ in range(nranks)]
    dist.all_gather(bools, torch.tensor([True, rank == 0]))
    assert [b.tolist() for b in bools] == [[True, r == 0] for r in range(nranks)]
    flag = torch.tensor([rank == 1])
    dist.broadcast(flag, src=1)
    assert flag.item()
    pairs = torch.empty(2 * nranks, dtype=torch.complex64)
    dist.all_gather_into_tensor(pairs, torch.tensor([rank + 1j, -rank * 1j]))
    assert pairs.tolist() == [v for r in range(nranks) for v in (r + 1j, -r * 1j)]
    shorts = torch.tensor([rank, -7], dtype=torch.int16)
    dist.broadcast(shorts, src=0)
    assert shorts.tolist() == [0, -7]
    scalar = torch.tensor(complex(rank, 1))  # zero dimensions
    dist.broadcast(scalar, src=nranks - 1)
    assert scalar.item() == complex(nranks - 1, 1)
    rows = [torch.empty((1, 2), dtype=torch.int16) for _ in range(nranks)]
    dist.all_gather(rows, torch.tensor([rank, 5], dtype=torch.int16))  # shapes differ
    assert [r.tolist() for r in rows] == [[[r, 5]] for r in range(nranks)]


@pytest.mark.parametrize("nranks", NRANKS)
def test_gloo_fallback(pools, nranks):
    _world(pools, nranks).run(rank_gloo_fallback)


# ------------------------------------------------------------ groups

def rank_subgroups(rank, nranks):
    # every rank makes every group, in the same order (torch's rule)
    pairs = [dist.new_group([0, nranks - 1], backend="shmar"), dist.new_group([0, 1], backend="shmar")]
    for members, group in zip(([0, nranks - 1], [0, 1]), pairs):
        if rank not in members:
            assert group == dist.GroupMember.NON_GROUP_MEMBER
            continue
        assert isinstance(group, ShmarProcessGroup) and group.comm is not None
        assert group.comm.size == len(members)
        value = torch.tensor([float(rank + 1)], dtype=torch.bfloat16)
        dist.all_reduce(value, group=group)
        assert value.item() == sum(m + 1 for m in members)
        value = torch.tensor([rank + 1], dtype=torch.int64)
        shmar.torch.all_reduce_(value, dist.ReduceOp.MAX, group=group)
        assert value.item() == max(members) + 1
        out = torch.empty(2 * len(members))
        dist.all_gather_into_tensor(out, torch.full((2,), float(rank)), group=group)
        assert out.tolist() == [float(m) for m in members for _ in range(2)]
        dist.barrier(group=group)
    # the world still works after the groups
    value = torch.ones(3)
    dist.all_reduce(value)
    assert value.tolist() == [float(nranks)] * 3


@pytest.mark.parametrize("nranks", NRANKS)
def test_subgroups(pools, nranks):
    _world(pools, nranks).run(rank_subgroups)


def rank_other_environment(rank, nranks):
    """Ranks whose SHMAR_DIR differ still meet: in rank 0's directory."""
    import tempfile  # pylint: disable=import-outside-toplevel
    shared = os.environ["SHMAR_DIR"]
    with tempfile.TemporaryDirectory() as own:
        if rank != 0:
            os.environ["SHMAR_DIR"] = own
        try:
            group = dist.new_group(backend="shmar")
        finally:
            os.environ["SHMAR_DIR"] = shared
        value = torch.ones(2, dtype=torch.bfloat16)
        dist.all_reduce(value, group=group)
        assert value.tolist() == [float(nranks)] * 2 and os.listdir(own) == []


@pytest.mark.parametrize("nranks", NRANKS)
def test_ranks_with_other_environments(pools, nranks):
    _world(pools, nranks).run(rank_other_environment)


def rank_direct_path(rank, nranks):
    one = torch.ones(5, dtype=torch.float16)
    assert shmar.torch.all_reduce_(one) is one and one.tolist() == [float(nranks)] * 5
    # what the direct path hands to torch.distributed.all_reduce
    on_gloo = torch.ones(3)
    shmar.torch.all_reduce_(on_gloo, group=GLOO)
    matrix = torch.ones((4, 4)).t()
    shmar.torch.all_reduce_(matrix, dist.ReduceOp.MIN)
    small = torch.tensor([1, 2 * rank], dtype=torch.int8)
    shmar.torch.all_reduce_(small)
    assert on_gloo.tolist() == [float(nranks)] * 3 and matrix.eq(1).all()
    assert small.tolist() == [nranks, nranks * (nranks - 1)]
    with pytest.raises((TypeError, ValueError, RuntimeError)):  # as torch says it
        shmar.torch.all_reduce_(torch.ones(2), dist.ReduceOp.PREMUL_SUM)
    # a group whose job was left
    group = dist.new_group(backend="shmar")
    group.close()
    with pytest.raises(ValueError):
        shmar.torch.all_reduce_(torch.ones(2), group=group)
    with pytest.raises(ValueError):
        dist.all_reduce(torch.ones(2), group=group)


def test_direct_path(pools):
    _world(pools, 2).run(rank_direct_path)


def rank_empty(rank, nranks):
    """shmar.torch.empty(): tensors in registered memory, all-reduced bit for bit."""
    import gc  # pylint: disable=import-outside-toplevel
    comm = dist.group.WORLD.comm
    for dtype in ("float32", "bfloat16", "float16"):
        inputs = [data.make(dtype, 3 * 70_001, r, SEED) for r in range(nranks)]
        expected = reference.reduce(inputs, "sum", dtype)
        mine = as_tensor(inputs[rank].copy(), dtype)
        tensor = shmar.torch.empty(3, 70_001, dtype=mine.dtype)
        assert tensor.shape == (3, 70_001) and tensor.data_ptr() % 64 == 0
        tensor.view(-1).copy_(mine)
        dist.all_reduce(tensor)
        same_bits(as_array(tensor.view(-1), dtype), expected, dtype, f"empty() {dtype}")
        tensor.view(-1).copy_(mine)
        shmar.torch.all_reduce_(tensor)
        same_bits(as_array(tensor.view(-1), dtype), expected, dtype, f"empty() {dtype} direct")
    assert shmar.torch.empty((2, 3)).dtype == torch.get_default_dtype()
    assert shmar.torch.empty(0).shape == (0,)
    on_gloo = shmar.torch.empty(4, group=GLOO)  # not a shmar group: ordinary memory
    assert on_gloo.shape == (4,)
    with pytest.warns(RuntimeWarning, match="no registered memory left"):
        too_big = shmar.torch.empty((64 << 20) + 64, dtype=torch.uint8)  # > SHMAR_MEM_BYTES
    assert too_big.numel() == (64 << 20) + 64

    def refused(nbytes):
        raise shmar._errors.from_code(-errno.ECHILD, "No child processes", f"{nbytes}")

    comm.alloc = refused  # any other failure is the caller's to see
    with pytest.raises(shmar.Error) as info:
        shmar.torch.empty(4)
    del comm.alloc
    assert info.value.errno == errno.ECHILD
    del tensor, on_gloo, too_big
    dist.all_reduce(torch.ones(1))  # the backend's last work held the last tensor
    gc.collect()
    assert comm._live_buffers == 0


def test_empty(pools):
    _world(pools, 2).run(rank_empty)


# ------------------------------------------------------------ ranks on different hosts

def rank_pretend_hosts(rank, nranks):
    os.environ["SHMAR_TEST_HOST_ID"] = f"host-{rank % 2}"
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            first = dist.new_group(backend="shmar")
            second = dist.new_group(list(range(nranks)), backend="shmar")
    finally:
        del os.environ["SHMAR_TEST_HOST_ID"]
    assert first.comm is None and second.comm is None and len(first.layout.hosts) == 2
    assert first.hierarchy is not None and second.hierarchy is not None
    value = torch.tensor([rank + 1.0, 2.0])
    dist.all_reduce(value, group=first)
    assert value.tolist() == [nranks * (nranks + 1) / 2, 2.0 * nranks]
    out = [torch.empty(1) for _ in range(nranks)]
    dist.all_gather(out, torch.tensor([float(rank)]), group=second)
    assert [o.item() for o in out] == list(map(float, range(nranks)))
    flag = torch.tensor([rank])
    dist.broadcast(flag, src=nranks - 1, group=first)
    assert flag.item() == nranks - 1
    dist.barrier(group=second)
    total = torch.tensor([rank + 1.0])
    dist.reduce(total, dst=0, group=first)  # still gloo's
    if rank == 0:
        assert total.item() == nranks * (nranks + 1) / 2
    first.close()
    second.close()
    return stderr.getvalue()


@pytest.mark.parametrize("nranks", NRANKS)
def test_pretend_hosts_use_the_hierarchy(pools, nranks):
    """Across hosts: libshmar in each, gloo between them, silently (test_torch_hosts.py
    holds every collective of the hierarchy to the numerics)."""
    said = _world(pools, nranks).run(rank_pretend_hosts)
    assert said == [""] * nranks


def rank_pretend_world(rank, nranks):
    assert dist.group.WORLD.comm is None and dist.group.WORLD.hierarchy is not None
    value = torch.ones(4)
    dist.all_reduce(value)
    shmar.torch.all_reduce_(value)
    assert value.tolist() == [float(nranks * nranks)] * 4
    out = torch.empty(nranks)
    dist.all_to_all_single(out, torch.arange(float(nranks)))
    dist.barrier()


def test_pretend_hosts_world():
    from ranks import Ranks  # pylint: disable=import-outside-toplevel
    pool = Ranks(3, setup_world, ("file", True))
    try:
        pool.run(rank_pretend_world, timeout=60)
    finally:
        pool.close()


# ------------------------------------------------------------ init methods and faults

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_init_method(rank, nranks):
    value = torch.tensor([rank + 1.0], dtype=torch.bfloat16)
    dist.all_reduce(value)
    assert dist.group.WORLD.comm is not None and value.item() == 3.0


@pytest.mark.parametrize("method", ("env", "tcp"))
def test_init_methods(method):
    from ranks import Ranks  # pylint: disable=import-outside-toplevel
    port = _free_port()
    if method == "env":
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        init = "env"
    else:
        init = f"tcp://127.0.0.1:{port}"
    try:
        pool = Ranks(2, setup_world, (init,))
        try:
            pool.run(rank_init_method, timeout=60)
        finally:
            pool.close()
    finally:
        os.environ.pop("MASTER_ADDR", None)
        os.environ.pop("MASTER_PORT", None)


def rank_killed(rank, nranks):
    value = torch.ones(1000)
    dist.all_reduce(value)
    if rank == nranks - 1:
        time.sleep(0.2)  # the others wait in the next all-reduce by now
        os.kill(os.getpid(), signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(RuntimeError) as info:
        dist.all_reduce(value)
    elapsed = time.monotonic() - start
    err = info.value
    assert isinstance(err, shmar.PeerDiedError), repr(err)
    assert str(err).startswith("shmar: ") and f"rank {nranks - 1}" in str(err)
    with pytest.raises(RuntimeError):  # the group is revoked for good
        shmar.torch.all_reduce_(value)
    return elapsed


@pytest.mark.parametrize("nranks", NRANKS)
def test_rank_killed(nranks):
    from ranks import Ranks  # pylint: disable=import-outside-toplevel
    pool = Ranks(nranks, setup_world)
    try:
        elapsed = pool.run(rank_killed, timeout=60, may_die={nranks - 1})
    finally:
        pool.close()
    assert all(e < 2.0 for e in elapsed[:-1]), elapsed
