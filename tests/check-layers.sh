#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-layers.sh - every #include between lib/ files points down the layers
# of doc/design.md (section 2), or stays within a layer: no file uses one
# above it.  A file of lib/ missing from the table fails too, so a new file
# gets its layer when it is added.
set -u
: "${top_srcdir:=$(dirname "$0")/..}"
lib=$top_srcdir/lib

# file (without .c/.h) and its layer, as doc/design.md lists them; the
# public header only defines types and constants every layer may use
layers='
shmar -1
shmar-probe 5
comm 5
env 5
coll 5
coll_allreduce 5
coll_reduce_scatter 5
coll_allgather 5
coll_broadcast 5
coll_barrier 5
coll_reg 5
mem 5
convert 5
probe 5
error 5
channel 3
rendezvous 3
rendezvous-dir 3
rendezvous-root 3
rendezvous-peer 3
settings 3
wait 2
liveness 1
ring 1
watcher 1
futex 0
segment 0
cpus 0
report 0
rendezvous-msg 0
heap 0
pool 0
clock 0
macro 0
stats 0
kernels/kernels 0
kernels/numerics 0
kernels/scalar 0
kernels/reduce-body 0
kernels/vec 0
kernels/dispatch 0
kernels/copy 0
kernels/reduce-scalar 0
kernels/reduce-avx2 0
kernels/reduce-avx512 0
'
layer_of() {
	printf '%s\n' "$layers" | awk -v f="$1" '$1 == f { print $2; found = 1 } END { if (!found) print "?" }'
}

fail=0 arrows=0
for path in "$lib"/*.c "$lib"/*.h "$lib"/*.h.in "$lib"/kernels/*.c "$lib"/kernels/*.h; do
	[ -e "$path" ] || continue
	file=${path#"$lib"/}
	name=${file%.in}
	name=${name%.[ch]}
	mine=$(layer_of "$name")
	if [ "$mine" = "?" ]; then
		echo "FAIL: lib/$file has no layer in this table (and doc/design.md)"
		fail=1
		continue
	fi
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$path"); do
		[ "$inc" = "config.h" ] && continue
		target=${inc%.h}
		theirs=$(layer_of "$target")
		arrows=$((arrows + 1))
		if [ "$theirs" = "?" ]; then
			echo "FAIL: lib/$file includes $inc, which has no layer"
			fail=1
		elif [ "$theirs" -gt "$mine" ]; then
			echo "FAIL: lib/$file (layer $mine) includes $inc (layer $theirs): an arrow up"
			fail=1
		fi
	done
done
echo "$arrows includes between lib/ files checked"
exit $fail
