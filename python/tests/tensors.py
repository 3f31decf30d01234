# SPDX-License-Identifier: MIT
"""Torch tensors over the reference's numpy arrays, and bit-for-bit checks.

bfloat16 has no numpy dtype: its tensors share the memory of uint16 arrays
holding their bits, which is how reference.py stores them.
"""

import numpy as np
import torch

import reference


def as_tensor(array_, dtype):
    """A tensor sharing array_'s memory (bfloat16 from its bits)."""
    if dtype == "bfloat16":
        return torch.from_numpy(array_.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array_)


def as_array(tensor_, dtype):
    """The values of a tensor, in the reference's storage dtype."""
    if dtype == "bfloat16":
        return tensor_.contiguous().view(torch.int16).numpy().view(np.uint16)
    return tensor_.contiguous().numpy()


def same_bits(got, expected, dtype, what):
    """Raise AssertionError naming the first element whose bits differ."""
    got, expected = reference.bits(got, dtype), reference.bits(expected, dtype)
    if not np.array_equal(got, expected):
        bad = np.flatnonzero(got != expected)
        raise AssertionError(f"{what}: {len(bad)} of {len(got)} elements differ; first at "
                             f"{bad[0]}: got {int(got[bad[0]]):#x}, "
                             f"expected {int(expected[bad[0]]):#x}")
