# SPDX-License-Identifier: MIT
"""Collectives between processes on one machine, through shared memory (libshmar).

    import shmar

    with shmar.Comm("job", nranks=2, rank=r) as comm:
        comm.all_reduce(tensor)             # in place, sum over the ranks

Buffers are CPU torch tensors, numpy arrays or any C-contiguous writable
buffer of bfloat16 (torch only), float16, float32, float64, int32, int64 or
uint8.  Importing this package imports neither torch nor numpy;
``import shmar.torch`` adds the torch.distributed backend "shmar".
"""

from shmar._comm import Comm
from shmar._errors import AbortedError, Error, MismatchError, PeerDiedError, TimeoutError
from shmar._lib import library_version

__version__ = "0.1.0"

__all__ = [
    "AbortedError",
    "Comm",
    "Error",
    "MismatchError",
    "PeerDiedError",
    "TimeoutError",
    "library_version",
]
