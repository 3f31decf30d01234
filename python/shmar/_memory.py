# SPDX-License-Identifier: MIT
"""Registered memory: buffers in a rank's part of its job's shared memory.

A buffer from Comm.alloc() is a memoryview of bytes over a ctypes array over
memory that shmar_mem_alloc(3) handed out.  Every view of it
(numpy.frombuffer, torch.frombuffer, slices) holds a reference to the
array, so the memory is given back only when nothing can reach it any
more: a finalizer on the array frees it then, from whichever thread dropped
the last reference.
"""

import ctypes
import weakref


def registered_buffer(comm, address, nbytes):
    """A writable memoryview of the nbytes at address, which comm allocated.

    The finalizer holds comm, so the Comm outlives its buffers, and its
    release() is called exactly once for the block.  It does not run at
    interpreter exit: then the process gives all of it back at once.
    """
    array = (ctypes.c_uint8 * nbytes).from_address(address)
    weakref.finalize(array, comm._release, address).atexit = False
    return memoryview(array).cast("B")  # ctypes says "<B", which slices refuse
