#!/usr/bin/env python3
"""Write the fuzzers' seed corpus: valid messages of every type and valid
segment headers, in the layouts of lib/rendezvous-msg.h and lib/segment.h."""
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
TOKEN, REASON, RANKS = 256, 160, 256


def msg(mtype, status=0, nranks=2, rank=1, pid=100, seg=1 << 20, token=b"", reason=b"", pids=(),
        cpus=(3,)):
    head = struct.pack("<IHHiIIIQ", 0x53565244, 1, mtype, status, nranks, rank, pid, seg)
    body = token.ljust(TOKEN, b"\0") + reason.ljust(REASON, b"\0")
    pid_list = list(pids) + [0] * (RANKS - len(pids))
    cpu_words = list(cpus) + [0] * (16 - len(cpus))
    return head + body + struct.pack("<%dI" % RANKS, *pid_list) + struct.pack("<16Q", *cpu_words)


def header(nranks, slot, chunk=8192, heap=16384):
    page = 4096
    ctl_end = page + nranks * 512
    data_off = (ctl_end + page - 1) // page * page
    stream_off = 2 * slot
    heap_off = stream_off + 8 * chunk
    region = heap_off + heap
    total = data_off + nranks * region
    h = struct.pack("<IIIIQQQQQQIIQQQQ", 0x53484d52, 3, nranks, 512, total, page, data_off, slot,
                    region, min(65536, slot), 2, 0, chunk, stream_off, heap_off, heap)
    h = h.ljust(128, b"\0") + struct.pack("<I", 0)  # the abort word
    # the fuzzer's first 4 bytes: nranks - 1, then the mapping size
    pre = bytes([nranks - 1, (total >> 20) & 0xff, (total >> 12) & 0xff, (total >> 4) & 0xff])
    return pre + h


def write(sub, name, data):
    path = os.path.join(here, "corpus", sub, name)
    with open(path, "wb") as f:
        f.write(data)


write("rendezvous", "hello", msg(1))
write("rendezvous", "hello-token", msg(1, token=b"secret"))
write("rendezvous", "welcome", msg(2, pids=(100, 101)))
write("rendezvous", "reject", msg(3, status=-13, reason=b"wrong token"))
write("rendezvous", "ready", msg(4))
write("rendezvous", "go", msg(5))
write("rendezvous", "fail", msg(6, status=-110, reason=b"rank 3 did not arrive"))
write("rendezvous", "short", msg(1)[:40])
for n, slot in ((1, 4096), (2, 1 << 20), (3, 8192), (8, 65536)):
    write("shared-state", "header-%d" % n, header(n, slot))
sys.exit(0)
