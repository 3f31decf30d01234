# SPDX-License-Identifier: MIT
"""Where the ranks of a process group run.

This module is the one place that groups the ranks of a torch process group
by host.  Today the backend uses libshmar only when every rank is on one
host; a hierarchy across hosts (libshmar inside each host, a gloo group per
local rank across the hosts) would start from the same Layout.

Two processes may share memory when they run on the same boot of the same
machine under the same user: the identity is the host name, the kernel's
boot ID and the effective user ID.  SHMAR_TEST_HOST_ID, meant for tests
only, replaces the identity, so that a test can pretend ranks run on
different hosts.
"""

import os
import socket

TEST_HOST_ENV = "SHMAR_TEST_HOST_ID"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def host_identity():
    """A string equal for two processes exactly when they can share memory."""
    fake = os.environ.get(TEST_HOST_ENV)
    if fake:
        return fake
    try:
        with open(_BOOT_ID, encoding="ascii") as f:
            boot = f.read().strip()
    except OSError:
        boot = "unknown-boot"
    return f"{socket.gethostname()} {boot} uid={os.geteuid()}"


class Layout:
    """The ranks of a group by host.

    ``hosts`` lists the ranks of each host, hosts in the order of their
    lowest rank; ``local_ranks`` are the ranks on this rank's host;
    ``names`` the host identities in the order of ``hosts``.
    """

    def __init__(self, identities, rank):
        by_host = {}
        for r, identity in enumerate(identities):
            by_host.setdefault(identity, []).append(r)
        self.names = list(by_host)
        self.hosts = list(by_host.values())
        self.local_ranks = by_host[identities[rank]]

    @property
    def single_host(self):
        """True when every rank runs on this rank's host."""
        return len(self.hosts) == 1

    def describe(self):
        """One line naming the hosts and their ranks, for messages."""
        parts = []
        for name, ranks in zip(self.names, self.hosts):
            parts.append(f"{name.split()[0]}: ranks {_ranges(ranks)}")
        return f"{len(self.hosts)} hosts ({'; '.join(parts)})"


def _ranges(ranks):
    """[0, 1, 2, 5] -> "0-2,5"."""
    spans = []
    for r in ranks:
        if spans and spans[-1][1] == r - 1:
            spans[-1][1] = r
        else:
            spans.append([r, r])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def exchange(store, rank, size):
    """Publish this rank's identity in the group's store; read everyone's."""
    store.set(f"shmar/host/{rank}", host_identity())
    identities = [store.get(f"shmar/host/{r}").decode() for r in range(size)]
    return Layout(identities, rank)
