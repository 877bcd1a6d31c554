/* SPDX-License-Identifier: MIT */
/*
 * test_icount.c - the allocator's instruction bounds, counted exactly by
 * single-stepping (bench/icount.c), and icount's own exactness.
 *
 * Bounds. DESIGN.md ("Sizes and targets") asks for at most 40 instructions
 * on every path of rtmem_slab_alloc() and rtmem_slab_free(), flat from an
 * empty to a 99 % full pool and from 1 MiB to 1 GiB, and at most 250 for the
 * buddy calls. What is asserted here is what the code meets, so that a
 * regression fails; where it falls short of the target it says so:
 *  - slab alloc and free: at most 40 on every path, an allocation that sets
 *    a new high-water mark (counted apart, T_ALLOC_HWM) included; but an
 *    allocation from a class with a reserve by a caller without the grant
 *    checks the reserve first: SLAB_RESERVE_BOUND (80; target missed there);
 *  - flat: 99 % vs 0 % full and 1 GiB vs 1 MiB within SLAB_FLAT;
 *  - thread cache (rtmem_slab_cache_*, the client's layer above the two):
 *    a cached allocation at most CACHE_ALLOC_BOUND (30), a free into the
 *    cache at most CACHE_FREE_BOUND (47); a free that finds the cache full
 *    goes on to the shared list and takes CACHE_FULL_BOUND (58). The cache
 *    keeps each block's pointer beside its index, so the block it hands out
 *    does not wait on the index multiply of the free that cached it (a pair
 *    in a tight loop: 4.1 instead of 6.1 ns); the free pays for it with 6
 *    instructions more than a cache of indices: over 40, target missed there;
 *  - buddy, uncontended: bounded by the number of orders, BUDDY_BASE plus
 *    BUDDY_SPLIT per split (alloc) or BUDDY_MERGE per merge (free). Measured:
 *    about 140 with no split or merge (lock + unlock through the lock's fast
 *    path: about 30 of it; glibc's took 160), 10-11 per split, 45 per merge
 *    (each unlinks the buddy from its list, bounds-checking both links).
 *    The 250-instruction target is met by allocations of up to 9 splits and
 *    frees of up to 2 merges, and missed beyond: 16 splits are about 315,
 *    16 merges about 850.
 * Instruction counts are deterministic, so this is a test and not a
 * benchmark; it applies to optimized builds only and skips (77) in -O0 and
 * sanitizer builds, under qemu-user, and where ptrace is denied.
 *
 * Each scenario runs in the child of icount_run(): format a fresh region in
 * anonymous MAP_NORESERVE memory (format touches only metadata; the data
 * pages are never touched), fill it to 0/50/99 %, then alternate a counted
 * allocation of a random class/order and a counted free of a random
 * allocated block, which keeps the fill level. Single-stepping costs 10-40 us
 * per instruction (more in a VM), hence a few hundred counted calls per
 * scenario: the paths have no data-dependent loops but the hwm update (slab)
 * and the split/merge count (buddy), and both are driven to their maximum.
 *
 * Regions (data bytes; metadata comes on top):
 *   slab:  nine classes 16, 32, ..., 4096 B with equal bytes each, 1 MiB and
 *          1 GiB (1 GiB: 14.9 M blocks, 179 MiB of metadata: 4 B link + 8 B
 *          state per block; tolerable, so the 1 GiB case keeps 16 B blocks).
 *   buddy: 1 MiB of 16 B..1 MiB blocks (orders 4..20) and 1 GiB of 1 KiB..1 GiB
 *          (orders 10..30: 16 B min-blocks would need 1 GiB of metadata, 16 B
 *          per min-block). Requests: random orders min..min+8.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "icount.h"
#include "region.h"

#define SLAB_BOUND 40u
#define SLAB_RESERVE_BOUND 80u /* a class with a reserve, caller without the grant */
#define CACHE_ALLOC_BOUND 30u
#define CACHE_FREE_BOUND 47u
#define CACHE_FULL_BOUND 58u
#define BUDDY_BASE 150u    /* lock, unlock, lookups */
#define BUDDY_SPLIT 12u    /* per split in an allocation */
#define BUDDY_MERGE 47u    /* per merge in a free */
#define SLAB_FLAT 4u /* longest slab path at 99 % vs 0 %: at most this apart */
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

enum { T_ALLOC, T_FREE, T_ALLOC_HWM, T_CALLOC, T_CFREE, T_CFREE_FULL, NTAGS };
enum kind { SLAB, BUDDY };

struct scen {
	enum kind kind;
	uint64_t bytes;  /* data bytes */
	unsigned fill;   /* percent */
	unsigned calls;  /* counted calls per operation */
	uint64_t seed;
};

static uint64_t rnd_state;

static uint64_t rnd(void) /* xorshift64* */
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

static unsigned rnd_below(uint64_t n)
{
	return (unsigned)(rnd() % n);
}

static struct rtmem_pool_desc scen_desc(const struct scen *s)
{
	struct rtmem_pool_desc d;

	memset(&d, 0, sizeof(d));
	d.nslots = 4;
	d.policy = RTMEM_POLICY_NEXT_FIT;
	if (s->kind == SLAB) {
		d.cache = 4;
		d.nclasses = 9;
		for (unsigned c = 0; c < 9; c++) {
			uint32_t size = 16u << c;

			d.classes[c] = (struct rtmem_slab_desc){ .size = size, .count = (uint32_t)(s->bytes / 9 / size) };
		}
	} else {
		d.buddy.size = s->bytes;
		d.buddy.min_order = s->bytes >= GIB ? 10 : 4;
		d.buddy.max_order = s->bytes >= GIB ? 30 : 20;
	}
	return d;
}

static struct rtmem_region *scen_map(const struct rtmem_pool_desc *d)
{
	struct rtmem_footprint fp;
	struct rtmem_region *r;
	void *mem;

	if (rtmem_region_layout(d, &fp) < 0)
		return NULL;
	mem = mmap(NULL, fp.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	if (rtmem_region_format(mem, fp.total, d) < 0 || rtmem_region_attach(mem, fp.total, &r) < 0)
		return NULL;
	return r;
}

/* Thread cache, after drive_slab(): per call and random class, either
 * allocate (from the cache if it holds a block of the class: counted; else
 * from the shared list) or free one of the up to 8 blocks we keep (to the
 * cache, counted, or to the list when the cache is full, counted apart). */
static int drive_cache(const struct scen *s, struct rtmem_region *r, const struct rtmem_pool_desc *d)
{
	const uint64_t me = rtmem_owner(1, 1);
	struct rtmem_slab_cache tc[RTMEM_MAX_CLASSES];
	void *mine[RTMEM_MAX_CLASSES][8];
	unsigned n[RTMEM_MAX_CLASSES] = { 0 };
	void *p;
	int rc;

	rtmem_slab_cache_init(r, tc);
	for (unsigned i = 0; i < s->calls; i++) {
		uint32_t c = rnd_below(d->nclasses);

		if (n[c] == 0 || (n[c] < 8 && rnd_below(2))) { /* allocate; keep up to 8 */
			if (tc[c].n) {
				icount_arm(T_CALLOC, (const void *)rtmem_slab_cache_alloc);
				rc = rtmem_slab_cache_alloc(r, tc, c, me, &p);
			} else {
				rc = rtmem_slab_alloc(r, c, me, 0, &p);
			}
			if (rc == -ENOMEM)
				continue;
			if (rc != 0)
				return rc;
			mine[c][n[c]++] = p;
		} else { /* free one of ours: to the cache, or to the list when it is full */
			unsigned v = rnd_below(n[c]);
			void *victim = mine[c][v];

			mine[c][v] = mine[c][--n[c]];
			icount_arm(tc[c].n < tc[c].cap ? T_CFREE : T_CFREE_FULL, (const void *)rtmem_slab_cache_free);
			long rb = rtmem_slab_cache_free(r, tc, victim, me);

			if (rb < 0)
				return (int)rb;
		}
	}
	return 0;
}

/* Slab: in the child. Every class filled to s->fill %, at least one block left free. */
static int drive_slab(const struct scen *s, struct rtmem_region *r, const struct rtmem_pool_desc *d)
{
	const uint64_t me = rtmem_owner(1, 1);
	char *base[RTMEM_MAX_CLASSES];
	void *p;

	for (uint32_t c = 0; c < d->nclasses; c++) {
		uint64_t n = (uint64_t)d->classes[c].count * s->fill / 100;

		if (n >= d->classes[c].count)
			n = d->classes[c].count - 1;
		base[c] = NULL;
		for (uint64_t i = 0; i < n; i++) {
			if (rtmem_slab_alloc(r, c, me, 0, &p) != 0)
				return -ENOMEM;
			if (!base[c])
				base[c] = p; /* a fresh class pops block 0 first */
		}
	}
	for (unsigned i = 0; i < s->calls; i++) {
		uint32_t c = rnd_below(d->nclasses), size = d->classes[c].size;
		void *victim;
		int rc;

		struct rtmem_region_stats rs;

		/* Will this allocation set a new high-water mark? Counted apart. */
		rtmem_region_stats(r, &rs);
		icount_arm(rs.cls[c].in_use + 1 > rs.cls[c].hwm ? T_ALLOC_HWM : T_ALLOC, (const void *)rtmem_slab_alloc);
		rc = rtmem_slab_alloc(r, c, me, 0, &p);
		if (rc != 0)
			return rc;
		/* Free a random allocated block of the class (the new one if none found). */
		victim = p;
		for (unsigned t = 0; base[c] && t < 64 && rnd_below(100) < s->fill; t++) {
			char *q = base[c] + (uint64_t)rnd_below(d->classes[c].count) * size;

			if (rtmem_region_block_size(r, q) == size) {
				victim = q;
				break;
			}
		}
		icount_arm(T_FREE, (const void *)rtmem_slab_free);
		rc = rtmem_slab_free(r, victim, me);
		if (rc != 0)
			return rc;
	}
	return drive_cache(s, r, d);
}

/* Buddy: in the child. Fill with random orders to s->fill % of the bytes. */
static int drive_buddy(const struct scen *s, struct rtmem_region *r, const struct rtmem_pool_desc *d)
{
	const uint64_t me = rtmem_owner(1, 1);
	const uint32_t lo = d->buddy.min_order, span = 9;
	uint64_t cap = (s->bytes >> lo) + 1, n = 0, used = 0, goal = s->bytes / 100 * s->fill;
	void **blk = calloc(cap, sizeof(*blk));
	size_t *len = calloc(cap, sizeof(*len));
	void *p;

	if (!blk || !len)
		return -ENOMEM;
	/* Warm up: the first call resolves pthread_mutex_lock/unlock through
	 * the PLT (lazy binding, ~1000 instructions once); do not count that. */
	if (rtmem_buddy_alloc(r, 1, me, 0, &p) != 0 || rtmem_buddy_free(r, p, me) != 0)
		return -EPROTO;
	while (used < goal) {
		uint32_t k = lo + rnd_below(span);

		while (k > lo && used + (1ull << k) > goal)
			k--;
		if (rtmem_buddy_alloc(r, 1ull << k, me, 0, &p) != 0)
			break; /* fragmented: as full as random orders get */
		blk[n] = p;
		len[n++] = 1ull << k;
		used += 1ull << k;
	}
	for (unsigned i = 0; i < s->calls; i++) {
		uint64_t size = 1ull << (lo + rnd_below(span)), v;
		int rc;

		icount_arm(T_ALLOC, (const void *)rtmem_buddy_alloc);
		rc = rtmem_buddy_alloc(r, size, me, 0, &p);
		if (rc == -ENOMEM)
			continue; /* a full pool's answer, counted too */
		if (rc != 0 || n == cap)
			return rc ? rc : -EOVERFLOW;
		blk[n] = p;
		len[n++] = size;
		v = s->fill ? rnd_below(n) : n - 1;
		icount_arm(T_FREE, (const void *)rtmem_buddy_free);
		rc = rtmem_buddy_free(r, blk[v], me);
		if (rc != 0)
			return rc;
		blk[v] = blk[--n];
		len[v] = len[n];
	}
	return 0;
}

static int drive(void *arg)
{
	const struct scen *s = arg;
	struct rtmem_pool_desc d = scen_desc(s);
	struct rtmem_region *r = scen_map(&d);

	if (!r)
		return -ENOMEM;
	rnd_state = s->seed | 1;
	return s->kind == SLAB ? drive_slab(s, r, &d) : drive_buddy(s, r, &d);
}

static uint64_t test_seed;

/* Count one scenario; fail the test on any icount or driver error. */
static void measure(enum kind kind, uint64_t bytes, unsigned fill, unsigned calls, struct icount_stats *st)
{
	struct scen s = { .kind = kind, .bytes = bytes, .fill = fill, .calls = calls, .seed = test_seed };
	int rc = icount_run(drive, &s, st, NTAGS);

	if (rc != 0)
		fail_msg("icount_run: %d (%s): %s", rc, strerror(-rc), icount_why());
	assert_true(st[T_ALLOC].calls > 0);
	assert_true(st[T_FREE].calls > 0);
	printf("# %-5s %4llu %s %2u%% full: alloc longest %3llu mean %6.1f | free longest %3llu mean %6.1f (%llu calls)"
	       " | new-hwm alloc longest %llu (%llu calls)\n",
	       kind == SLAB ? "slab" : "buddy", (unsigned long long)(bytes >= GIB ? bytes / GIB : bytes / MIB),
	       bytes >= GIB ? "GiB" : "MiB", fill, (unsigned long long)st[T_ALLOC].max, icount_mean(&st[T_ALLOC]),
	       (unsigned long long)st[T_FREE].max, icount_mean(&st[T_FREE]), (unsigned long long)st[T_ALLOC].calls,
	       (unsigned long long)st[T_ALLOC_HWM].max, (unsigned long long)st[T_ALLOC_HWM].calls);
	if (kind == SLAB)
		printf("#   thread cache: alloc longest %llu mean %.1f (%llu calls) | free to cache longest %llu mean %.1f"
		       " (%llu) | free, cache full, longest %llu mean %.1f (%llu)\n",
		       (unsigned long long)st[T_CALLOC].max, icount_mean(&st[T_CALLOC]),
		       (unsigned long long)st[T_CALLOC].calls, (unsigned long long)st[T_CFREE].max,
		       icount_mean(&st[T_CFREE]), (unsigned long long)st[T_CFREE].calls,
		       (unsigned long long)st[T_CFREE_FULL].max, icount_mean(&st[T_CFREE_FULL]),
		       (unsigned long long)st[T_CFREE_FULL].calls);
}

static void slab_bounds(uint64_t bytes)
{
	static const unsigned fills[] = { 0, 50, 99 };
	struct icount_stats st[3][NTAGS];

	for (unsigned f = 0; f < 3; f++)
		measure(SLAB, bytes, fills[f], 300, st[f]);
	for (unsigned f = 0; f < 3; f++) {
		assert_in_range(st[f][T_ALLOC].max, 1, SLAB_BOUND);
		assert_in_range(st[f][T_FREE].max, 1, SLAB_BOUND);
		assert_in_range(st[f][T_ALLOC_HWM].max, 0, SLAB_BOUND);
		assert_in_range(st[f][T_CALLOC].max, 1, CACHE_ALLOC_BOUND);
		assert_in_range(st[f][T_CFREE].max, 1, CACHE_FREE_BOUND);
		assert_in_range(st[f][T_CFREE_FULL].max, 0, CACHE_FULL_BOUND);
	}
	for (unsigned t = 0; t < T_ALLOC_HWM; t++)
		assert_in_range(st[2][t].max, st[0][t].max - SLAB_FLAT, st[0][t].max + SLAB_FLAT);
}

static void buddy_bounds(uint64_t bytes)
{
	static const unsigned fills[] = { 0, 50, 99 };
	struct icount_stats st[3][NTAGS];
	struct scen s = { .kind = BUDDY, .bytes = bytes };
	struct rtmem_pool_desc d = scen_desc(&s);
	unsigned steps = d.buddy.max_order - d.buddy.min_order; /* most splits or merges of one call */

	for (unsigned f = 0; f < 3; f++)
		measure(BUDDY, bytes, fills[f], 100, st[f]);
	for (unsigned f = 0; f < 3; f++) {
		assert_in_range(st[f][T_ALLOC].max, 1, BUDDY_BASE + BUDDY_SPLIT * steps);
		assert_in_range(st[f][T_FREE].max, 1, BUDDY_BASE + BUDDY_MERGE * steps);
	}
}

static void test_slab_bounds_1mib(void **state)
{
	(void)state;
	slab_bounds(MIB);
}

static void test_slab_bounds_1gib(void **state)
{
	(void)state;
	slab_bounds(GIB);
}

static void test_slab_longest_path_flat_from_1mib_to_1gib(void **state)
{
	struct icount_stats small[NTAGS], big[NTAGS];

	(void)state;
	measure(SLAB, MIB, 99, 200, small);
	measure(SLAB, GIB, 99, 200, big);
	for (unsigned t = 0; t < T_ALLOC_HWM; t++)
		assert_in_range(big[t].max, small[t].max - SLAB_FLAT, small[t].max + SLAB_FLAT);
}

static void test_buddy_bounds_1mib(void **state)
{
	(void)state;
	buddy_bounds(MIB);
}

static void test_buddy_bounds_1gib(void **state)
{
	(void)state;
	buddy_bounds(GIB);
}

/*
 * icount's own exactness, on functions whose count is known by construction:
 * straight code, a loop, and (arm64) an LL/SC CAS whose sequence icount must
 * run between breakpoints.
 */
void probe_straight(void); /* 4 instructions, ret included */
void probe_loop(void);     /* 1 + 2 * 5 + 1 = 12 */
__asm__(".text\n"
	".globl probe_straight\n.type probe_straight, %function\nprobe_straight:\n"
	"\tnop\n\tnop\n\tnop\n\tret\n"
#ifdef __x86_64__
	".globl probe_loop\n.type probe_loop, %function\nprobe_loop:\n"
	"\tmov $5, %ecx\n1:\tdec %ecx\n\tjnz 1b\n\tret\n"
#else
	".globl probe_loop\n.type probe_loop, %function\nprobe_loop:\n"
	"\tmov w1, #5\n1:\tsubs w1, w1, #1\n\tb.ne 1b\n\tret\n"
	/* probe_cas(x0 = word, x1 = expected, x2 = desired): success 6, failure 4 */
	".globl probe_cas\n.type probe_cas, %function\nprobe_cas:\n"
	"1:\tldaxr x3, [x0]\n\tcmp x3, x1\n\tb.ne 2f\n\tstlxr w4, x2, [x0]\n\tcbnz w4, 1b\n2:\tret\n"
#endif
);
#ifdef __aarch64__
void probe_cas(uint64_t *word, uint64_t expected, uint64_t desired);
#endif

static int drive_probes(void *arg)
{
	(void)arg;
	icount_arm(0, (const void *)probe_straight);
	probe_straight();
	icount_arm(1, (const void *)probe_loop);
	probe_loop();
#ifdef __aarch64__
	{
		uint64_t w = 7;

		icount_arm(2, (const void *)probe_cas);
		probe_cas(&w, 7, 8); /* succeeds */
		icount_arm(3, (const void *)probe_cas);
		probe_cas(&w, 7, 9); /* fails: w is 8 */
		if (w != 8)
			return -EPROTO;
	}
#endif
	return 0;
}

/*
 * A class with a reserve: a caller without RTMEM_ALLOC_RESERVE takes the slow
 * path (the reserve check, then the pop); one with it, the plain pop. In the
 * child: class 3 of the slab scenario keeps 8 of its blocks in reserve.
 */
enum { T_RSV_OTHER, T_RSV_GRANTED, NRSV };

static int drive_reserve(void *arg)
{
	const struct scen *s = arg;
	struct rtmem_pool_desc d = scen_desc(s);
	const uint64_t me = rtmem_owner(1, 1);
	struct rtmem_region *r;
	void *p;

	d.classes[3].reserve = 8;
	r = scen_map(&d);
	if (!r)
		return -ENOMEM;
	for (unsigned i = 0; i < s->calls; i++) {
		icount_arm(T_RSV_OTHER, (const void *)rtmem_slab_alloc);
		if (rtmem_slab_alloc(r, 3, me, 0, &p) != 0 || rtmem_slab_free(r, p, me) != 0)
			return -EPROTO;
		icount_arm(T_RSV_GRANTED, (const void *)rtmem_slab_alloc);
		if (rtmem_slab_alloc(r, 3, me, RTMEM_ALLOC_RESERVE, &p) != 0 || rtmem_slab_free(r, p, me) != 0)
			return -EPROTO;
	}
	return 0;
}

static void test_slab_reserve_class_paths(void **state)
{
	struct scen s = { .kind = SLAB, .bytes = MIB, .calls = 50, .seed = test_seed };
	struct icount_stats st[NRSV];
	int rc;

	(void)state;
	rc = icount_run(drive_reserve, &s, st, NRSV);
	if (rc != 0)
		fail_msg("icount_run: %d (%s): %s", rc, strerror(-rc), icount_why());
	printf("# slab class with a reserve: alloc without the grant longest %llu, with it longest %llu\n",
	       (unsigned long long)st[T_RSV_OTHER].max, (unsigned long long)st[T_RSV_GRANTED].max);
	assert_in_range(st[T_RSV_GRANTED].max, 1, SLAB_BOUND);
	assert_in_range(st[T_RSV_OTHER].max, 1, SLAB_RESERVE_BOUND);
}

static void test_icount_exact_on_known_functions(void **state)
{
	struct icount_stats st[4];
	int rc;

	(void)state;
	rc = icount_run(drive_probes, NULL, st, 4);
	if (rc != 0)
		fail_msg("icount_run: %d: %s", rc, icount_why());
	assert_int_equal(st[0].calls, 1);
	assert_int_equal(st[0].max, 4);
	assert_int_equal(st[1].max, 12);
#ifdef __aarch64__
	assert_int_equal(st[2].max, 6);
	assert_int_equal(st[3].max, 4);
#endif
}

/* Why the bounds cannot be checked here, or NULL. Context: main(), before any test. */
static const char *skip_reason(void)
{
	static char why[512];
	struct icount_stats st[4];
	int rc;

#if !defined(RTMEM_OPTIMIZED)
	return "the instruction bounds apply to optimized builds (RelWithDebInfo/Release, -O2); this build is not one";
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return "the instruction bounds apply to optimized builds; sanitizer instrumentation adds instructions";
#endif
	if (icount_emulated(why, sizeof(why)))
		return why;
	rc = icount_run(drive_probes, NULL, st, 4);
	if (rc == -ENOSYS || rc == -EPERM || rc == -EACCES) {
		snprintf(why, sizeof(why), "cannot trace a child here: %s", icount_why());
		return why;
	}
	return NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_icount_exact_on_known_functions),
		cmocka_unit_test(test_slab_bounds_1mib),
		cmocka_unit_test(test_slab_bounds_1gib),
		cmocka_unit_test(test_slab_longest_path_flat_from_1mib_to_1gib),
		cmocka_unit_test(test_slab_reserve_class_paths),
		cmocka_unit_test(test_buddy_bounds_1mib),
		cmocka_unit_test(test_buddy_bounds_1gib),
	};
	const char *why = skip_reason();
	const char *env = getenv("RTMEM_SEED");

	if (why) {
		printf("# skip: %s\n", why);
		return 77;
	}
	test_seed = env ? (uint64_t)strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	printf("# seed %llu (replay with RTMEM_SEED=%llu)\n", (unsigned long long)test_seed,
	       (unsigned long long)test_seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
