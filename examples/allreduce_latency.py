#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Time of one small all-reduce from Python, by path, at N ranks.

    python3 examples/allreduce_latency.py [--nranks 2] [--count 1] [--calls 20000]

Each rank makes all-reduces of --count float32 elements (1: 4 bytes)
through each path in turn, --rounds times, interleaved, each call timed
alone right after a libshmar barrier, as shmar-bench times the C library;
rank 0 prints the median call (the maximum over the ranks of each call's
time, as shmar-bench takes it).  Compare with the med_us column of
``shmar-bench -n 2 -s 4 -m in``: the difference is the cost of the path.
Ranks are pinned to CPUs 0..N-1 as shmar-bench pins them.

  dist.all_reduce          torch.distributed.all_reduce on the "shmar" backend
  dist.all_reduce, group=  the same on a second "shmar" group, passed as
                           group= as the no-op backend's is
  shmar.torch.all_reduce_  the direct path of shmar.torch
  Comm.all_reduce          shmar.Comm.all_reduce on the same tensor
  gloo                     torch.distributed.all_reduce on a gloo group
  no-op backend            torch.distributed.all_reduce on a backend whose
                           all_reduce reads its op and does nothing else:
                           what torch's own dispatch to a backend written in
                           Python costs, the floor of the first path
"""

import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.distributed as dist


class _DoneWork(dist.Work):
    """A work that is complete when it is made."""

    def wait(self, timeout=None):  # pylint: disable=unused-argument
        return True


class NoopGroup(dist.ProcessGroup):
    """A process group whose all_reduce only reads its reduction, as every
    backend must, and returns a completed work."""

    def __init__(self, rank, size):
        super().__init__(rank, size)
        self._work = _DoneWork()

    def allreduce(self, tensors, opts=None):
        if opts is not None:
            hash(opts.reduceOp)
        return self._work

    def getBackendName(self):  # pylint: disable=invalid-name
        return "noop"


def _noop_group(store, rank, size, timeout):  # pylint: disable=unused-argument
    return NoopGroup(rank, size)


def run(rank, args, init_method, results):
    os.sched_setaffinity(0, {rank % os.cpu_count()})
    torch.set_num_threads(1)
    import shmar.torch  # pylint: disable=import-outside-toplevel
    dist.init_process_group("shmar", init_method=init_method, rank=rank,
                            world_size=args.nranks)
    gloo = dist.new_group(backend="gloo")
    try:
        dist.Backend.register_backend("noop", _noop_group, devices=["cpu"])  # torch >= 2.0
    except TypeError:
        dist.Backend.register_backend("noop", _noop_group)  # torch 1.13
    noop = dist.new_group(backend="noop")
    second = dist.new_group(backend="shmar")
    comm = dist.group.WORLD.comm
    tensor = torch.ones(args.count)
    paths = {
        "dist.all_reduce": lambda: dist.all_reduce(tensor),
        "dist.all_reduce, group=": lambda: dist.all_reduce(tensor, group=second),
        "shmar.torch.all_reduce_": lambda: shmar.torch.all_reduce_(tensor),
        "Comm.all_reduce": lambda: comm.all_reduce(tensor),
        "gloo": lambda: dist.all_reduce(tensor, group=gloo),
        "no-op backend": lambda: dist.all_reduce(tensor, group=noop),
    }
    times = {name: [] for name in paths}
    clock = time.perf_counter
    for _ in range(args.rounds):
        for name, call in paths.items():
            calls = args.calls // 20 if name == "gloo" else args.calls
            for _ in range(calls // 10):  # warm up
                call()
            samples = torch.empty(calls, dtype=torch.float64)
            for i in range(calls):
                comm.barrier()
                start = clock()
                call()
                samples[i] = clock() - start
            dist.all_reduce(samples, op=dist.ReduceOp.MAX, group=gloo)  # the slowest rank
            times[name].append(float(samples.median()))
    if rank == 0:
        results.put({name: statistics.median(t) for name, t in times.items()})
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nranks", type=int, default=2)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import multiprocessing  # pylint: disable=import-outside-toplevel
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    with tempfile.TemporaryDirectory() as scratch:
        procs = [ctx.Process(target=run, args=(r, args, f"file://{scratch}/store", results))
                 for r in range(args.nranks)]
        for proc in procs:
            proc.start()
        medians = results.get(timeout=600)
        for proc in procs:
            proc.join()
    print(f"ranks={args.nranks} bytes={4 * args.count}: median time of one call "
          f"(median of {args.rounds} rounds)")
    for name, seconds in medians.items():
        print(f"  {name:24s} {seconds * 1e6:8.2f} us")


if __name__ == "__main__":
    main()
