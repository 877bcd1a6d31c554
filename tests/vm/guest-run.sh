#!/bin/bash
# Runs INSIDE the test VM, started once at boot by rtmemd-vm-test.service
# (tests/vm/hooks/rtmemd-vm-test.service). Injected by run-vm-test into
# /opt/rtmemd-vm together with guest-checks.sh, guest.env and debs/*.deb.
#
#  1. waits for the boot to settle,
#  2. installs the .debs with dpkg -i (offline: their dependencies must be in
#     the image, see tests/vm/packages.txt),
#  3. runs guest-checks.sh, which prints one line per check:
#       PASS name [: detail] | FAIL name: detail | SKIP name: reason
#  4. writes /var/lib/rtmemd-vm/results.txt (+ logs/), ends it with a
#     "# complete" line so the host can tell a finished run from a crash.
# The unit powers the VM off when this script exits (SuccessAction=poweroff).
set -uo pipefail

D=/opt/rtmemd-vm
OUT=/var/lib/rtmemd-vm
RESULTS=$OUT/results.txt
LOGDIR=$OUT/logs
mkdir -p "$LOGDIR"
: > "$RESULTS"
T0=$(date +%s)

if [ -f "$D/guest.env" ]; then
	set -a
	# shellcheck disable=SC1091
	. "$D/guest.env"
	set +a
fi
export RTMEM_VM_LOGDIR=$LOGDIR

# one result line: into the results file (synced, in case the VM dies) and
# onto the console, where the host shows it as progress
record() {
	printf '%s\n' "$1" >> "$RESULTS"
	sync "$RESULTS" 2>/dev/null || sync
	printf 'rtmemd-vm: %s\n' "$1"
}

echo "rtmemd-vm: runner started, $(uname -r), waiting for the boot to finish"
# The checks look at the system as booted; installing while the boot
# transaction still runs would also race the package's own service start.
state=$(timeout 600 systemctl is-system-running --wait 2>/dev/null)
echo "rtmemd-vm: boot finished after $(cut -d' ' -f1 /proc/uptime)s uptime: ${state:-unknown}"
systemd-analyze > "$LOGDIR/systemd-analyze.log" 2>&1 || true
systemd-analyze blame > "$LOGDIR/systemd-analyze-blame.log" 2>&1 || true

# ------------------------------------------------------------ install debs
shopt -s nullglob
debs=("$D"/debs/*.deb)
if [ ${#debs[@]} -eq 0 ]; then
	record "SKIP install-debs: no .deb given to run-vm-test"
else
	names=$(for d in "${debs[@]}"; do basename "$d"; done | tr '\n' ' ')
	if DEBIAN_FRONTEND=noninteractive timeout 600 dpkg -i "${debs[@]}" \
		> "$LOGDIR/dpkg-install.log" 2>&1; then
		record "PASS install-debs: dpkg -i ${names% }"
	else
		rc=$?
		record "FAIL install-debs: dpkg -i exited $rc: $(grep -E 'error|depends|dependency' "$LOGDIR/dpkg-install.log" | head -n 3 | tr '\n' ' ')"
	fi
	dpkg -l > "$LOGDIR/dpkg-l.log" 2>&1 || true
fi

# ------------------------------------------------------------------ checks
# guest-checks.sh writes its result lines on stdout, details into $LOGDIR
bash "$D/guest-checks.sh" 2> "$LOGDIR/guest-checks.stderr.log" |
	while IFS= read -r line; do
		case "$line" in
		PASS\ *|FAIL\ *|SKIP\ *) record "$line" ;;
		*) printf '%s\n' "$line" >> "$LOGDIR/guest-checks.stdout.log" ;;
		esac
	done
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || record "FAIL guest-checks: script exited with status $rc (see logs/guest-checks.stderr.log)"

# -------------------------------------------------------------------- logs
journalctl -b --no-pager > "$LOGDIR/journal.log" 2>&1 || true
systemctl --failed --no-pager > "$LOGDIR/systemctl-failed.log" 2>&1 || true
dmesg > "$LOGDIR/dmesg.log" 2>&1 || true
{ uname -a; cat /proc/cmdline; nproc; free -m; } > "$LOGDIR/system.log" 2>&1 || true

echo "# complete $(date -u +%FT%TZ) guest_seconds=$(( $(date +%s) - T0 )) uptime=$(cut -d' ' -f1 /proc/uptime)" >> "$RESULTS"
sync
echo "rtmemd-vm: done, powering off"
exit 0
