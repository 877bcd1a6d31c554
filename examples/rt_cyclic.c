/* SPDX-License-Identifier: MIT */
/*
 * rtmem-example - a cyclic RT latency test on rtmemd, with the options and
 * output of the usual latency tools (cyclictest), in the three phases:
 *
 *   1. setup:  connect to rtmemd, open a pool (mapped, populated, locked);
 *   2. lock:   rtmem_rt_prepare(): mlockall, pre-fault the stack, malloc tuning;
 *              each measuring thread switches to SCHED_FIFO;
 *   3. RT:     per thread, a loop on clock_nanosleep(TIMER_ABSTIME) that
 *              allocates and frees in the pool every cycle.
 *
 *   rtmem-example [-t THREADS] [-p PRIO] [-i INTERVAL_US] [-l LOOPS] [-h MAX_US]
 *                 [-P POOL] [-s SOCKET] [-q] [--json] [--accept-other]
 *
 * Output: one line per thread, latencies in microseconds,
 *   T: 0 (  1234) P:80 I:1000 C:   2000 Min:      2 Avg:    3 Max:     11 Alloc-max-ns:    380 Faults: 0
 * with -h a histogram (one row per microsecond up to MAX_US, a column per
 * thread, then overflows), with --json the same as one JSON object, and
 * last the key=value lines scripts read (rt_phase_page_faults=0).
 *
 * POOL: without -P, "default" (the built-in configuration's pool) and then
 * "control" (the installed /etc/rtmemd/rtmemd.conf's) are tried.
 * SCHED_FIFO refused (no RLIMIT_RTPRIO, no CAP_SYS_NICE) is an error, exit 1,
 * before anything runs: latencies at SCHED_OTHER say nothing about RT.
 * --accept-other runs at SCHED_OTHER anyway and says so.
 * Linked with -z now: symbols are bound at load, not at first call in the loop.
 *
 * Exit: 0; 1 if setup failed, SCHED_FIFO was refused, an allocation failed or
 * a thread took page faults in its RT phase; 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rtmem/rtmem.h>

#define NSEC 1000000000ll
#define PER_CYCLE 8   /* blocks allocated and freed each cycle */
#define MAX_THREADS 64
#define MAX_HIST_US 100000
#define THREAD_STACK (256 * 1024)

struct opts {
	const char *sock, *pool;
	unsigned threads, prio, hist_us;
	long interval_us, loops;
	bool json, quiet, accept_other;
};

struct thread {
	const struct opts *o;
	struct rtmem_pool *p;
	pthread_t th;
	pid_t tid;
	bool fifo;
	int rc;                      /* 0 or the -errno of a failed allocation */
	int64_t min, max, sum, n;    /* wake-up latency, ns */
	int64_t alloc_max;           /* ns */
	uint64_t faults;             /* minor + major, RT phase */
	uint64_t *hist, overflow;    /* [hist_us], microsecond buckets */
};

static pthread_barrier_t start_line;

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

static uint64_t thread_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

/* One cycle's work: allocate blocks of a few sizes, touch them, free them. */
static int cycle(struct thread *t, unsigned n)
{
	static const size_t sizes[PER_CYCLE] = { 24, 64, 100, 256, 700, 1024, 3000, 64 };
	void *b[PER_CYCLE];
	struct timespec t0, t1;

	for (unsigned i = 0; i < PER_CYCLE; i++) {
		size_t sz = sizes[(i + n) % PER_CYCLE];
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = rtmem_alloc(t->p, sz, &b[i]);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rc < 0) {
			while (i--)
				rtmem_free(t->p, b[i]);
			return rc;
		}
		if (ts_ns(&t1) - ts_ns(&t0) > t->alloc_max)
			t->alloc_max = ts_ns(&t1) - ts_ns(&t0);
		memset(b[i], (int)n, sz);
	}
	for (unsigned i = 0; i < PER_CYCLE; i++)
		rtmem_free(t->p, b[i]);
	return 0;
}

static void record(struct thread *t, int64_t ns)
{
	int64_t us = ns / 1000;

	if (t->n == 0 || ns < t->min)
		t->min = ns;
	if (ns > t->max)
		t->max = ns;
	t->sum += ns;
	t->n++;
	if (!t->hist)
		return;
	if (us < (int64_t)t->o->hist_us)
		t->hist[us]++;
	else
		t->overflow++;
}

/* Touch @bytes of this thread's stack below the caller's frame, so that the
 * RT loop's deepest calls meet pages that are there already. */
static __attribute__((noinline)) void prefault_own_stack(void)
{
	volatile char buf[64 * 1024];

	for (size_t i = 0; i < sizeof(buf); i += 4096)
		buf[i] = 0;
}

static void *rt_thread(void *arg)
{
	struct thread *t = arg;
	struct sched_param sp = { .sched_priority = (int)t->o->prio };
	struct timespec next, now;
	uint64_t mark;
	int rc = 0;

	t->tid = (pid_t)syscall(SYS_gettid);
	prefault_own_stack();
	t->fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
	/* warm up: every size, the clock and the sleep once, outside the RT phase */
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned n = 0; n < PER_CYCLE && rc >= 0; n++) {
		ts_add(&next, 1000);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		rc = cycle(t, n);
	}
	t->alloc_max = 0;
	pthread_barrier_wait(&start_line);
	mark = thread_faults();
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long n = 0; n < t->o->loops && rc >= 0; n++) {
		ts_add(&next, t->o->interval_us * 1000);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		record(t, ts_ns(&now) - ts_ns(&next));
		rc = cycle(t, (unsigned)n);
	}
	t->faults = thread_faults() - mark;
	t->rc = rc;
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rtmem-example [OPTIONS]\n"
		   "  -t, --threads N        measuring threads (default 1, at most %d)\n"
		   "  -p, --priority PRIO    SCHED_FIFO priority 1..99 (default 80)\n"
		   "  -i, --interval US      cycle period in microseconds (default 1000)\n"
		   "  -l, --loops N          cycles per thread (default 2000)\n"
		   "  -h, --histogram US     print a histogram of wake-up latencies up to US\n"
		   "  -q, --quiet            only the summary lines, no key=value lines\n"
		   "      --json             the results as one JSON object\n"
		   "  -P, --pool POOL        rtmemd pool (default: \"default\", else \"control\")\n"
		   "  -s, --socket PATH      rtmemd's socket (default $RTMEM_SOCKET or /run/rtmemd/rtmemd.sock)\n"
		   "      --accept-other     run at SCHED_OTHER if SCHED_FIFO is refused (default: exit 1)\n"
		   "  -V, --version          print the version\n"
		   "      --help             this text\n",
		MAX_THREADS);
}

static bool num(const char *s, long lo, long hi, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

/* Return: 0, 1 to exit 0 (--help, --version), -1 to exit 2. */
static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },  { "priority", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' }, { "loops", required_argument, NULL, 'l' },
		{ "histogram", required_argument, NULL, 'h' }, { "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'J' },           { "pool", required_argument, NULL, 'P' },
		{ "socket", required_argument, NULL, 's' },   { "accept-other", no_argument, NULL, 'A' },
		{ "version", no_argument, NULL, 'V' },        { "help", no_argument, NULL, 'H' },
		{ 0 },
	};
	long v = 0;
	int c;

	while ((c = getopt_long(argc, argv, "t:p:i:l:h:qP:s:V", longopts, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 't': ok = num(optarg, 1, MAX_THREADS, &v); o->threads = (unsigned)v; break;
		case 'p': ok = num(optarg, 1, 99, &v); o->prio = (unsigned)v; break;
		case 'i': ok = num(optarg, 1, 10000000, &o->interval_us); break;
		case 'l': ok = num(optarg, 1, 1000000000, &o->loops); break;
		case 'h': ok = num(optarg, 1, MAX_HIST_US, &v); o->hist_us = (unsigned)v; break;
		case 'q': o->quiet = true; break;
		case 'J': o->json = true; break;
		case 'P': o->pool = optarg; break;
		case 's': o->sock = optarg; break;
		case 'A': o->accept_other = true; break;
		case 'V': printf("rtmem-example (librtmem %s)\n", rtmem_version()); return 1;
		case 'H': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
		if (!ok) {
			fprintf(stderr, "rtmem-example: -%c %s: out of range (see --help)\n", c, optarg);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Can this process run at SCHED_FIFO @prio? Asked before any work starts. */
static int fifo_allowed(unsigned prio)
{
	struct sched_param sp = { .sched_priority = (int)prio }, old = { 0 };
	int pol = sched_getscheduler(0);

	sched_getparam(0, &old);
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		return -errno;
	sched_setscheduler(0, pol, &old);
	return 0;
}

static int open_pool(const struct opts *o, struct rtmem_client *c, struct rtmem_pool **ret, const char **ret_name)
{
	static const char *const dflt[] = { "default", "control" };
	int rc = -ENOENT;

	if (o->pool) {
		*ret_name = o->pool;
		return rtmem_pool_open(c, o->pool, 0, ret);
	}
	for (unsigned i = 0; i < 2 && rc == -ENOENT; i++) {
		*ret_name = dflt[i];
		rc = rtmem_pool_open(c, dflt[i], 0, ret);
	}
	return rc;
}

static void report(const struct opts *o, struct thread *t, const char *pool, bool fifo)
{
	uint64_t faults = 0;
	int64_t wmax = 0, amax = 0;

	if (o->json) {
		printf("{\"tool\":\"rtmem-example\",\"librtmem\":\"%s\",\"pool\":\"%s\",\"policy\":\"%s\","
		       "\"priority\":%u,\"interval_us\":%ld,\"loops\":%ld,\"threads\":[",
		       rtmem_version(), pool, fifo ? "fifo" : "other", o->prio, o->interval_us, o->loops);
		for (unsigned i = 0; i < o->threads; i++) {
			printf("%s{\"thread\":%u,\"tid\":%d,\"cycles\":%" PRId64 ",\"min_us\":%.3f,\"avg_us\":%.3f,"
			       "\"max_us\":%.3f,\"alloc_max_ns\":%" PRId64 ",\"page_faults\":%" PRIu64 ",\"error\":%d",
			       i ? "," : "", i, (int)t[i].tid, t[i].n, (double)t[i].min / 1e3,
			       t[i].n ? (double)t[i].sum / (double)t[i].n / 1e3 : 0.0, (double)t[i].max / 1e3,
			       t[i].alloc_max, t[i].faults, t[i].rc);
			if (t[i].hist) {
				printf(",\"histogram\":{");
				for (unsigned b = 0, first = 1; b < o->hist_us; b++)
					if (t[i].hist[b]) {
						printf("%s\"%u\":%" PRIu64, first ? "" : ",", b, t[i].hist[b]);
						first = 0;
					}
				printf("},\"overflows\":%" PRIu64, t[i].overflow);
			}
			printf("}");
		}
		printf("]}\n");
		return;
	}
	printf("# rtmem-example: pool \"%s\", %s, %d alloc+free per cycle; latencies in microseconds\n", pool,
	       fifo ? "SCHED_FIFO" : "SCHED_OTHER (accepted with --accept-other: not an RT measurement)", PER_CYCLE);
	for (unsigned i = 0; i < o->threads; i++)
		printf("T:%2u (%6d) P:%2u I:%ld C:%7" PRId64 " Min:%7" PRId64 " Avg:%7" PRId64 " Max:%7" PRId64
		       " Alloc-max-ns:%7" PRId64 " Faults: %" PRIu64 "\n",
		       i, (int)t[i].tid, fifo ? o->prio : 0, o->interval_us, t[i].n, t[i].min / 1000,
		       t[i].n ? t[i].sum / t[i].n / 1000 : 0, t[i].max / 1000, t[i].alloc_max, t[i].faults);
	if (o->hist_us) {
		printf("# Histogram (us, count per thread)\n");
		for (unsigned b = 0; b < o->hist_us; b++) {
			printf("%06u", b);
			for (unsigned i = 0; i < o->threads; i++)
				printf(" %06" PRIu64, t[i].hist[b]);
			printf("\n");
		}
		printf("# Histogram Overflows:");
		for (unsigned i = 0; i < o->threads; i++)
			printf(" %05" PRIu64, t[i].overflow);
		printf("\n");
	}
	for (unsigned i = 0; i < o->threads; i++) {
		faults += t[i].faults;
		wmax = t[i].max > wmax ? t[i].max : wmax;
		amax = t[i].alloc_max > amax ? t[i].alloc_max : amax;
	}
	if (!o->quiet)
		printf("sched_fifo=%d\nthreads=%u\ncycles=%ld\nwake_max_ns=%" PRId64 "\nalloc_max_ns=%" PRId64
		       "\nrt_phase_page_faults=%" PRIu64 "\n",
		       fifo, o->threads, o->loops, wmax, amax, faults);
}

int main(int argc, char **argv)
{
	struct opts o = { .threads = 1, .prio = 80, .interval_us = 1000, .loops = 2000 };
	struct thread t[MAX_THREADS] = { 0 };
	struct rtmem_client *c;
	struct rtmem_pool *p;
	const char *pool = NULL;
	bool fifo = true, bad = false;
	pthread_attr_t attr;
	int rc = parse(argc, argv, &o);

	if (rc)
		return rc > 0 ? 0 : 2;
	rc = fifo_allowed(o.prio);
	if (rc < 0 && !o.accept_other) {
		fprintf(stderr, "rtmem-example: SCHED_FIFO priority %u refused: %s\n"
				"rtmem-example: allow it (RLIMIT_RTPRIO: the rtmem group's /etc/security/limits.d/"
				"rtmem.conf after a new login, LimitRTPRIO= in a unit, or chrt as root), or pass "
				"--accept-other to measure at SCHED_OTHER\n",
			o.prio, strerror(-rc));
		return 1;
	}
	fifo = rc == 0;
	/* 1. setup */
	rc = rtmem_connect(o.sock, "rtmem-example", &c);
	if (rc < 0) {
		fprintf(stderr, "rtmem-example: connect to rtmemd: %s\n", rtmem_error_hint(RTMEM_CALL_CONNECT, rc));
		return 1;
	}
	rc = open_pool(&o, c, &p, &pool);
	if (rc < 0) {
		fprintf(stderr, "rtmem-example: open pool \"%s\": %s\n", pool, rtmem_error_hint(RTMEM_CALL_POOL_OPEN, rc));
		rtmem_disconnect(c);
		return 1;
	}
	/* 2. lock */
	rc = rtmem_rt_prepare(256 * 1024);
	if (rc < 0)
		fprintf(stderr, "rtmem-example: %s (continuing unlocked)\n", rtmem_error_hint(RTMEM_CALL_RT_PREPARE, rc));
	/* 3. RT work, one thread each */
	pthread_barrier_init(&start_line, NULL, o.threads);
	for (unsigned i = 0; i < o.threads; i++) {
		t[i].o = &o;
		t[i].p = p;
		if (o.hist_us && !(t[i].hist = calloc(o.hist_us, sizeof(uint64_t)))) {
			fprintf(stderr, "rtmem-example: out of memory\n");
			return 1;
		}
	}
	/* small stacks: under mlockall(MCL_FUTURE) each is locked whole, and
	 * RLIMIT_MEMLOCK (8 MiB by default) would not hold glibc's 8 MiB default */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	/* one thread: the RT loop runs in this one, whose stack
	 * rtmem_rt_prepare() pre-faulted, as the pattern in the man page does */
	if (o.threads == 1)
		rt_thread(&t[0]);
	for (unsigned i = 0; o.threads > 1 && i < o.threads; i++) {
		rc = pthread_create(&t[i].th, &attr, rt_thread, &t[i]);
		if (rc != 0) {
			fprintf(stderr, "rtmem-example: starting thread %u: %s (RLIMIT_MEMLOCK too small for its stack?)\n",
				i, strerror(rc));
			return 1;
		}
	}
	for (unsigned i = 0; i < o.threads; i++) {
		if (o.threads > 1)
			pthread_join(t[i].th, NULL);
		fifo = fifo && t[i].fifo;
		if (t[i].rc < 0) {
			fprintf(stderr, "rtmem-example: thread %u: %s\n", i, rtmem_error_hint(RTMEM_CALL_ALLOC, t[i].rc));
			bad = true;
		}
		bad = bad || t[i].faults;
	}
	report(&o, t, pool, fifo);
	for (unsigned i = 0; i < o.threads; i++)
		free(t[i].hist);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	return bad ? 1 : 0;
}
