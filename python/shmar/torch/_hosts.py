# SPDX-License-Identifier: MIT
"""Where the ranks of a process group run.

This module is the one place that groups the ranks of a torch process group
by host, and so defines the orders the numerics across hosts depend on:
inside a host, local ranks follow the ranks of the group; hosts follow their
lowest rank.  Every rank computes both from the identities all ranks
published in the group's store, so they are the same everywhere.

Hosts may differ in size.  The collectives across hosts (shmar.torch._hierarchy)
then pretend that every host has ``vmax`` local ranks, the size of the
largest: virtual local rank v of a host is served by its local rank
v mod (ranks of that host), as in libshmar-mpi.

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
    lowest rank, ranks in increasing order; ``names`` the host identities
    in the order of ``hosts``; ``rank`` is this rank, ``host`` and
    ``local`` its host and its index there; ``local_ranks`` the ranks on this rank's host;
    ``host_of`` and ``local_of`` the same for every rank of the group.
    """

    def __init__(self, identities, rank):
        by_host = {}
        for r, identity in enumerate(identities):
            by_host.setdefault(identity, []).append(r)
        self.names = list(by_host)
        self.hosts = list(by_host.values())
        self.host_of = [0] * len(identities)
        self.local_of = [0] * len(identities)
        for h, ranks in enumerate(self.hosts):
            for i, r in enumerate(ranks):
                self.host_of[r], self.local_of[r] = h, i
        self.rank = rank
        self.host = self.host_of[rank]
        self.local = self.local_of[rank]
        self.local_ranks = self.hosts[self.host]

    @property
    def single_host(self):
        """True when every rank runs on this rank's host."""
        return len(self.hosts) == 1

    @property
    def vmax(self):
        """Virtual local ranks per host: the number of ranks of the largest host."""
        return max(len(ranks) for ranks in self.hosts)

    def server(self, host, v):
        """The rank of host that serves virtual local rank v there."""
        ranks = self.hosts[host]
        return ranks[v % len(ranks)]

    def servers(self, v):
        """The ranks that serve virtual local rank v, one per host, in host order."""
        return [self.server(h, v) for h in range(len(self.hosts))]

    def served(self):
        """The virtual local ranks this rank serves, in increasing order.

        Its own local rank first; on a host smaller than the largest, also
        the ones the host lacks (local + nlocal, local + 2 nlocal, ...).
        """
        return list(range(self.local, self.vmax, len(self.local_ranks)))

    def describe(self):
        """One line naming the hosts and their ranks, for messages."""
        parts = []
        for name, ranks in zip(self.names, self.hosts):
            parts.append(f"{name.split()[0]}: ranks {_ranges(ranks)}")
        return f"{len(self.hosts)} hosts ({'; '.join(parts)})"

    def describe_host(self, host):
        """"host 1 (ranks 2-3)", for messages."""
        return f"host {host} (ranks {_ranges(self.hosts[host])})"


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
