# SPDX-License-Identifier: MIT
"""What the library needs to know about a buffer: address, count and dtype.

Three kinds of objects are understood, without importing torch or numpy:
CPU torch tensors (anything with ``data_ptr``), numpy arrays (anything with
``__array_interface__``) and every other object with the buffer protocol.
The element type always comes from the object.  Each check raises TypeError
or ValueError before the library (and so any shared state) is touched.
"""

import ctypes

from shmar import _lib

ITEMSIZE = {_lib.FLOAT32: 4, _lib.BFLOAT16: 2, _lib.FLOAT16: 2, _lib.FLOAT64: 8,
            _lib.INT32: 4, _lib.INT64: 8, _lib.UINT8: 1}
NAMES = {_lib.FLOAT32: "float32", _lib.BFLOAT16: "bfloat16", _lib.FLOAT16: "float16",
         _lib.FLOAT64: "float64", _lib.INT32: "int32", _lib.INT64: "int64",
         _lib.UINT8: "uint8"}
_SUPPORTED = "bfloat16, float16, float32, float64, int32, int64 or uint8"

_TORCH_NAMES = {"torch." + name: code for code, name in NAMES.items()}
# numpy's dtype.str (little-endian only: the library has no byte swapping)
_NUMPY_STRS = {"<f4": _lib.FLOAT32, "<f2": _lib.FLOAT16, "<f8": _lib.FLOAT64,
               "<i4": _lib.INT32, "<i8": _lib.INT64, "|u1": _lib.UINT8}


class Buffer:
    """A described buffer; ``keep`` holds whatever must outlive the call."""

    __slots__ = ("obj", "address", "count", "dtype", "keep")

    def __init__(self, obj, address, count, dtype, keep=None):
        self.obj = obj
        self.address = address
        self.count = count
        self.dtype = dtype
        self.keep = keep

    @property
    def nbytes(self):
        return self.count * ITEMSIZE[self.dtype]


# ------------------------------------------------------------ torch tensors

_torch_codes = {}  # torch.dtype -> code, filled on first sight of each dtype


def torch_dtype_code(dtype):
    """The library's code for a torch dtype, or None when it has none."""
    code = _torch_codes.get(dtype)
    if code is None:
        code = _TORCH_NAMES.get(str(dtype))
        if code is not None:
            _torch_codes[dtype] = code
    return code


_strided = []  # torch.strided, once seen


def is_strided(layout):
    """True for torch.strided (the layout of dense tensors), not sparse ones."""
    if _strided:
        return layout is _strided[0]
    if str(layout) == "torch.strided":
        _strided.append(layout)
        return True
    return False


def _describe_tensor(tensor, writable):
    code = _torch_codes.get(tensor.dtype)
    if code is None:
        code = torch_dtype_code(tensor.dtype)
        if code is None:
            raise TypeError(f"shmar: tensors of dtype {tensor.dtype} are not supported "
                            f"(use {_SUPPORTED})")
    if not tensor.is_cpu:
        raise ValueError(f"shmar: the tensor is on {tensor.device}, not in CPU memory")
    if not is_strided(tensor.layout):
        raise TypeError(f"shmar: tensors of layout {tensor.layout} are not supported")
    if not tensor.is_contiguous():
        raise ValueError("shmar: the tensor is not contiguous "
                         "(reduce tensor.contiguous() and copy the result back)")
    return Buffer(tensor, tensor.data_ptr(), tensor.numel(), code)


# ------------------------------------------------------------ numpy arrays

def _numpy_code(dtype):
    code = _NUMPY_STRS.get(dtype.str)
    if code is None and dtype.name == "bfloat16" and dtype.itemsize == 2:
        code = _lib.BFLOAT16  # ml_dtypes.bfloat16
    if code is None:
        raise TypeError(f"shmar: arrays of dtype {dtype} are not supported "
                        f"(use {_SUPPORTED}, native byte order)")
    return code


def _describe_array(array, writable):
    code = _numpy_code(array.dtype)
    flags = array.flags
    if not flags.c_contiguous:
        raise ValueError("shmar: the array is not C-contiguous "
                         "(use numpy.ascontiguousarray and copy the result back)")
    if writable and not flags.writeable:
        raise ValueError("shmar: the array is read-only")
    return Buffer(array, array.ctypes.data, array.size, code)


# ------------------------------------------------------------ buffer protocol

_SIGNED = frozenset("bhilq")


def _format_code(view):
    fmt = view.format.lstrip("@=<")
    size = view.itemsize
    if fmt == "f" and size == 4:
        return _lib.FLOAT32
    if fmt == "d" and size == 8:
        return _lib.FLOAT64
    if fmt == "e" and size == 2:
        return _lib.FLOAT16
    if fmt == "B" and size == 1:
        return _lib.UINT8
    if fmt in _SIGNED and size == 4:
        return _lib.INT32
    if fmt in _SIGNED and size == 8:
        return _lib.INT64
    raise TypeError(f"shmar: buffers of format {view.format!r} are not supported "
                    f"(use float32, float16, float64, int32, int64 or uint8)")


def _describe_buffer(obj, writable):
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"shmar: {type(obj).__name__} is not a tensor, an array or a "
                        "buffer") from None
    code = _format_code(view)
    if not view.c_contiguous:
        raise ValueError("shmar: the buffer is not C-contiguous")
    count = view.nbytes // view.itemsize
    if view.readonly:
        if writable:
            raise ValueError("shmar: the buffer is read-only")
        view = memoryview(bytearray(view))  # an input only: read a copy of it
    if count == 0:
        return Buffer(obj, None, 0, code)
    holder = (ctypes.c_char * view.nbytes).from_buffer(view)
    return Buffer(obj, ctypes.addressof(holder), count, code, holder)


# ------------------------------------------------------------ dispatch

_describers = {}  # type -> describer, decided once per type


def _describer_for(cls):
    if hasattr(cls, "data_ptr") and hasattr(cls, "is_contiguous"):
        return _describe_tensor
    if hasattr(cls, "__array_interface__") and hasattr(cls, "ctypes"):
        return _describe_array
    return _describe_buffer


def describe(obj, writable):
    """Describe obj as a Buffer; writable: the library writes into it."""
    describer = _describers.get(type(obj))
    if describer is None:
        describer = _describers.setdefault(type(obj), _describer_for(type(obj)))
    return describer(obj, writable)
