/* SPDX-License-Identifier: MIT */
/*
 * test_icount.c - the allocator's instruction bounds, counted exactly by
 * single-stepping (bench/icount.c), and icount's own exactness.
 *
 * Bounds. docs/architecture.md ("Targets") asks for at most 40 instructions
 * on every path of rg_slab_alloc() and rg_slab_free(), flat from an
 * empty to a 99 % full pool and from 1 MiB to 1 GiB, and at most 250 for the
 * buddy calls. What is asserted here is what the code meets, so that a
 * regression fails; where it falls short of the target it says so:
 *  - slab alloc and free: the kill-safe paths (lib/core/slab.c, "Kills") miss
 *    the 40: SLAB_ALLOC_BOUND, SLAB_ALLOC_HWM_BOUND (a new high-water mark,
 *    counted apart as T_ALLOC_HWM) and SLAB_FREE_BOUND below; and
 *    an allocation from a class with a reserve by a caller without the grant
 *    pops with the reserve check in its loop, after the plain pop found the
 *    class's lim of 0: SLAB_RESERVE_BOUND (target missed);
 *  - flat: 99 % vs 0 % full and 1 GiB vs 1 MiB within SLAB_FLAT;
 *  - thread cache (rg_slab_cache_*, the client's layer above the two):
 *    a cached allocation at most CACHE_ALLOC_BOUND; a free
 *    into the cache of a block of the hint's class (the class last
 *    allocated, see region.h) at most CACHE_FREE_BOUND;
 *    of another class, which is looked up through its page after the
 *    hint's check failed, CACHE_MISS_BOUND; a free that
 *    finds the cache full goes on to the shared list: CACHE_FULL_BOUND (after a
 *    miss: the cache checks, then the whole shared free). The target of 40 is missed on the last two;
 *  - buddy, uncontended: bounded by the number of orders, BUDDY_BASE plus
 *    BUDDY_SPLIT per split (alloc) or BUDDY_MERGE per merge (free).
 *  - sharing (rg_region_share/rg_region_release), not a fast path but RT-safe:
 *    the longest path of each, SHARE_*_BOUND; their loops are bounded by the
 *    16 records of a slot and the 6 entries of a record, which the scenario
 *    fills (icount_scen.h, drive_share()).
 *  - stealing from the other stripes of a striped class, the most over 4
 *    stripes (two empty ones passed over, the block found in the third):
 *    STEAL_BOUND (icount_scen.h, drive_steal()).
 *  - buddy in arena mode (lib/core/arena.c), one client's calls driven path
 *    by path (icount_scen.h, drive_arena()): an allocation ARENA_BASE plus
 *    ARENA_SPLIT per split, plus ARENA_LEASE when its lists are empty; a
 *    free ARENA_FREE_BASE plus ARENA_MERGE per merge, plus ARENA_GIVEBACK
 *    when its arena goes back; a free of another client's block
 *    ARENA_REMOTE_FREE. Either may first take back remote frees (the drain,
 *    drain_bound(): ARENA_TAKEBACK per free and the merges, within a budget
 *    of RG_ARENA_DRAIN), and then hints again every arena of the hint word
 *    the budget did not reach (ARENA_REQUEUE each, up to 63: outside the
 *    budget); an allocation whose lists are still empty drains a second time
 *    (RG_ARENA_DRAIN_SLOW) before it leases. The longest drains are driven
 *    (every arena with remote frees, one with the budget's worth spread for
 *    the most merges): about 4,000 instructions in a free or an allocation,
 *    13,000 in an allocation that drains twice; and a lease passes over up
 *    to 63 stale hint groups (ARENA_LEASE_GROUP each). The target of 250 is
 *    met by neither.
 *    The figures are the constants below; what each run measures, it
 *    prints (bench/RESULTS.md keeps a run).
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
 *   arena: 1 MiB in 64 arenas of 16 KiB, blocks of 64 B..16 KiB (8 orders);
 *          1 GiB in 64 arenas of 16 MiB, blocks of 1 KiB..16 MiB (14 orders,
 *          the most, RG_ARENA_SPAN); 1 GiB in 4096 arenas of 256 KiB (the
 *          most arenas, RG_ARENA_COUNT) for the lease's hint search.
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

/* The kill-safe paths (lib/core/slab.c, "Kills"): the target of 40 (docs/architecture.md) is missed,
 * correctness first. */
#define SLAB_ALLOC_BOUND 52u     /* 50: the claim expects the word read before the pop */
#define SLAB_ALLOC_HWM_BOUND 56u /* 54: with a new high-water mark */
#define SLAB_FREE_BOUND 66u      /* 64: FREE_P, push and count in one CMPXCHG16B, finalize */
#define SLAB_RESERVE_BOUND 90u /* a class with a reserve, caller without the grant (88) */
#define CACHE_ALLOC_BOUND 30u /* 28 */
#define CACHE_FREE_BOUND 35u  /* 33: a block of the hint's class */
#define CACHE_MISS_BOUND 59u  /* 57: of another class, found through its page */
#define CACHE_FULL_BOUND 88u  /* 86: of another class, and on to the shared list */
#define BCACHE_ALLOC_BOUND 42u /* 40: the buddy thread cache (lib/core/buddy_cache.c), no lock */
#define BCACHE_FREE_BOUND 60u  /* 58 */
/* Sharing (lib/core/handoff.c): not fast paths, but bounded and RT-safe;
 * each the longest of its kind (tests/icount_scen.h, drive_share()) */
#define SHARE_OPEN_BOUND 464u    /* 462: 15 records in use scanned first */
#define SHARE_ADD_BOUND 393u     /* 391: five entries searched twice, the sixth taken, five again, confirmed */
#define SHARE_RELEASE_BOUND 231u /* 229: the holder in the fifth entry, the header read */
#define SHARE_LAST_BOUND 290u    /* 288: the last one, the record closing, scanned again, closed */
#define STEAL_BOUND 176u /* 174: two empty stripes passed over, a pop from the third, home's failure taken back */
#define BUDDY_BASE 171u    /* lock, unlock, lookups; was 165 before the arena-mode check at the top of
			    * rg_buddy_alloc()/rg_buddy_free(), which made the -O2 alloc 5-6 longer
			    * (the test of r->arena_order and 2 spills for the call), the free 3 */
#define BUDDY_SPLIT 12u    /* per split in an allocation */
#define BUDDY_MERGE 30u    /* per merge in a free */
#define SLAB_FLAT 4u /* longest slab path at 99 % vs 0 %: at most this apart */
/* Arena mode (lib/core/arena.c, icount_scen.h drive_arena()), uncontended. The figures are -O2's
 * (RelWithDebInfo); Release (-O3) is below each sum. Per step, per free, per arena: exact. */
#define ARENA_BASE 175u        /* 173 + 29 per split; 167 without a split */
#define ARENA_SPLIT 29u
#define ARENA_LEASE 153u       /* lists empty: the pop fails, alloc_more(), a hint, the CAS (the group's last: its bit cleared), the arena listed;
                                * 142 before the count's change half (RG_NF_*: 2) and the busy mark around the CAS and the add (9) */
#define ARENA_FREE_BASE 189u   /* 187 + 35 per merge; 180 without a merge */
#define ARENA_MERGE 35u        /* in a free; 35 (-O3: 33) in a remote free taken back */
#define ARENA_GIVEBACK 52u     /* a whole arena goes back: the busy mark, the lease CAS, the count, two hint ORs (47 before the mark) */
#define ARENA_REMOTE_FREE 136u /* 134: the CAS to REMOTE, the bit, the summary bit, the holder's two hint ORs */
/* The drain (remote frees taken back, budget RG_ARENA_DRAIN: arenas, remote words and bits looked at) */
#define ARENA_DRAIN_BASE 199u  /* the call, one arena, its first remote word, and after each word the look that the
                                * arena is still ours (a take-back may have given it back): 195 before that look */
#define ARENA_TAKEBACK 128u    /* per remote free taken back, without a merge: 123-128 with the order checked (-O3 less) */
#define ARENA_DRAIN_WORD 33u   /* per remote word more (-O3 33, -O2 29) */
#define ARENA_DRAIN_ARENA 135u /* per arena more, with its first word (4 summary words: 2^14 min-blocks) */
#define ARENA_DRAIN_LEFT 30u   /* the budget ran out inside an arena: its bits put back, hinted again */
#define ARENA_REQUEUE 23u      /* per arena of the hint word hinted again once the budget is spent: up to 63 */
#define ARENA_SLOW 11u         /* the pop failing after a drain, then the slow drain (RG_ARENA_DRAIN_SLOW) */
#define ARENA_LEASE_GROUP 20u  /* per hint group a lease passes over, its level-0 bit stale */
/* An allocation that first takes back RG_ARENA_DRAIN remote frees (one arena, one word; none merges):
 * ARENA_BASE + ARENA_DRAIN; each merge adds ARENA_MERGE, each arena given back ARENA_GIVEBACK. */
#define ARENA_DRAIN (ARENA_DRAIN_BASE + (RG_ARENA_DRAIN - 2) * ARENA_TAKEBACK + ARENA_DRAIN_LEFT)
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

#define ICOUNT_ARM(tag, fn) icount_arm(tag, fn)
#include "icount_scen.h"

#define NTAGS ISCEN_NTAGS

struct scen {
	enum kind kind;
	uint64_t bytes;  /* data bytes */
	unsigned fill;   /* percent */
	unsigned calls;  /* counted calls per operation */
	uint64_t seed;
};

/* In the child of icount_run(). */
static int drive(void *arg)
{
	const struct scen *s = arg;

	rnd_state = s->seed | 1;
	return s->kind == SLAB ? drive_slab(s->bytes, s->fill, s->calls) : drive_buddy(s->bytes, s->fill, s->calls);
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
	if (kind == BUDDY)
		printf("#   buddy thread cache: alloc longest %llu mean %.1f | free longest %llu mean %.1f (%llu calls)\n",
		       (unsigned long long)st[T_BCALLOC].max, icount_mean(&st[T_BCALLOC]),
		       (unsigned long long)st[T_BCFREE].max, icount_mean(&st[T_BCFREE]),
		       (unsigned long long)st[T_BCFREE].calls);
	if (kind == SLAB)
		printf("#   thread cache: alloc longest %llu mean %.1f (%llu calls) | free to cache longest %llu mean %.1f"
		       " (%llu), not the hint's class %llu mean %.1f (%llu) | free, cache full, longest %llu mean %.1f"
		       " (%llu)\n",
		       (unsigned long long)st[T_CALLOC].max, icount_mean(&st[T_CALLOC]),
		       (unsigned long long)st[T_CALLOC].calls, (unsigned long long)st[T_CFREE].max,
		       icount_mean(&st[T_CFREE]), (unsigned long long)st[T_CFREE].calls,
		       (unsigned long long)st[T_CFREE_MISS].max, icount_mean(&st[T_CFREE_MISS]),
		       (unsigned long long)st[T_CFREE_MISS].calls, (unsigned long long)st[T_CFREE_FULL].max,
		       icount_mean(&st[T_CFREE_FULL]), (unsigned long long)st[T_CFREE_FULL].calls);
	if (kind == SLAB)
		printf("#   sharing: open (16th record) longest %llu | add the 6th holder longest %llu | release longest %llu"
		       " | last release longest %llu (%llu calls each)\n",
		       (unsigned long long)st[T_SH_OPEN].max, (unsigned long long)st[T_SH_ADD].max,
		       (unsigned long long)st[T_SH_REL].max, (unsigned long long)st[T_SH_LAST].max,
		       (unsigned long long)st[T_SH_OPEN].calls);
	if (kind == SLAB)
		printf("#   stealing: 4 stripes, the third tried has the block: longest %llu (%llu calls)\n",
		       (unsigned long long)st[T_STEAL].max, (unsigned long long)st[T_STEAL].calls);
}

static void slab_bounds(uint64_t bytes)
{
	static const unsigned fills[] = { 0, 50, 99 };
	struct icount_stats st[3][NTAGS];

	for (unsigned f = 0; f < 3; f++)
		measure(SLAB, bytes, fills[f], 300, st[f]);
	for (unsigned f = 0; f < 3; f++) {
		assert_in_range(st[f][T_ALLOC].max, 1, SLAB_ALLOC_BOUND);
		assert_in_range(st[f][T_FREE].max, 1, SLAB_FREE_BOUND);
		assert_in_range(st[f][T_ALLOC_HWM].max, 0, SLAB_ALLOC_HWM_BOUND);
		assert_in_range(st[f][T_CALLOC].max, 1, CACHE_ALLOC_BOUND);
		assert_in_range(st[f][T_CFREE].max, 1, CACHE_FREE_BOUND);
		assert_in_range(st[f][T_CFREE_MISS].max, 1, CACHE_MISS_BOUND);
		assert_in_range(st[f][T_CFREE_FULL].max, 0, CACHE_FULL_BOUND);
		assert_in_range(st[f][T_SH_OPEN].max, 1, SHARE_OPEN_BOUND);
		assert_in_range(st[f][T_SH_ADD].max, 1, SHARE_ADD_BOUND);
		assert_in_range(st[f][T_SH_REL].max, 1, SHARE_RELEASE_BOUND);
		assert_in_range(st[f][T_SH_LAST].max, 1, SHARE_LAST_BOUND);
		assert_in_range(st[f][T_STEAL].max, 1, STEAL_BOUND);
	}
	for (unsigned t = 0; t < T_ALLOC_HWM; t++)
		assert_in_range(st[2][t].max, st[0][t].max - SLAB_FLAT, st[0][t].max + SLAB_FLAT);
}

static void buddy_bounds(uint64_t bytes)
{
	static const unsigned fills[] = { 0, 50, 99 };
	struct icount_stats st[3][NTAGS];
	struct rg_pool_desc d = scen_desc(BUDDY, bytes);
	unsigned steps = d.buddy.max_order - d.buddy.min_order; /* most splits or merges of one call */

	for (unsigned f = 0; f < 3; f++)
		measure(BUDDY, bytes, fills[f], 100, st[f]);
	for (unsigned f = 0; f < 3; f++) {
		assert_in_range(st[f][T_ALLOC].max, 1, BUDDY_BASE + BUDDY_SPLIT * steps);
		assert_in_range(st[f][T_FREE].max, 1, BUDDY_BASE + BUDDY_MERGE * steps);
		assert_in_range(st[f][T_BCALLOC].max, 1, BCACHE_ALLOC_BOUND);
		assert_in_range(st[f][T_BCFREE].max, 1, BCACHE_FREE_BOUND);
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

struct arena_scen {
	uint64_t bytes;
	uint32_t lo, top; /* smallest order, arena order */
	bool scan;        /* ar_scan() only (icount_scen.h) */
};

static int drive_arena_child(void *arg)
{
	const struct arena_scen *s = arg;

	return drive_arena(s->bytes, s->lo, s->top, s->scan);
}

static void print_family(const char *what, const struct icount_stats *st, unsigned n)
{
	printf("#   %s:", what);
	for (unsigned k = 0; k < n; k++)
		printf(" %llu", (unsigned long long)st[k].max);
	printf("\n");
}

static void measure_arena(const struct arena_scen *s, struct icount_stats *st)
{
	int rc = icount_run(drive_arena_child, (void *)s, st, NTAGS);
	unsigned n = s->top - s->lo + 1;

	if (rc != 0)
		fail_msg("icount_run: %d (%s): %s", rc, strerror(-rc), icount_why());
	printf("# arena %llu %s, %llu B..%llu KiB (%u orders)%s\n",
	       (unsigned long long)(s->bytes >= GIB ? s->bytes / GIB : s->bytes / MIB), s->bytes >= GIB ? "GiB" : "MiB",
	       1ull << s->lo, (1ull << s->top) / 1024, n - 1, s->scan ? ", the lease's hint search" : "");
	if (s->scan) {
		printf("#   lease after 63 stale hint groups %llu | none free after 64: %llu\n",
		       (unsigned long long)st[T_AR_SCAN].max, (unsigned long long)st[T_AR_SCAN_FAIL].max);
		return;
	}
	print_family("alloc, k = 0.. splits", &st[T_AR_ALLOC], n);
	print_family("alloc with a lease, k = 0.. splits", &st[T_AR_LEASE], n);
	print_family("free, m = 0.. merges", &st[T_AR_FREE], n);
	print_family("free giving its arena back, m = 0.. merges", &st[T_AR_GIVEBACK], n);
	print_family("alloc taking back n = 1.. remote frees", &st[T_AR_DRAIN + 1], RG_ARENA_DRAIN);
	print_family("alloc taking back one remote free with m = 0.. merges", &st[T_AR_DMERGE], n);
	printf("#   alloc taking back 2 remote frees in 2 words %llu, in 2 arenas %llu\n",
	       (unsigned long long)st[T_AR_DRAIN2W].max, (unsigned long long)st[T_AR_DRAIN2A].max);
	printf("#   remote free longest %llu shortest %llu (%llu calls) | drain past its budget, 61 arenas hinted again"
	       " %llu, 29: %llu | the slow drain too, and a lease %llu\n",
	       (unsigned long long)st[T_AR_REMOTE].max, (unsigned long long)st[T_AR_REMOTE].min,
	       (unsigned long long)st[T_AR_REMOTE].calls, (unsigned long long)st[T_AR_REQUEUE].max,
	       (unsigned long long)st[T_AR_REQUEUE32].max, (unsigned long long)st[T_AR_SLOW].max);
	print_family("longest drain in an alloc, 1..3 words", &st[T_AR_DRAIN_MAX], ISCEN_AR_VARIANTS);
	print_family("longest drain in a free, 1..3 words", &st[T_AR_FREE_DRAIN_MAX], ISCEN_AR_VARIANTS);
	print_family("longest alloc, both drains, 1..3 words", &st[T_AR_SLOW_MAX], ISCEN_AR_VARIANTS);
}

/* A drain of @arenas arenas (@words remote words in all), @frees remote frees taken back with @merges
 * merges, @back arenas given back, @left arenas where the budget ran out, @requeues hinted again. */
static uint64_t drain_bound(unsigned arenas, unsigned words, unsigned frees, unsigned merges, unsigned back,
			    unsigned left, uint64_t requeues)
{
	return ARENA_DRAIN_BASE + (arenas - 1) * ARENA_DRAIN_ARENA + (words - arenas) * ARENA_DRAIN_WORD +
	       frees * ARENA_TAKEBACK + merges * ARENA_MERGE + back * ARENA_GIVEBACK + left * ARENA_DRAIN_LEFT +
	       requeues * ARENA_REQUEUE;
}

/* A drain of @budget over @held arenas that each hold one remote free without a merge (icount_scen.h,
 * ar_halves()): three units for each arena it takes whole, two for the one it stops in; the rest
 * hinted again. Return: the bound; the arenas it took whole in *@whole. */
static uint64_t halves_bound(unsigned budget, uint64_t held, unsigned *whole)
{
	unsigned n = (budget - 2) / 3;

	*whole = n;
	return drain_bound(n + 1, n + 1, n, 0, 0, 1, held - n - 1);
}

static void arena_bounds(const struct arena_scen *s, const struct icount_stats *st)
{
	const unsigned steps = s->top - s->lo, nl = RG_ARENA_DRAIN - 2;
	const uint64_t na = s->bytes >> s->top;
	unsigned w1, w2;
	uint64_t b;

	for (unsigned k = 0; k <= steps; k++) {
		assert_in_range(st[T_AR_ALLOC + k].max, 1, ARENA_BASE + ARENA_SPLIT * k);
		assert_in_range(st[T_AR_LEASE + k].max, 1, ARENA_BASE + ARENA_LEASE + ARENA_SPLIT * k);
		assert_in_range(st[T_AR_FREE + k].max, 1, ARENA_FREE_BASE + ARENA_MERGE * k);
		assert_in_range(st[T_AR_GIVEBACK + k].max, 1, ARENA_FREE_BASE + ARENA_GIVEBACK + ARENA_MERGE * k);
		assert_in_range(st[T_AR_DMERGE + k].max, 1, ARENA_BASE + drain_bound(1, 1, 1, k, 0, 0, 0));
	}
	assert_in_range(st[T_AR_REMOTE].max, 1, ARENA_REMOTE_FREE);
	for (unsigned n = 1; n <= RG_ARENA_DRAIN; n++)
		assert_in_range(st[T_AR_DRAIN + n].max, 1,
				n > nl ? ARENA_BASE + ARENA_DRAIN : ARENA_BASE + drain_bound(1, 1, n, 0, 0, 0, 0));
	assert_in_range(st[T_AR_DRAIN2W].max, 1, ARENA_BASE + drain_bound(1, 2, 2, 0, 0, 0, 0));
	assert_in_range(st[T_AR_DRAIN2A].max, 1, ARENA_BASE + drain_bound(2, 2, 2, 0, 0, 0, 0));
	assert_in_range(st[T_AR_REQUEUE].max, 1, ARENA_BASE + halves_bound(RG_ARENA_DRAIN, na, &w1));
	assert_in_range(st[T_AR_REQUEUE32].max, 1, ARENA_BASE + halves_bound(RG_ARENA_DRAIN, na / 2, &w1));
	b = halves_bound(RG_ARENA_DRAIN, na - 1, &w1);
	b += halves_bound(RG_ARENA_DRAIN_SLOW, na - 1 - w1, &w2); /* the slow drain goes on from there */
	assert_in_range(st[T_AR_SLOW].max, 1, ARENA_BASE + ARENA_SLOW + ARENA_LEASE + b);
	for (unsigned v = 0; v < ISCEN_AR_VARIANTS; v++) {
		const unsigned w = v + 1, f = AR_LEAVES(w), a = AR_SLOW_ARENAS;
		uint64_t at[RG_ARENA_DRAIN];
		unsigned m, mh;

		ar_leaves(steps, w, at);
		m = ar_merges(steps, at, f, UINT64_MAX);
		mh = ar_merges(steps, at, f, (1ull << steps) - 1);
		b = drain_bound(1, w, f, m, 1, 0, na - 2);
		printf("#   %u words, %u frees, %u merges: bounds: the drain %llu, with the alloc %llu, the free %llu", w,
		       f, m, (unsigned long long)b, (unsigned long long)(ARENA_BASE + ARENA_SPLIT * steps + b),
		       (unsigned long long)(ARENA_FREE_BASE + ARENA_MERGE * steps + b));
		assert_in_range(st[T_AR_DRAIN_MAX + v].max, 1, ARENA_BASE + ARENA_SPLIT * steps + b);
		assert_in_range(st[T_AR_FREE_DRAIN_MAX + v].max, 1, ARENA_FREE_BASE + ARENA_MERGE * steps + b);
		b = drain_bound(1, w, f, mh, 0, 0, na - 1) + drain_bound(a, a * w, a * f, a * m, a - 1, 0, na - 1 - a);
		printf(", both drains %llu\n", (unsigned long long)(ARENA_BASE + ARENA_SLOW + b));
		assert_in_range(st[T_AR_SLOW_MAX + v].max, 1, ARENA_BASE + ARENA_SLOW + b);
	}
}

static void test_arena_bounds_1mib(void **state)
{
	struct arena_scen s = { .bytes = MIB, .lo = 6, .top = 14 };
	struct icount_stats st[NTAGS];

	(void)state;
	measure_arena(&s, st);
	arena_bounds(&s, st);
}

static void test_arena_bounds_1gib(void **state)
{
	struct arena_scen s = { .bytes = GIB, .lo = 10, .top = 24 };
	struct icount_stats st[NTAGS];

	(void)state;
	measure_arena(&s, st);
	arena_bounds(&s, st);
}

/* 4096 arenas (64 hint groups): the lease's search passes over 63 stale groups, or 64 to fail. */
static void test_arena_lease_search_4096_arenas(void **state)
{
	struct arena_scen s = { .bytes = GIB, .lo = 10, .top = 18, .scan = true };
	struct icount_stats st[NTAGS];
	const uint64_t ng = (s.bytes >> s.top) / 64;

	(void)state;
	measure_arena(&s, st);
	assert_in_range(st[T_AR_SCAN].max, 1, ARENA_BASE + ARENA_LEASE + (ng - 1) * ARENA_LEASE_GROUP);
	assert_in_range(st[T_AR_SCAN_FAIL].max, 1, ARENA_BASE + ARENA_LEASE + ng * ARENA_LEASE_GROUP);
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

/* A class with a reserve: a caller without RG_ALLOC_RESERVE takes the slow
 * path (the reserve check, then the pop); one with it, the plain pop. */
static int drive_reserve_child(void *arg)
{
	const struct scen *s = arg;

	rnd_state = s->seed | 1;
	return drive_reserve(s->calls);
}

static void test_slab_reserve_class_paths(void **state)
{
	struct scen s = { .kind = SLAB, .bytes = MIB, .calls = 50, .seed = test_seed };
	struct icount_stats st[NTAGS];
	int rc;

	(void)state;
	rc = icount_run(drive_reserve_child, &s, st, NTAGS);
	if (rc != 0)
		fail_msg("icount_run: %d (%s): %s", rc, strerror(-rc), icount_why());
	printf("# slab class with a reserve: alloc without the grant longest %llu, with it longest %llu\n",
	       (unsigned long long)st[T_RSV_OTHER].max, (unsigned long long)st[T_RSV_GRANTED].max);
	assert_in_range(st[T_RSV_GRANTED].max, 1, SLAB_ALLOC_BOUND);
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
		cmocka_unit_test(test_arena_bounds_1mib),
		cmocka_unit_test(test_arena_bounds_1gib),
		cmocka_unit_test(test_arena_lease_search_4096_arenas),
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
