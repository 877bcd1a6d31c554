/* SPDX-License-Identifier: MIT */
/*
 * bench_multi.c - many client processes on one rtmemd pool, beside glibc
 * malloc, jemalloc and mimalloc in the same run. Prints tables; not a test.
 *
 * It starts its own rtmemd (the build's) on a temporary socket with three
 * pools: "cached" (slab, thread caches on), "shared" (the same slab classes,
 * no thread cache: every call on the shared lists) and "buddy" (a buddy area
 * only). For 1, 2, 4, ... up to the CPUs (or --clients), it forks that many
 * client processes, each pinned to a CPU of its own where there are enough,
 * SCHED_FIFO where allowed:
 *
 *  (a) cyclic bursts: every client wakes at the same absolute times (period
 *      --period-us), allocates --burst blocks and frees them, and times every
 *      call (CLOCK_MONOTONIC); per-call p50/p99/p99.9/max over all clients.
 *      The worst case of colliding cyclic tasks is what RT clients meet.
 *  (b) saturation: alloc+free pairs as fast as each client can, for
 *      --sat-ms; total millions of pairs per second.
 *  (c) handoff: pairs of processes, a producer giving blocks to a consumer
 *      (rtmem_give/rtmem_take) through a ring in the pool: blocks per second
 *      and give -> take latency.
 *
 * The malloc family runs the same loops in the same processes, each process
 * on its own heap (they share nothing: that is the floor to compare with).
 * jemalloc and mimalloc are dlopen()ed (bench_alloc.c says why).
 */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "daemon_fixture.h"
#include "rtmem/rtmem.h"

#define MAXC 64
#define MAXS (1u << 20) /* samples per client, at most */
#define MAXALL (16u * MAXS) /* samples merged for one row */

struct opts {
	unsigned maxc, burst, period_us, cycles, sat_ms, size_slab, size_buddy;
};

/* One allocator as the loops see it: alloc/free of @size in a client. */
enum kind { K_SHARED, K_CACHED, K_BUDDY, K_GLIBC, K_JE, K_MI, NKIND };
static const char *const kind_name[NKIND] = { "rtmem slab, shared lists", "rtmem slab + thread cache",
					       "rtmem buddy",		 "glibc malloc",
					       "jemalloc",		 "mimalloc" };

static void *(*m_alloc[NKIND])(size_t);
static void (*m_free[NKIND])(void *);

/* Shared with the children (MAP_SHARED): start line, samples, results. */
struct shared {
	_Atomic unsigned ready;
	_Atomic uint64_t t0; /* absolute start, ns */
	_Atomic uint64_t pairs[MAXC];
	_Atomic uint64_t errors;
	uint32_t nsamples[MAXC];
	uint32_t samples[]; /* [MAXC][MAXS] ns, per call */
};

static struct shared *sh;
static struct daemon dmn;
static int ncpu;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000u), (long)(t % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static bool fifo;

/* In a client: pin to CPU @i (mod CPUs) and take SCHED_FIFO 80 if allowed. */
static void become_rt(unsigned i)
{
	struct sched_param sp = { .sched_priority = 80 };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((size_t)(i % (unsigned)ncpu), &set);
	sched_setaffinity(0, sizeof(set), &set);
	fifo = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
}

static struct rtmem_client *cl;
static struct rtmem_pool *pool;

/* In a client: the allocator of @k ready (a pool opened for rtmem kinds). */
static int client_open(enum kind k, unsigned i)
{
	static const char *const pname[] = { "shared", "cached", "buddy" };
	char name[32];

	if (k > K_BUDDY)
		return 0;
	snprintf(name, sizeof(name), "bench-%u", i);
	if (rtmem_connect(dmn.sock, name, &cl) != 0 || rtmem_pool_open(cl, pname[k], 0, &pool) != 0)
		return -1;
	return 0;
}

static int do_alloc(enum kind k, size_t size, void **p)
{
	if (k <= K_BUDDY)
		return rtmem_alloc(pool, size, p);
	*p = m_alloc[k](size);
	return *p ? 0 : -ENOMEM;
}

static void do_free(enum kind k, void *p)
{
	if (k <= K_BUDDY) {
		if (rtmem_free(pool, p) != 0)
			atomic_fetch_add(&sh->errors, 1);
	} else {
		m_free[k](p);
	}
}

/* (a) cyclic bursts, in client @i of @n. */
static void client_cyclic(const struct opts *o, enum kind k, unsigned i, size_t size)
{
	void *b[256];
	uint32_t *s = sh->samples + (size_t)i * MAXS, ns = 0;
	uint64_t t;

	/* warm up: the thread cache, the heap */
	for (unsigned r = 0; r < 4; r++) {
		for (unsigned j = 0; j < o->burst; j++)
			if (do_alloc(k, size, &b[j]) != 0)
				atomic_fetch_add(&sh->errors, 1), b[j] = NULL;
		for (unsigned j = 0; j < o->burst; j++)
			if (b[j])
				do_free(k, b[j]);
	}
	atomic_fetch_add(&sh->ready, 1);
	while (!(t = atomic_load(&sh->t0)))
		sched_yield();
	for (unsigned c = 0; c < o->cycles; c++) {
		sleep_until(t + (uint64_t)c * o->period_us * 1000u);
		for (unsigned j = 0; j < o->burst; j++) {
			uint64_t a = now_ns();

			if (do_alloc(k, size, &b[j]) != 0) {
				atomic_fetch_add(&sh->errors, 1);
				b[j] = NULL;
			}
			if (ns < MAXS)
				s[ns++] = (uint32_t)(now_ns() - a);
		}
		for (unsigned j = 0; j < o->burst; j++) {
			uint64_t a = now_ns();

			if (b[j])
				do_free(k, b[j]);
			if (ns < MAXS)
				s[ns++] = (uint32_t)(now_ns() - a);
		}
	}
	sh->nsamples[i] = ns;
}

/* (b) saturation, in client @i. */
static void client_saturate(const struct opts *o, enum kind k, unsigned i, size_t size)
{
	uint64_t t, end, n = 0;
	void *p;

	atomic_fetch_add(&sh->ready, 1);
	while (!(t = atomic_load(&sh->t0)))
		sched_yield();
	end = t + (uint64_t)o->sat_ms * 1000000u;
	sleep_until(t);
	while (now_ns() < end) {
		for (int r = 0; r < 64; r++) {
			if (do_alloc(k, size, &p) != 0) {
				atomic_fetch_add(&sh->errors, 1);
				continue;
			}
			do_free(k, p);
		}
		n += 64;
	}
	atomic_store(&sh->pairs[i], n);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Fork @n clients running @fn for kind @k; wait for them. Return: 0, or -1. */
static int run_clients(const struct opts *o, enum kind k, unsigned n, size_t size,
		       void (*fn)(const struct opts *, enum kind, unsigned, size_t))
{
	pid_t pid[MAXC];
	int st, rc = 0;

	atomic_store(&sh->ready, 0);
	atomic_store(&sh->t0, 0);
	atomic_store(&sh->errors, 0);
	for (unsigned i = 0; i < n; i++) {
		sh->nsamples[i] = 0;
		atomic_store(&sh->pairs[i], 0);
		pid[i] = fork();
		if (pid[i] == 0) {
			become_rt(i + 1);
			if (client_open(k, i) != 0)
				_exit(2);
			fn(o, k, i, size);
			if (pool)
				rtmem_pool_close(pool);
			rtmem_disconnect(cl);
			_exit(0);
		}
	}
	for (uint64_t t = now_ns(); atomic_load(&sh->ready) < n; sched_yield())
		if (now_ns() - t > 10000000000ull) {
			fprintf(stderr, "bench_multi: clients did not get ready\n");
			break;
		}
	atomic_store(&sh->t0, now_ns() + 2000000u); /* 2 ms from now, the same instant for all */
	for (unsigned i = 0; i < n; i++)
		if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = -1;
	return rc;
}

static void table_cyclic(const struct opts *o, const unsigned *counts, unsigned nc)
{
	static const enum kind kinds[] = { K_SHARED, K_CACHED, K_BUDDY, K_GLIBC, K_JE, K_MI };
	uint32_t *all = malloc(sizeof(uint32_t) * MAXALL);

	printf("\n(a) cyclic bursts: every client wakes at the same instant every %u us, %u allocations then %u "
	       "frees, every call timed; %u cycles; per-call ns over all clients\n\n",
	       o->period_us, o->burst, o->burst, o->cycles);
	printf("| allocator | size | clients | p50 | p99 | p99.9 | max | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned ki = 0; ki < sizeof(kinds) / sizeof(kinds[0]); ki++) {
		enum kind k = kinds[ki];
		size_t size = k == K_BUDDY ? o->size_buddy : o->size_slab;

		if (!m_alloc[k] && k > K_BUDDY)
			continue;
		for (unsigned c = 0; c < nc; c++) {
			size_t tot = 0;

			if (run_clients(o, k, counts[c], size, client_cyclic) != 0) {
				printf("| %s | %zu | %u | client failed | | | | |\n", kind_name[k], size, counts[c]);
				continue;
			}
			for (unsigned i = 0; i < counts[c]; i++) {
				uint32_t n = sh->nsamples[i];

				if (tot + n > (size_t)MAXALL)
					n = (uint32_t)((size_t)MAXALL - tot);
				memcpy(all + tot, sh->samples + (size_t)i * MAXS, n * sizeof(uint32_t));
				tot += n;
			}
			qsort(all, tot, sizeof(*all), cmp_u32);
			printf("| %s | %zu | %u | %u | %u | %u | %u | %" PRIu64 " |\n", kind_name[k], size, counts[c],
			       all[tot / 2], all[tot * 99 / 100], all[tot * 999 / 1000], all[tot - 1],
			       (uint64_t)atomic_load(&sh->errors));
			fflush(stdout);
		}
	}
	free(all);
}

static void table_saturation(const struct opts *o, const unsigned *counts, unsigned nc)
{
	printf("\n(b) saturation: alloc+free pairs as fast as each client can for %u ms; total Mpairs/s\n\n",
	       o->sat_ms);
	printf("| allocator | size |");
	for (unsigned c = 0; c < nc; c++)
		printf(" %u |", counts[c]);
	printf("\n|---|---:|");
	for (unsigned c = 0; c < nc; c++)
		printf("---:|");
	printf("\n");
	for (enum kind k = 0; k < NKIND; k++) {
		size_t size = k == K_BUDDY ? o->size_buddy : o->size_slab;

		if (!m_alloc[k] && k > K_BUDDY)
			continue;
		printf("| %s | %zu |", kind_name[k], size);
		for (unsigned c = 0; c < nc; c++) {
			uint64_t sum = 0;

			if (run_clients(o, k, counts[c], size, client_saturate) != 0) {
				printf(" failed |");
				continue;
			}
			for (unsigned i = 0; i < counts[c]; i++)
				sum += atomic_load(&sh->pairs[i]);
			printf(" %.2f |", (double)sum / ((double)o->sat_ms * 1000.0));
			fflush(stdout);
		}
		printf("\n");
	}
}

/* (c) handoff: producer (even client) -> consumer (odd client) through a ring in the pool. */
struct ring {
	_Atomic uint64_t head;
	char pad0[56];
	_Atomic uint64_t tail;
	char pad1[56];
	_Atomic uint64_t off[256];
};

static struct ring *rings; /* anonymous shared: one per pair (the ring's blocks travel by offset) */
static _Atomic uint64_t *ids;

static void client_handoff(const struct opts *o, enum kind k, unsigned i, size_t size)
{
	struct ring *q = &rings[i / 2];
	uint64_t n = (uint64_t)o->sat_ms * 1000u, t, peer;
	uint32_t *s = sh->samples + (size_t)i * MAXS, ns = 0;

	(void)k;
	atomic_store(&ids[i], rtmem_pool_client_id(pool));
	atomic_fetch_add(&sh->ready, 1);
	/* every wait yields: at SCHED_FIFO, two clients may share a CPU */
	while (!(t = atomic_load(&sh->t0)))
		sched_yield();
	while (!(peer = atomic_load(&ids[i ^ 1u])))
		sched_yield();
	for (uint64_t j = 0; j < n && now_ns() < t + (uint64_t)o->sat_ms * 1000000u; j++) {
		uint64_t h, off;

		if (i % 2 == 0) { /* producer */
			uint64_t *p;

			h = atomic_load_explicit(&q->head, memory_order_relaxed);
			while (h - atomic_load_explicit(&q->tail, memory_order_acquire) >= 256)
				sched_yield();
			while (rtmem_alloc(pool, size, (void **)&p) != 0)
				sched_yield();
			p[0] = now_ns();
			if (rtmem_give(pool, p, peer) != 0)
				atomic_fetch_add(&sh->errors, 1);
			atomic_store_explicit(&q->off[h % 256], rtmem_ptr_to_off(pool, p), memory_order_relaxed);
			atomic_store_explicit(&q->head, h + 1, memory_order_release);
		} else { /* consumer */
			uint64_t *p;

			h = atomic_load_explicit(&q->tail, memory_order_relaxed);
			while (atomic_load_explicit(&q->head, memory_order_acquire) == h) {
				if (now_ns() > t + (uint64_t)o->sat_ms * 1000000u + 100000000u)
					goto out;
				sched_yield();
			}
			off = atomic_load_explicit(&q->off[h % 256], memory_order_relaxed);
			p = rtmem_off_to_ptr(pool, off);
			if (!p || rtmem_take(pool, p) != 0) {
				atomic_fetch_add(&sh->errors, 1);
			} else {
				if (ns < MAXS)
					s[ns++] = (uint32_t)(now_ns() - p[0]);
				rtmem_free(pool, p);
			}
			atomic_store_explicit(&q->tail, h + 1, memory_order_release);
			atomic_fetch_add(&sh->pairs[i], 1);
		}
	}
out:
	sh->nsamples[i] = ns;
	/* the producer keeps the ring's blocks alive until its consumer is done */
	if (i % 2 == 0)
		while (atomic_load_explicit(&q->tail, memory_order_acquire) != atomic_load(&q->head) &&
		       now_ns() < t + (uint64_t)o->sat_ms * 1000000u + 200000000u)
			sched_yield();
}

static void table_handoff(const struct opts *o, const unsigned *counts, unsigned nc)
{
	uint32_t *all = malloc(sizeof(uint32_t) * MAXALL);

	printf("\n(c) handoff: producer -> consumer process pairs, %zu B blocks given (rtmem_give/rtmem_take) "
	       "through a 256-deep ring in shared memory, %u ms; give -> take latency includes the time in the ring\n\n",
	       (size_t)o->size_slab, o->sat_ms);
	printf("| pool | processes | Mblocks/s | p50 ns | p99 ns | max ns | errors |\n|---|---:|---:|---:|---:|---:|---:|\n");
	for (enum kind k = K_SHARED; k <= K_CACHED; k++) {
		for (unsigned c = 0; c < nc; c++) {
			unsigned n = counts[c] < 2 ? 2 : counts[c] & ~1u;
			uint64_t sum = 0;
			size_t tot = 0;

			if (c > 0 && n == (counts[c - 1] < 2 ? 2 : counts[c - 1] & ~1u))
				continue;
			memset(rings, 0, sizeof(*rings) * MAXC / 2);
			for (unsigned i = 0; i < MAXC; i++)
				atomic_store(&ids[i], 0);
			if (run_clients(o, k, n, o->size_slab, client_handoff) != 0) {
				printf("| %s | %u | client failed | | | | |\n", kind_name[k], n);
				continue;
			}
			for (unsigned i = 1; i < n; i += 2) {
				uint32_t m = sh->nsamples[i];

				sum += atomic_load(&sh->pairs[i]);
				if (tot + m > (size_t)MAXALL)
					m = (uint32_t)((size_t)MAXALL - tot);
				memcpy(all + tot, sh->samples + (size_t)i * MAXS, m * sizeof(uint32_t));
				tot += m;
			}
			if (!tot)
				continue;
			qsort(all, tot, sizeof(*all), cmp_u32);
			printf("| %s | %u | %.2f | %u | %u | %u | %" PRIu64 " |\n", kind_name[k], n,
			       (double)sum / ((double)o->sat_ms * 1000.0), all[tot / 2], all[tot * 99 / 100], all[tot - 1],
			       (uint64_t)atomic_load(&sh->errors));
			fflush(stdout);
		}
	}
	free(all);
}

static void load_others(void)
{
	const int fl = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
	void *h;

	m_alloc[K_GLIBC] = malloc;
	m_free[K_GLIBC] = free;
	h = dlopen("libjemalloc.so.2", fl);
	if (h && dlsym(h, "malloc") && dlsym(h, "free")) {
		m_alloc[K_JE] = (void *(*)(size_t))dlsym(h, "malloc");
		m_free[K_JE] = (void (*)(void *))dlsym(h, "free");
	} else {
		fprintf(stderr, "bench_multi: jemalloc not loaded: %s\n", dlerror());
	}
	h = dlopen("libmimalloc.so.2", fl);
	if (h && dlsym(h, "mi_malloc") && dlsym(h, "mi_free")) {
		m_alloc[K_MI] = (void *(*)(size_t))dlsym(h, "mi_malloc");
		m_free[K_MI] = (void (*)(void *))dlsym(h, "mi_free");
	} else {
		fprintf(stderr, "bench_multi: mimalloc not loaded: %s\n", dlerror());
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "clients", required_argument, NULL, 'c' }, { "burst", required_argument, NULL, 'b' },
		{ "period-us", required_argument, NULL, 'p' }, { "cycles", required_argument, NULL, 'n' },
		{ "sat-ms", required_argument, NULL, 's' },  { "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	struct opts o = { .maxc = 0, .burst = 8, .period_us = 100, .cycles = 20000, .sat_ms = 1000,
			  .size_slab = 64, .size_buddy = 4096 };
	unsigned counts[8], nc = 0;
	char conf[1024];
	const char *t;
	int c;

	t = getenv("GLIBC_TUNABLES"); /* jemalloc's initial-exec TLS through dlopen (see bench_alloc.c) */
	if (!t || !strstr(t, "glibc.rtld.optional_static_tls")) {
		setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 1);
		execv("/proc/self/exe", argv);
	}
	while ((c = getopt_long(argc, argv, "c:b:p:n:s:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o.maxc = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': o.burst = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': o.period_us = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'n': o.cycles = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': o.sat_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'q': o.cycles = 2000; o.sat_ms = 200; break;
		case 'h':
			printf("usage: bench_multi [--clients N] [--burst B] [--period-us P] [--cycles N] [--sat-ms MS] "
			       "[--quick]\n");
			return 0;
		default: return 2;
		}
	}
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (!o.maxc)
		o.maxc = (unsigned)ncpu;
	if (o.maxc > MAXC)
		o.maxc = MAXC;
	if (o.burst < 1 || o.burst > 256 || o.period_us < 10 || o.cycles * o.burst * 2 > MAXS)
		o.cycles = MAXS / (2 * (o.burst ? o.burst : 1));
	for (unsigned n = 1; n <= o.maxc && nc < 7; n *= 2)
		counts[nc++] = n;
	if (counts[nc - 1] != o.maxc)
		counts[nc++] = o.maxc;
	load_others();
	sh = mmap(NULL, sizeof(*sh) + sizeof(uint32_t) * (size_t)MAXC * MAXS, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	rings = mmap(NULL, sizeof(*rings) * MAXC / 2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ids = mmap(NULL, sizeof(*ids) * MAXC, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || rings == MAP_FAILED || ids == MAP_FAILED)
		return 1;
	snprintf(conf, sizeof(conf),
		 "[daemon]\nlog_level = warning\n\n"
		 "[pool cached]\nslab = 64x8192, 256x4096, 4Kx1024\nmax_clients = %u\nusers = root, %u\n\n"
		 "[pool shared]\nslab = 64x8192, 256x4096, 4Kx1024\nthread_cache = 0\nmax_clients = %u\n"
		 "users = root, %u\n\n"
		 "[pool buddy]\nbuddy = 32M\nbuddy_min = 256\nbuddy_max = 1M\nmax_clients = %u\nusers = root, %u\n",
		 MAXC + 2, (unsigned)getuid(), MAXC + 2, (unsigned)getuid(), MAXC + 2, (unsigned)getuid());
	if (daemon_start(&dmn, conf) < 0) {
		fprintf(stderr, "bench_multi: rtmemd did not start:\n%s\n", daemon_log(&dmn));
		return 1;
	}
	become_rt(0);
	printf("# bench_multi: %d CPUs, clients %s, rtmemd %s\n", ncpu, fifo ? "SCHED_FIFO 80 (pinned)" :
	       "SCHED_OTHER (SCHED_FIFO refused; pinned)", RTMEMD_PATH);
	table_cyclic(&o, counts, nc);
	table_saturation(&o, counts, nc);
	table_handoff(&o, counts, nc);
	daemon_stop(&dmn);
	return 0;
}
