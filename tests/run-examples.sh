#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-examples.sh - run the example programs of examples/c/ as a user would:
# under shmar-run(1) at 2 and more ranks, or on their own when they fork
# their ranks; each must say what it checked and leave nothing behind in a
# private rendezvous directory.
#
# An automake test (top_builddir in the environment): exit 0 pass, 1 fail,
# 99 hard error.  Every run is bounded by timeout(1).

set -u

: "${top_builddir:=.}"
run=$top_builddir/tools/shmar-run
ex=$top_builddir/examples/c
for prog in "$run" "$ex/allreduce" "$ex/fork-job" "$ex/bf16-allreduce"; do
	if [ ! -x "$prog" ]; then
		echo "ERROR: $prog is not built"
		exit 99
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

# A private rendezvous directory, to see that nothing stays in it.
SHMAR_DIR=$tmp/rdv
export SHMAR_DIR
unset SHMAR_JOB SHMAR_NRANKS SHMAR_RANK LOCAL_RANK LOCAL_WORLD_SIZE

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# expect WANT COMMAND...: exit 0 and a line of output that contains WANT.
expect() {
	want=$1
	shift
	timeout -k 10 120 "$@" > "$tmp/out" 2>&1
	rc=$?
	sed 's/^/    /' "$tmp/out"
	if [ "$rc" -ne 0 ]; then
		fail "$* exited with status $rc"
	elif ! grep -qF "$want" "$tmp/out"; then
		fail "$* did not print \"$want\""
	else
		echo "ok: $*"
	fi
	if [ -d "$SHMAR_DIR" ] && [ -n "$(ls -A "$SHMAR_DIR")" ]; then
		fail "$* left files in the rendezvous directory: $(ls -A "$SHMAR_DIR")"
		rm -f "$SHMAR_DIR"/*
	fi
}

expect "rank 0 of 2: 1048576 floats, every element 3" "$run" -n 2 "$ex/allreduce"
expect "rank 0 of 3: 1048576 floats, every element 6" "$run" -n 3 "$ex/allreduce"
expect "sum of the vectors OK" "$ex/fork-job"
expect "2 ranks: bf16 sums of 100 and 3145735 elements have the bits of the float reference" \
	"$run" -n 2 "$ex/bf16-allreduce"
expect "3 ranks: bf16 sums of 100 and 3145735 elements have the bits of the float reference" \
	"$run" -n 3 "$ex/bf16-allreduce"

echo "$fails failure(s)"
[ "$fails" -eq 0 ] || exit 1
exit 0
