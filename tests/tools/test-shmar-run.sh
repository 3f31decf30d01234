#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-shmar-run.sh - shmar-run(1): usage errors, the ranks' environment,
# --bind, how a failing rank ends the job, signal forwarding (also to
# stopped ranks), that stopping waits for what really runs, and that no
# process of a job is left behind.  Output, cleanup of the rendezvous
# directory and torch are in test-shmar-run-{output,cleanup,torch}.sh.
#
# An automake test (top_builddir and top_srcdir come from the environment):
# exit 0 pass, 1 fail, 77 skip, 99 hard error.  Every shmar-run is bounded
# by timeout(1), and ranks are shmar-run-helper processes with a marker on
# their command line that is unique to this run, which pgrep -f looks for.

. "${top_srcdir:-.}/tests/tools/shmar-run-lib.sh"

# usage_error WHAT ARGS...: exit 2 and one line on stderr that points to --help.
usage_error() {
	what=$1
	shift
	expect 2 "$what" "$@"
	if [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q -- '--help' "$tmp/err"; then
		fail "$what: want one line on stderr with a hint to --help"
		show_stderr
	fi
}

# "0-2,5" -> "0 1 2 5"
expand_cpus() {
	echo "$1" | tr ',' '\n' | awk -F- '{ last = NF > 1 ? $2 : $1; for (c = $1; c <= last; c++) printf "%d ", c }'
}

# ------------------------------------------------------------ options

sr --help
if [ "$status" -eq 0 ] && grep -q '^Usage: shmar-run' "$tmp/out"; then
	pass "--help: exit 0, usage on stdout"
else
	fail "--help: exit $status"
fi

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h" 2>/dev/null)
sr --version
if [ "$status" -eq 0 ] && [ "$(cat "$tmp/out")" = "shmar-run (libshmar) ${version:-0.1.0}" ]; then
	pass "--version: $(cat "$tmp/out")"
else
	fail "--version: exit $status, printed '$(cat "$tmp/out")'"
fi

usage_error "-n 0" -n 0 true
usage_error "-n 257" -n 257 true
usage_error "-n abc" -n abc true
usage_error "-n ''" -n '' true
usage_error "-n without a value" -n
usage_error "no -n" true
usage_error "no command" -n 2
usage_error "no command after --" -n 2 --
usage_error "--job a/b" -n 1 --job a/b true
usage_error "--job ''" -n 1 --job '' true
usage_error "--job of 65 characters" -n 1 \
	--job aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa true
usage_error "--grace -1" -n 1 --grace -1 true
usage_error "--grace x" -n 1 --grace x true
usage_error "--stop-delay -1" -n 1 --stop-delay -1 true
usage_error "--stop-delay x" -n 1 --stop-delay x true
usage_error "--stop-delay 1e9" -n 1 --stop-delay 1e9 true
usage_error "unknown option" -n 1 --no-such-option true
usage_error "--bind with 1 set for 2 ranks" -n 2 --bind=0 true
usage_error "--bind with 3 sets for 2 ranks" -n 2 '--bind=0|0|0' true
usage_error "--bind with an invalid set" -n 2 '--bind=0|x' true
usage_error "--bind with an empty set" -n 2 '--bind=0|' true
usage_error "--bind with a reversed range" -n 2 '--bind=0|3-1' true
usage_error "--bind LIST without '='" -n 2 --bind '0|1' true
expect 2 "--bind with a CPU not allowed" -n 2 '--bind=0|99999' true
stderr_has "--bind with a CPU not allowed: says which set" "rank 1"

# ------------------------------------------------------------ environment

# Every rank writes its environment to env.RANK.
write_env='env >"$1/env.$SHMAR_RANK"; grep Cpus_allowed_list /proc/self/status >>"$1/env.$SHMAR_RANK"'

check_env() { # WHAT NRANKS: env.0 .. env.N-1, one job, rank numbers right
	what=$1
	n=$2
	jobs=
	r=0
	while [ "$r" -lt "$n" ]; do
		f=$tmp/env.$r
		if [ ! -f "$f" ]; then
			fail "$what: rank $r did not run"
		else
			grep -qx "SHMAR_RANK=$r" "$f" || fail "$what: rank $r: $(grep SHMAR_RANK= "$f")"
			grep -qx "SHMAR_NRANKS=$n" "$f" || fail "$what: rank $r: $(grep SHMAR_NRANKS= "$f")"
			jobs="$jobs$(sed -n 's/^SHMAR_JOB=//p' "$f")
"
		fi
		r=$((r + 1))
	done
	[ ! -f "$tmp/env.$n" ] || fail "$what: a rank $n ran"
	job=$(printf '%s' "$jobs" | sort -u)
	if [ "$(printf '%s' "$jobs" | sort -u | wc -l)" -ne 1 ]; then
		fail "$what: the ranks got different SHMAR_JOB: $(echo $jobs)"
	fi
}

rm -f "$tmp"/env.*
expect 0 "3 ranks that exit 0" -n 3 sh -c "$write_env" sh "$tmp"
check_env "3 ranks" 3
if echo "$job" | grep -Eqx 'run-[0-9]+-[0-9a-f]{8}'; then
	pass "default job name $job"
else
	fail "default job name '$job' is not run-PID-HEX"
fi
if grep -Eq '^(LOCAL_RANK|LOCAL_WORLD_SIZE|RANK|WORLD_SIZE|MASTER_ADDR|MASTER_PORT|OMP_NUM_THREADS)=' \
	"$tmp/env.0"; then
	fail "torchrun's variables or OMP_NUM_THREADS set without --torch-env/--bind"
else
	pass "no torchrun variables, no OMP_NUM_THREADS by default"
fi
first_job=$job

rm -f "$tmp"/env.*
expect 0 "--job and --torch-env" -n 2 --job my.job_1-x --torch-env sh -c "$write_env" sh "$tmp"
check_env "--job" 2
[ "$job" = my.job_1-x ] || fail "--job my.job_1-x: SHMAR_JOB=$job"
[ "$job" != "$first_job" ] || fail "two jobs got the same name"
port0=$(sed -n 's/^MASTER_PORT=//p' "$tmp/env.0")
for r in 0 1; do
	torch_vars=$(grep -E '^(LOCAL_RANK|LOCAL_WORLD_SIZE|RANK|WORLD_SIZE|MASTER_ADDR|MASTER_PORT)=' \
		"$tmp/env.$r" | sort | tr '\n' ' ')
	want="LOCAL_RANK=$r LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port0 RANK=$r WORLD_SIZE=2 "
	if [ "$torch_vars" = "$want" ]; then
		pass "--torch-env: rank $r has $torch_vars"
	else
		fail "--torch-env: rank $r has '$torch_vars', want '$want'"
	fi
done
if [ -n "$port0" ] && [ "$port0" -ge 1 ] 2>/dev/null && [ "$port0" -le 65535 ]; then
	pass "--torch-env: MASTER_PORT=$port0 is a port number"
else
	fail "--torch-env: MASTER_PORT='$port0' is not a port number"
fi
if [ -x /usr/bin/python3 ] && [ -n "$port0" ]; then
	if /usr/bin/python3 -c 'import socket, sys
socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$port0" 2>/dev/null; then
		pass "--torch-env: MASTER_PORT=$port0 is free on 127.0.0.1"
	else
		fail "--torch-env: MASTER_PORT=$port0 cannot be bound on 127.0.0.1"
	fi
fi

# Set by the user, torchrun's variables are replaced, as torchrun does:
# a MASTER_PORT left in the environment would make two jobs collide.
rm -f "$tmp"/env.*
MASTER_PORT=1 RANK=7 expect 0 "--torch-env with MASTER_PORT=1 RANK=7 set" -n 1 --torch-env \
	sh -c "$write_env" sh "$tmp"
if grep -qx RANK=0 "$tmp/env.0" && ! grep -qx MASTER_PORT=1 "$tmp/env.0"; then
	pass "--torch-env replaces RANK and MASTER_PORT the user set"
else
	fail "--torch-env kept the user's: $(grep -E '^(RANK|MASTER_PORT)=' "$tmp/env.0" | tr '\n' ' ')"
fi

rm -f "$tmp"/env.*
expect 0 "a second job" -n 1 sh -c "$write_env" sh "$tmp"
check_env "a second job" 1
[ "$job" != "$first_job" ] || fail "two default job names are the same: $job"

# ------------------------------------------------------------ --bind

allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)
set -- $(expand_cpus "$allowed")
ncpus=$#
if [ "$ncpus" -lt 2 ]; then
	echo "skip: --bind tests need 2 allowed CPUs, this process has $allowed"
else
	cpu_a=$1
	cpu_b=$2
	per_rank=$((ncpus / 2))
	want0=$(echo "$@" | awk -v n="$per_rank" '{ for (i = 1; i <= n; i++) printf "%s ", $i }')
	want1=$(echo "$@" | awk -v n="$per_rank" '{ for (i = n + 1; i <= 2 * n; i++) printf "%s ", $i }')

	rm -f "$tmp"/env.*
	expect 0 "-n 2 --bind" -n 2 --bind sh -c "$write_env" sh "$tmp"
	check_env "-n 2 --bind" 2
	for r in 0 1; do
		got=$(expand_cpus "$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$tmp/env.$r")")
		eval want=\$want$r
		if [ "$got" = "$want" ]; then
			pass "-n 2 --bind: rank $r on CPUs $got"
		else
			fail "-n 2 --bind: rank $r on CPUs '$got', want '$want' (allowed: $allowed)"
		fi
		if grep -qx "OMP_NUM_THREADS=$per_rank" "$tmp/env.$r"; then
			pass "-n 2 --bind: rank $r has OMP_NUM_THREADS=$per_rank"
		else
			fail "-n 2 --bind: rank $r: $(grep OMP_NUM_THREADS "$tmp/env.$r")"
		fi
	done

	rm -f "$tmp"/env.*
	export OMP_NUM_THREADS=7
	expect 0 "--bind with OMP_NUM_THREADS set" -n 2 --bind sh -c "$write_env" sh "$tmp"
	unset OMP_NUM_THREADS
	if grep -qx OMP_NUM_THREADS=7 "$tmp/env.0"; then
		pass "--bind keeps the user's OMP_NUM_THREADS"
	else
		fail "--bind changed OMP_NUM_THREADS=7: $(grep OMP_NUM_THREADS "$tmp/env.0")"
	fi

	rm -f "$tmp"/env.*
	expect 0 "--bind=$cpu_b|$cpu_a" -n 2 "--bind=$cpu_b|$cpu_a" sh -c "$write_env" sh "$tmp"
	if grep -qx "Cpus_allowed_list:[[:space:]]*$cpu_b" "$tmp/env.0" &&
		grep -qx "Cpus_allowed_list:[[:space:]]*$cpu_a" "$tmp/env.1"; then
		pass "--bind=$cpu_b|$cpu_a: rank 0 on $cpu_b, rank 1 on $cpu_a"
	else
		fail "--bind=$cpu_b|$cpu_a: $(grep -h Cpus_allowed_list "$tmp"/env.* | tr '\n' ' ')"
	fi

	expect 0 "more ranks than CPUs with --bind" -n $((ncpus + 1)) --bind true
	stderr_has "more ranks than CPUs with --bind: a warning" "warning: .*share CPUs"
fi

# ------------------------------------------------------------ failures

expect 3 "rank 1 exits 3" -n 2 sh -c '[ "$SHMAR_RANK" = 1 ] && exit 3; exec sleep 30'
stderr_has "rank 1 exits 3: reported" '^shmar-run: rank 1 \(pid [0-9]+\) exited with status 3$'

expect 137 "rank 1 SIGKILLed" -n 2 sh -c '[ "$SHMAR_RANK" = 1 ] && kill -KILL $$; exec sleep 30'
stderr_has "rank 1 SIGKILLed: reported" '^shmar-run: rank 1 \(pid [0-9]+\) killed by signal 9 \(Killed\)$'

expect 127 "a command that does not exist" -n 2 "$tmp/no-such-command"
stderr_has "a command that does not exist: reported" "^(\[rank [01]\] )?shmar-run: cannot run '$tmp/no-such-command': "

printf '#!/bin/sh\n' >"$tmp/not-executable"
chmod 644 "$tmp/not-executable"
expect 126 "a command that is not executable" -n 1 "$tmp/not-executable"

# Rank 0 and the child it starts ignore SIGTERM; rank 1 fails once they
# are set up.  Both must be gone within the grace period plus 1 s.
grace=1
rm -f "$tmp/ready" "$tmp/failed_at"
started=$(now_ms)
expect 3 "rank 1 fails while rank 0 ignores SIGTERM" -n 2 --grace "$grace" --stop-delay 0 sh -c '
	if [ "$SHMAR_RANK" = 0 ]; then
		exec "$1" --ignore-term --fork --ready "$2/ready" "$3"
	fi
	i=0
	while [ ! -e "$2/ready" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	echo $(($(date +%s%N) / 1000000)) >"$2/failed_at"
	exit 3' sh "$helper" "$tmp" "$marker"
ended=$(now_ms)
failed_at=$(cat "$tmp/failed_at" 2>/dev/null || echo "$started")
if [ $((ended - failed_at)) -le $(((grace + 1) * 1000)) ]; then
	pass "stopped $((ended - failed_at)) ms after the failure (grace $grace s)"
else
	fail "stopped $((ended - failed_at)) ms after the failure, more than grace + 1 s"
fi
stderr_has "the failing rank is named" '^shmar-run: rank 1 \(pid [0-9]+\) exited with status 3$'
stderr_has "SIGKILL after the grace period: rank 0 and its child are named" \
	'still running 1 s after SIGTERM: rank 0 \(pid [0-9]+\), pid [0-9]+ \([^)]*\); sending SIGKILL'
if grep -q '^shmar-run: rank 0 (pid' "$tmp/err"; then
	fail "rank 0, stopped by shmar-run, is reported as a failure"
	show_stderr
fi
no_job_left "after a failure"

# ------------------------------------------------------------ signals

if start_job -n 2 -- --fork; then
	kill -TERM "$job_pid"
	wait_job
	if [ "$status" -eq 143 ]; then
		pass "SIGTERM to shmar-run: forwarded, exit 143"
	else
		fail "SIGTERM to shmar-run: exit $status, want 143"
		show_stderr
	fi
	stderr_has "SIGTERM to shmar-run: reported" 'killed by signal 15 \(Terminated\)'
	no_job_left "after SIGTERM to shmar-run (the ranks' children too)"
else
	fail "SIGTERM to shmar-run: the ranks did not start"
	kill -KILL "$job_pid" 2>/dev/null
	wait_job
fi

if start_job -n 2 --; then
	kill -KILL "$job_pid"
	wait_job
	no_job_left "after SIGKILL to shmar-run (PR_SET_PDEATHSIG)"
else
	fail "SIGKILL to shmar-run: the ranks did not start"
	kill -KILL "$job_pid" 2>/dev/null
	wait_job
fi

# ------------------------------------------------------------ stopped ranks

# A rank stopped by SIGSTOP or SIGTTIN acts on a signal only once it runs
# again: the forwarded one comes with SIGCONT.
if start_job -n 2 --grace 5 --; then
	kill -STOP "$(rank_pid 0)"
	kill -TTIN "$(rank_pid 1)"
	sleep 0.2
	started=$(now_ms)
	kill -TERM "$job_pid"
	wait_job 10
	if [ "$status" -eq 143 ]; then
		pass "SIGTERM to shmar-run with stopped ranks: exit 143"
	else
		fail "SIGTERM to shmar-run with stopped ranks: exit $status, want 143"
		show_stderr
	fi
	within "SIGTERM to shmar-run with stopped ranks (grace 5 s)" "$started" 2000
	no_job_left "after SIGTERM to stopped ranks"
else
	fail "stopped ranks: the ranks did not start"
	kill -KILL "$job_pid" 2>/dev/null
	wait_job
fi

# A stopped rank that ignores the signal it is sent: SIGKILL after the grace.
if start_job -n 2 --grace 1 -- --ignore-term; then
	kill -STOP "$(rank_pid 0)"
	sleep 0.2
	started=$(now_ms)
	kill -TERM "$job_pid"
	wait_job 10
	if [ "$status" -eq 137 ]; then
		pass "SIGTERM, ignored by a stopped rank: exit 137"
	else
		fail "SIGTERM, ignored by a stopped rank: exit $status, want 137"
		show_stderr
	fi
	within "SIGTERM, ignored by a stopped rank (grace 1 s)" "$started" 2500
	stderr_has "SIGTERM, ignored: the ranks still running are named" \
		'still running 1 s after SIGTERM: rank 0 \(pid [0-9]+\), rank 1 \(pid [0-9]+\); sending SIGKILL'
	no_job_left "after SIGTERM ignored by a stopped rank"
else
	fail "stopped rank ignoring SIGTERM: the ranks did not start"
	kill -KILL "$job_pid" 2>/dev/null
	wait_job
fi

# A second Ctrl-C does not wait for the grace period.
if [ -z "$bg_env" ]; then
	echo "skip: no env --default-signal to let SIGINT reach a background shmar-run"
elif start_job -n 2 --grace 30 -- --ignore-int; then
	kill -STOP "$(rank_pid 1)"
	sleep 0.2
	started=$(now_ms)
	kill -INT "$job_pid"
	sleep 0.3
	kill -INT "$job_pid"
	wait_job 10
	if [ "$status" -eq 137 ]; then
		pass "two SIGINTs to shmar-run: exit 137"
	else
		fail "two SIGINTs to shmar-run: exit $status, want 137"
		show_stderr
	fi
	within "two SIGINTs to shmar-run (grace 30 s)" "$started" 2000
	stderr_has "two SIGINTs: the SIGKILL is reported" 'Interrupt while stopping the job; sending SIGKILL'
	no_job_left "after two SIGINTs"
else
	fail "two SIGINTs: the ranks did not start"
	kill -KILL "$job_pid" 2>/dev/null
	wait_job
fi

# A signal while shmar-run stops the job after a failure: SIGKILL at once.
rm -f "$tmp/failed" "$tmp/ready.0"
"$run" -n 2 --grace 30 --stop-delay 0 sh -c '
	[ "$SHMAR_RANK" = 0 ] && exec "$2" --ignore-term --ready "$1/ready.0" "$3"
	i=0
	while [ ! -e "$1/ready.0" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	touch "$1/failed"
	exit 3' sh "$tmp" "$helper" "$marker" >"$tmp/out" 2>"$tmp/err" &
job_pid=$!
if wait_for_files "$tmp/failed"; then
	sleep 0.3
	started=$(now_ms)
	kill -TERM "$job_pid"
	wait_job 10
	[ "$status" -eq 3 ] || fail "SIGTERM while stopping after a failure: exit $status, want 3"
	within "SIGTERM while stopping after a failure (grace 30 s)" "$started" 1000
	stderr_has "SIGTERM while stopping after a failure: the SIGKILL is reported" \
		'^shmar-run: Terminated while stopping the job; sending SIGKILL$'
else
	fail "SIGTERM while stopping after a failure: rank 1 did not run"
	kill -KILL "$job_pid" 2>/dev/null
	wait_job
fi
no_job_left "after SIGTERM while stopping after a failure"

# ------------------------------------------------------------ what the ranks leave

# Ranks that exit 0 and leave children that die at once on SIGTERM: the
# job ends as soon as they are gone, not after the grace period.
started=$(now_ms)
expect 0 "ranks leave children that die on SIGTERM" -n 2 --grace 5 \
	"$helper" --fork --exit 0 "$marker"
within "ranks leave children that die on SIGTERM (grace 5 s)" "$started" 1500
stderr_has "ranks leave children: said so" 'processes they started are still running; stopping them'
stderr_lacks "ranks leave children that die on SIGTERM: no false SIGKILL report" 'still running .* after SIGTERM'
no_job_left "after ranks left children"

# The same when a rank fails and the others are stopped.
started=$(now_ms)
expect 3 "rank 1 fails, rank 0 has a child that dies on SIGTERM" -n 2 --grace 5 --stop-delay 0 sh -c '
	[ "$SHMAR_RANK" = 1 ] && exit 3
	exec "$1" --fork "$2"' sh "$helper" "$marker"
within "rank 1 fails, rank 0 has a child (grace 5 s)" "$started" 1500
stderr_lacks "rank 1 fails, rank 0 has a child: no false SIGKILL report" 'still running .* after SIGTERM'
no_job_left "after rank 1 failed, rank 0 had a child"

# What is still running at the end of the grace period is named as it is:
# here the ranks' children, not the ranks.
expect 0 "ranks leave children that ignore SIGTERM" -n 2 --grace 1 \
	"$helper" --fork --ignore-term --exit 0 "$marker"
stderr_has "ranks leave children that ignore SIGTERM: they are named" \
	'still running 1 s after SIGTERM: pid [0-9]+ \([^)]*\), pid [0-9]+ \([^)]*\); sending SIGKILL'
stderr_lacks "ranks leave children that ignore SIGTERM: no rank is named" 'rank [0-9].*still running'
no_job_left "after ranks left children that ignore SIGTERM"

finish
