# SPDX-License-Identifier: MIT
"""The numerics across hosts: accumulator types and the host-order combination.

The definition is libshmar-mpi's (shmar_mpi_allreduce(3), "Numerics").  With
N ranks on M hosts, host h holding x[h,0] ... x[h,L-1] in rank order and
hosts in the order of their lowest rank, every element of the result is

    P[h] = x[h,0] (+) x[h,1] (+) ... (+) x[h,L-1]      (libshmar, in the host)
    R    = P[0] (+) P[1] (+) ... (+) P[M-1]             (here, on every rank)

each evaluated left to right in the accumulator type: float32 for float32,
bfloat16 and float16, float64 for float64, the element type for the
integers.  AVG sums, then divides R by N (integers: the wrapped sum,
truncated toward zero); MAX and MIN let NaN win and order -0 below +0;
integers wrap; bfloat16 and float16 are rounded once, at the very end, by
libshmar's own conversion (shmar_float_to_bf16(3)), so that one host gives
exactly libshmar's bits; every NaN result is the type's default quiet NaN.

The partials of bfloat16 and float16 SUM, PROD and AVG are float32 (the
input is widened, exactly, before the reduction in the host); MAX and MIN
round nothing, and their partials stay in the element's own type.
"""

import torch

from shmar import _errors, _lib

_c = _lib.lib

TORCH_DTYPES = {_lib.FLOAT32: torch.float32, _lib.BFLOAT16: torch.bfloat16,
                _lib.FLOAT16: torch.float16, _lib.FLOAT64: torch.float64,
                _lib.INT32: torch.int32, _lib.INT64: torch.int64, _lib.UINT8: torch.uint8}
_HALVES = (_lib.BFLOAT16, _lib.FLOAT16)
_FLOATS = (_lib.FLOAT32, _lib.BFLOAT16, _lib.FLOAT16, _lib.FLOAT64)
_PICKS = (_lib.MAX, _lib.MIN)
# every NaN result, as the bits of a signed integer of the same width
_QUIET_NAN = {torch.float32: (torch.int32, 0x7FC00000),
              torch.float64: (torch.int64, 0x7FF8000000000000)}
_ROUND = {_lib.BFLOAT16: _c.shmar_float_to_bf16, _lib.FLOAT16: _c.shmar_float_to_fp16}


def accumulator(dtype, op):
    """The library dtype code the partials of (dtype, op) are reduced in and travel in."""
    if dtype in _HALVES and op not in _PICKS:
        return _lib.FLOAT32
    return dtype


def host_op(op):
    """The operation inside a host: AVG sums there and divides at the end."""
    return _lib.SUM if op == _lib.AVG else op


def combine(out, parts, dtype, op, nranks):
    """out = parts[0] (op) parts[1] (op) ... in this order, as the definition says.

    parts are the hosts' partials (1-D tensors in the accumulator type), in
    host order; out is a contiguous 1-D tensor of dtype with as many
    elements; nranks is the number of ranks of the whole group (for AVG).
    """
    if dtype in _FLOATS:
        # float32 and float64 accumulate in out itself: fewer passes over memory
        acc = out if dtype == accumulator(dtype, op) and op not in _PICKS else None
        acc = _combine_floats(parts, dtype, op, nranks, acc)
        _narrow(out, acc, dtype)
    else:
        out.copy_(_combine_integers(parts, op, nranks))


def _combine_integers(parts, op, nranks):
    # torch's integer add and mul wrap around (two's complement) on every
    # platform it runs on; the tests hold them to it at the types' extremes
    acc = parts[0].clone()
    for x in parts[1:]:
        if op in (_lib.SUM, _lib.AVG):
            acc.add_(x)
        elif op == _lib.PROD:
            acc.mul_(x)
        elif op == _lib.MAX:
            torch.maximum(acc, x, out=acc)
        else:
            torch.minimum(acc, x, out=acc)
    if op == _lib.AVG:
        acc = torch.div(acc, nranks, rounding_mode="trunc")
    return acc


def _combine_floats(parts, dtype, op, nranks, acc=None):
    """The combination in float32 or float64, in acc (a fresh tensor if None)."""
    wide = torch.float64 if dtype == _lib.FLOAT64 else torch.float32
    rest = parts[1:]
    if acc is not None and rest and op != _lib.PROD:  # acc = parts[0] + parts[1]
        torch.add(parts[0], rest[0], out=acc)
        rest = rest[1:]
    elif acc is not None and rest:
        torch.mul(parts[0], rest[0], out=acc)
        rest = rest[1:]
    elif acc is not None:
        acc.copy_(parts[0])
    else:  # widening bf16/fp16 (MAX and MIN partials) to float32 is exact
        acc = parts[0].to(wide, copy=True)
    nan = torch.isnan(acc) if op in _PICKS else None
    for x in rest:
        x = x.to(wide)
        if op in (_lib.SUM, _lib.AVG):
            acc.add_(x)
        elif op == _lib.PROD:
            acc.mul_(x)
        else:
            nan |= torch.isnan(x)
            if op == _lib.MAX:  # x replaces acc when larger; -0 is below +0
                take = (x > acc) | ((x == acc) & torch.signbit(acc))
            else:
                take = (x < acc) | ((x == acc) & torch.signbit(x))
            acc = torch.where(take, x, acc)
    if nan is not None:
        acc.masked_fill_(nan, float("nan"))  # NaN wins, whatever the comparisons said
    if op == _lib.AVG:
        acc.div_(nranks)  # a true division in the accumulator (not a reciprocal)
    return acc


def _narrow(out, acc, dtype):
    """Write acc (float32 or float64) to out: rounded once, NaNs the default quiet NaN."""
    rounding = _ROUND.get(dtype)
    if rounding is not None:
        count = acc.numel()
        if count:
            rc = rounding(out.data_ptr(), acc.data_ptr(), count)
            if rc < 0:
                raise _errors.from_code(rc, _lib.strerror(rc), "rounding the result")
        return
    kind, quiet = _QUIET_NAN[acc.dtype]
    nan = torch.isnan(acc)
    if nan.any():
        acc.view(kind).masked_fill_(nan, quiet)
    if acc is not out:
        out.copy_(acc)

