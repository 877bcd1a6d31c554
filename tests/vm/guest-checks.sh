#!/bin/bash
# Checks run INSIDE the booted test VM (by guest-run.sh), as root.
# Also usable by hand on a real Pi 4B / Debian host: `sudo bash guest-checks.sh`.
#
# Output: one line per check on stdout, nothing else:
#   PASS name[: detail]     FAIL name: detail     SKIP name: reason
# Command output for each check goes to $RTMEM_VM_LOGDIR/<name>.log.
# The exit status is 0 unless the script itself breaks; failures are lines.
#
# Pluggable: add a check as a function `check_<name>` and list it in
# BASE_CHECKS or RTMEMD_CHECKS below. RTMEMD_CHECKS run only when the rtmemd
# package is installed, otherwise each is reported as SKIP.
set -uo pipefail

# ---- names the daemon's packaging may still change (override via env;
#      run-vm-test passes any RTMEM_* variable of the host through) ----
: "${RTMEM_PACKAGE:=rtmemd}"            # the daemon's binary package
: "${RTMEM_SERVICE:=rtmemd}"            # systemd unit name (without .service)
: "${RTMEM_GROUP:=rtmem}"               # group allowed to use/control the daemon
: "${RTMEM_CTL:=rtmemctl}"              # control tool
: "${RTMEM_CTL_STATUS_ARGS:=status}"
: "${RTMEM_EXAMPLE:=rtmem-example}"     # example RT client (name or path)
: "${RTMEM_EXAMPLE_ARGS:=}"             # its arguments (word-split)
: "${RTMEM_EXAMPLE_TIMEOUT:=120}"       # seconds
: "${RTMEM_PIPELINE:=rtmem-pipeline}"   # processes handing and sharing buffers
: "${RTMEM_RT_PRIO:=80}"                # SCHED_FIFO priority for the client
: "${RTMEM_JOURNAL_READY_RE:=ready}"    # lifecycle lines in journalctl -u (ERE, any case)
: "${RTMEM_JOURNAL_STOP_RE:=stopping}"
: "${RTMEM_MEMBER_USER:=rtmemtest}"     # created by this script, in $RTMEM_GROUP
: "${RTMEM_OTHER_USER:=rtmemother}"     # created by this script, not in it
: "${RTMEM_CYCLICTEST_SECONDS:=10}"
: "${RTMEM_CYCLICTEST_PRIO:=90}"
: "${RTMEM_CYCLICTEST_MAX_US:=}"        # fail above this; empty = report only
                                        # (under TCG emulation latencies are
                                        # not meaningful, so no limit by default)
LOGDIR=${RTMEM_VM_LOGDIR:-/tmp/rtmemd-vm-logs}
mkdir -p "$LOGDIR"

BASE_CHECKS="kernel_preempt_rt systemd_pid1 system_running cyclictest"
RTMEMD_CHECKS="rtmemd_active rtmemd_enabled rtmemd_example_rt rtmemd_pipeline rtmemctl_member
	rtmemctl_refused rtmemd_restart rtmemd_restart_under_client rtmemd_upgrade_under_client
	rtmemd_stop rtmemd_journal"

pass() { echo "PASS $1${2:+: $2}"; }
fail() { echo "FAIL $1: ${2:-failed}"; }
skip() { echo "SKIP $1: $2"; }
# last lines of a log, on one line, for a FAIL detail
tailof() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n' ' ' | tr -s ' ' | cut -c1-300; }
name_of() { echo "${1//_/-}"; }

# as_user SECONDS USER CMD...: run CMD as USER with its primary group and
# supplementary groups from /etc/group, no capabilities, killed after
# SECONDS. Limits and scheduling policy are inherited (setpriv does not go
# through PAM).
as_user() {
	local t=$1 u=$2; shift 2
	timeout "$t" setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups \
		--inh-caps=-all -- "$@"
}

# ================================================================ base checks

check_kernel_preempt_rt() {
	local v rt
	v=$(uname -v)
	rt=$(cat /sys/kernel/realtime 2>/dev/null || echo '?')
	{ uname -a; echo "/sys/kernel/realtime=$rt"; } > "$LOGDIR/kernel-preempt-rt.log"
	if [[ "$v" == *PREEMPT_RT* ]]; then
		pass kernel-preempt-rt "$(uname -r): $v (/sys/kernel/realtime=$rt)"
	else
		fail kernel-preempt-rt "uname -v has no PREEMPT_RT: $v"
	fi
}

check_systemd_pid1() {
	local comm exe
	comm=$(cat /proc/1/comm)
	exe=$(readlink /proc/1/exe)
	if [ "$comm" = systemd ]; then
		pass systemd-pid1 "$exe, $(systemctl --version | head -n1)"
	else
		fail systemd-pid1 "PID 1 is $comm ($exe)"
	fi
}

# "running" is the goal. "degraded" (some unit failed) is accepted: in the
# emulated VM a unit may fail for reasons that have nothing to do with rtmemd
# (hardware probing, missing devices). The failed units are listed in the
# detail, and a failed rtmemd is caught by its own checks anyway (and here).
check_system_running() {
	local state failed
	state=$(timeout 300 systemctl is-system-running --wait 2>/dev/null)
	failed=$(systemctl list-units --state=failed --plain --no-legend 2>/dev/null | awk '{print $1}' | tr '\n' ' ')
	systemctl list-units --state=failed --no-pager > "$LOGDIR/system-running.log" 2>&1
	case "$state" in
	running) pass system-running "running" ;;
	degraded)
		if [[ " $failed" == *" $RTMEM_SERVICE.service "* ]]; then
			fail system-running "degraded, $RTMEM_SERVICE failed (failed: ${failed% })"
		else
			pass system-running "degraded, accepted (failed units: ${failed% })"
		fi ;;
	*) fail system-running "state '${state:-none}' (failed: ${failed% })" ;;
	esac
}

check_cyclictest() {
	local log=$LOGDIR/cyclictest.log pid cls max
	if ! command -v cyclictest >/dev/null; then
		fail cyclictest "cyclictest not installed"; return
	fi
	cyclictest --mlockall --smp --policy=fifo --priority="$RTMEM_CYCLICTEST_PRIO" \
		--interval=1000 --distance=0 --duration="$RTMEM_CYCLICTEST_SECONDS" \
		--quiet > "$log" 2>&1 &
	pid=$!
	sleep 2
	# the measuring threads' policy, seen from outside: FF = SCHED_FIFO
	cls=$(ps -L -o cls=,rtprio=,comm= -p "$pid" 2>/dev/null | awk '$1 == "FF"' | head -n1)
	if ! wait "$pid"; then
		fail cyclictest "cyclictest failed: $(tailof "$log")"; return
	fi
	max=$(awk '/Max:/ { sub(/.*Max: */, ""); if ($1 + 0 > m) m = $1 + 0 } END { print m + 0 }' "$log")
	if ! grep -q 'Max:' "$log"; then
		fail cyclictest "no latency summary: $(tailof "$log")"; return
	fi
	if [ -z "$cls" ]; then
		fail cyclictest "no SCHED_FIFO thread seen while it ran (max ${max} us)"; return
	fi
	local detail
	detail="max latency ${max} us over ${RTMEM_CYCLICTEST_SECONDS}s on $(nproc) CPUs, SCHED_FIFO prio $RTMEM_CYCLICTEST_PRIO, 1 ms interval"
	if [ -n "$RTMEM_CYCLICTEST_MAX_US" ] && [ "$max" -gt "$RTMEM_CYCLICTEST_MAX_US" ]; then
		fail cyclictest "$detail > limit $RTMEM_CYCLICTEST_MAX_US us"
	else
		pass cyclictest "$detail"
	fi
}

# ============================================================ rtmemd checks
# ---- BEGIN rtmemd checks: run only when $RTMEM_PACKAGE is installed ----

rtmemd_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$RTMEM_PACKAGE" 2>/dev/null)" = installed ]
}

svc_prop() { systemctl show -p "$1" --value "$RTMEM_SERVICE"; }

# wait up to $1 seconds for the service to be active (Type=notify: active
# means READY=1 was sent)
wait_active() {
	local i
	for ((i = 0; i < $1; i++)); do
		[ "$(systemctl is-active "$RTMEM_SERVICE")" = active ] && return 0
		sleep 1
	done
	return 1
}

# test users: one in the rtmem group, one not (the group is the package's)
make_users() {
	getent group "$RTMEM_GROUP" >/dev/null || return 1
	id "$RTMEM_MEMBER_USER" >/dev/null 2>&1 ||
		useradd --create-home --groups "$RTMEM_GROUP" "$RTMEM_MEMBER_USER" || return 1
	id "$RTMEM_OTHER_USER" >/dev/null 2>&1 ||
		useradd --create-home "$RTMEM_OTHER_USER" || return 1
}

check_rtmemd_active() {
	local n=rtmemd-active
	if wait_active 30; then
		pass $n "$RTMEM_SERVICE active, MainPID $(svc_prop MainPID), $(svc_prop StatusText)"
	else
		systemctl status --no-pager "$RTMEM_SERVICE" > "$LOGDIR/$n.log" 2>&1
		fail $n "is-active: $(systemctl is-active "$RTMEM_SERVICE"); $(tailof "$LOGDIR/$n.log")"
	fi
}

# Debian services are enabled and started when the package is installed
check_rtmemd_enabled() {
	local e
	e=$(systemctl is-enabled "$RTMEM_SERVICE" 2>&1)
	if [ "$e" = enabled ]; then pass rtmemd-enabled; else fail rtmemd-enabled "is-enabled: $e"; fi
}

# The example RT client, as a member of the group, at SCHED_FIFO, against the
# installed daemon: must exit 0 and report rt_phase_page_faults=0.
check_rtmemd_example_rt() {
	local n=rtmemd-example-rt log=$LOGDIR/rtmemd-example-rt.log exe rc faults
	exe=$(command -v "$RTMEM_EXAMPLE" 2>/dev/null) ||
		for exe in /usr/lib/*/rtmemd/"$RTMEM_EXAMPLE" /usr/libexec/rtmemd/"$RTMEM_EXAMPLE" ""; do
			[ -x "$exe" ] && break
		done
	if [ -z "$exe" ]; then
		fail $n "example client '$RTMEM_EXAMPLE' not found (set RTMEM_EXAMPLE)"; return
	fi
	make_users || { fail $n "cannot create test users (group $RTMEM_GROUP missing?)"; return; }
	wait_active 30 || { fail $n "$RTMEM_SERVICE not active"; return; }
	# The RT tuning rtmemd's log asks for: compaction must not migrate locked
	# pages and THP must not collapse them (either makes a locked page fault
	# once more on its next touch).
	sysctl -q -w vm.compact_unevictable_allowed=0 2>/dev/null || true
	for f in /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag; do
		[ -w "$f" ] && echo never > "$f"
	done
	# RLIMIT_MEMLOCK/RTPRIO as an RT app's user would get from limits.conf;
	# chrt sets SCHED_FIFO as root, setpriv then drops to the user (the policy
	# survives setuid and exec).
	# shellcheck disable=SC2086
	timeout "$RTMEM_EXAMPLE_TIMEOUT" \
		prlimit --memlock=unlimited:unlimited --rtprio=99:99 -- \
		chrt --fifo "$RTMEM_RT_PRIO" \
		setpriv --reuid="$RTMEM_MEMBER_USER" --regid="$(id -g "$RTMEM_MEMBER_USER")" \
			--init-groups --inh-caps=-all -- \
		"$exe" $RTMEM_EXAMPLE_ARGS > "$log" 2>&1
	rc=$?
	faults=$(sed -n 's/.*rt_phase_page_faults=\([0-9][0-9]*\).*/\1/p' "$log" | tail -n1)
	if [ "$rc" != 0 ]; then
		fail $n "$exe exited $rc: $(tailof "$log")"
	elif [ -z "$faults" ]; then
		fail $n "no rt_phase_page_faults=N line: $(tailof "$log")"
	elif [ "$faults" != 0 ]; then
		fail $n "rt_phase_page_faults=$faults (must be 0)"
	else
		pass $n "$(basename "$exe") as $RTMEM_MEMBER_USER at SCHED_FIFO $RTMEM_RT_PRIO: rt_phase_page_faults=0"
	fi
}

# Client processes of one pool pass buffers as an application would: one
# consumer takes each over (rtmem_give/rtmem_take), then three readers share
# each one (rtmem_share/rtmem_release), as the member user.
check_rtmemd_pipeline() {
	local n=rtmemd-pipeline log=$LOGDIR/rtmemd-pipeline.log exe rc r
	exe=$(command -v "$RTMEM_PIPELINE" 2>/dev/null) || { fail $n "$RTMEM_PIPELINE not found"; return; }
	make_users || { fail $n "cannot create test users"; return; }
	wait_active 30 || { fail $n "$RTMEM_SERVICE not active"; return; }
	: > "$log"
	for r in 1 3; do
		# memlock as the group gets it from limits.d at login (pools are locked
		# at open); a subshell, as prlimit cannot run the as_user function
		( ulimit -l unlimited && as_user 120 "$RTMEM_MEMBER_USER" "$exe" -n 5000 -r "$r" ) >> "$log" 2>&1
		rc=$?
		if [ "$rc" != 0 ]; then
			fail $n "$RTMEM_PIPELINE -r $r exited $rc: $(tailof "$log")"; return
		fi
	done
	if [ "$(grep -c 'errors 0$' "$log")" != 4 ]; then
		fail $n "expected 4 consumers with errors 0: $(tailof "$log" 4)"
	else
		pass $n "5000 buffers handed over, and 5000 shared with 3 readers: $(grep -o 'reader 0.*per s' "$log" | cut -c1-100)"
	fi
}

check_rtmemctl_member() {
	local n=rtmemctl-member log=$LOGDIR/rtmemctl-member.log rc
	command -v "$RTMEM_CTL" >/dev/null || { fail $n "$RTMEM_CTL not found"; return; }
	make_users || { fail $n "cannot create test users"; return; }
	# shellcheck disable=SC2086
	as_user 30 "$RTMEM_MEMBER_USER" "$(command -v "$RTMEM_CTL")" $RTMEM_CTL_STATUS_ARGS > "$log" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		pass $n "$RTMEM_CTL $RTMEM_CTL_STATUS_ARGS as $RTMEM_MEMBER_USER (group $RTMEM_GROUP): $(head -n1 "$log" | cut -c1-120)"
	else
		fail $n "$RTMEM_CTL $RTMEM_CTL_STATUS_ARGS as $RTMEM_MEMBER_USER exited $rc: $(tailof "$log")"
	fi
}

check_rtmemctl_refused() {
	local n=rtmemctl-refused log=$LOGDIR/rtmemctl-refused.log rc
	command -v "$RTMEM_CTL" >/dev/null || { fail $n "$RTMEM_CTL not found"; return; }
	make_users || { fail $n "cannot create test users"; return; }
	# shellcheck disable=SC2086
	as_user 30 "$RTMEM_OTHER_USER" "$(command -v "$RTMEM_CTL")" $RTMEM_CTL_STATUS_ARGS > "$log" 2>&1
	rc=$?
	# a refusal is an ordinary error exit; 124-127 (timeout, cannot run) and
	# death by a signal (>128) are not
	if [ "$rc" = 0 ]; then
		fail $n "$RTMEM_OTHER_USER (not in $RTMEM_GROUP) was allowed: $(tailof "$log")"
	elif [ "$rc" -ge 124 ] && [ "$rc" -le 127 ] || [ "$rc" -gt 128 ]; then
		fail $n "exit $rc is not a refusal: $(tailof "$log")"
	else
		pass $n "refused for $RTMEM_OTHER_USER, exit $rc: $(head -n1 "$log" | cut -c1-120)"
	fi
}

check_rtmemd_restart() {
	local n=rtmemd-restart old new
	old=$(svc_prop MainPID)
	if ! timeout 120 systemctl restart "$RTMEM_SERVICE" > "$LOGDIR/$n.log" 2>&1; then
		fail $n "systemctl restart failed: $(tailof "$LOGDIR/$n.log")"; return
	fi
	new=$(svc_prop MainPID)
	if [ "$(systemctl is-active "$RTMEM_SERVICE")" != active ]; then
		fail $n "not active after restart: $(systemctl is-active "$RTMEM_SERVICE")"
	elif [ "$new" = 0 ] || [ "$new" = "$old" ]; then
		fail $n "MainPID $old -> $new (expected a new process)"
	else
		pass $n "active again, MainPID $old -> $new"
	fi
}

# An RT client at SCHED_FIFO allocates every 1 ms through `systemctl restart`
# and a kill -9 of MainPID (Restart= brings it back): it must see no error
# (rtmem-example exits 1 on the first failed allocation) and its pool must be
# re-adopted from the fd store each time, not created anew. Reports the
# client's longest alloc+free and the daemon's re-adoption time.
# An RT client for the checks across a restart: rtmem-example @1 as the
# member user at SCHED_FIFO, allocating every 1 ms for @3 cycles (default
# 40000: 40 s), its output to @2; its pid in RT_CLIENT_PID.
start_rt_client() {
	prlimit --memlock=unlimited:unlimited --rtprio=99:99 -- chrt --fifo "$RTMEM_RT_PRIO" \
		setpriv --reuid="$RTMEM_MEMBER_USER" --regid="$(id -g "$RTMEM_MEMBER_USER")" \
			--init-groups --inh-caps=-all -- \
		"$1" -l "${3:-40000}" -i 1000 > "$2" 2>&1 &
	RT_CLIENT_PID=$!
}

# The service's journal since @1 appended to @2.
append_journal() {
	journalctl --sync 2>/dev/null
	journalctl -u "$RTMEM_SERVICE" --since "$1" --no-pager -o cat >> "$2" 2>&1
}

check_rtmemd_restart_under_client() {
	local n=rtmemd-restart-under-client log=$LOGDIR/rtmemd-restart-under-client.log exe pid rc old new since
	local adopt kept alloc_max
	exe=$(command -v "$RTMEM_EXAMPLE" 2>/dev/null) || { fail $n "$RTMEM_EXAMPLE not found"; return; }
	make_users || { fail $n "cannot create test users"; return; }
	wait_active 30 || { fail $n "$RTMEM_SERVICE not active"; return; }
	since=$(date '+%Y-%m-%d %H:%M:%S')
	start_rt_client "$exe" "$log"
	pid=$RT_CLIENT_PID
	sleep 5
	old=$(svc_prop MainPID)
	timeout 120 systemctl restart "$RTMEM_SERVICE" >> "$log" 2>&1 || { fail $n "systemctl restart failed"; kill "$pid"; return; }
	wait_active 30 || { fail $n "not active after restart"; kill "$pid"; return; }
	sleep 5
	new=$(svc_prop MainPID)
	kill -9 "$new"
	sleep 1
	wait_active 60 || { fail $n "Restart= did not bring it back after kill -9"; kill "$pid"; return; }
	# wait for the new main process to be up (Restart= after RestartSec)
	for _ in $(seq 60); do
		[ "$(svc_prop MainPID)" != "$new" ] && [ "$(svc_prop MainPID)" != 0 ] && break
		sleep 1
	done
	wait "$pid"
	rc=$?
	append_journal "$since" "$log"
	adopt=$(sed -n 's/.*re-adopted [0-9]* pools from the fd store in \([0-9.]*\) ms.*/\1/p' "$log" | tr '\n' ' ')
	kept=$(grep -c 'pool "control": re-adopted .* 1 clients kept' "$log")
	alloc_max=$(sed -n 's/^alloc_max_ns=//p' "$log" | tail -n1)
	if [ "$rc" != 0 ]; then
		fail $n "client exited $rc across restart and kill -9 (MainPID $old): $(tailof "$log")"
	elif [ "$kept" -lt 2 ]; then
		fail $n "pool \"control\" not re-adopted with its client twice ($kept): $(grep -i adopt "$log" | tail -n2 | tr '\n' ' ')"
	else
		pass $n "0 errors at SCHED_FIFO $RTMEM_RT_PRIO across systemctl restart + kill -9; longest rtmem_alloc ${alloc_max} ns; pools re-adopted in ${adopt}ms"
	fi
}

# An upgrade to the next package version (run-vm-test's RTMEM_VM_UPGRADE_DEBS,
# in /opt/rtmemd-vm/upgrade) under an RT client that allocates every 1 ms:
# dpkg -i restarts the service from the postinst, the new daemon re-adopts the
# pool from systemd's fd store, and the client counts no error.
check_rtmemd_upgrade_under_client() {
	local n=rtmemd-upgrade-under-client log=$LOGDIR/rtmemd-upgrade-under-client.log exe pid rc since
	local before after kept alloc_max
	local -a up
	shopt -s nullglob
	up=(/opt/rtmemd-vm/upgrade/*.deb)
	shopt -u nullglob
	[ ${#up[@]} -gt 0 ] || { skip $n "no newer .debs given (RTMEM_VM_UPGRADE_DEBS)"; return; }
	exe=$(command -v "$RTMEM_EXAMPLE" 2>/dev/null) || { fail $n "$RTMEM_EXAMPLE not found"; return; }
	make_users || { fail $n "cannot create test users"; return; }
	wait_active 30 || { fail $n "$RTMEM_SERVICE not active"; return; }
	before=$(dpkg-query -W -f='${Version}' "$RTMEM_PACKAGE" 2>/dev/null)
	since=$(date '+%Y-%m-%d %H:%M:%S')
	# 90 s: under TCG on a busy host dpkg -i alone has taken over 40 s
	start_rt_client "$exe" "$log" 90000
	pid=$RT_CLIENT_PID
	sleep 5
	if ! DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "${up[@]}" >> "$log" 2>&1; then
		fail $n "dpkg -i of the newer packages failed: $(tailof "$log")"
		kill "$pid"
		return
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		fail $n "the client ended before dpkg -i was done (the upgrade took over 85 s): nothing measured"
		return
	fi
	after=$(dpkg-query -W -f='${Version}' "$RTMEM_PACKAGE" 2>/dev/null)
	wait_active 60 || { fail $n "not active after the upgrade"; kill "$pid"; return; }
	wait "$pid"
	rc=$?
	append_journal "$since" "$log"
	kept=$(grep -c 'pool "control": re-adopted .* 1 clients kept' "$log")
	alloc_max=$(sed -n 's/^alloc_max_ns=//p' "$log" | tail -n1)
	if [ "$before" = "$after" ]; then
		fail $n "still version $before after dpkg -i ${up[*]##*/}"
	elif [ "$rc" != 0 ]; then
		fail $n "client exited $rc across the upgrade $before -> $after: $(tailof "$log")"
	elif [ "$kept" -lt 1 ]; then
		fail $n "pool \"control\" not re-adopted with its client: $(grep -i adopt "$log" | tail -n2 | tr '\n' ' ')"
	else
		pass $n "upgrade $before -> $after under a SCHED_FIFO $RTMEM_RT_PRIO client: 0 errors, longest rtmem_alloc ${alloc_max} ns, pool re-adopted with its client"
	fi
}

# stop must end cleanly (Result=success, not killed by the stop timeout),
# then the service is started again for the checks after it
check_rtmemd_stop() {
	local n=rtmemd-stop t0 t state result
	t0=$(date +%s)
	if ! timeout 120 systemctl stop "$RTMEM_SERVICE" > "$LOGDIR/$n.log" 2>&1; then
		fail $n "systemctl stop failed: $(tailof "$LOGDIR/$n.log")"; return
	fi
	t=$(( $(date +%s) - t0 ))
	state=$(systemctl is-active "$RTMEM_SERVICE")
	result=$(svc_prop Result)
	if [ "$state" != inactive ] || [ "$result" != success ]; then
		fail $n "after stop: is-active=$state Result=$result"
	elif ! timeout 120 systemctl start "$RTMEM_SERVICE" >> "$LOGDIR/$n.log" 2>&1 || ! wait_active 30; then
		fail $n "stopped cleanly in ${t}s but did not start again"
	else
		pass $n "stopped cleanly in ${t}s (Result=success), started again"
	fi
}

# lifecycle lines from the daemon (sd_notify STATUS / its own log lines)
check_rtmemd_journal() {
	local n=rtmemd-journal log=$LOGDIR/rtmemd-journal.log missing=""
	journalctl --sync 2>/dev/null
	journalctl -b -u "$RTMEM_SERVICE" --no-pager -o short-monotonic > "$log" 2>&1
	grep -Eiq "$RTMEM_JOURNAL_READY_RE" "$log" || missing+=" /$RTMEM_JOURNAL_READY_RE/"
	grep -Eiq "$RTMEM_JOURNAL_STOP_RE" "$log" || missing+=" /$RTMEM_JOURNAL_STOP_RE/"
	if [ -n "$missing" ]; then
		fail $n "journalctl -u $RTMEM_SERVICE lacks$missing ($(wc -l < "$log") lines)"
	else
		pass $n "$(grep -Eic "$RTMEM_JOURNAL_READY_RE" "$log") lines /$RTMEM_JOURNAL_READY_RE/, $(grep -Eic "$RTMEM_JOURNAL_STOP_RE" "$log") /$RTMEM_JOURNAL_STOP_RE/"
	fi
}
# ---- END rtmemd checks ----

# ===================================================================== main
for c in $BASE_CHECKS; do
	"check_$c"
done
if rtmemd_installed; then
	for c in $RTMEMD_CHECKS; do
		"check_$c"
	done
else
	for c in $RTMEMD_CHECKS; do
		skip "$(name_of "$c")" "package $RTMEM_PACKAGE not installed"
	done
fi
exit 0
