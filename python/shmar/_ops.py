# SPDX-License-Identifier: MIT
"""Reduction operations: a name or a torch.distributed.ReduceOp -> enum shmar_op."""

from shmar import _lib

_BY_NAME = {"sum": _lib.SUM, "prod": _lib.PROD, "max": _lib.MAX, "min": _lib.MIN,
            "avg": _lib.AVG}
# torch's RedOpType names of the operations the library has
_BY_TORCH_NAME = {"SUM": _lib.SUM, "PRODUCT": _lib.PROD, "MAX": _lib.MAX, "MIN": _lib.MIN,
                  "AVG": _lib.AVG}
_torch_codes = {}  # ReduceOp / RedOpType -> code (they hash and compare alike)


def _torch_code(op):
    """The code of a torch ReduceOp or RedOpType, None if it is not one we have."""
    try:
        code = _torch_codes.get(op)
    except TypeError:  # unhashable: not a torch op
        return None
    if code is None:
        kind = getattr(op, "op", op)  # ReduceOp -> RedOpType (torch 1.13 and 2.x)
        code = _BY_TORCH_NAME.get(getattr(kind, "name", None))
        if code is not None:
            _torch_codes[op] = code
    return code


def code(op):
    """The library's code for op, or ValueError/TypeError."""
    if isinstance(op, str):
        found = _BY_NAME.get(op.lower())
        if found is None:
            raise ValueError(f"shmar: unknown reduction {op!r} "
                             "(use sum, prod, max, min or avg)")
        return found
    found = _torch_code(op)
    if found is None:
        if type(op).__name__ in ("ReduceOp", "RedOpType"):
            raise ValueError(f"shmar: {getattr(getattr(op, 'op', op), 'name', op)} "
                             "is not a reduction libshmar has (SUM, PRODUCT, MAX, MIN, AVG)")
        raise TypeError(f"shmar: op must be a string or a torch.distributed.ReduceOp, "
                        f"not {type(op).__name__}")
    return found


def torch_code(op):
    """Like code(), for a torch op, but None when the library lacks it."""
    return _torch_code(op)
