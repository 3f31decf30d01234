#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-shmar-check.sh - shmar-check(1): --help/--version, usage errors, the
# JSON document and its keys, a healthy run with 2 ranks, and the forced
# failures (an unsafe SHMAR_DIR, a SHMAR_ISA the CPU lacks or does not know),
# each broken (exit 2) with its reason; the rendezvous directory stays empty.
#
# An automake test (top_builddir and top_srcdir come from the environment):
# exit 0 pass, 1 fail, 77 skip, 99 hard error.  Every shmar-check is bounded
# by timeout(1); each run gets a private rendezvous directory of its own.

set -u

: "${top_builddir:=.}"
check=$top_builddir/tools/shmar-check
if [ ! -x "$check" ]; then
	echo "ERROR: $check is not built"
	exit 99
fi
if ! command -v timeout >/dev/null 2>&1; then
	echo "SKIP: timeout(1) not found"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-shmar-check.XXXXXX") || exit 99
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

# Only what a test sets may steer the library.
for v in $(env | sed -n 's/^\(SHMAR_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
unset NO_COLOR

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# run NAME [VAR=VALUE...] OPTIONS...: shmar-check in that environment,
# bounded in time; output in $tmp/NAME.out and .err, exit status in $rc.
run() {
	name=$1
	shift
	# Rotate the arguments once, putting the program after the assignments.
	count=$# i=0 placed=no
	while [ "$i" -lt "$count" ]; do
		a=$1
		shift
		if [ "$placed" = no ]; then
			case $a in
			*=*) ;;
			*) set -- "$@" "$check"; placed=yes ;;
			esac
		fi
		set -- "$@" "$a"
		i=$((i + 1))
	done
	[ "$placed" = yes ] || set -- "$@" "$check"
	timeout -k 10 300 env "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "$name: shmar-check did not finish within 300 s"
	fi
}

show() {
	sed 's/^/    /' "$tmp/$1.out" "$tmp/$1.err"
}

# A fresh private rendezvous directory (0700, like the library makes).
newdir() {
	d=$(mktemp -d "$tmp/dir.XXXXXX") || exit 99
	chmod 700 "$d"
	echo "$d"
}

expect_empty() { # dir label
	left=$(ls -A "$1" 2>/dev/null)
	[ -z "$left" ] || fail "$2: left in $1: $left"
}

# ---------------------------------------------------------------- --help, --version
run help --help
[ "$rc" -eq 0 ] || fail "--help: exit $rc, not 0"
grep -q -- '--ranks' "$tmp/help.out" || fail "--help does not mention --ranks"

run version --version
[ "$rc" -eq 0 ] || fail "--version: exit $rc, not 0"
grep -q 'libshmar' "$tmp/version.out" || fail "--version does not name libshmar"

# ---------------------------------------------------------------- usage errors
for bad in 0 257 x -1 2x ""; do
	run usage --no-selftest --ranks "$bad"
	[ "$rc" -eq 2 ] || fail "--ranks '$bad': exit $rc, not 2"
	grep -q -- '--ranks' "$tmp/usage.err" || fail "--ranks '$bad': no message on stderr"
	[ -s "$tmp/usage.out" ] && fail "--ranks '$bad': printed a report"
done
run usage --frobnicate
[ "$rc" -eq 2 ] || fail "unknown option: exit $rc, not 2"
[ -s "$tmp/usage.err" ] || fail "unknown option: no message on stderr"

# ---------------------------------------------------------------- a healthy run
dir=$(newdir)
run healthy SHMAR_DIR="$dir" --ranks 2
case $rc in
0 | 1) ;;
*)
	fail "--ranks 2: exit $rc, not 0 (healthy) or 1 (degraded)"
	show healthy
	;;
esac
grep -q '^Self-test (2 ranks' "$tmp/healthy.out" || fail "--ranks 2: no self-test section"
grep -q 'all 7 dtypes passed' "$tmp/healthy.out" || fail "--ranks 2: the self-test does not say all dtypes passed"
grep -q '^Summary' "$tmp/healthy.out" || fail "--ranks 2: no summary"
grep -q "$(printf '\033')" "$tmp/healthy.out" && fail "colours although stdout is no terminal"
expect_empty "$dir" "--ranks 2"

# --quiet: the summary line alone; with --json nothing.
run quiet SHMAR_DIR="$dir" --quiet --no-selftest
[ "$(wc -l < "$tmp/quiet.out")" -eq 1 ] || fail "--quiet printed more than one line"
run quietjson SHMAR_DIR="$dir" --quiet --json --no-selftest
[ -s "$tmp/quietjson.out" ] && fail "--quiet --json printed something"
case $rc in 0 | 1) ;; *) fail "--quiet --json --no-selftest: exit $rc" ;; esac

# The environment is listed, but a token is a secret.
run token SHMAR_DIR="$dir" SHMAR_TOKEN=sekrit-$$ --no-selftest
grep -q 'SHMAR_TOKEN=' "$tmp/token.out" || fail "SHMAR_TOKEN is not listed"
grep -q "sekrit-$$" "$tmp/token.out" && fail "the value of SHMAR_TOKEN is shown"

# ---------------------------------------------------------------- JSON
run json SHMAR_DIR="$dir" --json --ranks 2
case $rc in 0 | 1) ;; *) fail "--json --ranks 2: exit $rc"; show json ;; esac
expect_empty "$dir" "--json --ranks 2"
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json, sys; json.load(sys.stdin)' < "$tmp/json.out" ||
		fail "--json output does not parse"
	python3 - "$tmp/json.out" <<'EOF' || fail "--json output lacks documented keys or values"
import json, sys

doc = json.load(open(sys.argv[1]))
problems = []
for key in ("version", "status", "checks", "selftest"):
    if key not in doc:
        problems.append("no key " + key)
if doc.get("status") not in ("healthy", "degraded"):
    problems.append("status %r on a healthy machine" % doc.get("status"))
for c in doc.get("checks", []):
    for key in ("section", "name", "status", "value", "detail", "fix"):
        if not isinstance(c.get(key), str):
            problems.append("check %r: %s is not a string" % (c.get("name"), key))
    if c.get("status") not in ("ok", "degraded", "broken"):
        problems.append("check %r: status %r" % (c.get("name"), c.get("status")))
st = doc.get("selftest", {})
for key in ("ranks", "status", "isa", "results", "latency_us", "bandwidth_GBps"):
    if key not in st:
        problems.append("selftest: no key " + key)
if st.get("ranks") != 2:
    problems.append("selftest.ranks %r" % st.get("ranks"))
if st.get("status") != "ok":
    problems.append("selftest.status %r" % st.get("status"))
dtypes = {r["dtype"] for r in st.get("results", []) if r.get("ok") is True and r.get("count", 0) > 0}
want = {"float32", "bfloat16", "float16", "float64", "int32", "int64", "uint8"}
if dtypes != want:
    problems.append("dtypes passed: %s" % sorted(dtypes))
if any(r.get("ok") is not True for r in st.get("results", [])):
    problems.append("a self-test case failed")
for key in ("barrier", "allreduce_4B", "allreduce_16KiB"):
    if key not in st.get("latency_us", {}):
        problems.append("latency_us: no key " + key)
for key in ("allreduce_1MiB", "allreduce_16MiB"):
    if key not in st.get("bandwidth_GBps", {}):
        problems.append("bandwidth_GBps: no key " + key)
lat = st.get("latency_us", {}).get("allreduce_4B")
if not isinstance(lat, (int, float)) or lat <= 0:
    problems.append("latency_us.allreduce_4B %r" % lat)
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
	# Strings are escaped: a directory name with a quote, a backslash and a tab.
	odd=$(mktemp -d "$tmp/$(printf 'q"b\\s\tt').XXXXXX") || exit 99
	chmod 700 "$odd"
	run jsonesc SHMAR_DIR="$odd" --json --no-selftest
	python3 -c 'import json, sys; d = json.load(sys.stdin); assert any(sys.argv[1] in c["value"] for c in d["checks"])' \
		"$odd" < "$tmp/jsonesc.out" || fail "--json does not escape \", \\ and tab in strings"
else
	echo "SKIP (part): python3 not found, the JSON document is not parsed"
	grep -q '"selftest"' "$tmp/json.out" || fail "--json output has no selftest key"
fi

# ---------------------------------------------------------------- forced failures
# An unsafe rendezvous directory: mode 0777.
bad=$(mktemp -d "$tmp/open.XXXXXX") || exit 99
chmod 0777 "$bad"
run opendir SHMAR_DIR="$bad" --ranks 2
[ "$rc" -eq 2 ] || { fail "SHMAR_DIR mode 0777: exit $rc, not 2"; show opendir; }
grep -q "^broken   rendezvous dir  $bad has mode 0777" "$tmp/opendir.out" ||
	fail "SHMAR_DIR mode 0777: no broken rendezvous dir line"
grep -q "fix: chmod 700 $bad" "$tmp/opendir.out" || fail "SHMAR_DIR mode 0777: no chmod fix"
expect_empty "$bad" "SHMAR_DIR mode 0777"

# A SHMAR_ISA the CPU lacks, where it can be tested; else one nobody knows.
dir=$(newdir)
if ! grep -q avx512bw /proc/cpuinfo 2>/dev/null; then
	run isa SHMAR_DIR="$dir" SHMAR_ISA=avx512 --ranks 2
	[ "$rc" -eq 2 ] || { fail "SHMAR_ISA=avx512 without AVX-512: exit $rc, not 2"; show isa; }
	grep -q 'SHMAR_ISA=avx512 but this CPU lacks' "$tmp/isa.out" ||
		fail "SHMAR_ISA=avx512 without AVX-512: the reason is not given"
else
	echo "note: this CPU has AVX-512 BW; testing SHMAR_ISA=bogus instead of SHMAR_ISA=avx512"
fi
run isabogus SHMAR_DIR="$dir" SHMAR_ISA=bogus --ranks 2
[ "$rc" -eq 2 ] || { fail "SHMAR_ISA=bogus: exit $rc, not 2"; show isabogus; }
grep -q 'SHMAR_ISA=bogus is not auto, scalar, avx2 or avx512' "$tmp/isabogus.out" ||
	fail "SHMAR_ISA=bogus: the reason is not given"
expect_empty "$dir" "SHMAR_ISA"

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
exit 0
