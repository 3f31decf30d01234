#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-shmar-run-torch.sh - under shmar-run --torch-env, PyTorch's
# torch.distributed.init_process_group() finds its job as under torchrun
# (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): 2 and 3 ranks join a gloo
# group and all-reduce.  Skipped (77) where no python3 has torch; Debian's
# /usr/bin/python3 with python3-torch is tried first.
#
# An automake test: exit 0 pass, 1 fail, 77 skip, 99 hard error.

. "${top_srcdir:-.}/tests/tools/shmar-run-lib.sh"

python=
for candidate in /usr/bin/python3 python3; do
	if command -v "$candidate" >/dev/null 2>&1 &&
		timeout 60 "$candidate" -c 'import torch.distributed' >/dev/null 2>&1; then
		python=$(command -v "$candidate")
		break
	fi
done
if [ -z "$python" ]; then
	echo "SKIP: no python3 with torch.distributed"
	exit 77
fi

# Each rank: join the default group from the environment only, check what
# torch saw against shmar-run's own variables, all-reduce rank + 1 (every
# rank must get 1 + 2 + ... + N) and say so.
cat >"$tmp/ranks.py" <<'EOF'
import os
import torch
import torch.distributed as dist

dist.init_process_group("gloo", init_method="env://")
rank, size = dist.get_rank(), dist.get_world_size()
assert rank == int(os.environ["SHMAR_RANK"]), (rank, os.environ["SHMAR_RANK"])
assert size == int(os.environ["SHMAR_NRANKS"]), (size, os.environ["SHMAR_NRANKS"])
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print(f"rank {rank} of {size}: sum {t.item():g} port {os.environ['MASTER_PORT']}", flush=True)
dist.destroy_process_group()
EOF

for n in 2 3; do
	sum=$((n * (n + 1) / 2))
	sr -n "$n" --torch-env "$python" "$tmp/ranks.py"
	if [ "$status" -ne 0 ]; then
		fail "torch, $n ranks, gloo: exit $status"
		show_stderr
		continue
	fi
	r=0
	while [ "$r" -lt "$n" ]; do
		if grep -Eq "^\[rank $r\] rank $r of $n: sum $sum port [0-9]+\$" "$tmp/out"; then
			pass "torch, $n ranks, gloo: rank $r got the sum $sum"
		else
			fail "torch, $n ranks, gloo: rank $r: $(grep "^\[rank $r\]" "$tmp/out")"
		fi
		r=$((r + 1))
	done
done

# Two jobs at once get ports of their own.
sr_bg() {
	timeout -k 5 120 "$run" -n 2 --torch-env "$python" "$tmp/ranks.py" >"$tmp/out.$1" 2>"$tmp/err.$1"
	echo $? >"$tmp/status.$1"
}
sr_bg a &
sr_bg b &
wait
for j in a b; do
	if [ "$(cat "$tmp/status.$j")" -eq 0 ] && [ "$(grep -c 'sum 3 port' "$tmp/out.$j")" -eq 2 ]; then
		pass "torch, two jobs at once: job $j all-reduced"
	else
		fail "torch, two jobs at once: job $j exit $(cat "$tmp/status.$j")"
		sed 's/^/    stderr: /' "$tmp/err.$j"
	fi
done
port_a=$(sed -n 's/.* port //p' "$tmp/out.a" | sort -u)
port_b=$(sed -n 's/.* port //p' "$tmp/out.b" | sort -u)
if [ -n "$port_a" ] && [ "$port_a" != "$port_b" ]; then
	pass "torch, two jobs at once: ports $port_a and $port_b"
else
	fail "torch, two jobs at once: ports '$port_a' and '$port_b'"
fi

finish
