# SPDX-License-Identifier: MIT
"""shmar.Comm: every method x dtype x op at 2 and 3 ranks against the numpy
reference, bit for bit; buffer kinds; errors; faults; threads."""

import array
import builtins
import errno
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

np = pytest.importorskip("numpy")

import shmar  # noqa: E402

import data  # noqa: E402
import reference  # noqa: E402
from reference import OPS, STORAGE  # noqa: E402

DTYPES = ("float32", "bfloat16", "float16", "float64", "int32", "int64", "uint8")
NRANKS = (2, 3)
# one element, a few, more than the one-step algorithm takes, more than a slot (chunks)
COUNTS = (1, 37, 1000, 300_001)
SEED = 20261124


def _torch_or_skip(dtype):
    if dtype == "bfloat16":
        pytest.importorskip("torch")  # numpy has no bfloat16


def _wrap(array_, dtype):
    """A buffer over array_'s memory: a numpy array, or a torch tensor for bfloat16."""
    if dtype == "bfloat16":
        import torch  # pylint: disable=import-outside-toplevel
        return torch.from_numpy(array_.view(np.int16)).view(torch.bfloat16)  # no uint16 in torch 1.13
    return array_


def _check(got, expected, dtype, what):
    got_bits, want_bits = reference.bits(got, dtype), reference.bits(expected, dtype)
    if not np.array_equal(got_bits, want_bits):
        bad = np.flatnonzero(got_bits != want_bits)
        i = bad[0]
        raise AssertionError(f"{what}: {len(bad)} of {len(got)} elements differ; first at "
                             f"{i}: got {int(got_bits[i]):#x}, expected {int(want_bits[i]):#x}")
    return hashlib.sha256(got.tobytes()).hexdigest()


def _inputs(dtype, count, nranks, seed):
    return [data.make(dtype, count, r, seed) for r in range(nranks)]


# ------------------------------------------------------------ rank functions

def rank_all_reduce(rank, nranks, job, dtype, out_of_place):
    digests = []
    with shmar.Comm(job, nranks, rank, timeout_ms=60000) as comm:
        for op in OPS:
            for count in COUNTS:
                inputs = _inputs(dtype, count, nranks, SEED + count)
                mine = inputs[rank].copy()
                expected = reference.reduce(inputs, op, dtype)
                what = f"all_reduce {dtype} {op} n={count}"
                if out_of_place:
                    result = np.empty_like(mine)
                    returned = comm.all_reduce(_wrap(mine, dtype), op, out=_wrap(result, dtype))
                    _check(mine, inputs[rank], dtype, what + " (input changed)")
                else:
                    result = mine
                    returned = comm.all_reduce(_wrap(mine, dtype), op)
                assert returned.data_ptr() if dtype == "bfloat16" else returned is not None
                digests.append(_check(result, expected, dtype, what))
    return digests


def rank_reduce_scatter(rank, nranks, job, dtype):
    digests = []
    with shmar.Comm(job, nranks, rank, timeout_ms=60000) as comm:
        for op in OPS:
            for count in COUNTS[:3]:
                inputs = _inputs(dtype, count * nranks, nranks, SEED + count)
                out = np.empty(count, dtype=STORAGE[dtype])
                comm.reduce_scatter(_wrap(inputs[rank].copy(), dtype), _wrap(out, dtype), op)
                expected = reference.reduce(inputs, op, dtype)[rank * count:(rank + 1) * count]
                digests.append(_check(out, expected, dtype,
                                      f"reduce_scatter {dtype} {op} n={count}"))
    return digests


def rank_all_gather(rank, nranks, job, dtype):
    with shmar.Comm(job, nranks, rank, timeout_ms=60000) as comm:
        for count in COUNTS:
            inputs = _inputs(dtype, count, nranks, SEED + count)
            out = np.empty(count * nranks, dtype=STORAGE[dtype])
            comm.all_gather(_wrap(inputs[rank], dtype), _wrap(out, dtype))
            _check(out, np.concatenate(inputs), dtype, f"all_gather {dtype} n={count}")
            # in place: this rank's block already sits in out
            out = np.zeros(count * nranks, dtype=STORAGE[dtype])
            mine = out[rank * count:(rank + 1) * count]
            mine[:] = inputs[rank]
            comm.all_gather(_wrap(mine, dtype), _wrap(out, dtype))
            _check(out, np.concatenate(inputs), dtype, f"all_gather in place {dtype} n={count}")


def rank_broadcast(rank, nranks, job, dtype):
    with shmar.Comm(job, nranks, rank, timeout_ms=60000) as comm:
        for root in range(nranks):
            for count in COUNTS:
                inputs = _inputs(dtype, count, nranks, SEED + root)
                buf = inputs[rank].copy()
                assert comm.broadcast(_wrap(buf, dtype), root) is not None
                _check(buf, inputs[root], dtype, f"broadcast {dtype} root={root} n={count}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nranks", NRANKS)
@pytest.mark.parametrize("out_of_place", (False, True), ids=("in-place", "out"))
def test_all_reduce(pools, job, nranks, dtype, out_of_place):
    _torch_or_skip(dtype)
    digests = pools.get(nranks).run(rank_all_reduce, job, dtype, out_of_place)
    assert all(d == digests[0] for d in digests), "ranks got different bits"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nranks", NRANKS)
def test_reduce_scatter(pools, job, nranks, dtype):
    _torch_or_skip(dtype)
    pools.get(nranks).run(rank_reduce_scatter, job, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nranks", NRANKS)
def test_all_gather(pools, job, nranks, dtype):
    _torch_or_skip(dtype)
    pools.get(nranks).run(rank_all_gather, job, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nranks", NRANKS)
def test_broadcast(pools, job, nranks, dtype):
    _torch_or_skip(dtype)
    pools.get(nranks).run(rank_broadcast, job, dtype)


# ------------------------------------------------------------ kinds of buffers

_ARRAY_CODES = {"float32": "f", "float64": "d", "int32": "i", "int64": "q", "uint8": "B"}


def rank_buffer_kinds(rank, nranks, job, kind):
    with shmar.Comm(job, nranks, rank) as comm:
        for dtype in DTYPES:
            inputs = _inputs(dtype, 100, nranks, SEED)
            expected = reference.reduce(inputs, "sum", dtype)
            mine = inputs[rank].copy()
            if kind == "torch":
                import torch  # pylint: disable=import-outside-toplevel
                buf = _wrap(mine, dtype) if dtype == "bfloat16" else torch.from_numpy(mine)
            elif kind == "memoryview":
                if dtype == "bfloat16":
                    continue  # no buffer format for it
                buf = memoryview(mine)
            else:  # the array module
                if dtype not in _ARRAY_CODES:
                    continue
                buf = array.array(_ARRAY_CODES[dtype], mine.tobytes())
            comm.all_reduce(buf)
            got = (np.frombuffer(buf, dtype=STORAGE[dtype]) if kind == "array"
                   else mine)
            _check(got, expected, dtype, f"{kind} {dtype}")
        # a read-only input is fine where the library only reads it
        out = bytearray(4 * nranks)
        comm.all_gather(bytes([rank]) * 4, out)
        assert bytes(out) == b"".join(bytes([r]) * 4 for r in range(nranks))


@pytest.mark.parametrize("kind", ("torch", "memoryview", "array"))
def test_buffer_kinds(pools, job, kind):
    if kind == "torch":
        pytest.importorskip("torch")
    pools.get(2).run(rank_buffer_kinds, job, kind)


# ------------------------------------------------------------ misuse: raised before anything is shared

def _raises(exc, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    return info.value


def rank_misuse(rank, nranks, job):
    torch = None
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError:
        pass
    with shmar.Comm(job, nranks, rank, timeout_ms=30000) as comm:
        x = np.arange(12, dtype=np.float32)
        _raises(TypeError, comm.all_reduce, np.arange(4, dtype=np.int16))
        _raises(TypeError, comm.all_reduce, np.arange(4, dtype=np.uint32))
        _raises(TypeError, comm.all_reduce, np.arange(4, dtype=">f4"))
        _raises(TypeError, comm.all_reduce, "not a buffer")
        _raises(TypeError, comm.all_reduce, 42)
        _raises(ValueError, comm.all_reduce, x.reshape(3, 4).T)         # not contiguous
        _raises(ValueError, comm.all_reduce, x[::2])
        readonly = x.copy()
        readonly.flags.writeable = False
        _raises(ValueError, comm.all_reduce, readonly)
        _raises(ValueError, comm.all_reduce, b"read-only bytes")
        _raises(ValueError, comm.all_reduce, x, out=np.empty(11, dtype=np.float32))
        _raises(TypeError, comm.all_reduce, x, out=np.empty(12, dtype=np.float64))
        _raises(ValueError, comm.all_reduce, x[:8], out=x[4:])           # overlap
        _raises(ValueError, comm.all_reduce, x, op="mean")
        _raises(TypeError, comm.all_reduce, x, op=3)
        _raises(ValueError, comm.reduce_scatter, x, np.empty(5, dtype=np.float32))
        _raises(TypeError, comm.reduce_scatter, x, np.empty(6, dtype=np.int32))
        _raises(ValueError, comm.all_gather, x, np.empty(5, dtype=np.float32))
        _raises(ValueError, comm.all_gather, x[2:8], x)                   # overlap, not in place
        _raises(ValueError, comm.broadcast, x, root=nranks)
        _raises(ValueError, comm.broadcast, x, root=-1)
        _raises(TypeError, comm.broadcast, x, root=1.0)
        if torch is not None:
            _raises(TypeError, comm.all_reduce, torch.zeros(3, dtype=torch.bool))
            _raises(TypeError, comm.all_reduce, torch.zeros(3, dtype=torch.complex64))
            _raises(TypeError, comm.all_reduce, torch.zeros(3, dtype=torch.int8))
            _raises(ValueError, comm.all_reduce, torch.zeros(4, 4).t())
            _raises(ValueError, comm.all_reduce, torch.zeros(3, device="meta"))
            _raises(TypeError, comm.all_reduce, torch.zeros(3).to_sparse())
            _raises(ValueError, comm.all_reduce, torch.zeros(3),
                    op=torch.distributed.ReduceOp.BAND)
        # nothing reached the peers: the next collective still matches
        y = np.full(3, rank + 1, dtype=np.int64)
        comm.all_reduce(y, op=torch.distributed.ReduceOp.SUM if torch else "sum")
        assert y.tolist() == [sum(range(1, nranks + 1))] * 3
    _raises(ValueError, comm.all_reduce, y)                               # closed
    _raises(ValueError, comm.barrier)
    _raises(ValueError, comm.abort)
    comm.close()                                                          # twice is fine
    assert comm.closed and "closed" in repr(comm)


def test_misuse(pools, job):
    pools.get(2).run(rank_misuse, job)


def test_bad_arguments(job):
    _raises(TypeError, shmar.Comm, job, "2", 0)
    _raises(TypeError, shmar.Comm, job, 2, True)
    _raises(TypeError, shmar.Comm, 17, 1, 0)
    _raises(ValueError, shmar.Comm, job, 0, 0)
    _raises(ValueError, shmar.Comm, job, 2, 2)
    _raises(ValueError, shmar.Comm, job, 2, -1)
    _raises(ValueError, shmar.Comm, job, 1, 0, timeout_ms=-5)
    _raises(TypeError, shmar.Comm, job, 1, 0, token=5)
    err = _raises(shmar.Error, shmar.Comm, "no/slash", 1, 0)
    assert err.errno == errno.EINVAL and "job name" in err.details
    assert isinstance(err, OSError) and "job name" in str(err)
    err = _raises(shmar.Error, shmar.Comm, job, 1000, 0)
    assert err.errno == errno.EINVAL


def test_one_rank_and_properties(job):
    with shmar.Comm(job, 1, 0) as comm:
        assert (comm.rank, comm.size, comm.closed) == (0, 1, False)
        assert repr(comm) == f"<shmar.Comm job={job!r} rank=0 size=1>"
        x = np.arange(5, dtype=np.float64)
        assert comm.all_reduce(x, "avg") is x
        assert x.tolist() == [0, 1, 2, 3, 4]
        empty = np.empty(0, dtype=np.float32)
        comm.all_reduce(empty)
        comm.barrier()
    assert comm.closed


# ------------------------------------------------------------ registered memory

def _registered(comm, values):
    """A copy of the array values in comm's registered memory."""
    copy = np.frombuffer(comm.alloc(values.nbytes), dtype=values.dtype)
    copy[:] = values
    return copy


def _address(array_):
    return array_.__array_interface__["data"][0]


def rank_registered(rank, nranks, job, dtype):
    """all_reduce with every rank's, one rank's and all but one rank's input
    registered, bit for bit; each buffer is freed when dropped and its block
    serves again."""
    import gc  # pylint: disable=import-outside-toplevel
    addresses = set()
    with shmar.Comm(job, nranks, rank, timeout_ms=60000) as comm:
        for registered in (set(range(nranks)), {0}, set(range(1, nranks))):
            for op in ("sum", "max"):
                for count in COUNTS:
                    inputs = _inputs(dtype, count, nranks, SEED + count)
                    expected = reference.reduce(inputs, op, dtype)
                    if rank in registered:
                        mine = _registered(comm, inputs[rank])
                        assert _address(mine) % 64 == 0
                        addresses.add(_address(mine))
                    else:
                        mine = inputs[rank].copy()
                    comm.all_reduce(_wrap(mine, dtype), op)
                    _check(mine, expected, dtype,
                           f"all_reduce {dtype} {op} n={count} registered on {sorted(registered)}")
                    del mine
        gc.collect()
        assert comm._live_buffers == 0
    # dropped buffers gave their blocks back: a handful of addresses served
    return len(addresses)


@pytest.mark.parametrize("dtype", ("float32", "bfloat16", "float64", "uint8"))
@pytest.mark.parametrize("nranks", NRANKS)
def test_registered(pools, job, nranks, dtype):
    _torch_or_skip(dtype)
    served = pools.get(nranks).run(rank_registered, job, dtype)
    assert all(n <= len(COUNTS) for n in served), served


def test_alloc_errors(job):
    with shmar.Comm(job, 1, 0) as comm:
        _raises(ValueError, comm.alloc, 0)
        _raises(ValueError, comm.alloc, -64)
        _raises(TypeError, comm.alloc, "64")
        _raises(TypeError, comm.alloc, 64.0)
        err = _raises(shmar.Error, comm.alloc, 1 << 50)
        assert err.errno == errno.ENOMEM and "SHMAR_MEM_BYTES" in err.details
        buf = comm.alloc(100)
        assert isinstance(buf, memoryview) and (buf.format, buf.nbytes) == ("B", 100)
        buf[:3] = b"abc"  # writable
        view = buf[1:3]
        del buf
        assert bytes(view) == b"bc" and comm._live_buffers == 1  # a slice keeps it
        del view
        assert comm._live_buffers == 0
    _raises(ValueError, comm.alloc, 64)


def rank_close_with_buffers(rank, nranks, job):
    """Closing a comm whose buffers are still reachable keeps their memory
    and revokes the job for the peers' later calls; the last buffer dropped
    destroys the comm."""
    import gc  # pylint: disable=import-outside-toplevel
    comm = shmar.Comm(job, nranks, rank, timeout_ms=30000)
    kept = np.frombuffer(comm.alloc(1 << 20), dtype=np.float32)
    kept[:] = rank + 1
    comm.all_reduce(kept)
    assert float(kept[0]) == nranks * (nranks + 1) / 2
    comm.barrier()
    if rank == 0:
        comm.close()
        assert comm.closed and comm._deferred is not None
        kept[:] = 5  # still mapped
        assert float(kept.sum()) == 5 * kept.size
        _raises(ValueError, comm.barrier)
        _raises(ValueError, comm.alloc, 64)
        comm.close()  # twice: harmless
        del kept
        gc.collect()
        assert comm._deferred is None and comm._live_buffers == 0  # destroyed now
        return
    time.sleep(0.3)
    err = _raises(shmar.AbortedError, comm.barrier)
    assert "rank 0" in err.details
    comm.close()
    assert float(kept[1]) == nranks * (nranks + 1) / 2
    del kept
    gc.collect()
    assert comm._deferred is None


def test_close_with_live_buffers(pools, job):
    pools.get(2).run(rank_close_with_buffers, job)


# ------------------------------------------------------------ errors from the library

def rank_peer_killed(rank, nranks, job):
    with shmar.Comm(job, nranks, rank, timeout_ms=30000) as comm:
        comm.barrier()
        if rank == nranks - 1:
            time.sleep(0.2)  # the others are waiting in the all-reduce by now
            os.kill(os.getpid(), signal.SIGKILL)
        start = time.monotonic()
        err = _raises(shmar.PeerDiedError, comm.all_reduce, np.ones(1000, dtype=np.float32))
        elapsed = time.monotonic() - start
        assert err.errno == errno.EOWNERDEAD and f"rank {nranks - 1}" in err.details
        _raises(shmar.PeerDiedError, comm.barrier)                        # revoked
        return elapsed


@pytest.mark.parametrize("nranks", NRANKS)
def test_peer_killed(pools, job, nranks):
    elapsed = pools.get(nranks).run(rank_peer_killed, job, may_die={nranks - 1})
    assert all(e < 2.0 for e in elapsed[:-1]), elapsed


def rank_abort(rank, nranks, job):
    with shmar.Comm(job, nranks, rank, timeout_ms=30000) as comm:
        comm.barrier()
        if rank == 0:
            time.sleep(0.2)
            comm.abort()
        err = _raises(shmar.AbortedError, comm.all_reduce, np.ones(4, dtype=np.float32))
        assert err.errno == errno.ECANCELED and "rank 0" in err.details


def test_abort(pools, job):
    pools.get(3).run(rank_abort, job)


def rank_timeout(rank, nranks, job):
    with shmar.Comm(job, nranks, rank, timeout_ms=300) as comm:
        if rank == 0:
            start = time.monotonic()
            err = _raises(shmar.TimeoutError, comm.barrier)
            assert isinstance(err, builtins.TimeoutError) and err.errno == errno.ETIMEDOUT
            assert time.monotonic() - start < 5
        else:
            time.sleep(1.0)  # misses the deadline; the job is revoked meanwhile
            _raises(shmar.Error, comm.barrier)


def test_timeout(pools, job):
    pools.get(2).run(rank_timeout, job)


def rank_mismatch(rank, nranks, job):
    with shmar.Comm(job, nranks, rank, timeout_ms=30000) as comm:
        x = np.ones(16, dtype=np.float32)
        err = _raises(shmar.MismatchError, comm.all_reduce, x, "sum" if rank else "max")
        assert err.errno == errno.EPROTO


def test_mismatch(pools, job):
    pools.get(2).run(rank_mismatch, job)


def test_error_classes():
    assert issubclass(shmar.Error, OSError)
    for cls in (shmar.PeerDiedError, shmar.MismatchError, shmar.AbortedError,
                shmar.TimeoutError):
        assert issubclass(cls, shmar.Error)
    assert issubclass(shmar.TimeoutError, builtins.TimeoutError)
    err = shmar.PeerDiedError(errno.EOWNERDEAD, "a peer died", "rank 1 (pid 7) died")
    assert str(err) == "[Errno 130] a peer died: rank 1 (pid 7) died"
    import pickle  # pylint: disable=import-outside-toplevel
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is shmar.PeerDiedError and again.details == err.details


# ------------------------------------------------------------ threads, lifetime, environment

def rank_gil_released(rank, nranks, job):
    with shmar.Comm(job, nranks, rank, timeout_ms=30000) as comm:
        comm.barrier()
        if rank == 1:
            time.sleep(0.5)
            comm.barrier()
            return None
        ticks, stop = [0], threading.Event()

        def count():
            while not stop.is_set():
                ticks[0] += 1

        counter = threading.Thread(target=count)
        counter.start()
        try:
            comm.barrier()  # waits about 0.5 s for rank 1, in C
        finally:
            stop.set()
            counter.join()
        return ticks[0]


def test_gil_released(pools, job):
    ticks = pools.get(2).run(rank_gil_released, job)[0]
    assert ticks > 10_000, f"the other thread ran only {ticks} loops while rank 0 waited"


def rank_busy_and_close(rank, nranks, job):
    comm = shmar.Comm(job, nranks, rank, timeout_ms=30000)
    comm.barrier()
    if rank == 1:
        time.sleep(0.3)
        comm.barrier()  # meets rank 0's waiting thread
        time.sleep(1.0)  # rank 0 closes its comm meanwhile, aborting its call
        _raises(shmar.AbortedError, comm.barrier)
        comm.close()
        return
    waiting = threading.Thread(target=comm.barrier)
    waiting.start()
    time.sleep(0.1)
    err = _raises(shmar.Error, comm.all_reduce, np.ones(2, dtype=np.float32))
    assert err.errno == errno.EBUSY
    waiting.join()
    failure = []

    def wait_for_ever():
        try:
            comm.barrier()
        except shmar.Error as exc:
            failure.append(exc)

    waiting = threading.Thread(target=wait_for_ever)
    waiting.start()
    time.sleep(0.5)
    comm.close()  # aborts the call in progress, then frees the comm
    waiting.join(5)
    assert not waiting.is_alive() and isinstance(failure[0], shmar.AbortedError)


def test_busy_and_close_from_another_thread(pools, job):
    pools.get(2).run(rank_busy_and_close, job)


def rank_collected(rank, nranks, job):
    import gc  # pylint: disable=import-outside-toplevel
    comm = shmar.Comm(job, nranks, rank, timeout_ms=30000)
    comm.barrier()
    if rank == 1:
        del comm
        gc.collect()
        return
    _raises(shmar.PeerDiedError, comm.barrier)  # rank 1 left when its comm was collected
    comm.close()


def test_closed_when_collected(pools, job):
    pools.get(2).run(rank_collected, job)


def rank_from_env(rank, nranks, job):
    os.environ.update(SHMAR_JOB=job, SHMAR_NRANKS=str(nranks), SHMAR_RANK=str(rank))
    try:
        with shmar.Comm.from_env() as comm:
            assert (comm.rank, comm.size) == (rank, nranks)
            x = np.full(3, rank, dtype=np.int32)
            comm.all_reduce(x, "max")
            assert x.tolist() == [nranks - 1] * 3
    finally:
        for name in ("SHMAR_JOB", "SHMAR_NRANKS", "SHMAR_RANK"):
            del os.environ[name]


def test_from_env(pools, job):
    pools.get(3).run(rank_from_env, job)


def test_from_env_missing():
    env = {k: v for k, v in os.environ.items()
           if k not in ("SHMAR_JOB", "SHMAR_NRANKS", "SHMAR_RANK", "LOCAL_RANK",
                        "LOCAL_WORLD_SIZE")}
    code = ("import shmar\ntry:\n    shmar.Comm.from_env()\nexcept shmar.Error as e:\n"
            "    print(e.errno, e.details)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.startswith(f"{errno.EINVAL} ")


def test_token_mismatch(job):
    """A rank with the wrong token is refused (EACCES) and nothing is left behind."""
    code = ("import shmar, sys\ntry:\n"
            "    shmar.Comm(sys.argv[1], 2, 1, token='wrong', init_timeout_ms=3000)\n"
            "except shmar.Error as e:\n    print(e.errno)\n")
    peer = subprocess.Popen([sys.executable, "-c", code, job], stdout=subprocess.PIPE,
                            text=True)
    with pytest.raises(shmar.Error):
        shmar.Comm(job, 2, 0, token="right", init_timeout_ms=2000)
    out, _ = peer.communicate(timeout=30)
    assert out.strip() in (str(errno.EACCES), str(errno.ETIMEDOUT), str(errno.EOWNERDEAD))


# ------------------------------------------------------------ the package

def test_import_needs_neither_torch_nor_numpy():
    code = ("import sys, shmar\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules\n"
            "print(shmar.__version__, shmar.library_version())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[0] == out[1] == shmar.__version__


def test_version():
    assert shmar.library_version() == shmar.__version__
    expected = os.environ.get("PACKAGE_VERSION")  # set by make check
    if expected:
        assert shmar.__version__ == expected
