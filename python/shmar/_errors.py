# SPDX-License-Identifier: MIT
"""Exceptions for the errors the library returns."""

import builtins
import errno as _errno


class Error(OSError):
    """A libshmar call failed.

    ``errno`` is the positive error number, ``strerror`` the library's
    description of it, and ``details`` the library's text about this very
    failure (which rank died, which ranks were late), possibly empty.
    """

    def __init__(self, code, strerror, details=""):
        super().__init__(code, strerror)
        self.details = details

    def __str__(self):
        text = f"[Errno {self.errno}] {self.strerror}"
        return f"{text}: {self.details}" if self.details else text

    def __reduce__(self):  # keep the three fields through pickle
        return (type(self), (self.errno, self.strerror, self.details))


class PeerDiedError(Error):
    """A peer rank died or left the job (EOWNERDEAD); the comm is revoked."""


class MismatchError(Error):
    """The ranks called different collectives (EPROTO); the comm is revoked."""


class AbortedError(Error):
    """A rank aborted the job (ECANCELED); the comm is revoked."""


class TimeoutError(Error, builtins.TimeoutError):  # pylint: disable=redefined-builtin
    """Peers did not arrive before the deadline (ETIMEDOUT)."""


_BY_ERRNO = {
    _errno.EOWNERDEAD: PeerDiedError,
    _errno.EPROTO: MismatchError,
    _errno.ECANCELED: AbortedError,
    _errno.ETIMEDOUT: TimeoutError,
}


def from_code(code, strerror, details=""):
    """The exception for a negative error number returned by the library."""
    positive = -code if code < 0 else code
    return _BY_ERRNO.get(positive, Error)(positive, strerror, details)
