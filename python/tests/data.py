# SPDX-License-Identifier: MIT
"""Seeded test data: random values of every class, special values, rounding ties."""

import numpy as np

from reference import STORAGE

# special bit patterns per float type: NaNs with payloads (signalling and
# negative ones too), infinities, signed zeros, subnormals, the extremes
_SPECIALS = {
    "float32": [0x7FA00001, 0xFFC12345, 0x7F800000, 0xFF800000, 0x00000000, 0x80000000,
                0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000],
    "float64": [0x7FF0000000000001, 0xFFF8000000000123, 0x7FF0000000000000,
                0xFFF0000000000000, 0, 0x8000000000000000, 1, 0x800FFFFFFFFFFFFF,
                0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF],
    "bfloat16": [0x7F81, 0xFFC5, 0x7F80, 0xFF80, 0x0000, 0x8000, 0x0001, 0x807F, 0x7F7F,
                 0xFF7F],
    "float16": [0x7C01, 0xFE05, 0x7C00, 0xFC00, 0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF,
                0xFBFF],
}
_UINT = {"float32": np.uint32, "float64": np.uint64, "bfloat16": np.uint16,
         "float16": np.uint16}
# Rounding ties at the first two elements of bfloat16 and float16 sums:
# rank 0 + rank 1 lands exactly halfway between two representable values.
_TIES = {"bfloat16": ([0x3F80, 0x3F81], [0x3B80, 0x3B80]),   # 1 + 2^-8, 1.0078125 + 2^-8
         "float16": ([0x3C00, 0x3C01], [0x1400, 0x1400])}    # 1 + 2^-11, ...


def _floats(rng, dtype, count):
    kind = _UINT[dtype]
    width = np.dtype(kind).itemsize * 8
    raw = rng.integers(0, 2 ** width, size=count, dtype=np.uint64).astype(kind)
    # mostly ordinary numbers of varied magnitude, some raw bit patterns
    values = rng.standard_normal(count) * 10.0 ** rng.integers(-3, 4, size=count)
    if dtype == "bfloat16":
        ordinary = (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    else:
        ordinary = values.astype(STORAGE[dtype]).view(kind)
    out = np.where(rng.random(count) < 0.2, raw, ordinary).astype(kind)
    specials = np.array(_SPECIALS[dtype], dtype=kind)
    spots = rng.integers(0, count, size=min(count, 2 * len(specials)))
    out[spots] = rng.choice(specials, size=len(spots))
    return out


def make(dtype, count, rank, seed):
    """count elements of libshmar dtype dtype for rank, from seed (storage dtype)."""
    rng = np.random.default_rng([seed, rank])
    if dtype in _UINT:
        out = _floats(rng, dtype, count)
        if dtype in _TIES and count >= 2:
            first, second = _TIES[dtype]
            out[:2] = first if rank == 0 else second if rank == 1 else 0
        return out if dtype == "bfloat16" else out.view(STORAGE[dtype])
    info = np.iinfo(STORAGE[dtype])
    out = rng.integers(info.min, info.max, size=count, endpoint=True, dtype=STORAGE[dtype])
    extremes = np.array([info.min, info.max, 0, 1, -1 if info.min < 0 else 2],
                        dtype=STORAGE[dtype])
    out[rng.integers(0, count, size=min(count, 5))] = extremes[:min(count, 5)]
    return out


def exact(dtype, count, rank, seed):
    """Small integral values whose sums and products are exact in any order."""
    rng = np.random.default_rng([seed, rank, 1])
    low = 0 if dtype == "uint8" else -4
    return rng.integers(low, 5, size=count).astype(STORAGE[dtype])


# values whose every combination over the ranks corners MAX, MIN and SUM:
# signed zeros, a NaN with a payload, and two ordinary values of both signs
_CORNERS = {"float32": [0x80000000, 0x00000000, 0x7FA00001, 0xBFC00000, 0x3FC00000],
            "float64": [0x8000000000000000, 0, 0x7FF0000000000123, 0xBFF8000000000000,
                        0x3FF8000000000000],
            "bfloat16": [0x8000, 0x0000, 0x7F81, 0xBFC0, 0x3FC0],
            "float16": [0x8000, 0x0000, 0x7C01, 0xBE00, 0x3E00]}


def corners(dtype, nranks, rank):
    """Element e of rank r is corner value (e // 5**r) % 5: every combination once."""
    count = len(_CORNERS[dtype]) ** nranks
    index = (np.arange(count) // len(_CORNERS[dtype]) ** rank) % len(_CORNERS[dtype])
    out = np.array(_CORNERS[dtype], dtype=_UINT[dtype])[index]
    return out if dtype == "bfloat16" else out.view(STORAGE[dtype])
