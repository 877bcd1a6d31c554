/* SPDX-License-Identifier: MIT */
/*
 * multi_proc.h - client processes and an rtmemd for bench_multi, with a
 * deadline on every wait.
 *
 * A group of clients is forked by mp_run(). They meet at a start line built
 * on atomics in a MAP_SHARED|MAP_ANONYMOUS mapping (struct mp_ctl), not on a
 * process-shared pthread barrier: a barrier cannot be left by a timeout, and
 * a member that dies leaves the others in it for good. Here each side waits
 * with a deadline:
 *
 *   child:  setup, mp_ready(), mp_wait_start() -> the common start time, or 0
 *           (the parent gave up, or the start deadline passed: leave)
 *   parent: waits for every child's mp_ready() (or its death) until the setup
 *           deadline; publishes the start time; reaps with waitpid(WNOHANG)
 *           until the run deadline; then SIGKILLs what is left.
 *
 * A child also dies with its parent (PR_SET_PDEATHSIG) and by alarm() a while
 * after the run deadline, so that not even a child stuck in a system call
 * outlives the benchmark. The waits sleep (clock_nanosleep), never spin, so a
 * SCHED_FIFO client that waits does not starve the parent or the daemon.
 *
 * The daemon: mp_daemon_start() writes the config to a fresh temporary
 * directory and starts the build's rtmemd on a socket there; it dies with
 * its parent too. mp_daemon_stop() sends SIGTERM, then SIGKILL.
 *
 * Context: not RT; the parent's side is single-threaded.
 */
#ifndef RTMEM_BENCH_MULTI_PROC_H
#define RTMEM_BENCH_MULTI_PROC_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MP_MAX 64 /* clients in one group, at most */

/* Set by the benchmark's SIGINT/SIGTERM handler: mp_run() stops its group
 * as on a timeout. */
extern volatile sig_atomic_t mp_interrupted;

/* The start line, shared with the children. */
struct mp_ctl {
	_Atomic uint32_t ready;    /* children past their setup */
	_Atomic uint32_t abort;    /* 1: the parent gave up, children leave */
	_Atomic uint64_t start_ns; /* the common start (CLOCK_MONOTONIC ns), 0 until set */
};

/* How a group ended. */
enum mp_status {
	MP_OK,            /* every child exited 0 */
	MP_SETUP_TIMEOUT, /* not every child was ready by the setup deadline */
	MP_RUN_TIMEOUT,   /* a child still ran at the run deadline: SIGKILLed */
	MP_FAILED,        /* a child exited non-zero or by a signal */
	MP_INTERRUPTED,   /* mp_interrupted was set: the group was stopped */
};

/* A client: @i of @n; returns its exit status (0 = fine). */
typedef int mp_client_fn(unsigned i, unsigned n, void *arg);

/* The CLOCK_MONOTONIC time in ns. Context: RT-safe (vDSO). */
uint64_t mp_now_ns(void);

/* Sleep until CLOCK_MONOTONIC time @t (absolute). Context: blocks. */
void mp_sleep_until(uint64_t t);

/* In a child: its setup is done. */
void mp_ready(struct mp_ctl *ctl);

/*
 * mp_wait_start() - in a child: wait for the common start time.
 * Context: blocks, sleeping 20 us between looks.
 * Return: the start time (ns), or 0 when the parent gave up or @deadline_ns
 * passed first.
 */
uint64_t mp_wait_start(struct mp_ctl *ctl, uint64_t deadline_ns);

/* True once the parent gave up on the group. Context: RT-safe (one load). */
bool mp_aborted(struct mp_ctl *ctl);

/*
 * mp_run() - fork @n clients running @fn(i, n, @arg); wait up to @setup_ms
 * for all to be ready, start them together @lead_ms later, and wait up to
 * @run_ms after the start for all to exit. On either timeout the children
 * are told to leave, then SIGKILLed, and reaped (each waitpid bounded too).
 * Children pin to CPU i of the parent's set when @pin.
 * Context: not RT; blocks at most about setup_ms + lead_ms + run_ms + 3 s.
 * Return: how the group ended (enum mp_status).
 */
enum mp_status mp_run(struct mp_ctl *ctl, unsigned n, mp_client_fn *fn, void *arg, bool pin, unsigned setup_ms,
		      unsigned lead_ms, unsigned run_ms);

/* A daemon started by mp_daemon_start(). */
struct mp_daemon {
	pid_t pid;
	char dir[64];   /* its temporary directory */
	char sock[96];  /* its socket */
	char log[96];   /* its stderr */
};

/*
 * mp_daemon_start() - start @exe with config @conf on a socket in a new
 * temporary directory; wait up to @timeout_ms for it to log "ready".
 * Context: not RT; blocks.
 * It logs "ready" at log_level info: the config must not ask for less.
 * Return: 0; -ETIMEDOUT (it did not come up: still running, read its log,
 * then mp_daemon_stop()), -ECHILD (it exited: see its log), -errno (the
 * directory, the config, fork).
 */
int mp_daemon_start(struct mp_daemon *d, const char *exe, const char *conf, unsigned timeout_ms);

/* The daemon's log so far (a static buffer, the first 16 KiB). */
const char *mp_daemon_log(const struct mp_daemon *d);

/*
 * mp_daemon_stop() - SIGTERM, up to 5 s for it to exit, then SIGKILL;
 * remove the temporary directory. NULL-safe and idempotent.
 * Return: 0 (it exited by itself with status 0), 1 (another status, or it
 * had to be killed), -ECHILD (no daemon).
 */
int mp_daemon_stop(struct mp_daemon *d);

#endif
