/* SPDX-License-Identifier: MIT */
/*
 * bench_memtest.c - what the memory tester costs.
 *
 * 1. Throughput of every built-in test over a buffer (default 64 MiB), in
 *    64 KiB slices as the daemon's tester runs them, with and without the
 *    cache maintenance to the point of coherency (march_opts.no_flush), next
 *    to memset and memcpy bandwidth measured in the same run. "touched" counts
 *    every read and write of 8 bytes (cost x n x 8), the unit of the tester's
 *    budget; "tested" is the buffer size over the time.
 * 2. Allocation latency seen by a client thread on CPU 0 (slab and buddy,
 *    median, p99.99, max over many alloc calls timed with CLOCK_MONOTONIC),
 *    with the tester off and with the tester at an unlimited budget on CPU 1,
 *    both in one process over one region in anonymous memory.
 *
 * Usage: bench_memtest [MiB] [allocs]     (defaults 64 and 1000000)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cacheflush.h"
#include "memtest.h"

#define SLICE (64u << 10)

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(p, 1, len);
	return p;
}

static void bandwidth(uint8_t *a, uint8_t *b, size_t len, double *ret_set, double *ret_cpy)
{
	double t0, best_set = 1e9, best_cpy = 1e9;

	for (int i = 0; i < 3; i++) {
		t0 = now_s();
		memset(a, i, len);
		__asm__ volatile("" : : "r"(a) : "memory");
		best_set = now_s() - t0 < best_set ? now_s() - t0 : best_set;
		t0 = now_s();
		memcpy(b, a, len);
		__asm__ volatile("" : : "r"(b) : "memory");
		best_cpy = now_s() - t0 < best_cpy ? now_s() - t0 : best_cpy;
	}
	*ret_set = (double)len / best_set / 1e6;
	*ret_cpy = (double)len / best_cpy / 1e6; /* bytes copied; 2x that crosses the bus */
}

/* One test over the buffer in overlapping 64 KiB slices. Return: seconds. */
static double run_algo(const struct march_prog *p, uint64_t *buf, size_t n, bool no_flush)
{
	struct march_bg bg = { 0, MARCH_BG_SOLID };
	struct march_opts o = { .bgs = &bg, .nbg = 1, .no_flush = no_flush };
	struct march_mem m = { .words = buf, .n = n };
	struct march_fault f;
	size_t sw = SLICE / 8;
	double t0 = now_s();

	for (size_t s = 0; s < n; s += sw) {
		size_t e = n - s > sw ? s + sw : n;

		if (march_run(p, &m, s > 8 ? s - 8 : s, e, &o, &f) != 0) {
			fprintf(stderr, "march_run failed at slice %zu\n", s);
			exit(1);
		}
	}
	return now_s() - t0;
}

static void throughput(size_t mib)
{
	size_t len = mib << 20, n = len / 8;
	uint8_t *a = map(len), *b = map(len);
	double set, cpy;

	bandwidth(a, b, len, &set, &cpy);
	printf("memset %.0f MB/s, memcpy %.0f MB/s (bytes copied), buffer %zu MiB, slices of %u KiB, "
	       "one background, cache flush %s\n\n",
	       set, cpy, mib, SLICE >> 10, cacheflush_supported() ? "to PoC" : "not supported here");
	printf("| algorithm | cost | touched MB/s, flush | tested MB/s, flush | touched MB/s, no flush "
	       "| tested MB/s, no flush | flush slowdown | touched vs memset |\n");
	printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < march_builtin_count(); i++) {
		const struct march_builtin *bi = march_builtin_get(i);
		struct march_prog p;
		double tf, tn, ops;

		if (strstr(bi->name, "fade")) /* delays: not a throughput figure */
			continue;
		march_builtin_compile(bi->name, &p);
		ops = (double)march_ops_per_word(&p, 0) * (double)len;
		tf = run_algo(&p, (uint64_t *)(void *)a, n, false);
		tn = run_algo(&p, (uint64_t *)(void *)a, n, true);
		printf("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2f |\n", bi->name, bi->cost,
		       ops / tf / 1e6, (double)len / tf / 1e6, ops / tn / 1e6, (double)len / tn / 1e6, tf / tn,
		       ops / tf / 1e6 / set);
	}
	munmap(a, len);
	munmap(b, len);
}

/* ---------------------------------------------------- allocation latency */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET((size_t)cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* Time @n allocations (each followed by its free); print one row. */
static void latency_row(struct rg_region *r, bool buddy, long n, uint64_t *lat, const char *tester)
{
	uint64_t me = rg_owner(1, 1);
	long fails = 0;

	for (long i = 0; i < n; i++) {
		void *p;
		uint64_t t0 = now_ns();
		int rc = buddy ? rg_buddy_alloc(r, 4096, me, 0, &p) : rg_slab_alloc(r, 0, me, 0, &p);
		uint64_t t1 = now_ns();

		lat[i] = t1 - t0;
		if (rc) {
			fails++;
			continue;
		}
		((volatile uint8_t *)p)[0] = 1;
		rg_region_free(r, p, me, NULL);
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("| %s | %s | %ld | %llu | %llu | %llu | %ld |\n", buddy ? "buddy 4 KiB" : "slab 256 B", tester, n,
	       (unsigned long long)lat[n / 2], (unsigned long long)lat[(size_t)((double)n * 0.9999)],
	       (unsigned long long)lat[n - 1], fails);
}

static void latency(long n)
{
	struct rg_pool_desc d = { .nclasses = 1, .nslots = 4, .policy = RG_POLICY_NEXT_FIT };
	struct rg_footprint fp;
	struct rg_region *r;
	struct memtest_config c;
	struct memtest_pool mp = { .name = "bench" };
	struct memtest_status st;
	struct memtest *mt;
	uint64_t *lat = malloc((size_t)n * sizeof(*lat));
	double t0;
	void *mem;

	d.classes[0] = (struct rg_slab_desc){ .size = 256, .count = 65536 };
	d.buddy = (struct rg_buddy_desc){ .size = 32u << 20, .min_order = 6, .max_order = 20 };
	if (!lat || rg_region_layout(&d, &fp) < 0)
		exit(1);
	mem = map(fp.total);
	if (rg_region_format(mem, fp.total, &d) < 0 || rg_region_attach(mem, fp.total, &r) < 0)
		exit(1);
	mp.region = r;
	mp.base = mem;
	mp.size = fp.total;
	memtest_config_default(&c);
	c.bandwidth = UINT64_MAX / 4; /* full budget: as fast as it runs */
	c.period_ms = 0;
	c.policy = SCHED_OTHER; /* SCHED_IDLE would yield CPU 1 to any other load of a shared machine */
	c.cpus_set = true;
	CPU_ZERO(&c.cpus);
	CPU_SET(1, &c.cpus);
	if (memtest_create(&c, &mp, 1, NULL, NULL, NULL, &mt) < 0)
		exit(1);
	pin(0);
	printf("\nAllocation latency of a client thread on CPU 0 (ns, clock_gettime around each alloc; "
	       "pool: 65536 x 256 B slab + 32 MiB buddy)\n\n");
	printf("| allocation | tester | allocs | median | p99.99 | max | failed |\n|---|---|---:|---:|---:|---:|---:|\n");
	latency_row(r, false, n, lat, "off");
	latency_row(r, true, n, lat, "off");
	t0 = now_s();
	memtest_start(mt);
	latency_row(r, false, n, lat, "full budget, CPU 1");
	latency_row(r, true, n, lat, "full budget, CPU 1");
	memtest_stop(mt);
	memtest_status(mt, &st);
	printf("\nTester meanwhile (March C-, 7 backgrounds): %.1f MB/s touched, %.1f MB/s of blocks tested, "
	       "%llu blocks, %llu busy, %llu spared\n",
	       (double)st.bytes_touched / (now_s() - t0) / 1e6, (double)st.bytes_tested / (now_s() - t0) / 1e6,
	       (unsigned long long)st.blocks_tested, (unsigned long long)st.blocks_busy,
	       (unsigned long long)st.blocks_spared);
	memtest_destroy(mt);
	rg_region_detach(r);
	munmap(mem, fp.total);
	free(lat);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	long n = argc > 2 ? strtol(argv[2], NULL, 0) : 1000000;

	if (!mib || n < 2) {
		fprintf(stderr, "usage: %s [MiB] [allocs]\n", argv[0]);
		return 2;
	}
	throughput(mib);
	latency(n);
	return 0;
}
