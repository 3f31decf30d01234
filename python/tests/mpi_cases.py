# SPDX-License-Identifier: MIT
"""libshmar-mpi's answers to the reductions of test_torch_hosts.py.

Run by that test under Open MPI's mpirun, one process per rank, with
SHMAR_MPI_NODE_SIZE splitting the ranks into pretend nodes:

    mpirun -n N python3 mpi_cases.py PREFIX SEED COUNT...

Each rank all-reduces and reduce-scatters the seeded inputs of data.make()
(every dtype, op and count) with libshmar-mpi, through ctypes, and saves its
results in PREFIX.RANK.npz.  SHMAR_LIBRARY and SHMAR_MPI_LIBRARY name the
libraries of the build tree.
"""

import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import data  # noqa: E402
from reference import OPS  # noqa: E402

DTYPES = ("float32", "bfloat16", "float16", "float64", "int32", "int64", "uint8")


def _mpi():
    """Open MPI's libmpi, initialised, and its MPI_COMM_WORLD (a pointer in Open MPI)."""
    libmpi = ctypes.CDLL("libmpi.so.40", mode=ctypes.RTLD_GLOBAL)
    if libmpi.MPI_Init(None, None) != 0:
        raise SystemExit("MPI_Init failed")
    world = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(libmpi, "ompi_mpi_comm_world")))
    return libmpi, world


def _shmar_mpi():
    ctypes.CDLL(os.environ["SHMAR_LIBRARY"], mode=ctypes.RTLD_GLOBAL)  # its libshmar.so.0
    lib = ctypes.CDLL(os.environ["SHMAR_MPI_LIBRARY"])
    c_void_p, c_size_t, c_int = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    lib.shmar_mpi_comm_init.argtypes = [ctypes.POINTER(c_void_p), c_void_p]
    for name in ("shmar_mpi_allreduce", "shmar_mpi_reduce_scatter"):
        getattr(lib, name).argtypes = [c_void_p, c_void_p, c_void_p, c_size_t, c_int, c_int]
    lib.shmar_mpi_comm_destroy.argtypes = [c_void_p]
    return lib


def main(prefix, seed, counts):
    libmpi, world = _mpi()
    lib = _shmar_mpi()
    rank, size = ctypes.c_int(), ctypes.c_int()
    libmpi.MPI_Comm_rank(world, ctypes.byref(rank))
    libmpi.MPI_Comm_size(world, ctypes.byref(size))
    rank, size = rank.value, size.value
    comm = ctypes.c_void_p()
    rc = lib.shmar_mpi_comm_init(ctypes.byref(comm), world)
    if rc < 0:
        raise SystemExit(f"rank {rank}: shmar_mpi_comm_init: {rc}")
    results = {}
    for code, dtype in enumerate(DTYPES):  # the library's dtype codes, in order
        for opcode, op in enumerate(OPS):
            for count in counts:
                mine = data.make(dtype, count, rank, seed + count)
                out = np.empty_like(mine)
                rc = lib.shmar_mpi_allreduce(comm, mine.ctypes.data, out.ctypes.data, count,
                                             code, opcode)
                if rc < 0:
                    raise SystemExit(f"rank {rank}: shmar_mpi_allreduce: {rc}")
                results[f"allreduce {dtype} {op} {count}"] = out
                mine = data.make(dtype, count * size, rank, seed + 1 + count)
                out = np.empty(count, dtype=mine.dtype)
                rc = lib.shmar_mpi_reduce_scatter(comm, mine.ctypes.data, out.ctypes.data, count,
                                                  code, opcode)
                if rc < 0:
                    raise SystemExit(f"rank {rank}: shmar_mpi_reduce_scatter: {rc}")
                results[f"reduce_scatter {dtype} {op} {count}"] = out
    lib.shmar_mpi_comm_destroy(comm)
    np.savez(f"{prefix}.{rank}.npz", **results)
    libmpi.MPI_Finalize()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), [int(c) for c in sys.argv[3:]])
