#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A tensor-parallel MLP decode loop whose all-reduces go through libshmar or gloo.

    python3 examples/tp_mlp.py --backend shmar            # starts 2 ranks itself
    python3 examples/tp_mlp.py --backend gloo
    torchrun --nproc-per-node 2 examples/tp_mlp.py --backend shmar

Every layer is an MLP split over the ranks as in Megatron-style tensor
parallelism: the up-projection by columns (each rank holds ffn / N of them),
the down-projection by rows, so that each rank ends the layer with a partial
sum of the output, and one all-reduce per layer adds the partial sums.
With the shmar backend the activations are bfloat16; gloo (torch 1.13)
cannot reduce bfloat16, so with gloo they are float32, as torch users run
today.  Rank 0 prints the median time of a decode step and of one all-reduce
(which includes waiting for the slowest rank).

The default model is small, so that the all-reduces matter: with Debian's
torch 1.13 (a generic BLAS, no fast bfloat16 matrix-vector product on
AVX2) a wider layer spends its time in the matrix products, and bfloat16
ones are slower there than float32 ones; use --hidden and --ffn to see that.

Switching a program to libshmar takes two lines:

    import shmar.torch                          # registers the backend
    dist.init_process_group("shmar", ...)       # instead of "gloo"
"""

import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=("shmar", "gloo"), default="shmar")
    parser.add_argument("--nranks", type=int, default=2,
                        help="ranks to start (ignored under torchrun)")
    parser.add_argument("--hidden", type=int, default=256, help="model width")
    parser.add_argument("--ffn", type=int, default=512, help="MLP width, split over ranks")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=1, help="tokens per decode step")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--dtype", choices=("bfloat16", "float32"),
                        help="default: bfloat16 with shmar, float32 with gloo")
    parser.add_argument("--direct", action="store_true",
                        help="all-reduce with shmar.torch.all_reduce_ (the direct path)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--bind", action="store_true",
                        help="pin rank r to CPU r, as shmar-bench does (gloo's threads then "
                             "share that CPU)")
    return parser.parse_args()


class ShardedMLP:
    """The layers of one rank: its columns of every up- and rows of every down-projection."""

    def __init__(self, args, rank, nranks, dtype):
        if args.ffn % nranks:
            raise SystemExit(f"--ffn {args.ffn} is not a multiple of {nranks} ranks")
        shard = args.ffn // nranks
        columns = slice(rank * shard, (rank + 1) * shard)
        generator = torch.Generator().manual_seed(1234)  # the same model on every rank
        self.layers = []
        for _ in range(args.layers):
            up = torch.randn(args.ffn, args.hidden, generator=generator) / args.hidden ** 0.5
            down = torch.randn(args.hidden, args.ffn, generator=generator) / args.ffn ** 0.5
            self.layers.append((up[columns].to(dtype).contiguous(),
                                down[:, columns].to(dtype).contiguous()))

    def step(self, x, all_reduce, reduce_times):
        for up, down in self.layers:
            partial = F.linear(F.gelu(F.linear(x, up)), down)
            start = time.perf_counter()
            all_reduce(partial)
            reduce_times.append(time.perf_counter() - start)
            x = F.layer_norm(x + partial, x.shape[-1:])
        return x


def run(rank, nranks, args, init_method):
    cpus = sorted(os.sched_getaffinity(0))
    if args.bind and len(cpus) >= nranks:
        os.sched_setaffinity(0, {cpus[rank]})
    torch.set_num_threads(args.threads)
    if args.direct and args.backend != "shmar":
        raise SystemExit("--direct needs --backend shmar")
    all_reduce = dist.all_reduce
    if args.backend == "shmar":
        import shmar.torch  # registers the backend  pylint: disable=import-outside-toplevel
        if args.direct:
            all_reduce = shmar.torch.all_reduce_
    dist.init_process_group(args.backend, init_method=init_method, rank=rank,
                            world_size=nranks)
    dtype = getattr(torch, args.dtype or ("bfloat16" if args.backend == "shmar" else "float32"))
    model = ShardedMLP(args, rank, nranks, dtype)
    x = torch.randn(args.tokens, args.hidden, generator=torch.Generator().manual_seed(7))
    x = x.to(dtype)
    steps, reduces = [], []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        x = model.step(x, all_reduce, reduces)
        if i >= args.warmup:
            steps.append(time.perf_counter() - start)
        else:
            reduces.clear()
    checksum = torch.tensor([float(x.float().sum())])
    sums = [torch.zeros(1) for _ in range(nranks)]
    dist.all_gather(sums, checksum)  # every rank must hold the same activations
    if rank == 0:
        agree = "agree" if all(torch.equal(s, sums[0]) for s in sums) else "DISAGREE"
        print(f"backend={args.backend}{' (direct)' if args.direct else ''} dtype={dtype} "
              f"ranks={nranks} hidden={args.hidden} ffn={args.ffn} layers={args.layers} "
              f"tokens={args.tokens}: median step {statistics.median(steps) * 1e3:.3f} ms, "
              f"median all-reduce {statistics.median(reduces) * 1e6:.1f} us "
              f"(ranks {agree})", flush=True)
    dist.destroy_process_group()


def main():
    args = parse_args()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun
        run(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args, "env://")
        return
    import multiprocessing  # pylint: disable=import-outside-toplevel
    with tempfile.TemporaryDirectory() as scratch:
        init_method = f"file://{scratch}/store"
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=run, args=(r, args.nranks, args, init_method))
                 for r in range(args.nranks)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        if any(proc.exitcode for proc in procs):
            raise SystemExit("a rank failed")


if __name__ == "__main__":
    main()
