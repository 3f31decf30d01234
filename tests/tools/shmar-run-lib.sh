# SPDX-License-Identifier: MIT
#
# shmar-run-lib.sh - what the test-shmar-run*.sh scripts share; sourced,
# not run.  Sets $run, $helper, $tmp (removed at exit) and $marker (unique
# to this run, on the command line of every helper rank, for pgrep -f), and
# defines the checks below.  Every shmar-run is bounded in time.

set -u

: "${top_builddir:=.}"
run=$top_builddir/tools/shmar-run
helper=$top_builddir/tests/tools/shmar-run-helper
for prog in "$run" "$helper"; do
	if [ ! -x "$prog" ]; then
		echo "ERROR: $prog is not built"
		exit 99
	fi
done
for tool in timeout pgrep od date awk; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-shmar-run.XXXXXX") || exit 99
marker=shmar-run-test-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')

# Whatever a failed check left running, by pid (the marker is this run's own).
cleanup() {
	pids=$(pgrep -f "$marker")
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

# The environment of the ranks is part of what is tested.
unset SHMAR_JOB SHMAR_NRANKS SHMAR_RANK LOCAL_RANK LOCAL_WORLD_SIZE OMP_NUM_THREADS \
	RANK WORLD_SIZE MASTER_ADDR MASTER_PORT
# Helpers that join a job meet in a directory of this run's own.
export SHMAR_DIR="$tmp/rdv"
export SHMAR_INIT_TIMEOUT_MS=20000

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
pass() {
	echo "ok: $*"
}
show_stderr() {
	sed 's/^/    stderr: /' "$tmp/err"
}

# finish: the exit status of the script.
finish() {
	echo "$fails failure(s)"
	[ "$fails" -eq 0 ] || exit 1
	exit 0
}

# sr ARGS...: shmar-run with a time limit; status in $status, output in
# $tmp/out and $tmp/err.
sr() {
	timeout -k 5 60 "$run" "$@" >"$tmp/out" 2>"$tmp/err"
	status=$?
}

# expect STATUS WHAT ARGS...: shmar-run ARGS must exit with STATUS.
expect() {
	want=$1
	what=$2
	shift 2
	sr "$@"
	if [ "$status" -eq "$want" ]; then
		pass "$what: exit $status"
	else
		fail "$what: exit $status, want $want"
		show_stderr
	fi
}

# stderr_has WHAT REGEX: the last shmar-run said this.
stderr_has() {
	if grep -Eq -- "$2" "$tmp/err"; then
		pass "$1"
	else
		fail "$1: stderr does not match /$2/"
		show_stderr
	fi
}

# stderr_lacks WHAT REGEX: the last shmar-run did not say this.
stderr_lacks() {
	if grep -Eq -- "$2" "$tmp/err"; then
		fail "$1: stderr matches /$2/"
		show_stderr
	else
		pass "$1"
	fi
}

# no_job_left WHAT: no process with the marker, allowing 1 s for SIGKILLed
# ones to finish dying.
no_job_left() {
	i=0
	while pgrep -f "$marker" >/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 10 ]; then
			fail "$1: processes of the job are left:"
			pgrep -a -f "$marker" | sed 's/^/    /'
			return
		fi
		sleep 0.1
	done
	pass "$1: no process of the job left"
}

# wait_for_files FILE...: each exists within 10 s.
wait_for_files() {
	i=0
	for f in "$@"; do
		while [ ! -e "$f" ]; do
			i=$((i + 1))
			[ "$i" -le 100 ] || return 1
			sleep 0.1
		done
	done
	return 0
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# within WHAT START_MS LIMIT_MS: now is at most LIMIT_MS after START_MS.
within() {
	took=$(($(now_ms) - $2))
	if [ "$took" -le "$3" ]; then
		pass "$1: took $took ms (limit $3 ms)"
	else
		fail "$1: took $took ms, more than $3 ms"
		show_stderr
	fi
}

# A shell starts background commands with SIGINT and SIGQUIT ignored, and
# shmar-run rightly leaves ignored signals alone: env(1) resets them, where
# it can.
if env --default-signal=INT,QUIT true 2>/dev/null; then
	bg_env="env --default-signal=INT,QUIT"
else
	bg_env=
fi

# start_job SHMAR-RUN-OPTIONS... -- HELPER-OPTIONS...: shmar-run in the
# background with helper ranks, its pid in $job_pid once every rank is set
# up (-n must come first).  SIGINT reaches it only when $bg_env is set.
start_job() {
	n=$2
	sr_opts=
	while [ "$1" != -- ]; do
		sr_opts="$sr_opts $1"
		shift
	done
	shift
	rm -f "$tmp"/ready.*
	$bg_env "$run" $sr_opts sh -c 'exec "$@" --ready "$0/ready.$SHMAR_RANK" '"$marker" \
		"$tmp" "$helper" "$@" >"$tmp/out" 2>"$tmp/err" &
	job_pid=$!
	files=
	r=0
	while [ "$r" -lt "$n" ]; do
		files="$files $tmp/ready.$r"
		r=$((r + 1))
	done
	wait_for_files $files
}

# wait_job [SECONDS]: shmar-run's exit status into $status, SIGKILLing it
# after SECONDS (10).
wait_job() {
	(sleep "${1:-10}" && kill -KILL "$job_pid" 2>/dev/null) >/dev/null 2>&1 &
	watchdog=$!
	wait "$job_pid" 2>/dev/null
	status=$?
	kill "$watchdog" 2>/dev/null
}

# rank_pid R: the pid of rank R of the last start_job (its shell exec'd
# the helper, so the pid is the helper's).
rank_pid() {
	pgrep -o -f -- "--ready $tmp/ready.$1 $marker"
}
