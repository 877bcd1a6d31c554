/* SPDX-License-Identifier: MIT */
/*
 * bench_alloc.c - allocation latency and instruction counts of the allocator
 * core against glibc malloc, jemalloc and mimalloc, printed as a table.
 *
 * Owns: the benchmark scenarios and the report. Not a test: it times things.
 *
 * Each row is one allocator and one size pattern:
 *   fixed 64 B, random 16..4096 B (uniform bytes), random powers of two
 *   16..4096 B ("random orders"). rtmem: slab (class per request by
 *   rg_class_for(NEXT_FIT) over classes 16, 32, ..., 4096) or buddy.
 * Latency: clock_gettime(CLOCK_MONOTONIC) around each alloc+free pair, minus
 * the calibrated cost of an empty pair of clock reads (median of 100000);
 * median, p99, p99.99 and max over --iterations pairs. Instructions: exact, by
 * single-stepping (icount.c) in a forked copy, over --icount-calls calls per
 * row; mean and longest per call, for alloc and free separately.
 * Second table: the rtmem rows with the pool 0/50/99 % full and a 1 MiB vs a
 * 1 GiB region (MAP_NORESERVE: only metadata is touched); there each pair
 * frees a random live block, not the one just allocated, so cache and TLB
 * misses of a big region show.
 *
 * jemalloc and mimalloc both export malloc/free; linking them would replace
 * glibc's malloc for the whole program. They are dlopen()ed with RTLD_LOCAL |
 * RTLD_DEEPBIND and called through dlsym(), so the three live side by side.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "icount.h"
#include "mallocs.h"
#include "fastpath.h"

#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)
#define NCLS 9u

enum pattern { P_FIXED, P_RANDOM, P_POW2, NPAT };
static const char *const pat_name[NPAT] = { "64 B", "16..4096 B", "2^4..2^12 B" };

struct opts {
	unsigned iterations;  /* timed pairs per row */
	unsigned icalls;      /* counted calls per row (slab, malloc) */
	unsigned icalls_buddy;
	bool icount;
	uint64_t seed;
};
static struct opts opt = { .iterations = 200000, .icalls = 100, .icalls_buddy = 30, .icount = true };

#define BATCH 100u /* pairs per sample in the batched median */

/* Results of one row. */
struct row {
	char name[48];
	double med, p99, p9999, max; /* ns per pair */
	double bmed;                 /* ns per pair, median of batches of BATCH pairs; < 0: not measured */
	struct icount_stats ic[2];   /* alloc, free */
	int icrc;                    /* icount_run() result, 0 if counted */
};

/* ---- random numbers ---- */

static uint64_t rnd_state = 88172645463325252ull;

static inline uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

static inline size_t pat_size(enum pattern p)
{
	switch (p) {
	case P_FIXED:
		return 64;
	case P_RANDOM:
		return 16 + (size_t)(rnd() % 4081);
	default:
		return (size_t)1 << (4 + rnd() % 9);
	}
}

/* ---- timing ---- */

static double clock_overhead;

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1];
}

/* Sort @n samples and fill the latency columns of @row, overhead subtracted. */
static void summarize(uint32_t *lat, size_t n, struct row *row)
{
	double o = clock_overhead;

	qsort(lat, n, sizeof(*lat), cmp_u32);
	row->med = pct(lat, n, 0.5) - o;
	row->p99 = pct(lat, n, 0.99) - o;
	row->p9999 = pct(lat, n, 0.9999) - o;
	row->max = (double)lat[n - 1] - o;
	if (row->med < 0)
		row->med = 0;
}

/*
 * Median ns per pair over batches of BATCH pairs. Every allocator runs the
 * same loop through malloc-shaped function pointers (the others come from
 * dlsym; rtmem through the wrappers below), so the harness costs the same.
 */
static double batched(void *(*alloc)(size_t), void (*release)(void *), enum pattern pt, unsigned samples)
{
	uint32_t *v = malloc(samples * sizeof(*v));
	double med = -1;

	if (!v)
		return -1;
	for (unsigned s = 0; s < samples; s++) {
		uint64_t t0 = now_ns();

		for (unsigned i = 0; i < BATCH; i++) {
			void *p = alloc(pat_size(pt));

			if (!p)
				goto out;
			release(p);
		}
		v[s] = (uint32_t)(now_ns() - t0);
	}
	qsort(v, samples, sizeof(*v), cmp_u32);
	med = ((double)v[samples / 2] - clock_overhead) / BATCH;
out:
	free(v);
	return med;
}

static void calibrate(void)
{
	enum { N = 100000 };
	uint32_t *v = malloc(N * sizeof(*v));

	if (!v)
		exit(1);
	for (unsigned i = 0; i < N; i++) {
		uint64_t t0 = now_ns();

		__asm__ volatile("" ::: "memory");
		v[i] = (uint32_t)(now_ns() - t0);
	}
	qsort(v, N, sizeof(*v), cmp_u32);
	clock_overhead = v[N / 2];
	free(v);
}

/* ---- the other allocators ---- */

static struct bench_malloc others[3];
static unsigned nothers;

static void load_others(void)
{
	static const enum bench_malloc_kind kinds[] = { BENCH_GLIBC, BENCH_JEMALLOC, BENCH_MIMALLOC };

	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *why;

		if (bench_malloc_load(kinds[i], &others[nothers], &why) == 0)
			nothers++;
		else
			fprintf(stderr, "bench_alloc: not loaded: %s\n", why);
	}
}

/* ---- rtmem regions ---- */

enum rkind { R_SLAB64, R_SLABRAND, R_BUDDY, R_TC64, R_TCRAND, NRKIND };
#define IS_TC(k) ((k) == R_TC64 || (k) == R_TCRAND)
#define TC_DEPTH 4u /* the daemon's default thread_cache */

struct bregion {
	struct rg_region *r;
	void *mem;
	size_t size;
	uint64_t bytes;
	uint32_t min_order;
	struct rg_slab_cache tc[NCLS]; /* this thread's cache (R_TC*) */
};

/* Slab: nine classes 16..4096 B with equal bytes each; buddy: one area. */
static int bregion_make(struct bregion *b, bool buddy, uint64_t bytes, uint32_t cache)
{
	struct rg_pool_desc d;
	struct rg_footprint fp;
	int rc;

	memset(&d, 0, sizeof(d));
	d.nslots = 4;
	d.policy = RG_POLICY_NEXT_FIT;
	d.cache = cache;
	if (!buddy) {
		d.nclasses = NCLS;
		for (unsigned c = 0; c < NCLS; c++)
			d.classes[c] = (struct rg_slab_desc){ .size = 16u << c,
								 .count = (uint32_t)(bytes / NCLS / (16u << c)) };
	} else {
		/* 16 B min-blocks cost 16 B of metadata each: a 1 GiB area uses 1 KiB ones. */
		d.buddy = (struct rg_buddy_desc){ .size = bytes, .min_order = bytes >= GIB ? 10 : 4,
						     .max_order = bytes >= GIB ? 30 : 20 };
	}
	rc = rg_region_layout(&d, &fp);
	if (rc < 0)
		return rc;
	b->mem = mmap(NULL, fp.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->mem == MAP_FAILED)
		return -errno;
	b->size = fp.total;
	b->bytes = bytes;
	b->min_order = d.buddy.min_order;
	rc = rg_region_format(b->mem, fp.total, &d);
	if (rc == 0)
		rc = rg_region_attach(b->mem, fp.total, &b->r);
	if (rc == 0)
		rg_slab_cache_init(b->r, b->tc);
	return rc;
}

static void bregion_drop(struct bregion *b)
{
	rg_region_detach(b->r);
	munmap(b->mem, b->size);
}

/* Live blocks, for filling and random-victim frees. */
struct live {
	void **p;
	size_t n, cap;
};

static int live_push(struct live *l, void *p)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		void **np = realloc(l->p, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		l->p = np;
		l->cap = cap;
	}
	l->p[l->n++] = p;
	return 0;
}

static const uint64_t me = ((uint64_t)1 << 32) | (1u << 16); /* rg_owner(1, 1) */

/*
 * One rtmem allocation of pattern @k. Timed rows run what librtmem runs (the
 * cache paths inline); counted calls (@exported) go through the exported
 * functions, which icount can arm. Return: 0 or -errno.
 */
static inline int r_alloc_x(struct bregion *b, enum rkind k, size_t size, void **p, bool exported)
{
	uint32_t cls;
	int rc;

	if (k == R_BUDDY)
		return rg_buddy_alloc(b->r, size, me, 0, p);
	cls = (uint32_t)rg_class_for(b->r, size, RG_POLICY_NEXT_FIT);
	if (IS_TC(k)) { /* as librtmem's rtmem_alloc() */
		rc = exported ? rg_slab_cache_alloc(b->r, b->tc, cls, me, p) : rg_cache_alloc_valid(b->r, b->tc, cls, me, p);
		if (rc != -EAGAIN)
			return rc;
	}
	return rg_slab_alloc(b->r, cls, me, 0, p);
}

static inline int r_free_x(struct bregion *b, enum rkind k, void *p, bool exported)
{
	if (IS_TC(k)) {
		long n = exported ? rg_slab_cache_free(b->r, b->tc, p, me) : rg_cache_free(b->r, b->tc, p, me);

		return n < 0 ? (int)n : 0;
	}
	return k == R_BUDDY ? rg_buddy_free(b->r, p, me) : rg_slab_free(b->r, p, me);
}

static inline int r_alloc(struct bregion *b, enum rkind k, size_t size, void **p)
{
	return r_alloc_x(b, k, size, p, false);
}

static inline int r_free(struct bregion *b, enum rkind k, void *p)
{
	return r_free_x(b, k, p, false);
}

static enum pattern kind_pat(enum rkind k)
{
	return k == R_SLAB64 || k == R_TC64 ? P_FIXED : k == R_SLABRAND || k == R_TCRAND ? P_RANDOM : P_POW2;
}

/* Fill to @pct % of the bytes (slab: of each class the pattern uses; one block per class stays free).
 * @l: live blocks per class (buddy: l[0]). */
static int fill_to(struct bregion *b, enum rkind k, unsigned pct, struct live *l)
{
	void *p;

	if (k == R_BUDDY) {
		uint64_t goal = b->bytes / 100 * pct, used = 0;

		for (size_t i = 0; i < l->n; i++)
			used += rg_region_block_size(b->r, l->p[i]);

		while (used + 4096 <= goal && rg_buddy_alloc(b->r, pat_size(P_POW2), me, 0, &p) == 0) {
			used += rg_region_block_size(b->r, p);
			if (live_push(l, p) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	for (uint32_t c = 0; c < NCLS; c++) {
		uint32_t size = rg_slab_class_size(b->r, c), count = (uint32_t)(b->bytes / NCLS / size);
		uint64_t goal = (uint64_t)count * pct / 100;

		if ((k == R_SLAB64 || k == R_TC64) && size != 64)
			continue;
		if (goal >= count)
			goal = count - 1;
		while (l[c].n < goal) {
			if (rg_slab_alloc(b->r, c, me, 0, &p) < 0 || live_push(&l[c], p) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Pairs on a region: alloc, then free a random live block (the new one if
 * @lifo or none is live) so the fill level stays. @lat: time each pair; else
 * count with icount under tags @tag, @tag + 1.
 */
static int r_pairs(struct bregion *b, enum rkind k, struct live *l, unsigned n, bool lifo, uint32_t *lat,
		   unsigned tag)
{
	enum pattern pt = kind_pat(k);
	const void *fa = k == R_BUDDY ? (const void *)rg_buddy_alloc : (const void *)rg_slab_alloc;
	const void *ff = k == R_BUDDY ? (const void *)rg_buddy_free
			 : IS_TC(k)   ? (const void *)rg_slab_cache_free
				      : (const void *)rg_slab_free;

	for (unsigned i = 0; i < n; i++) {
		size_t size = pat_size(pt), v;
		int cls = k == R_BUDDY ? 0 : rg_class_for(b->r, size, RG_POLICY_NEXT_FIT);
		struct live *lc = &l[cls < 0 ? 0 : cls];
		void *p, *victim;
		uint64_t t0 = 0;
		int rc;

		v = lifo || !lc->n ? SIZE_MAX : (size_t)(rnd() % lc->n);
		if (!lat) {
			icount_arm(tag, IS_TC(k) && b->tc[cls].n ? (const void *)rg_slab_cache_alloc : fa);
			rc = r_alloc_x(b, k, size, &p, true);
		} else {
			t0 = now_ns();
			rc = r_alloc(b, k, size, &p);
		}
		if (rc < 0) {
			if (rc == -ENOMEM && k == R_BUDDY) { /* a full buddy area's answer, timed too */
				if (lat)
					lat[i] = (uint32_t)(now_ns() - t0);
				continue;
			}
			return rc;
		}
		victim = p;
		if (v != SIZE_MAX) {
			victim = lc->p[v];
			lc->p[v] = p;
		}
		if (!lat)
			icount_arm(tag + 1, ff);
		rc = r_free_x(b, k, victim, !lat);
		if (lat)
			lat[i] = (uint32_t)(now_ns() - t0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* malloc-shaped wrappers for batched(): the region and kind of the row being measured */
static struct bregion *wb;
static enum rkind wk;

static __attribute__((noinline)) void *w_alloc_other(size_t size)
{
	void *p;

	return r_alloc(wb, wk, size, &p) == 0 ? p : NULL;
}

/* The cached allocation needs no frame: the adapter to malloc's shape should
 * not cost rtmem what malloc itself does not pay. */
static __attribute__((noinline)) void *w_alloc(size_t size)
{
	if (IS_TC(wk) && size <= RG_SIZECLS_MAX) {
		struct bregion *b = wb;
		uint32_t c = b->r->sizecls[(size + 7) / 8];
		void *p = NULL;

		if (c != RG_SIZECLS_NONE && rg_cache_alloc_valid(b->r, b->tc, c, me, &p) == 0)
			return p;
	}
	return w_alloc_other(size);
}

static __attribute__((noinline)) void w_free(void *p)
{
	r_free(wb, wk, p);
}

/* ---- rows ---- */

struct rjob {
	enum rkind k;
	uint64_t bytes;
	unsigned nfill;
	const unsigned *fills;
	bool lifo;
	unsigned calls;
};

/* In the icount child: the same scenario, counted; tags 2 * fill index + op. */
static int r_count_driver(void *arg)
{
	const struct rjob *j = arg;
	struct bregion b;
	struct live l[NCLS] = { 0 };
	void *p;
	int rc = bregion_make(&b, j->k == R_BUDDY, j->bytes, IS_TC(j->k) ? TC_DEPTH : 0);

	if (rc < 0)
		return rc;
	/* Warm-up: lazy PLT binding of pthread_mutex_lock is not the allocator. */
	if (r_alloc(&b, j->k, 64, &p) == 0)
		r_free(&b, j->k, p);
	for (unsigned f = 0; f < j->nfill && rc == 0; f++) {
		rc = fill_to(&b, j->k, j->fills[f], l);
		if (rc == 0)
			rc = r_pairs(&b, j->k, l, j->calls, j->lifo, NULL, 2 * f);
	}
	return rc;
}

/* Time and count the rows of @j, one per fill level, into @rows. */
static int r_rows(const struct rjob *j, struct row *rows, const char *label)
{
	struct icount_stats ic[6];
	uint32_t *lat = malloc(opt.iterations * sizeof(*lat));
	struct bregion b;
	struct live l[NCLS] = { 0 };
	int rc = lat ? bregion_make(&b, j->k == R_BUDDY, j->bytes, IS_TC(j->k) ? TC_DEPTH : 0) : -ENOMEM;

	if (rc < 0)
		return rc;
	for (unsigned f = 0; f < j->nfill; f++) {
		struct row *row = &rows[f];

		snprintf(row->name, sizeof(row->name), "%s", label);
		rc = fill_to(&b, j->k, j->fills[f], l);
		if (rc == 0)
			rc = r_pairs(&b, j->k, l, opt.iterations / 10, j->lifo, lat, 0); /* warm-up */
		if (rc == 0)
			rc = r_pairs(&b, j->k, l, opt.iterations, j->lifo, lat, 0);
		if (rc < 0)
			break;
		summarize(lat, opt.iterations, row);
		row->bmed = -1;
		if (j->lifo) {
			wb = &b;
			wk = j->k;
			row->bmed = batched(w_alloc, w_free, kind_pat(j->k), opt.iterations / BATCH);
		}
	}
	bregion_drop(&b);
	for (unsigned c = 0; c < NCLS; c++)
		free(l[c].p);
	free(lat);
	if (rc < 0)
		return rc;
	if (opt.icount) {
		struct rjob cj = *j;
		int icrc = icount_run(r_count_driver, &cj, ic, 2 * j->nfill);

		for (unsigned f = 0; f < j->nfill; f++) {
			rows[f].icrc = icrc;
			rows[f].ic[0] = ic[2 * f];
			rows[f].ic[1] = ic[2 * f + 1];
		}
		if (icrc < 0)
			fprintf(stderr, "bench_alloc: icount: %s\n", icount_why());
	} else {
		for (unsigned f = 0; f < j->nfill; f++)
			rows[f].icrc = -ECANCELED;
	}
	return 0;
}

struct mjob {
	const struct bench_malloc *m;
	enum pattern pt;
	unsigned calls;
};

static int m_count_driver(void *arg)
{
	const struct mjob *j = arg;

	for (unsigned i = 0; i < 1000; i++) /* warm-up: arenas, TLS, PLT */
		j->m->free(j->m->alloc(pat_size(j->pt)));
	for (unsigned i = 0; i < j->calls; i++) {
		size_t size = pat_size(j->pt);
		void *p;

		icount_arm(0, (const void *)j->m->alloc);
		p = j->m->alloc(size);
		if (!p)
			return -ENOMEM;
		icount_arm(1, (const void *)j->m->free);
		j->m->free(p);
	}
	return 0;
}

static int m_row(const struct bench_malloc *m, enum pattern pt, struct row *row)
{
	uint32_t *lat = malloc(opt.iterations * sizeof(*lat));
	struct mjob j = { m, pt, opt.icalls };

	if (!lat)
		return -ENOMEM;
	snprintf(row->name, sizeof(row->name), "%s %s", m->name, pat_name[pt]);
	for (unsigned pass = 0; pass < 2; pass++) { /* warm-up, then measure */
		for (unsigned i = 0; i < opt.iterations; i++) {
			size_t size = pat_size(pt);
			uint64_t t0 = now_ns();
			void *p = m->alloc(size);

			if (!p) {
				free(lat);
				return -ENOMEM;
			}
			m->free(p);
			lat[i] = (uint32_t)(now_ns() - t0);
		}
	}
	summarize(lat, opt.iterations, row);
	free(lat);
	row->bmed = batched(m->alloc, m->free, pt, opt.iterations / BATCH);
	row->icrc = opt.icount ? icount_run(m_count_driver, &j, row->ic, 2) : -ECANCELED;
	if (row->icrc < 0 && opt.icount)
		fprintf(stderr, "bench_alloc: icount: %s\n", icount_why());
	return 0;
}

/*
 * Head to head: the rows the targets compare, measured interleaved. Each of
 * ROUNDS rounds runs a slice of batches of every contender in turn, so a
 * noisy second of this shared machine falls on all of them alike; the median
 * is over all of a contender's batches. (The per-row "batched" column above
 * runs each row's batches in one stretch, seconds apart from the others'.)
 */
#define ROUNDS 20u

struct h2h {
	const char *name;
	void *(*alloc)(size_t);
	void (*release)(void *);
	enum pattern pt;
	struct bregion *b; /* rtmem: through w_alloc()/w_free() */
	enum rkind k;
	uint32_t *v;
	unsigned n;
	double med;
};

static int head_to_head(struct h2h *c, unsigned nc, unsigned samples)
{
	unsigned slice = samples / ROUNDS ? samples / ROUNDS : 1;
	int rc = 0;

	for (unsigned i = 0; i < nc; i++) {
		c[i].v = malloc(slice * ROUNDS * sizeof(*c[i].v));
		c[i].n = 0;
		if (!c[i].v)
			rc = -ENOMEM;
	}
	for (unsigned r = 0; r < ROUNDS && rc == 0; r++)
		for (unsigned i = 0; i < nc && rc == 0; i++) {
			if (c[i].b) {
				wb = c[i].b;
				wk = c[i].k;
			}
			for (unsigned s = 0; s < slice && rc == 0; s++) {
				uint64_t t0 = now_ns();

				for (unsigned j = 0; j < BATCH; j++) {
					void *p = c[i].alloc(pat_size(c[i].pt));

					if (!p) {
						rc = -ENOMEM;
						break;
					}
					c[i].release(p);
				}
				c[i].v[c[i].n++] = (uint32_t)(now_ns() - t0);
			}
		}
	for (unsigned i = 0; i < nc; i++) {
		if (rc == 0) {
			qsort(c[i].v, c[i].n, sizeof(*c[i].v), cmp_u32);
			c[i].med = ((double)c[i].v[c[i].n / 2] - clock_overhead) / BATCH;
		}
		free(c[i].v);
	}
	return rc;
}

/* ---- report ---- */

static void print_head(const char *title)
{
	printf("\n%s\n", title);
	printf("%-34s %8s %8s %8s %8s %9s | %11s %11s | %11s %11s\n", "", "median", "median", "p99", "p99.99", "max",
	       "alloc instr", "", "free instr", "");
	printf("%-34s %8s %8s %8s %8s %9s | %11s %11s | %11s %11s\n", "row (alloc+free pair, ns)", "batched", "single",
	       "ns", "ns", "ns", "mean", "longest", "mean", "longest");
}

static void print_row(const struct row *r)
{
	if (r->bmed >= 0)
		printf("%-34s %8.1f", r->name, r->bmed);
	else
		printf("%-34s %8s", r->name, "-");
	printf(" %8.0f %8.0f %8.0f %9.0f |", r->med, r->p99, r->p9999, r->max);
	if (r->icrc == 0)
		printf(" %11.1f %11llu | %11.1f %11llu\n", icount_mean(&r->ic[0]), (unsigned long long)r->ic[0].max,
		       icount_mean(&r->ic[1]), (unsigned long long)r->ic[1].max);
	else
		printf(" %11s %11s | %11s %11s\n", "-", "-", "-", "-");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_alloc [--quick] [--iterations N] [--icount-calls N] [--no-icount] [--seed N]\n"
		   "  --iterations N    timed alloc+free pairs per row (default 200000; --quick 20000)\n"
		   "  --icount-calls N  calls single-stepped per row (default 100, buddy 30; --quick 20/10)\n"
		   "  --no-icount       skip the instruction counts (no ptrace needed)\n");
}

static void target(const char *what, bool ok, const char *detail)
{
	printf("  %-4s %-58s %s\n", ok ? "PASS" : "MISS", what, detail);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },        { "iterations", required_argument, NULL, 'n' },
		{ "icount-calls", required_argument, NULL, 'c' }, { "no-icount", no_argument, NULL, 'x' },
		{ "seed", required_argument, NULL, 's' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned fill0[] = { 0 }, fills[] = { 0, 50, 99 };
	static const char *const rname[NRKIND] = { "rtmem slab 64 B", "rtmem slab 16..4096 B", "rtmem buddy 2^4..2^12 B",
						    "rtmem slab+cache 64 B", "rtmem slab+cache 16..4096 B" };
	static const enum rkind main_kinds[] = { R_TC64, R_TCRAND, R_SLAB64, R_SLABRAND, R_BUDDY };
	struct row main_rows[5 + 3 * NPAT], fill_rows[2][3][3];
	unsigned nmain = 0, nh2h = 0;
	struct h2h h2h[2 + 2 * 3];
	int h2h_rc;
	char detail[160];
	int o, rc;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'q':
			opt.iterations = 20000;
			opt.icalls = 20;
			opt.icalls_buddy = 10;
			break;
		case 'n':
			opt.iterations = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			opt.icalls = opt.icalls_buddy = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'x':
			opt.icount = false;
			break;
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (opt.iterations < 100) {
		usage(stderr);
		return 2;
	}
	if (opt.seed)
		rnd_state = opt.seed;
	bench_reexec_for_static_tls(argv);
	calibrate();
	load_others();
	printf("bench_alloc: %u timed pairs per row, %u/%u counted calls per row (slab, malloc/buddy), clock overhead %.0f ns subtracted\n",
	       opt.iterations, opt.icalls, opt.icalls_buddy, clock_overhead);

	/* Main table: LIFO pairs, empty 1 MiB pools, then the others. */
	for (unsigned i = 0; i < 5; i++) {
		enum rkind k = main_kinds[i];
		struct rjob j = { k, MIB, 1, fill0, true, k == R_BUDDY ? opt.icalls_buddy : opt.icalls };

		rc = r_rows(&j, &main_rows[nmain++], rname[k]);
		if (rc < 0) {
			fprintf(stderr, "bench_alloc: %s: %s\n", rname[k], strerror(-rc));
			return 1;
		}
	}
	for (unsigned m = 0; m < nothers; m++)
		for (unsigned p = 0; p < NPAT; p++)
			if (m_row(&others[m], (enum pattern)p, &main_rows[nmain++]) < 0)
				return 1;
	print_head("Allocators side by side (alloc then free of the same block; rtmem: empty 1 MiB pool, slab class by "
		   "rg_class_for inside the timed pair; slab+cache: a thread cache of 4 blocks per class, as "
		   "librtmem uses; batched: median over batches of 100 pairs, all through malloc-shaped function pointers; "
		   "single: each pair timed alone)");
	for (unsigned i = 0; i < nmain; i++)
		print_row(&main_rows[i]);

	/* Flatness: fill levels and region sizes, random-victim pairs. */
	for (unsigned s = 0; s < 2; s++)
		for (unsigned k = 0; k < 3; k++) {
			uint64_t bytes = s ? GIB : MIB;
			struct rjob j = { (enum rkind)k, bytes, 3, fills, false,
					  k == R_BUDDY ? opt.icalls_buddy : opt.icalls };
			char label[48];

			rc = r_rows(&j, fill_rows[s][k], rname[k]);
			if (rc < 0) {
				fprintf(stderr, "bench_alloc: %s %s: %s\n", rname[k], s ? "1 GiB" : "1 MiB", strerror(-rc));
				return 1;
			}
			for (unsigned f = 0; f < 3; f++) {
				snprintf(label, sizeof(label), "%s, %s %2u%%", rname[k] + 6, s ? "1G" : "1M", fills[f]);
				snprintf(fill_rows[s][k][f].name, sizeof(fill_rows[s][k][f].name), "%s", label);
			}
		}
	print_head("rtmem by fill level and region size (alloc, then free a random live block; 1 GiB buddy has 1 KiB min-blocks)");
	for (unsigned k = 0; k < 3; k++)
		for (unsigned s = 0; s < 2; s++)
			for (unsigned f = 0; f < 3; f++)
				print_row(&fill_rows[s][k][f]);

	/* Head to head: slab+cache against jemalloc and mimalloc, interleaved. */
	{
		static const enum pattern pts[] = { P_FIXED, P_RANDOM };
		struct bregion hb;

		h2h_rc = bregion_make(&hb, false, MIB, TC_DEPTH);
		for (unsigned p = 0; p < 2 && h2h_rc == 0; p++)
			h2h[nh2h++] = (struct h2h){ .name = "rtmem slab+cache", .alloc = w_alloc,
						    .release = w_free, .pt = pts[p], .b = &hb,
						    .k = p ? R_TCRAND : R_TC64 };
		for (unsigned m = 0; m < nothers && h2h_rc == 0; m++)
			if (strcmp(others[m].name, "glibc malloc") != 0)
				for (unsigned p = 0; p < 2; p++)
					h2h[nh2h++] = (struct h2h){ .name = others[m].name, .alloc = others[m].alloc,
								    .release = others[m].free, .pt = pts[p] };
		if (h2h_rc == 0)
			h2h_rc = head_to_head(h2h, nh2h, opt.iterations / BATCH);
		if (h2h_rc == 0) {
			printf("\nHead to head (the rows above that the speed targets compare, run interleaved: %u rounds,"
			       " each a slice of every contender's batches of %u pairs; median ns per pair)\n",
			       ROUNDS, BATCH);
			for (unsigned i = 0; i < nh2h; i++)
				printf("  %-20s %-12s %8.1f\n", h2h[i].name, pat_name[h2h[i].pt], h2h[i].med);
		}
		if (nh2h)
			bregion_drop(&hb);
	}

	/* Targets. */
	{
		uint64_t slab_max = 0, buddy_max = 0;
		bool counted = true;

		for (unsigned s = 0; s < 2; s++)
			for (unsigned k = 0; k < 3; k++)
				for (unsigned f = 0; f < 3; f++) {
					const struct row *r = &fill_rows[s][k][f];
					uint64_t m = r->ic[0].max > r->ic[1].max ? r->ic[0].max : r->ic[1].max;

					counted = counted && r->icrc == 0;
					if (k == R_BUDDY && m > buddy_max)
						buddy_max = m;
					if (k != R_BUDDY && m > slab_max)
						slab_max = m;
				}
		for (unsigned k = 2; k < 4; k++) { /* the slab rows without a cache: the allocator's own calls */
			const struct row *r = &main_rows[k];

			counted = counted && r->icrc == 0;
			slab_max = r->ic[0].max > slab_max ? r->ic[0].max : slab_max;
			slab_max = r->ic[1].max > slab_max ? r->ic[1].max : slab_max;
		}
		printf("\nTargets (docs/architecture.md, \"Targets\")\n");
		if (counted) {
			snprintf(detail, sizeof(detail), "longest %llu", (unsigned long long)slab_max);
			target("slab longest path <= 40 instructions per alloc or free", slab_max <= 40, detail);
			snprintf(detail, sizeof(detail), "longest %llu", (unsigned long long)buddy_max);
			target("buddy longest path <= 250 instructions per alloc or free", buddy_max <= 250, detail);
		} else {
			printf("  ---- instruction targets not checked: no counts (%s)\n",
			       opt.icount ? icount_why() : "--no-icount");
		}
		if (counted) {
			uint64_t tc_max = 0;

			for (unsigned k = 0; k < 2; k++) /* the slab+cache rows: what librtmem runs */
				for (unsigned op = 0; op < 2; op++)
					tc_max = main_rows[k].ic[op].max > tc_max ? main_rows[k].ic[op].max : tc_max;
			snprintf(detail, sizeof(detail),
				 "longest %llu (another class's block, or a full cache, costs more: test_icount)",
				 (unsigned long long)tc_max);
			target("slab+cache, alloc then free of one block, <= 40", tc_max <= 40, detail);
		}
		if (h2h_rc < 0) {
			printf("  ---- speed targets not checked: head to head failed (%s)\n", strerror(-h2h_rc));
		} else {
			for (unsigned i = 2; i < nh2h; i++) {
				const struct h2h *mine = &h2h[i % 2];
				char what[80];

				snprintf(detail, sizeof(detail), "%s %.1f ns vs %s %.1f ns (head to head)", mine->name,
					 mine->med, h2h[i].name, h2h[i].med);
				snprintf(what, sizeof(what), "slab median pair faster than %s (%s)", h2h[i].name,
					 pat_name[h2h[i].pt]);
				target(what, mine->med < h2h[i].med, detail);
			}
		}
	}
	return 0;
}
