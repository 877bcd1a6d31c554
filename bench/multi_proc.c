/* SPDX-License-Identifier: MIT */
/*
 * multi_proc.c - client processes and an rtmemd for bench_multi, with a
 * deadline on every wait (multi_proc.h says how the start line works).
 *
 * Invariant: no wait here is unbounded. Children are reaped with
 * waitpid(WNOHANG) and a sleep, up to a deadline; a SIGKILLed child is
 * reaped within a further bounded wait, and one that still does not go (a
 * process in uninterruptible sleep) is reported and left to init.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "multi_proc.h"

#define NS_PER_MS 1000000ull

volatile sig_atomic_t mp_interrupted;

uint64_t mp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mp_sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void sleep_us(unsigned us)
{
	mp_sleep_until(mp_now_ns() + us * 1000ull);
}

void mp_ready(struct mp_ctl *ctl)
{
	atomic_fetch_add(&ctl->ready, 1);
}

bool mp_aborted(struct mp_ctl *ctl)
{
	return atomic_load_explicit(&ctl->abort, memory_order_relaxed) != 0;
}

uint64_t mp_wait_start(struct mp_ctl *ctl, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t t = atomic_load(&ctl->start_ns);

		if (t)
			return t;
		if (mp_aborted(ctl) || mp_now_ns() > deadline_ns)
			return 0;
		sleep_us(20);
	}
}

/* Reap whichever of @pid[0..n) have exited, without blocking; a reaped
 * entry becomes 0. Return: how many are still running. Sets *@bad when one
 * exited non-zero or by a signal. */
static unsigned reap_some(pid_t *pid, unsigned n, bool *bad)
{
	unsigned left = 0;

	for (unsigned i = 0; i < n; i++) {
		int st;

		if (!pid[i])
			continue;
		if (waitpid(pid[i], &st, WNOHANG) == pid[i]) {
			pid[i] = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				*bad = true;
		} else {
			left++;
		}
	}
	return left;
}

/* Reap until none is left or @deadline_ns (or an interrupt, if @intr).
 * Return: how many are left. */
static unsigned reap_until(pid_t *pid, unsigned n, uint64_t deadline_ns, bool intr, bool *bad)
{
	unsigned left;

	while ((left = reap_some(pid, n, bad)) && mp_now_ns() < deadline_ns && !(intr && mp_interrupted))
		sleep_us(1000);
	return left;
}

/* Tell the group to leave, give it 200 ms, SIGKILL the rest, reap (2 s at most). */
static void stop_group(struct mp_ctl *ctl, pid_t *pid, unsigned n)
{
	bool bad = false;

	atomic_store(&ctl->abort, 1);
	if (!reap_until(pid, n, mp_now_ns() + 200 * NS_PER_MS, false, &bad))
		return;
	for (unsigned i = 0; i < n; i++)
		if (pid[i])
			kill(pid[i], SIGKILL);
	if (reap_until(pid, n, mp_now_ns() + 2000 * NS_PER_MS, false, &bad))
		fprintf(stderr, "bench_multi: a SIGKILLed client did not exit within 2 s; left to init\n");
}

/* The @i-th CPU of this process's affinity set (mod its size), or -1. */
static int nth_cpu(unsigned i)
{
	cpu_set_t set;
	int count, k = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0 || !(count = CPU_COUNT(&set)))
		return -1;
	i %= (unsigned)count;
	for (size_t cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set) && (unsigned)k++ == i)
			return (int)cpu;
	return -1;
}

static void child_enter(unsigned i, bool pin, unsigned alarm_s)
{
	pid_t parent = getppid();

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the parent died before the prctl */
		_exit(99);
	alarm(alarm_s); /* the last resort: SIGALRM ends the process */
	if (pin) {
		int cpu = nth_cpu(i);
		cpu_set_t set;

		CPU_ZERO(&set);
		if (cpu >= 0) {
			CPU_SET((size_t)cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
	}
}

enum mp_status mp_run(struct mp_ctl *ctl, unsigned n, mp_client_fn *fn, void *arg, bool pin, unsigned setup_ms,
		      unsigned lead_ms, unsigned run_ms)
{
	unsigned alarm_s = (setup_ms + lead_ms + run_ms) / 1000 + 10;
	pid_t pid[MP_MAX] = { 0 };
	uint64_t deadline, start;
	bool bad = false;

	if (n > MP_MAX)
		n = MP_MAX;
	atomic_store(&ctl->ready, 0);
	atomic_store(&ctl->abort, 0);
	atomic_store(&ctl->start_ns, 0);
	fflush(stdout);
	fflush(stderr);
	for (unsigned i = 0; i < n; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			child_enter(i, pin, alarm_s);
			_exit(fn(i, n, arg));
		}
		if (pid[i] < 0) {
			pid[i] = 0;
			stop_group(ctl, pid, n);
			return MP_FAILED;
		}
	}
	/* the start line: all ready, or some dead, or the deadline */
	deadline = mp_now_ns() + setup_ms * NS_PER_MS;
	while (atomic_load(&ctl->ready) < n && mp_now_ns() < deadline && !mp_interrupted) {
		reap_some(pid, n, &bad);
		if (bad)
			break;
		sleep_us(1000);
	}
	if (atomic_load(&ctl->ready) < n) {
		stop_group(ctl, pid, n);
		return mp_interrupted ? MP_INTERRUPTED : bad ? MP_FAILED : MP_SETUP_TIMEOUT;
	}
	start = mp_now_ns() + lead_ms * NS_PER_MS;
	atomic_store(&ctl->start_ns, start);
	if (reap_until(pid, n, start + run_ms * NS_PER_MS, true, &bad)) {
		stop_group(ctl, pid, n);
		return mp_interrupted ? MP_INTERRUPTED : MP_RUN_TIMEOUT;
	}
	return bad ? MP_FAILED : MP_OK;
}

/* ---- the daemon ---- */

const char *mp_daemon_log(const struct mp_daemon *d)
{
	static char buf[16384];
	int fd = open(d->log, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Does the daemon accept connections on its socket? (non-blocking connect) */
static bool daemon_listens(const struct mp_daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool up;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return up;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		rc = -EIO;
	close(fd);
	return rc;
}

static void daemon_exec(const struct mp_daemon *d, const char *exe, const char *conf_path)
{
	int fd;

	setpgid(0, 0); /* not in the terminal's process group: the benchmark stops it itself */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		_exit(126);
	execl(exe, "rtmemd", "-c", conf_path, "-s", d->sock, (char *)NULL);
	_exit(127);
}

int mp_daemon_start(struct mp_daemon *d, const char *exe, const char *conf, unsigned timeout_ms)
{
	char conf_path[96];
	uint64_t deadline;
	int rc, st;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/rtmemd-bench.XXXXXX");
	if (!mkdtemp(d->dir))
		return -errno;
	chmod(d->dir, 0755);
	snprintf(conf_path, sizeof(conf_path), "%s/rtmemd.conf", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/rtmemd.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/rtmemd.log", d->dir);
	rc = write_file(conf_path, conf);
	if (rc < 0)
		return rc;
	fflush(stdout);
	fflush(stderr);
	d->pid = fork();
	if (d->pid < 0) {
		d->pid = 0;
		return -errno;
	}
	if (d->pid == 0)
		daemon_exec(d, exe, conf_path);
	/* connect() works from listen() on, a little before it logs "ready": wait for both */
	deadline = mp_now_ns() + timeout_ms * NS_PER_MS;
	while (mp_now_ns() < deadline) {
		if (daemon_listens(d) && strstr(mp_daemon_log(d), "ready: "))
			return 0;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return -ECHILD;
		}
		sleep_us(20000);
	}
	return -ETIMEDOUT;
}

int mp_daemon_stop(struct mp_daemon *d)
{
	char path[128];
	pid_t pid[1];
	bool bad = false;
	int rc = 0;

	if (!d || !d->pid)
		return -ECHILD;
	pid[0] = d->pid;
	kill(d->pid, SIGTERM);
	if (reap_until(pid, 1, mp_now_ns() + 5000 * NS_PER_MS, false, &bad)) {
		kill(d->pid, SIGKILL);
		reap_until(pid, 1, mp_now_ns() + 2000 * NS_PER_MS, false, &bad);
		rc = 1;
	}
	if (bad)
		rc = 1;
	d->pid = 0;
	snprintf(path, sizeof(path), "%s/rtmemd.conf", d->dir);
	unlink(path);
	unlink(d->sock);
	unlink(d->log);
	rmdir(d->dir);
	return rc;
}
