#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-shmar-check.sh - shmar-check(1): --help/--version, usage errors, the
# JSON document (every key and type as the man page lists them, numbers as
# numbers), a healthy run with 2 ranks, and the forced failures (an unsafe
# SHMAR_DIR, a SHMAR_ISA the CPU lacks or does not know), each broken (exit 2)
# with its reason; the rendezvous directory stays empty.
#
# And that shmar-check cannot drift from the library: what it reports is
# held against what the library really does, with the library's own one-rank
# shmar_comm_init (the init row) and a 2-rank self-test as the judges: the
# kernels for every SHMAR_ISA (and auto picks the best the library accepts),
# a relative SHMAR_DIR (refused), XDG_RUNTIME_DIR (the directory the library
# really made), SHMAR_IO_URING=0/1 (the liveness path against a real job).
#
# An automake test (top_builddir and top_srcdir come from the environment):
# exit 0 pass, 1 fail, 77 skip, 99 hard error.  Every shmar-check is bounded
# by timeout(1); each run gets a private rendezvous directory of its own.

set -u

: "${top_builddir:=.}"
: "${top_srcdir:=$(dirname "$0")/../..}"
check=$(cd "$top_builddir" && pwd)/tools/shmar-check
manpage=$top_srcdir/man/shmar-check.1
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

# run NAME [VAR=VALUE...] OPTIONS...: shmar-check in that environment (and
# in the directory $run_cwd, if set), bounded in time; output in
# $tmp/NAME.out and .err, exit status in $rc.
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
	(cd "${run_cwd:-.}" && exec timeout -k 10 300 env "$@") >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
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

have_python=no
command -v python3 >/dev/null 2>&1 && have_python=yes

# fact NAME KEY: facts.KEY of the --json document of run NAME (strings bare,
# anything else as JSON: null, true, 42).
fact() {
	python3 - "$tmp/$1.out" "$2" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))["facts"][sys.argv[2]]
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

# row NAME CHECK FIELD: a field of the row CHECK in the --json document of run NAME.
row() {
	python3 - "$tmp/$1.out" "$2" "$3" <<'EOF'
import json, sys
rows = [c for c in json.load(open(sys.argv[1]))["checks"] if c["name"] == sys.argv[2]]
print(rows[0][sys.argv[3]] if rows else "(no row)")
EOF
}

# selftest NAME KEY: selftest.KEY of the --json document of run NAME.
selftest() {
	python3 - "$tmp/$1.out" "$2" <<'EOF'
import json, sys
print(json.load(open(sys.argv[1]))["selftest"][sys.argv[2]])
EOF
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
if [ "$have_python" = yes ]; then
	python3 -c 'import json, sys; json.load(sys.stdin)' < "$tmp/json.out" ||
		fail "--json output does not parse"
	python3 - "$tmp/json.out" <<'EOF' || fail "--json output lacks documented keys or values"
import json, sys

doc = json.load(open(sys.argv[1]))
problems = []
for key in ("version", "status", "checks", "facts", "selftest"):
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
# Numbers as numbers, not only inside the rows' text.
facts = doc.get("facts", {})
for key in ("futex_round_trip_us", "cpus_online", "cpus_usable", "nofile_needed"):
    v = facts.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        problems.append("facts.%s %r is not a positive number" % (key, v))
if facts.get("ranks") != 2 or facts.get("kernels") != st.get("isa"):
    problems.append("facts.ranks %r, facts.kernels %r (self-test: %r)"
                    % (facts.get("ranks"), facts.get("kernels"), st.get("isa")))
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
	# Every key as shmar-check(1) lists it (".BR key \" (type)\"" under JSON
	# output), with that type; every key it lists is in the document.
	python3 - "$tmp/json.out" "$manpage" <<'EOF' || fail "--json and shmar-check(1) disagree"
import json, re, sys

doc = json.load(open(sys.argv[1]))
man = open(sys.argv[2]).read()
section = man[man.index(".SS JSON output"):man.index(".SH OPTIONS")]
documented = {}
for key, types in re.findall(r'^\.BR ([A-Za-z_][A-Za-z0-9_]*) " \(([^)]*)\)[,;]?"$', section, re.M):
    documented.setdefault(key, set()).update(
        re.findall(r"\b(string|number|boolean|array|object|null)", types))

def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(v)]

problems, seen = [], set()

def compare(obj, where):
    for key, value in obj.items():
        seen.add(key)
        if key not in documented:
            problems.append("%s%s is not in shmar-check(1)" % (where, key))
        elif json_type(value) not in documented[key]:
            problems.append("%s%s is %s, shmar-check(1) says %s"
                            % (where, key, json_type(value), sorted(documented[key])))
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, dict) and json_type(item) not in documented.get(key, ()):
                    problems.append("%s%s holds a %s" % (where, key, json_type(item)))

compare(doc, "")
for c in doc["checks"]:
    compare(c, "checks[].")
compare(doc["facts"], "facts.")
compare({k: v for k, v in doc["selftest"].items()}, "selftest.")
for r in doc["selftest"]["results"]:
    compare(r, "results[].")
for key in sorted(set(documented) - seen):
    problems.append("shmar-check(1) lists %s, --json has none" % key)
if len(documented) < 50:
    problems.append("only %d keys found in shmar-check(1): the pattern is lost" % len(documented))
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
grep -A1 "^broken   init" "$tmp/opendir.out" | grep -q "explained above: rendezvous dir" ||
	fail "SHMAR_DIR mode 0777: the library's init does not fail on the directory"
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

# ---------------------------------------------------------------- no drift from the library
# Each report is held against what the library itself does: its one-rank
# shmar_comm_init (facts.init_error) and a real job of 2 ranks (the self-test).
if [ "$have_python" = no ]; then
	echo "SKIP (part): python3 not found, shmar-check is not held against the library"
else
	# Kernels: the row says they run exactly when the library's init accepts
	# them, and then the self-test's ranks run them; auto is the best the
	# library accepts (scalar < avx2 < avx512).
	dir=$(newdir)
	best=none
	for isa in scalar avx2 avx512; do
		run "isa-$isa" SHMAR_DIR="$dir" SHMAR_ISA=$isa --json --ranks 2
		status=$(row "isa-$isa" kernels status)
		init=$(fact "isa-$isa" init_error)
		case $status in
		ok)
			best=$isa
			[ "$init" = 0 ] ||
				fail "SHMAR_ISA=$isa: shmar-check says the kernels run, shmar_comm_init fails ($init)"
			[ "$(fact "isa-$isa" kernels)" = "$isa" ] ||
				fail "SHMAR_ISA=$isa: facts.kernels is $(fact "isa-$isa" kernels)"
			[ "$(selftest "isa-$isa" status)" = ok ] && [ "$(selftest "isa-$isa" isa)" = "$isa" ] ||
				{ fail "SHMAR_ISA=$isa: the self-test did not pass with $isa kernels"; show "isa-$isa"; }
			;;
		broken)
			[ "$init" != 0 ] ||
				fail "SHMAR_ISA=$isa: shmar-check says the CPU lacks the kernels, shmar_comm_init accepts them"
			[ "$rc" -eq 2 ] || fail "SHMAR_ISA=$isa refused: exit $rc, not 2"
			;;
		*)
			fail "SHMAR_ISA=$isa: kernels row '$status'"
			;;
		esac
	done
	[ "$(row isa-scalar kernels status)" = ok ] || fail "SHMAR_ISA=scalar is not ok"
	run isa-auto SHMAR_DIR="$dir" --json --no-selftest
	picked=$(fact isa-auto kernels)
	[ "$picked" = "$best" ] ||
		fail "auto: shmar-check says $picked, the best kernels shmar_comm_init accepts are $best"
	expect_empty "$dir" "SHMAR_ISA loop"

	# A relative SHMAR_DIR: the library refuses it (-EINVAL), so does the
	# report, and nothing appears in the working directory.
	cwd=$(newdir)
	run_cwd=$cwd run reldir SHMAR_DIR=rel/dir --json --ranks 2
	[ "$rc" -eq 2 ] || { fail "relative SHMAR_DIR: exit $rc, not 2"; show reldir; }
	[ "$(row reldir "rendezvous dir" status)" = broken ] ||
		fail "relative SHMAR_DIR: the rendezvous dir row is $(row reldir "rendezvous dir" status)"
	row reldir "rendezvous dir" value | grep -q 'SHMAR_DIR=rel/dir is not an absolute path' ||
		fail "relative SHMAR_DIR: the reason is not given"
	[ "$(fact reldir init_error)" = -22 ] ||
		fail "relative SHMAR_DIR: shmar_comm_init gave $(fact reldir init_error), not -EINVAL"
	[ "$(fact reldir rendezvous_dir)" = null ] || fail "relative SHMAR_DIR: facts.rendezvous_dir is not null"
	expect_empty "$cwd" "relative SHMAR_DIR"

	# XDG_RUNTIME_DIR: the report names <XDG_RUNTIME_DIR>/shmar, and that is
	# where the library made the directory and formed the self-test's job.
	xdg=$(newdir)
	run xdg XDG_RUNTIME_DIR="$xdg" --json --ranks 2
	case $rc in 0 | 1) ;; *) fail "XDG_RUNTIME_DIR: exit $rc"; show xdg ;; esac
	[ "$(fact xdg rendezvous_dir)" = "$xdg/shmar" ] && [ "$(fact xdg rendezvous_dir_source)" = XDG_RUNTIME_DIR ] ||
		fail "XDG_RUNTIME_DIR: the report names $(fact xdg rendezvous_dir) ($(fact xdg rendezvous_dir_source))"
	[ -d "$xdg/shmar" ] || fail "XDG_RUNTIME_DIR: the library made no $xdg/shmar"
	[ "$(ls -A "$xdg")" = shmar ] || fail "XDG_RUNTIME_DIR: the library used another directory: $(ls -A "$xdg")"
	[ "$(selftest xdg status)" = ok ] || fail "XDG_RUNTIME_DIR: the self-test did not pass"
	row xdg cleanup value | grep -q "nothing left in $xdg/shmar" || fail "XDG_RUNTIME_DIR: cleanup looked elsewhere"
	expect_empty "$xdg/shmar" "XDG_RUNTIME_DIR"
	# A relative XDG_RUNTIME_DIR is not used: the default is.
	run xdgrel XDG_RUNTIME_DIR=relative --json --no-selftest
	[ "$(fact xdgrel rendezvous_dir)" = "/tmp/shmar-$(id -u)" ] && [ "$(fact xdgrel rendezvous_dir_source)" = default ] ||
		fail "relative XDG_RUNTIME_DIR: the report names $(fact xdgrel rendezvous_dir) ($(fact xdgrel rendezvous_dir_source))"

	# SHMAR_IO_URING: the liveness path, held against a real job of 2 ranks.
	dir=$(newdir)
	run uring0 SHMAR_DIR="$dir" SHMAR_IO_URING=0 --json --ranks 2
	case $(fact uring0 liveness) in
	watcher | slices) ;;
	*) fail "SHMAR_IO_URING=0: liveness $(fact uring0 liveness)" ;;
	esac
	[ "$(selftest uring0 status)" = ok ] || fail "SHMAR_IO_URING=0: the self-test did not pass"
	run uring1 SHMAR_DIR="$dir" SHMAR_IO_URING=1 --json --ranks 2
	if [ "$(fact uring1 liveness)" = none ]; then
		[ "$(selftest uring1 status)" = broken ] ||
			fail "SHMAR_IO_URING=1: shmar-check says no job can form, yet the self-test formed one"
		[ "$rc" -eq 2 ] || fail "SHMAR_IO_URING=1 without the ring: exit $rc, not 2"
	else
		[ "$(fact uring1 liveness)" = io_uring ] || fail "SHMAR_IO_URING=1: liveness $(fact uring1 liveness)"
		[ "$(selftest uring1 status)" = ok ] ||
			fail "SHMAR_IO_URING=1: shmar-check says the ring works, yet the self-test failed"
	fi
	expect_empty "$dir" "SHMAR_IO_URING"
fi

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
exit 0
