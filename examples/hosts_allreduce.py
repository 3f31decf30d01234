#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""All-reduce across pretend hosts: the "shmar" backend's hierarchy against gloo.

    python3 examples/hosts_allreduce.py [--nranks 4] [--hosts 2] [--calls 20]
                                        [--sizes 4,4096,65536,1048576,16777216]

Starts --nranks ranks on this machine and splits them into --hosts pretend
hosts of consecutive ranks with SHMAR_TEST_HOST_ID (the test-only hook of
shmar.torch._hosts).  For each size in bytes of float32 data, every rank
makes --calls all-reduces through the "shmar" world group (libshmar in each
pretend host, gloo between them) and through a gloo group of the same
ranks, each call timed alone after a gloo barrier; rank 0 prints the median
call (the maximum over the ranks of each call's time) and the bytes each
rank sends to other hosts per call, by the model below.

On one machine both sides only move memory: the table shows what the
hierarchy costs, not what it saves on a network.  The model (M hosts of L
ranks, N = M L ranks, B bytes, float32 so partials are the data's size,
headers of 256 bytes left out):
  hierarchy, B > 16 KiB: a rank sends its slice to each other host,
                         (M - 1) B / L
  hierarchy, B <= 16 KiB: a rank sends the whole partial to each other host,
                         (M - 1) B
  gloo (ring all-reduce over the N ranks in rank order): each rank sends
                         2 (N - 1) / N B to the next; M of the N links cross
                         hosts, so a rank sends M/N 2 (N - 1) / N B across on average
"""

import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.distributed as dist


def crossing(nbytes, nranks, hosts):
    """Bytes a rank sends to other hosts per all-reduce: (hierarchy, gloo's ring)."""
    per_host = nranks // hosts
    if nbytes <= 16384:
        ours = (hosts - 1) * nbytes
    else:
        ours = (hosts - 1) * nbytes / per_host
    ring = hosts / nranks * 2 * (nranks - 1) / nranks * nbytes
    return ours, ring


def run(rank, args, init_method, results):
    os.environ["SHMAR_TEST_HOST_ID"] = f"pretend-host-{rank * args.hosts // args.nranks}"
    torch.set_num_threads(1)
    import shmar.torch  # pylint: disable=import-outside-toplevel
    dist.init_process_group("shmar", init_method=init_method, rank=rank,
                            world_size=args.nranks)
    world = dist.group.WORLD
    assert isinstance(world, shmar.torch.ShmarProcessGroup)
    assert (world.hierarchy is not None) == (args.hosts > 1)
    gloo = dist.new_group(backend="gloo")
    rows = []
    for nbytes in args.sizes:
        tensor = torch.ones(max(1, nbytes // 4))
        medians = {}
        for name, group in (("shmar", None), ("gloo", gloo)):
            for _ in range(3):  # warm up
                dist.all_reduce(tensor, group=group)
            samples = torch.empty(args.calls, dtype=torch.float64)
            for i in range(args.calls):
                dist.barrier(group=gloo)
                start = time.perf_counter()
                dist.all_reduce(tensor, group=group)
                samples[i] = time.perf_counter() - start
            dist.all_reduce(samples, op=dist.ReduceOp.MAX, group=gloo)  # the slowest rank
            medians[name] = statistics.median(samples.tolist())
        rows.append((nbytes, medians["shmar"], medians["gloo"]))
    if rank == 0:
        results.put(rows)
    dist.barrier(group=gloo)
    dist.group.WORLD.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nranks", type=int, default=4)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--sizes", default="4,4096,65536,1048576,16777216",
                        type=lambda text: [int(s) for s in text.split(",")])
    args = parser.parse_args()
    if args.nranks % args.hosts:
        parser.error("--nranks must be a multiple of --hosts")
    import multiprocessing  # pylint: disable=import-outside-toplevel
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    with tempfile.TemporaryDirectory() as scratch:
        init_method = f"file://{scratch}/store"
        procs = [ctx.Process(target=run, args=(r, args, init_method, results))
                 for r in range(args.nranks)]
        for proc in procs:
            proc.start()
        rows = results.get()
        for proc in procs:
            proc.join()
    print(f"{args.nranks} ranks on {args.hosts} pretend hosts, float32, median of "
          f"{args.calls} calls (slowest rank each)")
    print(f"{'bytes':>10} {'shmar us':>10} {'gloo us':>10} {'shmar/gloo':>10}   "
          f"{'bytes across hosts per rank: shmar':>34} {'gloo':>10}")
    for nbytes, ours, theirs in rows:
        across_ours, across_ring = crossing(nbytes, args.nranks, args.hosts)
        print(f"{nbytes:>10} {ours * 1e6:>10.0f} {theirs * 1e6:>10.0f} {ours / theirs:>10.2f}   "
              f"{across_ours:>34.0f} {across_ring:>10.0f}")


if __name__ == "__main__":
    main()
