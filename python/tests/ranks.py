# SPDX-License-Identifier: MIT
"""Run a test function as N ranks, in N worker processes, with a deadline.

The workers are spawned (not forked: torch and its thread pools do not
survive fork) and stay up between tests, since importing torch takes a
second.  ``Ranks.run(fn, *args)`` calls ``fn(rank, nranks, *args)`` in
every worker and returns the results in rank order; an exception in any
rank fails the test with that rank's traceback.  A worker that dies or a
call that outlives its timeout breaks the pool, which is then shut down:
``broken`` tells the fixture to start a new one.
"""

import multiprocessing
import os
import signal
import tempfile
import time
import traceback


class RankFailed(AssertionError):
    """Some rank raised, died or missed the deadline."""


def _worker(conn, rank, nranks, setup, setup_args, scratch):
    try:
        if setup is not None:
            setup(rank, nranks, scratch, *setup_args)
        conn.send(("ready", None))
    except BaseException:  # noqa: BLE001 (reported to the parent)
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        fn, args = message
        try:
            result = ("ok", fn(rank, nranks, *args))
        except BaseException:  # noqa: BLE001
            result = ("error", traceback.format_exc())
        conn.send(result)


class Ranks:
    """nranks spawned workers; setup(rank, nranks, scratch, *setup_args) runs once in each.

    scratch is a path that no file has, the same in every rank and new for
    every pool (for a FileStore, say); it is removed when the pool closes.
    """

    def __init__(self, nranks, setup=None, setup_args=(), timeout=120):
        self.nranks = nranks
        self.broken = False
        fd, self._scratch = tempfile.mkstemp(prefix="shmar-ranks-")
        os.close(fd)
        os.unlink(self._scratch)
        ctx = multiprocessing.get_context("spawn")
        self._conns, self._procs = [], []
        for rank in range(nranks):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, rank, nranks, setup, setup_args,
                                     self._scratch),
                               daemon=True, name=f"rank{rank}")
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._collect("setup", timeout, set())

    @property
    def pids(self):
        return [p.pid for p in self._procs]

    def run(self, fn, *args, timeout=60, may_die=()):
        """fn(rank, nranks, *args) in every rank; results in rank order.

        Ranks in may_die may exit without answering (their result is None);
        the pool is then broken.
        """
        if self.broken:
            raise RankFailed("the pool of ranks is broken")
        for conn in self._conns:
            conn.send((fn, args))
        return self._collect(fn.__name__, timeout, set(may_die))

    def _collect(self, what, timeout, may_die):
        deadline = time.monotonic() + timeout
        results, failures = [None] * self.nranks, []
        for rank, conn in enumerate(self._conns):
            try:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    self.close()
                    raise RankFailed(f"{what}: rank {rank} did not finish within {timeout} s")
                status, value = conn.recv()
            except (EOFError, OSError):
                self.broken = True
                if rank in may_die:
                    continue
                self._procs[rank].join(1)
                failures.append(f"rank {rank} died (exit status {self._procs[rank].exitcode})")
                continue
            if status == "error":
                failures.append(f"rank {rank} raised:\n{value}")
            else:
                results[rank] = value
        if may_die:
            self.broken = True
        if failures:
            self.close()
            raise RankFailed(f"{what}:\n" + "\n".join(failures))
        return results

    def close(self):
        """Stop the workers (politely, then by force)."""
        self.broken = True
        for conn in self._conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join(5)
        for conn in self._conns:
            conn.close()
        try:
            os.unlink(self._scratch)
        except FileNotFoundError:
            pass


class Pools:
    """Pools of ranks by (nranks, setup), started on first use and restarted when broken."""

    def __init__(self):
        self._pools = {}

    def get(self, nranks, setup=None, setup_args=()):
        key = (nranks, setup, setup_args)
        pool = self._pools.get(key)
        if pool is None or pool.broken:
            pool = self._pools[key] = Ranks(nranks, setup, setup_args)
        return pool

    def close(self):
        for pool in self._pools.values():
            if not pool.broken:
                pool.close()
        self._pools.clear()
