#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-shmar-bench.sh - shmar-bench(1): --help and --version; every usage
# error (exit 2, a message naming the option, nothing on stdout); short real
# runs at 2 ranks in every output format (the JSON parsed by Python, the
# table's columns aligned, the OSU rows in the format the peer scripts read);
# barrier with one row whatever the sizes; broadcast in place only; the
# oversubscription warning; --mem registered failing cleanly while the
# library has no registered buffers; a job started by shmar-run.  The
# rendezvous directory stays empty.
#
# An automake test (top_builddir in the environment): exit 0 pass, 1 fail,
# 77 skip, 99 hard error.  Every run is bounded by timeout(1) and measures
# for a few milliseconds per size, so the whole test takes seconds.

set -u

: "${top_builddir:=.}"
bench=$top_builddir/tools/shmar-bench
runner=$top_builddir/tools/shmar-run
if [ ! -x "$bench" ]; then
	echo "ERROR: $bench is not built"
	exit 99
fi
if ! command -v timeout >/dev/null 2>&1; then
	echo "SKIP: timeout(1) not found"
	exit 77
fi
python=
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import json' 2>/dev/null; then
		python=$p
		break
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-shmar-bench.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

# Only what a test sets may steer the library, and no job to join.
for v in $(env | sed -n 's/^\(SHMAR_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
dir=$tmp/rdv
mkdir -m 700 "$dir" || exit 99
SHMAR_DIR=$dir
export SHMAR_DIR

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# run NAME ARGS...: shmar-bench, bounded in time; output in $tmp/NAME.out
# and .err, exit status in $rc.
run() {
	name=$1
	shift
	timeout -k 5 60 "$bench" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
	rc=$?
	[ "$rc" -eq 124 ] && fail "$name: shmar-bench $* did not finish within 60 s"
}

show() {
	sed 's/^/    /' "$tmp/$1.out" "$tmp/$1.err"
}

# Rows of the table: lines not starting with '#'.
rows() {
	grep -v '^#' "$tmp/$1.out"
}

# Short runs: a few milliseconds per size.
quick="-t 0.005 --min-iters 5 --max-iters 200"

# ---------------------------------------------------------------- --help, --version
run help --help
[ "$rc" -eq 0 ] || fail "--help: exit $rc, not 0"
for opt in --ranks --coll --sizes --min-iters --max-iters --algo --mem --threads --vary \
	--no-bind --format --json --label --version; do
	grep -q -- "$opt" "$tmp/help.out" || fail "--help does not mention $opt"
done

run version --version
[ "$rc" -eq 0 ] || fail "--version: exit $rc, not 0"
grep -q '^shmar-bench (libshmar) [0-9]' "$tmp/version.out" || fail "--version: no tool version"
grep -q '^library [0-9]' "$tmp/version.out" || fail "--version: no library version"
run version_short -V
if [ "$rc" -ne 0 ] || ! cmp -s "$tmp/version.out" "$tmp/version_short.out"; then
	fail "-V differs from --version"
fi

# ---------------------------------------------------------------- usage errors
# usage 'ARGS' 'TEXT': exit 2, TEXT on stderr, nothing on stdout, nothing run.
usage() {
	# shellcheck disable=SC2086 # ARGS is a word list on purpose
	run usage $1
	[ "$rc" -eq 2 ] || fail "'$1': exit $rc, not 2"
	grep -q -- "$2" "$tmp/usage.err" || { fail "'$1': stderr does not say '$2'"; show usage; }
	[ -s "$tmp/usage.out" ] && fail "'$1': printed on stdout"
}

usage "-n 0" "-n '0': ranks are 1..256"
usage "-n 257" "-n '257'"
usage "-n two" "-n 'two'"
usage "-c allreduse" "-c 'allreduse'"
usage "-d fp8" "-d 'fp8'"
usage "-d fp32,,fp8" "-d 'fp32,,fp8'"
usage "-d fp32,fp32,fp32,fp32,fp32,fp32,fp32,fp32,fp32" "a list of up to 8"
usage "-o xor" "-o 'xor'"
usage "-s 0" "-s '0'"
usage "-s -4" "-s '-4'"
usage "-s 4,x" "-s '4,x'"
usage "-s 4T" "-s '4T'"
usage "-s 17G" "1 byte to 16G"
usage "-m sideways" "-m 'sideways'"
usage "-t 0" "-t '0'"
usage "-t -1" "-t '-1'"
usage "-t 3600" "-t '3600'"
usage "-t soon" "-t 'soon'"
usage "--min-iters 0" "--min-iters '0'"
usage "--max-iters x" "--max-iters 'x'"
usage "--min-iters 20 --max-iters 10" "--min-iters 20 is more than --max-iters 10"
usage "--algo huge" "--algo 'huge'"
usage "--mem shm" "--mem 'shm'"
usage "--threads -1" "--threads '-1'"
usage "--threads 257" "--threads '257'"
usage "-f xml" "-f 'xml'"
usage "--csv --json" "--csv and --json: choose one output format"
usage "-f table --osu" "-f and --osu"
usage "-l a/b" "-l 'a/b'"
usage "--frobnicate" "unknown option '--frobnicate'"
usage "-s" "option '-s' needs an argument"
usage "--algo" "option '--algo' needs an argument"
usage "stray" "unexpected argument 'stray'"
# arguments this job cannot run
usage "-s 3 -d bf16" "-s 3: not a whole number of bf16 elements (2 bytes each)"
usage "-s 8,6 -d fp32" "-s 6: not a whole number of fp32 elements"
usage "-c reduce_scatter -s 4" "-s 4: reduce_scatter needs 2 equal blocks of fp32 elements, a multiple of 8 bytes"
usage "-c allgather -n 3 -s 16" "-s 16: allgather needs 3 equal blocks"
usage "--algo small -s 4,4M" "--algo small: 4194304 bytes do not fit in one slot of 1048576 bytes"
usage "--algo large -c broadcast" "--algo large: only allreduce has algorithms to choose from, not broadcast"
usage "-c broadcast -m out" "-m out: broadcast has one buffer, it runs in place only"
usage "-c broadcast -m both" "-m both: broadcast has one buffer"
SHMAR_SLOT_BYTES=64k
export SHMAR_SLOT_BYTES
usage "--algo small -s 128k" "do not fit in one slot of 65536 bytes"
unset SHMAR_SLOT_BYTES

# ---------------------------------------------------------------- a real run, the table
# shellcheck disable=SC2086
run table -n 2 -s 4,64k -d fp32,bf16 $quick
[ "$rc" -eq 0 ] || { fail "table run: exit $rc"; show table; }
grep -q '^# allreduce sum, 2 ranks on [0-9]* CPU' "$tmp/table.out" || fail "table: no job line"
grep -q '^# kernels [a-z0-9]*, algorithm auto' "$tmp/table.out" || fail "table: no kernels/algorithm line"
grep -q 'busbw = algbw x 2(n-1)/n = algbw x 1.000' "$tmp/table.out" || fail "table: no busbw factor"
grep -q '^#   size_B  mode  iters     p50_us     p90_us     p99_us     max_us     b2b_us  algbw_GBps  busbw_GBps$' \
	"$tmp/table.out" || fail "table: column header"
[ "$(rows table | wc -l)" -eq 8 ] || fail "table: $(rows table | wc -l) rows, not 2 sizes x 2 modes x 2 dtypes"
# aligned: every row as long as the column header, 10 fields, busbw = algbw at 2 ranks
width=$(grep '^#   size_B' "$tmp/table.out" | head -1 | awk '{ print length }')
rows table | awk -v w="$width" '
	length != w || NF != 10 { bad = 1 }
	$10 != $9 { bad = 1 }
	END { exit bad }' || fail "table: rows not aligned with the header, or busbw != algbw at 2 ranks"
grep -q '^# bf16$' "$tmp/table.out" || fail "table: no bf16 block"

# ---------------------------------------------------------------- OSU rows (peers/run-peers.sh EXTRA_PEER_CMD)
# shellcheck disable=SC2086
run osu -n 2 -s 4,1k $quick --osu
[ "$rc" -eq 0 ] || { fail "--osu: exit $rc"; show osu; }
grep -q '^# peer=libshmar np=2 coll=allreduce dtype=fp32 op=sum ' "$tmp/osu.out" || fail "--osu: peer line"
grep -q '^# size_B mode iters med_us avg_us avgavg_us p10_us p90_us min_us algbw_GBps b2b_us$' \
	"$tmp/osu.out" || fail "--osu: column line"
rows osu | awk '
	NF != 11 || ($2 != "in" && $2 != "out") { bad = 1 }
	{ for (i = 3; i <= 11; i++) if ($i !~ /^[0-9]+(\.[0-9]+)?$/) bad = 1 }
	END { exit bad || NR != 4 }' || { fail "--osu: rows not in the OSU format"; show osu; }

# ---------------------------------------------------------------- CSV
# shellcheck disable=SC2086
run csv -n 2 -c allgather -s 64 $quick --csv
[ "$rc" -eq 0 ] || { fail "--csv: exit $rc"; show csv; }
head -1 "$tmp/csv.out" | grep -q '^label,coll,dtype,op,nranks,size_B,count,mode,iters,min_us,p10_us,p50_us,p90_us,p99_us,max_us,avg_us,avgavg_us,b2b_us,algbw_GBps,busbw_GBps$' ||
	fail "--csv: header line"
grep -q '^libshmar,allgather,fp32,,2,64,8,in,' "$tmp/csv.out" || fail "--csv: the in-place row"
[ "$(wc -l < "$tmp/csv.out")" -eq 3 ] || fail "--csv: not a header and 2 rows"

# ---------------------------------------------------------------- JSON
# shellcheck disable=SC2086
run json -n 2 -c reduce_scatter -s 64,8k -o max $quick --json -l json-run
[ "$rc" -eq 0 ] || { fail "--json: exit $rc"; show json; }
if [ -n "$python" ]; then
	"$python" -m json.tool "$tmp/json.out" >/dev/null || fail "--json: not valid JSON"
	"$python" - "$tmp/json.out" <<'EOF' || fail "--json: keys or values not as documented"
import json, sys

doc = json.load(open(sys.argv[1]))
problems = []
want = {"tool": "shmar-bench", "label": "json-run", "collective": "reduce_scatter", "op": "max",
        "ranks": 2, "mem": "malloc", "data": "fixed", "status": "ok", "error": None,
        "algo": None, "small_max_B": None, "busbw_factor": 0.5, "min_iters": 5, "max_iters": 200}
for key, value in want.items():
    if doc.get(key, "missing") != value:
        problems.append("%s: %r, not %r" % (key, doc.get(key, "missing"), value))
for key in ("version", "library_version", "isa"):
    if not isinstance(doc.get(key), str) or not doc[key]:
        problems.append("%s is not a string" % key)
for key in ("cpus", "cpus_per_rank", "threads"):
    if not isinstance(doc.get(key), int):
        problems.append("%s is not a number" % key)
if not isinstance(doc.get("oversubscribed"), bool):
    problems.append("oversubscribed is not a boolean")
rows = doc.get("results", [])
if [(r["size_B"], r["mode"]) for r in rows] != [(64, "in"), (8192, "in"), (64, "out"), (8192, "out")]:
    problems.append("results: %r" % [(r.get("size_B"), r.get("mode")) for r in rows])
for r in rows:
    if r.get("dtype") != "fp32" or r.get("count") != r.get("size_B", 0) // 8:
        problems.append("row %r: dtype or count" % r)
    stats = [r.get(k) for k in ("min_us", "p50_us", "p90_us", "p99_us", "max_us")]
    if not all(isinstance(v, float) and v > 0 for v in stats) or stats != sorted(stats):
        problems.append("row %r: statistics not positive numbers in order" % r)
    if not isinstance(r.get("iters"), int) or not 5 <= r["iters"] <= 200:
        problems.append("row %r: iters" % r)
    if abs(r["busbw_GBps"] - r["algbw_GBps"] * 0.5) > 1e-5 * r["algbw_GBps"] + 1e-6:
        problems.append("row %r: busbw is not algbw x (n-1)/n" % r)
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
else
	echo "SKIP (part): no python3 with json, the JSON document is not parsed"
fi

# ---------------------------------------------------------------- barrier: no sizes
# shellcheck disable=SC2086
run barrier -n 2 -c barrier $quick
[ "$rc" -eq 0 ] || { fail "barrier: exit $rc"; show barrier; }
[ "$(rows barrier | wc -l)" -eq 1 ] || fail "barrier: $(rows barrier | wc -l) rows, not 1"
rows barrier | awk '$1 != 0 || $2 != "-" || $9 != "-" || $10 != "-" { exit 1 }' ||
	fail "barrier: the row has a size, a mode or a bandwidth"
[ -s "$tmp/barrier.err" ] && fail "barrier without -s: a note on stderr"
# shellcheck disable=SC2086
run barrier_s -n 2 -c barrier -s 4,1M -d bf16 -m out $quick
[ "$rc" -eq 0 ] || { fail "barrier -s: exit $rc"; show barrier_s; }
[ "$(rows barrier_s | wc -l)" -eq 1 ] || fail "barrier -s 4,1M: $(rows barrier_s | wc -l) rows, not 1"
grep -q 'barrier moves no data: -s, -d, -m ignored' "$tmp/barrier_s.err" ||
	fail "barrier -s -d -m: no note that they are ignored"
# shellcheck disable=SC2086
run barrier_json -n 2 -c barrier $quick --json
if [ -n "$python" ]; then
	"$python" -c '
import json, sys
d = json.load(open(sys.argv[1]))
r = d["results"]
assert len(r) == 1 and r[0]["size_B"] == 0 and r[0]["mode"] is None, r
assert r[0]["algbw_GBps"] is None and r[0]["busbw_GBps"] is None and d["busbw_factor"] is None, r
' "$tmp/barrier_json.out" || fail "barrier --json: not one row without size and bandwidth"
fi

# ---------------------------------------------------------------- broadcast: in place only
# shellcheck disable=SC2086
run bcast -n 2 -c broadcast -s 64,64k -o max $quick
[ "$rc" -eq 0 ] || { fail "broadcast: exit $rc"; show bcast; }
[ "$(rows bcast | awk '$2 == "in"' | wc -l)" -eq 2 ] || fail "broadcast: not 2 in-place rows"
rows bcast | awk '$2 != "in" { exit 1 }' || fail "broadcast: a row that is not in place"
grep -q 'broadcast reduces nothing: -o ignored' "$tmp/bcast.err" || fail "broadcast -o: no note"

# ---------------------------------------------------------------- algorithm, threads
# shellcheck disable=SC2086
run algo -n 2 -s 4,256 -m in --algo large --threads 2 $quick
[ "$rc" -eq 0 ] || { fail "--algo large --threads 2: exit $rc"; show algo; }
grep -q 'algorithm large (forced).*threads 2' "$tmp/algo.out" ||
	fail "--algo large --threads 2: not in the header"
# the default sizes stop at the slot with --algo small
# shellcheck disable=SC2086
run small -n 2 -m in --algo small -t 0.002 --min-iters 3 --max-iters 20
[ "$rc" -eq 0 ] || { fail "--algo small: exit $rc"; show small; }
[ "$(rows small | awk '{ print $1 }' | tail -1)" = 1048576 ] || fail "--algo small: default sizes do not stop at the slot"

# ---------------------------------------------------------------- oversubscription
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
	timeout -k 5 60 taskset -c 0 "$bench" -n 2 -s 4 -m in -t 0.005 --min-iters 5 --max-iters 50 \
		>"$tmp/over.out" 2>"$tmp/over.err" </dev/null
	rc=$?
	[ "$rc" -eq 0 ] || { fail "2 ranks on CPU 0: exit $rc"; show over; }
	grep -q 'warning: 2 ranks share 1 CPU' "$tmp/over.err" || fail "2 ranks on 1 CPU: no warning"
	grep -q '2 ranks on 1 CPU, 1 per rank: OVERSUBSCRIBED' "$tmp/over.out" ||
		fail "2 ranks on 1 CPU: the header does not say oversubscribed"
else
	echo "SKIP (part): taskset(1) cannot pin to CPU 0, oversubscription not tested"
fi

# ---------------------------------------------------------------- --mem registered
# Until shmar_mem_alloc() exists, a clear error (exit 1, and a JSON document
# that says so); once it does, a run like any other.
# shellcheck disable=SC2086
run reg -n 2 -s 4,64k --mem registered $quick --json
case $rc in
0)
	[ -n "$python" ] && ! "$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["mem"] == "registered" and d["status"] == "ok" and len(d["results"]) == 4' "$tmp/reg.out" &&
		fail "--mem registered: ran, but the JSON does not say so"
	;;
1)
	grep -q 'rank 0: --mem registered: shmar_mem_alloc of [0-9]* bytes: ' "$tmp/reg.err" ||
		{ fail "--mem registered: no clear error"; show reg; }
	[ "$(wc -l < "$tmp/reg.err")" -eq 1 ] || fail "--mem registered: more than one error line"
	[ -n "$python" ] && ! "$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["status"] == "failed" and "shmar_mem_alloc" in d["error"] and d["results"] == []' "$tmp/reg.out" &&
		fail "--mem registered: the JSON does not say why it failed"
	;;
*) fail "--mem registered: exit $rc"; show reg ;;
esac

# ---------------------------------------------------------------- under shmar-run
if [ -x "$runner" ]; then
	timeout -k 5 60 "$runner" --no-tag-output -n 2 "$bench" -s 4 -m in -t 0.005 --min-iters 5 --max-iters 50 \
		--algo small >"$tmp/joined.out" 2>"$tmp/joined.err" </dev/null
	rc=$?
	[ "$rc" -eq 0 ] || { fail "under shmar-run: exit $rc"; show joined; }
	[ "$(rows joined | wc -l)" -eq 1 ] || fail "under shmar-run: not one row (rank 0 alone prints)"
	grep -q 'algorithm small' "$tmp/joined.out" || fail "under shmar-run: --algo small not in the header"
	timeout -k 5 60 "$runner" --no-tag-output -n 2 "$bench" -c allgather -s 4 \
		>"$tmp/joined_bad.out" 2>"$tmp/joined_bad.err" </dev/null
	rc=$?
	[ "$rc" -eq 2 ] || fail "under shmar-run, -c allgather -s 4: exit $rc, not 2"
	[ "$(grep -c 'allgather needs 2 equal blocks' "$tmp/joined_bad.err")" -eq 1 ] ||
		{ fail "under shmar-run: the usage error is not said once"; show joined_bad; }
fi

left=$(ls -A "$dir")
[ -z "$left" ] || fail "left in the rendezvous directory: $left"

if [ "$fails" -ne 0 ]; then
	echo "$fails failure(s)"
	exit 1
fi
echo "PASS"
exit 0
