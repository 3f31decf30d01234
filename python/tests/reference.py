# SPDX-License-Identifier: MIT
"""The canonical numerics of libshmar, written again with numpy (not the library).

For every element: acc = x[0]; acc = acc (op) x[r] for r = 1 .. N-1, in rank
order; the accumulator is float32 for float32, bfloat16 and float16, float64
for float64, the type itself for integers (which wrap); avg divides the sum
by N in the accumulator (integers: the wrapped sum, truncated toward zero);
max and min let NaN win and order -0 below +0; bfloat16 and float16 are
rounded once, at the end, to nearest even; every NaN result is the type's
positive default quiet NaN.  bfloat16 values travel as their uint16 bits.
"""

import numpy as np

# storage dtype of each libshmar dtype name (bfloat16: its bits)
STORAGE = {"float32": np.float32, "bfloat16": np.uint16, "float16": np.float16,
           "float64": np.float64, "int32": np.int32, "int64": np.int64, "uint8": np.uint8}
FLOATS = ("float32", "bfloat16", "float16", "float64")
OPS = ("sum", "prod", "max", "min", "avg")

_QUIET_NAN_BITS = {"float32": (np.uint32, 0x7FC00000), "bfloat16": (np.uint16, 0x7FC0),
                   "float16": (np.uint16, 0x7E00), "float64": (np.uint64, 0x7FF8000000000000)}


def bits(array, dtype):
    """The bit patterns of array (of libshmar dtype dtype) as unsigned integers."""
    if dtype in ("float32", "float16", "float64"):
        return array.view({"float32": np.uint32, "float16": np.uint16,
                           "float64": np.uint64}[dtype])
    return array


def _widen(x, dtype):
    if dtype == "bfloat16":
        return (x.astype(np.uint32) << 16).view(np.float32)
    if dtype in ("float32", "float16"):
        return x.astype(np.float32)
    return x.copy()


def _narrow(acc, dtype):
    """The accumulator, rounded once to dtype, with canonical NaNs."""
    nan = np.isnan(acc) if dtype in FLOATS else None
    if dtype == "bfloat16":
        wide = acc.view(np.uint32).astype(np.uint64)
        out = ((wide + 0x7FFF + ((wide >> 16) & 1)) >> 16).astype(np.uint16)
    elif dtype == "float16":
        with np.errstate(over="ignore"):
            out = acc.astype(np.float16)
    else:
        out = acc
    if nan is not None:
        kind, quiet = _QUIET_NAN_BITS[dtype]
        view = out.view(kind) if dtype != "bfloat16" else out
        view[nan] = quiet
    return out


def _max(acc, x):
    nan = np.isnan(acc) | np.isnan(x)
    out = np.where(x > acc, x, acc)
    out = np.where(x == acc, np.where(np.signbit(acc), x, acc), out)  # +0 above -0
    return np.where(nan, np.nan, out).astype(acc.dtype)


def _min(acc, x):
    nan = np.isnan(acc) | np.isnan(x)
    out = np.where(x < acc, x, acc)
    out = np.where(x == acc, np.where(np.signbit(acc), acc, x), out)  # -0 below +0
    return np.where(nan, np.nan, out).astype(acc.dtype)


def _trunc_div(total, n):
    """Integer division toward zero, without leaving the integer type."""
    quotient = total // n
    if np.issubdtype(total.dtype, np.signedinteger):
        quotient = quotient + ((total % n != 0) & (total < 0)).astype(total.dtype)
    return quotient


def _fold(acc, x, op, floating):
    """One step acc (op) x of the reduction, in the accumulator type."""
    if op in ("sum", "avg"):
        return acc + x
    if op == "prod":
        return acc * x
    if op == "max":
        return _max(acc, x) if floating else np.maximum(acc, x)
    if op == "min":
        return _min(acc, x) if floating else np.minimum(acc, x)
    raise ValueError(op)


def reduce(inputs, op, dtype):
    """The reduction over ranks of inputs (one array per rank, in rank order)."""
    return reduce_hosts(inputs, [list(range(len(inputs)))], op, dtype)


def reduce_hosts(inputs, hosts, op, dtype):
    """The reduction over ranks on several hosts, as libshmar-mpi defines it.

    hosts lists the ranks of each host in increasing order, hosts in the
    order of their lowest rank.  Per element: each host's partial, in rank
    order, in the accumulator type and not rounded; then the partials in
    host order; avg divides that by the number of all ranks; one rounding.
    With one host this is the flat rank-order reduction above.
    """
    floating = dtype in FLOATS

    def wide(x):
        return _widen(x, dtype) if floating else x.copy()

    with np.errstate(all="ignore"):
        total = None
        for ranks in hosts:
            partial = wide(inputs[ranks[0]])
            for r in ranks[1:]:
                partial = _fold(partial, wide(inputs[r]), op, floating)
            total = partial if total is None else _fold(total, partial, op, floating)
        if op == "avg":
            if floating:
                total = total / total.dtype.type(len(inputs))
            else:
                total = _trunc_div(total, len(inputs))
    return _narrow(total, dtype) if floating else total
