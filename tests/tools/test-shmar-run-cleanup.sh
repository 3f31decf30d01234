#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-shmar-run-cleanup.sh - nothing of a job that shmar-run(1) started
# stays in the rendezvous directory, however its start fails: a rank that
# exits non-zero at once, a rank killed during the rendezvous, rank 0
# SIGKILLed while it listens, rank 0 stopped by shmar-run's SIGTERM while it
# listens, shmar-run itself sent SIGTERM during the rendezvous.  20 failed
# starts, then the directory must be empty.  A socket another live job
# listens on stays.
#
# An automake test: exit 0 pass, 1 fail, 77 skip, 99 hard error.

. "${top_srcdir:-.}/tests/tools/shmar-run-lib.sh"

dir=$SHMAR_DIR

# Each mode is one failed start, run by shmar-run -n N --job JOB; "$dir/$job.sock"
# is where rank 0 listens.  The ranks are sh scripts: $1 the helper, $2
# the marker, $3 the directory, $4 a scratch file.

# A rank exits 3 at once, while rank 0 may or may not be listening yet.
mode_exit_at_once='
	[ "$SHMAR_RANK" = 1 ] && exit 3
	exec "$1" --init "$2"'

# Rank 1 waits until rank 0 listens, then exits 3: shmar-run SIGTERMs
# rank 0 during the rendezvous.
mode_sigterm_rank0='
	if [ "$SHMAR_RANK" = 1 ]; then
		i=0
		while [ ! -S "$3/$SHMAR_JOB.sock" ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		exit 3
	fi
	exec "$1" --init "$2"'

# Three ranks; rank 2 connects, then is SIGKILLed during the rendezvous.
mode_kill_peer='
	if [ "$SHMAR_RANK" = 2 ]; then
		i=0
		while [ ! -S "$3/$SHMAR_JOB.sock" ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		kill -KILL $$
	fi
	exec "$1" --init "$2"'

# Rank 0 SIGKILLed while it listens (rank 1 does it, and then fails).
mode_kill_rank0='
	if [ "$SHMAR_RANK" = 0 ]; then
		echo $$ >"$4"
		exec "$1" --init "$2"
	fi
	i=0
	while [ ! -S "$3/$SHMAR_JOB.sock" ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	kill -KILL "$(cat "$4")"
	exit 3'

# try WHAT NRANKS MODE: one failed start; it must fail as a rank made it
# (not 0, not a usage error, not shmar-run's own failure or a timeout).
try() {
	job=clean-$$-$attempt
	sr -n "$2" --job "$job" --grace 1 --stop-delay 0.2 sh -c "$3" sh "$helper" "$marker" \
		"$dir" "$tmp/pid"
	if [ "$status" -eq 0 ] || [ "$status" -eq 2 ] || [ "$status" -eq 124 ] ||
		[ "$status" -eq 125 ]; then
		fail "$1 (start $attempt): exit $status"
		show_stderr
	fi
}

# shmar-run itself is sent SIGTERM while rank 0 listens for rank 1, which
# never comes.
try_sigterm_launcher() {
	job=clean-$$-$attempt
	"$run" -n 2 --job "$job" sh -c '
		[ "$SHMAR_RANK" = 1 ] && exec "$1" "$2"
		exec "$1" --init "$2"' sh "$helper" "$marker" >"$tmp/out" 2>"$tmp/err" &
	job_pid=$!
	if ! wait_for_files "$dir/$job.sock"; then
		fail "SIGTERM to shmar-run (start $attempt): rank 0 did not listen"
	fi
	kill -TERM "$job_pid"
	wait_job 10
	[ "$status" -eq 143 ] || fail "SIGTERM to shmar-run (start $attempt): exit $status"
}

# The directory is shmar-run's to find, as the library finds it: here
# SHMAR_DIR, and for one start XDG_RUNTIME_DIR.
attempt=0
while [ "$attempt" -lt 20 ]; do
	case $((attempt % 5)) in
	0) try "a rank exits at once" 2 "$mode_exit_at_once" ;;
	1) try "rank 0 SIGTERMed while it listens" 2 "$mode_sigterm_rank0" ;;
	2) try "a peer SIGKILLed during the rendezvous" 3 "$mode_kill_peer" ;;
	3) try "rank 0 SIGKILLed while it listens" 2 "$mode_kill_rank0" ;;
	4) try_sigterm_launcher ;;
	esac
	attempt=$((attempt + 1))
done
left=$(ls -A "$dir" 2>/dev/null)
if [ -z "$left" ]; then
	pass "20 failed starts (5 ways): $dir is empty"
else
	fail "20 failed starts (5 ways) left in $dir: $(echo $left)"
fi
no_job_left "after 20 failed starts"

# Without SHMAR_DIR the library meets in $XDG_RUNTIME_DIR/shmar: so does
# shmar-run.
mkdir -m 700 "$tmp/xdg"
attempt=xdg
(
	unset SHMAR_DIR
	export XDG_RUNTIME_DIR="$tmp/xdg"
	dir=$tmp/xdg/shmar
	fails=0
	try "rank 0 SIGTERMed while it listens, XDG_RUNTIME_DIR" 2 "$mode_sigterm_rank0"
	exit "$fails"
) || fails=$((fails + 1))
left=$(ls -A "$tmp/xdg/shmar" 2>/dev/null)
if [ -z "$left" ]; then
	pass "a failed start with XDG_RUNTIME_DIR: $tmp/xdg/shmar is empty"
else
	fail "a failed start with XDG_RUNTIME_DIR left: $(echo $left)"
fi

# A job with the same name that is alive keeps its socket: shmar-run
# removes only what no process listens on.
"$run" -n 2 --job live-$$ sh -c '
	[ "$SHMAR_RANK" = 1 ] && exec "$1" "$2"
	exec "$1" --init "$2"' sh "$helper" "$marker" >"$tmp/out.live" 2>"$tmp/err.live" &
live_pid=$!
if wait_for_files "$dir/live-$$.sock"; then
	sr -n 1 --job live-$$ true
	if [ -S "$dir/live-$$.sock" ]; then
		pass "the socket of a live job with the same name stays"
	else
		fail "shmar-run removed the socket of a live job with the same name"
	fi
else
	fail "the live job did not listen"
fi
job_pid=$live_pid
kill -TERM "$job_pid"
wait_job 10
left=$(ls -A "$dir" 2>/dev/null)
if [ -z "$left" ]; then
	pass "once the live job is stopped, $dir is empty"
else
	fail "once the live job is stopped, $dir holds: $(echo $left)"
fi
no_job_left "after the live job"

finish
