/* SPDX-License-Identifier: MIT */
/*
 * rtmem-example - an RT application on rtmemd, in the three phases:
 *
 *   1. setup:  connect to rtmemd, open a pool (mapped, populated, locked);
 *   2. lock:   rtmem_rt_prepare(): mlockall, pre-fault the stack, malloc tuning;
 *              switch to SCHED_FIFO;
 *   3. RT:     a cyclic loop on clock_nanosleep(TIMER_ABSTIME) that allocates
 *              and frees in the pool every cycle.
 *
 * At the end it prints the cycle wake-up latency (min/avg/max), the
 * alloc+free latency, and the page faults taken in the RT phase (which must
 * be zero), as a table and as key=value lines for scripts.
 *
 *   rtmem-example [-s SOCKET] [-p POOL] [-n CYCLES] [-i PERIOD_US] [-P PRIO]
 *
 * POOL defaults to "control", a pool of the installed /etc/rtmemd/rtmemd.conf.
 * Linked with -z now: symbols are bound at load, not at first call in the loop.
 *
 * Exit: 0, 1 if setup failed or the RT phase faulted or an allocation failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rtmem/rtmem.h>

#define NSEC 1000000000ll
#define PER_CYCLE 8 /* blocks allocated and freed each cycle */

struct lat {
	int64_t min, max, sum, n;
};

static void lat_add(struct lat *l, int64_t v)
{
	if (l->n == 0 || v < l->min)
		l->min = v;
	if (v > l->max)
		l->max = v;
	l->sum += v;
	l->n++;
}

static int64_t ts_ns(const struct timespec *t)
{
	return t->tv_sec * NSEC + t->tv_nsec;
}

static void ts_add(struct timespec *t, int64_t ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= NSEC) {
		t->tv_nsec -= NSEC;
		t->tv_sec++;
	}
}

/* One cycle's work: allocate blocks of a few sizes, touch them, free them. */
static int cycle(struct rtmem_pool *p, unsigned n, struct lat *alloc_lat)
{
	static const size_t sizes[PER_CYCLE] = { 24, 64, 100, 256, 700, 1024, 3000, 64 };
	void *b[PER_CYCLE];
	struct timespec t0, t1;

	for (unsigned i = 0; i < PER_CYCLE; i++) {
		size_t sz = sizes[(i + n) % PER_CYCLE];
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = rtmem_alloc(p, sz, &b[i]);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rc < 0) {
			fprintf(stderr, "rtmem-example: cycle %u: alloc %zu B: %s\n", n, sz, rtmem_strerror(rc));
			while (i--)
				rtmem_free(p, b[i]);
			return rc;
		}
		lat_add(alloc_lat, ts_ns(&t1) - ts_ns(&t0));
		memset(b[i], (int)n, sz);
	}
	for (unsigned i = 0; i < PER_CYCLE; i++)
		rtmem_free(p, b[i]);
	return 0;
}

static int go_rt(int prio)
{
	struct sched_param sp = { .sched_priority = prio };

	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
		fprintf(stderr, "rtmem-example: SCHED_FIFO %d: %s (running at SCHED_OTHER)\n", prio, strerror(errno));
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *pool = "control";
	long cycles = 2000, period_us = 1000;
	int prio = 80, o, rc, fifo;
	struct rtmem_client *c;
	struct rtmem_pool *p;
	struct rtmem_faults mark, f;
	struct lat wake = { 0 }, alloc_lat = { 0 };
	struct timespec next, now;

	while ((o = getopt(argc, argv, "s:p:n:i:P:h")) != -1) {
		switch (o) {
		case 's': sock = optarg; break;
		case 'p': pool = optarg; break;
		case 'n': cycles = strtol(optarg, NULL, 0); break;
		case 'i': period_us = strtol(optarg, NULL, 0); break;
		case 'P': prio = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: rtmem-example [-s SOCKET] [-p POOL] [-n CYCLES] [-i PERIOD_US] [-P PRIO]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (cycles <= 0 || period_us <= 0 || prio < 1 || prio > 99) {
		fprintf(stderr, "rtmem-example: cycles and period must be positive, priority 1..99\n");
		return 2;
	}
	/* 1. setup */
	rc = rtmem_connect(sock, "rtmem-example", &c);
	if (rc < 0) {
		fprintf(stderr, "rtmem-example: connect to rtmemd: %s\n", rtmem_strerror(rc));
		return 1;
	}
	rc = rtmem_pool_open(c, pool, 0, &p);
	if (rc < 0) {
		fprintf(stderr, "rtmem-example: open pool \"%s\": %s\n", pool, rtmem_strerror(rc));
		rtmem_disconnect(c);
		return 1;
	}
	/* 2. lock */
	rc = rtmem_rt_prepare(256 * 1024);
	if (rc < 0)
		fprintf(stderr, "rtmem-example: mlockall: %s (continuing unlocked)\n", rtmem_strerror(rc));
	rc = 0;
	fifo = go_rt(prio);
	/* Warm up: run the cycle's code once (every size, the clock, the sleep),
	 * so first-use costs (vDSO data page, lazily resolved symbols) are not
	 * taken in the RT phase. */
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned n = 0; n < PER_CYCLE && rc >= 0; n++) {
		struct lat scratch = { 0 };

		ts_add(&next, 1000);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		rc = cycle(p, n, &scratch);
	}
	/* 3. RT work: no syscall but the clock and the sleep, no fault */
	rtmem_faults_mark(&mark);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long n = 0; n < cycles && rc >= 0; n++) {
		ts_add(&next, period_us * 1000);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		lat_add(&wake, ts_ns(&now) - ts_ns(&next));
		rc = cycle(p, (unsigned)n, &alloc_lat);
	}
	f = rtmem_faults_since(&mark);
	/* back to setup-phase work: report and clean up */
	printf("rtmem-example: pool \"%s\", %ld cycles of %ld us at %s, %d alloc+free per cycle\n", pool, wake.n,
	       period_us, fifo ? "SCHED_FIFO" : "SCHED_OTHER", PER_CYCLE);
	printf("  %-22s %10s %10s %10s\n", "latency (ns)", "min", "avg", "max");
	printf("  %-22s %10" PRId64 " %10" PRId64 " %10" PRId64 "\n", "cycle wake-up", wake.min,
	       wake.n ? wake.sum / wake.n : 0, wake.max);
	printf("  %-22s %10" PRId64 " %10" PRId64 " %10" PRId64 "\n", "rtmem_alloc", alloc_lat.min,
	       alloc_lat.n ? alloc_lat.sum / alloc_lat.n : 0, alloc_lat.max);
	printf("  page faults in the RT phase: %" PRIu64 " minor, %" PRIu64 " major\n", f.minor, f.major);
	printf("sched_fifo=%d\ncycles=%" PRId64 "\nwake_max_ns=%" PRId64 "\nalloc_max_ns=%" PRId64
	       "\nrt_phase_page_faults=%" PRIu64 "\n",
	       fifo, wake.n, wake.max, alloc_lat.max, f.minor + f.major);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	return rc < 0 || f.minor + f.major ? 1 : 0;
}
