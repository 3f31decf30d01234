# SPDX-License-Identifier: MIT
"""The C library, loaded with ctypes, and the prototypes of its public API.

The library is loaded by its soname, so the installed ``libshmar0`` and a
build tree on ``LD_LIBRARY_PATH`` both work; ``SHMAR_LIBRARY`` names a file
to load instead (the test suite points it at the build tree).

ctypes releases the GIL around every call into a ``CDLL``, so a rank that
waits for its peers does not stop the other threads of its process.
"""

import ctypes
import os

SONAME = "libshmar.so.0"

# enum shmar_dtype and enum shmar_op (ABI values from shmar.h)
FLOAT32, BFLOAT16, FLOAT16, FLOAT64, INT32, INT64, UINT8 = range(7)
SUM, PROD, MAX, MIN, AVG = range(5)

# Room for struct shmar_config: shmar_config_init() writes the library's
# own size of it, which a newer library may have grown past ours.
_CONFIG_ROOM = 1024


class Config(ctypes.Structure):
    """The fields of struct shmar_config that version 0.1 defines."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("dir", ctypes.c_char_p),
        ("token", ctypes.c_char_p),
        ("timeout_ms", ctypes.c_int64),
        ("init_timeout_ms", ctypes.c_int64),
        ("spin_us", ctypes.c_int64),
        ("small_max", ctypes.c_size_t),
        ("slot_bytes", ctypes.c_size_t),
        ("isa", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("io_uring", ctypes.c_int),
        ("debug", ctypes.c_int),
    ]


class ConfigBuffer(ctypes.Union):
    """A struct shmar_config with room for fields a newer library appends."""

    _fields_ = [("cfg", Config), ("_room", ctypes.c_char * _CONFIG_ROOM)]


def _load():
    path = os.environ.get("SHMAR_LIBRARY") or SONAME
    try:
        return ctypes.CDLL(path)
    except OSError as err:
        raise ImportError(
            f"shmar: cannot load the libshmar C library ({path}): {err}; "
            "install libshmar0, or set SHMAR_LIBRARY to the library's path"
        ) from err


def _prototypes(lib):
    c_int, c_size_t, c_void_p, c_char_p = (
        ctypes.c_int, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p)
    table = {
        "shmar_config_init": (None, [ctypes.POINTER(ConfigBuffer)]),
        "shmar_comm_init": (c_int, [ctypes.POINTER(c_void_p), c_char_p, c_int, c_int,
                                    ctypes.POINTER(ConfigBuffer)]),
        "shmar_comm_init_env": (c_int, [ctypes.POINTER(c_void_p)]),
        "shmar_comm_rank": (c_int, [c_void_p]),
        "shmar_comm_size": (c_int, [c_void_p]),
        "shmar_comm_abort": (c_int, [c_void_p]),
        "shmar_comm_destroy": (c_int, [c_void_p]),
        "shmar_allreduce": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_int, c_int]),
        "shmar_reduce_scatter": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_int,
                                         c_int]),
        "shmar_allgather": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_int]),
        "shmar_broadcast": (c_int, [c_void_p, c_void_p, c_size_t, c_int, c_int]),
        "shmar_barrier": (c_int, [c_void_p]),
        "shmar_mem_alloc": (c_int, [c_void_p, c_size_t, ctypes.POINTER(c_void_p)]),
        "shmar_mem_free": (c_int, [c_void_p, c_void_p]),
        "shmar_strerror": (c_char_p, [c_int]),
        "shmar_comm_last_error": (c_char_p, [c_void_p]),
        "shmar_version": (c_char_p, []),
        "shmar_float_to_bf16": (c_int, [c_void_p, c_void_p, c_size_t]),
        "shmar_bf16_to_float": (c_int, [c_void_p, c_void_p, c_size_t]),
        "shmar_float_to_fp16": (c_int, [c_void_p, c_void_p, c_size_t]),
        "shmar_fp16_to_float": (c_int, [c_void_p, c_void_p, c_size_t]),
    }
    for name, (restype, argtypes) in table.items():
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = argtypes


lib = _load()
_prototypes(lib)

# shmar_allreduce once more, without argtypes: for the hot path of shmar.torch,
# which passes ready-made ctypes objects and so skips ctypes' per-argument
# conversions (about a third of the cost of a call).
raw_allreduce = lib["shmar_allreduce"]
raw_allreduce.restype = ctypes.c_int


def library_version():
    """The version of the libshmar C library in use, such as ``"0.1.0"``."""
    return lib.shmar_version().decode()


def strerror(code):
    """The library's description of a (negative) error number."""
    return lib.shmar_strerror(code).decode(errors="replace")


def last_error(handle):
    """Details of the last failure on a communicator (None: of the last init)."""
    return lib.shmar_comm_last_error(handle).decode(errors="replace")
