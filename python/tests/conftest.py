# SPDX-License-Identifier: MIT
"""Fixtures: a private rendezvous directory, pools of rank processes, job names."""

import itertools
import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # ranks, reference, data (also in workers)

from ranks import Pools  # noqa: E402

_SHMAR_DIR = tempfile.mkdtemp(prefix="shmar-pytest-")  # mode 0700, as libshmar wants
os.environ["SHMAR_DIR"] = _SHMAR_DIR  # inherited by every rank process
_jobs = itertools.count()


@pytest.fixture(scope="session")
def pools():
    """Pools of rank processes, shared by the tests of the session."""
    started = Pools()
    yield started
    started.close()


@pytest.fixture
def job():
    """A job name no other test (or concurrent test run) uses."""
    return f"pytest-{os.getpid()}-{next(_jobs)}"


def dev_shm_entries():
    """What libshmar might have left in /dev/shm (it never should)."""
    try:
        return {name for name in os.listdir("/dev/shm") if "shmar" in name}
    except FileNotFoundError:
        return set()


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """After every test: no socket or file in the rendezvous directory, none in /dev/shm."""
    before = dev_shm_entries()
    yield
    assert os.listdir(_SHMAR_DIR) == [], "files left in the rendezvous directory"
    assert dev_shm_entries() <= before, "entries left in /dev/shm"


def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    try:
        os.rmdir(_SHMAR_DIR)
    except OSError:
        pass
