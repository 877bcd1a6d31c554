/* SPDX-License-Identifier: MIT */
/*
 * bench_multi.c - many client processes of one real rtmemd, beside glibc
 * malloc, jemalloc and mimalloc in the same process shape. Prints tables;
 * it is a benchmark, not a timed test (bench/README.md says what each
 * column means).
 *
 * It starts the build's rtmemd on a temporary config and socket with four
 * pools: "slab" (slab classes, no thread cache: every call on the shared
 * lock-free lists), "striped" (the same with slab_stripes = 4: each client
 * pops its home stripe and steals when it is empty), "cached" (the same classes, thread_cache = 8, the
 * default), "buddy" (small slab classes and a buddy area; the benchmark
 * asks for a size above the classes, so every call is the buddy's, through
 * each thread's buddy cache, which the default thread_cache turns on) and
 * "arena" (the same with the buddy area in 1 MiB arenas, buddy_arena: no
 * lock; lib/core/arena.c); "buddy0" and "arena0" are those two with
 * thread_cache = 0, so that every buddy call reaches the area. For
 * 1, 2, 4, ... clients up to the online CPUs (--max-clients), it forks that
 * many client processes, each with its own connection and pool mapping:
 *
 *  (a) cyclic bursts with a common phase: every client wakes at the same
 *      absolute times (start + k x period, clock_nanosleep TIMER_ABSTIME),
 *      allocates 8 blocks, frees them, and times every call;
 *  (b) saturation: alloc+free pairs as fast as each client can for a fixed
 *      time; total pairs per second;
 *  (c) handoff: producer -> consumer process pairs; the producer allocates,
 *      rtmem_give()s the block to its consumer and passes its offset through
 *      a ring in shared memory; the consumer rtmem_take()s and frees it.
 *      Rate with up to 256 blocks in flight, then give -> take latency with
 *      one block in flight at a time. rtmem pools only: a malloc heap is
 *      private to its process, so no block of it can change process;
 *  (d) fan-out: a producer and up to 3 readers; the producer rtmem_share()s
 *      each block with every reader and lets go of its own hold, each reader
 *      rtmem_release()s it, and the last one frees it. Rate, then
 *      share -> read latency, as in (c).
 *
 * The malloc family runs the (a) and (b) loops in the same kind of forked
 * processes (each on its own private heap). jemalloc and mimalloc are
 * dlopen()ed, not linked: both export malloc/free and would replace glibc's
 * for the whole program, the daemon's client library included.
 *
 * Never hangs: every wait between processes has a deadline (multi_proc.h);
 * a case that runs out of time is SIGKILLed and its row says so. At the end
 * a checker client reads every pool's counters: with no client left, any
 * block still in use is lost. Exit 0 only when every case ran, no call
 * failed and nothing was lost.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench_multi.h"
#include "mallocs.h"

struct shared *sh;
struct opts opt;
struct mp_daemon dmn;

struct allocator allocs[NALLOC] = {
	[A_SLAB] = { "rtmem slab", "slab", NULL, NULL },
	[A_STRIPED] = { "rtmem slab, 4 stripes", "striped", NULL, NULL },
	[A_CACHED] = { "rtmem slab + thread cache", "cached", NULL, NULL },
	[A_BUDDY] = { "rtmem buddy", "buddy", NULL, NULL },
	[A_ARENA] = { "rtmem buddy, arenas", "arena", NULL, NULL },
	[A_BUDDY0] = { "rtmem buddy, no cache", "buddy0", NULL, NULL },
	[A_ARENA0] = { "rtmem buddy, arenas, no cache", "arena0", NULL, NULL },
	[A_GLIBC] = { "glibc malloc", NULL, malloc, free },
	[A_JE] = { "jemalloc", NULL, NULL, NULL },
	[A_MI] = { "mimalloc", NULL, NULL, NULL },
};

/* The rows of (a) and (b): each allocator at the small size, then the buddy
 * and the malloc family at the size above the slab classes. */
static const struct row {
	enum alloc_id a;
	bool big;
} rows[] = {
	{ A_SLAB, false }, { A_STRIPED, false }, { A_CACHED, false }, { A_GLIBC, false }, { A_JE, false },
	{ A_MI, false },   { A_BUDDY, true },    { A_ARENA, true },   { A_BUDDY0, true }, { A_ARENA0, true },
	{ A_GLIBC, true }, { A_JE, true },       { A_MI, true },
};

/* What went wrong over the run, for the summary and the exit status. */
static struct {
	uint64_t errors;
	unsigned bad_cases;
	char what[2048]; /* the cases that timed out or failed */
} tally;

static const char *status_text(enum mp_status st)
{
	switch (st) {
	case MP_OK: return "ok";
	case MP_SETUP_TIMEOUT: return "TIMED OUT (setup)";
	case MP_RUN_TIMEOUT: return "TIMED OUT (run)";
	case MP_INTERRUPTED: return "INTERRUPTED";
	default: return "FAILED";
	}
}

/* Note a case that did not end well. */
static void tally_bad(const char *tbl, const char *name, size_t size, unsigned n, enum mp_status st)
{
	size_t len = strlen(tally.what);

	tally.bad_cases++;
	snprintf(tally.what + len, sizeof(tally.what) - len, "  (%s) %s %zu B, %u clients: %s\n", tbl, name, size, n,
		 status_text(st));
}

/* Run one case: @n clients of @fn on job @j; results in sh->res[0..n). */
static enum mp_status run_case(struct job *j, unsigned n, mp_client_fn *fn, unsigned run_ms)
{
	memset(sh->res, 0, sizeof(sh->res));
	memset(sh->ring, 0, sizeof(sh->ring));
	j->pinned = n <= (unsigned)opt.ncpu;
	return mp_run(&sh->ctl, n, fn, j, j->pinned, SETUP_MS, LEAD_MS, run_ms);
}

static uint64_t sum_errors(unsigned n)
{
	uint64_t e = 0;

	for (unsigned i = 0; i < n; i++)
		e += sh->res[i].errors;
	return e;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentiles of the samples of clients @first, @first + @step, ... < @n.
 * Return: the number of samples (0: none, or no memory to sort them). */
static size_t percentiles(unsigned first, unsigned step, unsigned n, uint32_t ret[4])
{
	size_t tot = 0, k = 0;
	uint32_t *all;

	for (unsigned i = first; i < n; i += step)
		tot += sh->res[i].nsamples;
	all = tot ? malloc(tot * sizeof(*all)) : NULL;
	if (!all)
		return 0;
	for (unsigned i = first; i < n; i += step) {
		memcpy(all + k, samples_of(i), sh->res[i].nsamples * sizeof(*all));
		k += sh->res[i].nsamples;
	}
	qsort(all, tot, sizeof(*all), cmp_u32);
	ret[0] = all[tot / 2];
	ret[1] = all[tot * 99 / 100];
	ret[2] = all[tot * 999 / 1000];
	ret[3] = all[tot - 1];
	free(all);
	return tot;
}

static void table_cyclic(const unsigned *counts, unsigned nc)
{
	printf("\n## (a) cyclic bursts, common phase\n\n"
	       "Every client wakes at start + k x %u us (clock_nanosleep TIMER_ABSTIME, one start for all),\n"
	       "does %u allocations then %u frees, each call timed; %u cycles per client. ns per call, over\n"
	       "all calls of all clients. late: cycles that began after their period was over.\n\n",
	       opt.period_us, BURST, BURST, opt.cycles);
	printf("| allocator | size | clients | calls | p50 | p99 | p99.9 | max | late | errors |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]) && !mp_interrupted; r++) {
		struct job j = { .a = rows[r].a, .size = rows[r].big ? opt.big : opt.small };
		unsigned run_ms = (unsigned)((uint64_t)opt.cycles * opt.period_us / 1000u) * 2 + 5000;

		if (!allocs[j.a].pool && !allocs[j.a].alloc)
			continue;
		for (unsigned c = 0; c < nc && !mp_interrupted; c++) {
			enum mp_status st = run_case(&j, counts[c], client_cyclic, run_ms);
			uint64_t late = 0, err = sum_errors(counts[c]);
			uint32_t p[4];
			size_t calls;

			tally.errors += err;
			if (st != MP_OK) {
				tally_bad("a", allocs[j.a].name, j.size, counts[c], st);
				printf("| %s | %zu | %u | %s | | | | | | %" PRIu64 " |\n", allocs[j.a].name, j.size,
				       counts[c], status_text(st), err);
				continue;
			}
			for (unsigned i = 0; i < counts[c]; i++)
				late += sh->res[i].late;
			calls = percentiles(0, 1, counts[c], p);
			printf("| %s | %zu | %u | %zu | %u | %u | %u | %u | %" PRIu64 " | %" PRIu64 " |\n",
			       allocs[j.a].name, j.size, counts[c], calls, p[0], p[1], p[2], p[3], late, err);
			fflush(stdout);
		}
	}
}

static void table_saturation(const unsigned *counts, unsigned nc)
{
	printf("\n## (b) saturation\n\nAlloc+free pairs as fast as each client can for %u ms; millions of pairs per "
	       "second, summed over the clients.\n\n| allocator | size |",
	       opt.run_ms);
	for (unsigned c = 0; c < nc; c++)
		printf(" %u client%s |", counts[c], counts[c] > 1 ? "s" : "");
	printf(" errors |\n|---|---:|");
	for (unsigned c = 0; c < nc; c++)
		printf("---:|");
	printf("---:|\n");
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]) && !mp_interrupted; r++) {
		struct job j = { .a = rows[r].a, .size = rows[r].big ? opt.big : opt.small };
		uint64_t err = 0;

		if (!allocs[j.a].pool && !allocs[j.a].alloc)
			continue;
		printf("| %s | %zu |", allocs[j.a].name, j.size);
		for (unsigned c = 0; c < nc && !mp_interrupted; c++) {
			enum mp_status st = run_case(&j, counts[c], client_saturate, opt.run_ms * 2 + 5000);
			uint64_t pairs = 0;

			err += sum_errors(counts[c]);
			if (st != MP_OK) {
				tally_bad("b", allocs[j.a].name, j.size, counts[c], st);
				printf(" %s |", status_text(st));
				continue;
			}
			for (unsigned i = 0; i < counts[c]; i++)
				pairs += sh->res[i].ops;
			printf(" %.2f |", (double)pairs / ((double)opt.run_ms * 1000.0));
			fflush(stdout);
		}
		tally.errors += err;
		printf(" %" PRIu64 " |\n", err);
	}
}

static void table_handoff(const unsigned *counts, unsigned nc)
{
	static const enum alloc_id pools[] = { A_SLAB, A_CACHED, A_BUDDY, A_ARENA, A_BUDDY0, A_ARENA0 };
	unsigned last = 0;

	printf("\n## (c) producer -> consumer handoff\n\n"
	       "Process pairs: the producer allocates, rtmem_give()s the block to its consumer and passes the\n"
	       "offset through a %u-slot ring in shared memory; the consumer rtmem_take()s and frees it.\n"
	       "Mblocks/s: all pairs, up to %u blocks in flight, %u ms. Latency: give -> take, ns, with one\n"
	       "block in flight per pair, the next %u ms. rtmem pools only (a malloc heap is per process).\n\n",
	       RING, RING, opt.run_ms, opt.run_ms);
	printf("| pool | size | processes | Mblocks/s | p50 | p99 | p99.9 | max | errors |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned c = 0; c < nc && !mp_interrupted; c++) {
		unsigned n = counts[c] < 2 ? 2 : counts[c] & ~1u; /* pairs: even, at least one pair */

		if (n == last)
			continue;
		last = n;
		for (size_t k = 0; k < sizeof(pools) / sizeof(pools[0]) && !mp_interrupted; k++) {
			struct job j = { .a = pools[k], .size = pools[k] >= A_BUDDY ? opt.big : opt.small };
			enum mp_status st = run_case(&j, n, client_handoff, opt.run_ms * 4 + 5000);
			uint64_t blocks = 0, err = sum_errors(n);
			uint32_t p[4] = { 0 };

			tally.errors += err;
			if (st != MP_OK) {
				tally_bad("c", allocs[j.a].name, j.size, n, st);
				printf("| %s | %zu | %u | %s | | | | | %" PRIu64 " |\n", allocs[j.a].name, j.size, n,
				       status_text(st), err);
				continue;
			}
			for (unsigned i = 0; i < n; i += 2)
				blocks += sh->res[i].ops;
			percentiles(1, 2, n, p);
			printf("| %s | %zu | %u | %.2f | %u | %u | %u | %u | %" PRIu64 " |\n", allocs[j.a].name, j.size, n,
			       (double)blocks / ((double)opt.run_ms * 1000.0), p[0], p[1], p[2], p[3], err);
			fflush(stdout);
		}
	}
}

static void table_fanout(const unsigned *counts, unsigned nc)
{
	static const enum alloc_id pools[] = { A_SLAB, A_CACHED, A_BUDDY, A_ARENA, A_BUDDY0, A_ARENA0 };
	unsigned last = 0;

	printf("\n## (d) one producer, several readers of each block\n\n"
	       "Groups of a producer and up to %u reader processes: the producer allocates, rtmem_share()s the\n"
	       "block with each reader, rtmem_release()s its own hold and passes the offset through each\n"
	       "reader's %u-slot ring; each reader rtmem_release()s it, and the last one frees it.\n"
	       "Mblocks/s: blocks shared, all groups, %u ms. Latency: share -> read, ns, each reader, with one\n"
	       "block in flight per group, the next %u ms. freed: blocks the readers freed, which must be every\n"
	       "block shared in both halves. rtmem pools only.\n\n",
	       FANOUT_GROUP - 1, RING, opt.run_ms, opt.run_ms);
	printf("| pool | size | processes | readers | Mblocks/s | p50 | p99 | p99.9 | max | freed | errors |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned c = 0; c < nc && !mp_interrupted; c++) {
		unsigned g = counts[c] < FANOUT_GROUP ? counts[c] : FANOUT_GROUP, n = counts[c] - counts[c] % g;

		if (n < 2 || n == last)
			continue;
		last = n;
		for (size_t k = 0; k < sizeof(pools) / sizeof(pools[0]) && !mp_interrupted; k++) {
			struct job j = { .a = pools[k], .size = pools[k] >= A_BUDDY ? opt.big : opt.small, .group = g };
			enum mp_status st;
			uint64_t shared = 0, later = 0, freed = 0, err;
			uint32_t p[4] = { 0 };

			st = run_case(&j, n, client_fanout, opt.run_ms * 4 + 5000);
			err = sum_errors(n);
			if (st != MP_OK) {
				tally.errors += err;
				tally_bad("d", allocs[j.a].name, j.size, n, st);
				printf("| %s | %zu | %u | %u | %s | | | | | | %" PRIu64 " |\n", allocs[j.a].name, j.size, n,
				       g - 1, status_text(st), err);
				continue;
			}
			for (unsigned i = 0; i < n; i++) {
				*(i % g ? &freed : &shared) += sh->res[i].ops;
				later += i % g ? 0 : sh->res[i].late;
			}
			/* every block shared was freed once, by one of its readers */
			if (freed != shared + later)
				err += freed > shared + later ? freed - shared - later : shared + later - freed;
			tally.errors += err;
			percentiles(1, 1, n, p); /* the readers' samples; a producer keeps none */
			printf("| %s | %zu | %u | %u | %.2f | %u | %u | %u | %u | %" PRIu64 " | %" PRIu64 " |\n",
			       allocs[j.a].name, j.size, n, g - 1, (double)shared / ((double)opt.run_ms * 1000.0), p[0],
			       p[1], p[2], p[3], freed, err);
			fflush(stdout);
		}
	}
}

/* jemalloc and mimalloc; a missing one is left out, with a note. */
static void load_others(void)
{
	static const struct { enum alloc_id a; enum bench_malloc_kind k; } want[] = {
		{ A_JE, BENCH_JEMALLOC }, { A_MI, BENCH_MIMALLOC },
	};

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct bench_malloc m;
		const char *why;

		if (bench_malloc_load(want[i].k, &m, &why) == 0) {
			allocs[want[i].a].alloc = m.alloc;
			allocs[want[i].a].free = m.free;
		} else {
			printf("note: %s left out: %s\n", allocs[want[i].a].name, why);
		}
	}
}

/* Can this process take SCHED_FIFO? Try on itself, then go back. */
static int probe_fifo(void)
{
	struct sched_param sp = { .sched_priority = (int)opt.prio }, other = { .sched_priority = 0 };

	if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
		return -errno;
	sched_setscheduler(0, SCHED_OTHER, &other);
	return 0;
}

/* The median cost of two back-to-back clock reads, ns: every timed call includes it. */
static unsigned clock_cost(void)
{
	uint32_t d[10001];

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		uint64_t a = mp_now_ns();

		d[i] = (uint32_t)(mp_now_ns() - a);
	}
	qsort(d, sizeof(d) / sizeof(d[0]), sizeof(d[0]), cmp_u32);
	return d[5000];
}

static void print_header(int fifo_err)
{
	struct utsname u;
	char rt[32] = "?";
	FILE *f = fopen("/proc/sys/kernel/sched_rt_runtime_us", "r");

	if (f) {
		if (!fgets(rt, sizeof(rt), f))
			strcpy(rt, "?");
		rt[strcspn(rt, "\n")] = '\0';
		fclose(f);
	}
	uname(&u);
	printf("# bench_multi: %d online CPUs, Linux %s (%s), %s\n", opt.ncpu, u.release,
	       strstr(u.version, "PREEMPT_RT") ? "PREEMPT_RT" : "not PREEMPT_RT", opt.quick ? "quick mode" : "default counts");
	if (opt.fifo && !fifo_err)
		printf("# clients: SCHED_FIFO %u", opt.prio);
	else if (opt.fifo)
		printf("# clients: SCHED_OTHER (SCHED_FIFO refused: %s)", strerror(-fifo_err));
	else
		printf("# clients: SCHED_OTHER (--no-fifo)");
	printf(", each pinned to a CPU of its own while clients <= CPUs; sched_rt_runtime_us %s\n", rt);
	printf("# rtmemd %s; pools: slab (no thread cache), striped (slab_stripes 4, no thread cache), cached (thread_cache 8), buddy (thread_cache 8), arena (buddy_arena 1M, thread_cache 8), buddy0 and arena0 (the same, thread_cache 0); sizes %zu B, %zu B\n",
	       RTMEMD_PATH, opt.small, opt.big);
	printf("# a timed call includes one clock read pair: median %u ns here\n", clock_cost());
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_multi [-q] [-n MAX] [-p US] [-c CYCLES] [-t MS] [--no-fifo] [--prio P]\n"
		   "  -q, --quick            small counts (about 10 s)\n"
		   "  -n, --max-clients N    clients 1, 2, 4 ... up to N (default: online CPUs, at most %u)\n"
		   "  -p, --period-us US     period of the cyclic bursts (default 100)\n"
		   "  -c, --cycles N         cycles per client in (a) (default 10000, quick 1000)\n"
		   "  -t, --time-ms MS       length of (b) and of each half of (c) (default 1000, quick 100)\n"
		   "      --no-fifo          leave the clients SCHED_OTHER\n"
		   "      --prio P           their SCHED_FIFO priority (default 50)\n",
		MP_MAX);
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },          { "max-clients", required_argument, NULL, 'n' },
		{ "period-us", required_argument, NULL, 'p' }, { "cycles", required_argument, NULL, 'c' },
		{ "time-ms", required_argument, NULL, 't' },   { "no-fifo", no_argument, NULL, 'F' },
		{ "prio", required_argument, NULL, 'P' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, cycles = -1, ms = -1;

	opt = (struct opts){ .period_us = 100, .prio = 50, .small = 64, .big = 8192, .fifo = true };
	opt.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	while ((c = getopt_long(argc, argv, "qn:p:c:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q': opt.quick = true; break;
		case 'n': opt.max_clients = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': opt.period_us = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': cycles = atoi(optarg); break;
		case 't': ms = atoi(optarg); break;
		case 'F': opt.fifo = false; break;
		case 'P': opt.prio = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	opt.cycles = cycles > 0 ? (unsigned)cycles : opt.quick ? 1000 : 10000;
	opt.run_ms = ms > 0 ? (unsigned)ms : opt.quick ? 100 : 1000;
	if (!opt.max_clients || opt.max_clients > (unsigned)opt.ncpu)
		opt.max_clients = opt.max_clients ? opt.max_clients : (unsigned)opt.ncpu;
	if (opt.max_clients > MP_MAX)
		opt.max_clients = MP_MAX;
	if (optind != argc || opt.period_us < 10 || opt.cycles > 1000000 || opt.prio < 1 || opt.prio > 99) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	mp_interrupted = 1;
}

static int map_shared(void)
{
	size_t per = (size_t)opt.cycles * 2 * BURST;

	if (per < HANDOFF_SAMPLES)
		per = HANDOFF_SAMPLES;
	opt.per_client = per;
	sh = mmap(NULL, sizeof(*sh) + (size_t)MP_MAX * per * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return sh == MAP_FAILED ? -errno : 0;
}

int main(int argc, char **argv)
{
	unsigned counts[16], nc = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	int rc, fifo_err = 0, dst;
	uint64_t lost;

	bench_reexec_for_static_tls(argv);
	prctl(PR_SET_NAME, "bench_multi"); /* not "exe", after the re-exec through /proc/self/exe */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_opts(argc, argv) < 0)
		return 2;
	for (unsigned n = 1; n <= opt.max_clients; n *= 2)
		counts[nc++] = n;
	if (counts[nc - 1] != opt.max_clients)
		counts[nc++] = opt.max_clients;
	load_others();
	if (opt.fifo)
		fifo_err = probe_fifo();
	opt.fifo_ok = opt.fifo && !fifo_err;
	rc = map_shared();
	if (rc < 0) {
		fprintf(stderr, "bench_multi: mmap of the shared results: %s\n", strerror(-rc));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = start_daemon();
	if (rc < 0)
		return 1;
	print_header(fifo_err);
	table_cyclic(counts, nc);
	if (!mp_interrupted)
		table_saturation(counts, nc);
	if (!mp_interrupted)
		table_handoff(counts, nc);
	if (!mp_interrupted)
		table_fanout(counts, nc);
	lost = check_pools();
	dst = mp_daemon_stop(&dmn);
	printf("\n## result\n\nfailed calls: %" PRIu64 "\ncases timed out or failed: %u\n", tally.errors, tally.bad_cases);
	if (lost == UINT64_MAX)
		printf("lost blocks: unknown (the checker did not run)\n");
	else
		printf("lost blocks: %" PRIu64 " (blocks in use in the pools with no client left)\n", lost);
	printf("rtmemd stopped: %s%s\n", dst == 0 ? "cleanly" : "NOT cleanly", mp_interrupted ? "\nINTERRUPTED" : "");
	if (tally.bad_cases)
		printf("not run to the end:\n%s", tally.what);
	return tally.errors || tally.bad_cases || lost || dst != 0 || mp_interrupted ? 1 : 0;
}
