/* SPDX-License-Identifier: MIT */
/*
 * test_buddy_cache.c - the buddy thread cache (region.h, "Buddy thread
 * caches"; lib/core/buddy_cache.c): what it keeps and refuses, that a cached
 * block stays in use for everyone else (never merged, tested or handed
 * out), that double frees and overwritten words are still caught, and that
 * flush, reclaim and rebuild give every block back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"

static const uint64_t A = 0x10000, B = 0x20000; /* owners: slot 1 gen 0, slot 2 gen 0 */

struct fx {
	struct rg_pool_desc d;
	void *mem;
	size_t size;
	struct rg_region *r;
	struct rg_buddy_cache bc;
};

/* The fixture's 64 KiB buddy area (64 B..16 KiB), three slots (owners A
 * and B): a budget of 64 KiB / (4 x 3) = 5461 B per thread. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->d = fixture_desc();
	f->d.nslots = 3;
	f->d.cache = 4;
	f->mem = fixture_map(&f->d, &f->size);
	assert_non_null(f->mem);
	assert_int_equal(rg_region_attach(f->mem, f->size, &f->r), 0);
	rg_buddy_cache_init(f->r, &f->bc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rg_region_detach(f->r);
	munmap(f->mem, f->size);
	free(f);
	return 0;
}

static struct rg_region_stats stats(const struct rg_region *r)
{
	struct rg_region_stats s;

	rg_region_stats(r, &s);
	return s;
}

static void test_budget_is_a_quarter_of_the_area_over_the_slots(void **state)
{
	struct fx *f = *state;
	struct rg_pool_desc d = fixture_desc();
	struct rg_buddy_cache bc;
	struct rg_region *r;
	size_t size;
	void *mem;

	assert_int_equal(f->bc.budget, 64 * 1024 / 12);
	/* thread_cache = 0: no buddy cache either */
	d.cache = 0;
	mem = fixture_map(&d, &size);
	assert_non_null(mem);
	assert_int_equal(rg_region_attach(mem, size, &r), 0);
	rg_buddy_cache_init(r, &bc);
	assert_int_equal(bc.budget, 0);
	rg_region_detach(r);
	munmap(mem, size);
}

static void test_free_then_alloc_reuses_the_block_and_it_stays_in_use(void **state)
{
	struct fx *f = *state;
	struct rg_region_stats s;
	void *p, *q;

	assert_int_equal(rg_buddy_alloc(f->r, 1000, A, 0, &p), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p, A), 0);
	assert_int_equal(f->bc.bytes, 1024);
	s = stats(f->r);
	assert_int_equal(s.order[10].in_use, 1); /* still held, by A's cache */
	assert_int_equal(s.buddy_free, 65536 - 1024);
	assert_region_ok(f->r);
	/* another size of the same order takes it back, not a new block */
	assert_int_equal(rg_buddy_cache_alloc(f->r, &f->bc, 600, A, &q), 0);
	assert_ptr_equal(q, p);
	assert_int_equal(f->bc.bytes, 0);
	assert_int_equal(rg_region_block_size(f->r, q), 1024);
	/* nothing cached of that order now: the caller goes to the area */
	assert_int_equal(rg_buddy_cache_alloc(f->r, &f->bc, 1000, A, &q), -EAGAIN);
	assert_int_equal(rg_buddy_free(f->r, p, A), 0);
	assert_int_equal(stats(f->r).buddy_free, 65536);
	assert_region_ok(f->r);
}

static void test_a_cached_block_is_nobody_elses(void **state)
{
	struct fx *f = *state;
	uint64_t off, blocks, bytes;
	void *p;

	assert_int_equal(rg_buddy_alloc(f->r, 256, A, 0, &p), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p, A), 0);
	off = (uint64_t)((char *)p - (char *)rg_region_base(f->r));
	/* a second free is a double free, through the cache or the area */
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p, A), -EAGAIN);
	assert_int_equal(rg_region_free(f->r, p, A, NULL), -EALREADY);
	assert_int_equal(rg_region_block_size(f->r, p), 0);
	/* not A's to give, not the tester's to take, not bad-markable */
	assert_int_equal(rg_region_give(f->r, p, A, B), -EPERM);
	assert_int_equal(rg_region_checkout(f->r, off, &bytes), -EBUSY);
	assert_int_equal(rg_region_mark_bad(f->r, off), -EBUSY);
	/* but A's in the daemon's accounts */
	rg_region_owner_usage(f->r, A, &blocks, &bytes);
	assert_int_equal(blocks, 1);
	assert_int_equal(bytes, 256);
	assert_int_equal(rg_buddy_cache_flush(f->r, &f->bc, A), 256);
	assert_int_equal(stats(f->r).buddy_free, 65536);
	assert_region_ok(f->r);
}

static void test_the_cache_refuses_what_it_must_not_keep(void **state)
{
	struct fx *f = *state;
	void *p[9], *big, *other;

	/* another owner's block, and a pointer that is no block start */
	assert_int_equal(rg_buddy_alloc(f->r, 64, B, 0, &other), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, other, A), -EAGAIN);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, (char *)other + 8, B), -EAGAIN);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, f->mem, A), -EAGAIN); /* the header: no buddy block */
	/* at most RG_BCACHE_MAX of an order */
	for (unsigned i = 0; i < 9; i++)
		assert_int_equal(rg_buddy_alloc(f->r, 64, A, 0, &p[i]), 0);
	for (unsigned i = 0; i < RG_BCACHE_MAX; i++)
		assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p[i], A), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p[8], A), -EAGAIN);
	assert_int_equal(rg_buddy_free(f->r, p[8], A), 0);
	/* at most the budget in bytes, 5461, of which 512 are held */
	assert_int_equal(rg_buddy_alloc(f->r, 8192, A, 0, &big), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, big, A), -EAGAIN);
	assert_int_equal(rg_buddy_free(f->r, big, A), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 4096, A, 0, &big), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, big, A), 0);
	assert_int_equal(f->bc.bytes, 8 * 64 + 4096);
	assert_region_ok(f->r);
	assert_int_equal(rg_buddy_cache_flush(f->r, &f->bc, A), 8 * 64 + 4096);
	assert_int_equal(rg_buddy_free(f->r, other, B), 0);
	assert_int_equal(stats(f->r).buddy_free, 65536);
	assert_region_ok(f->r);
}

static void test_a_cached_block_is_never_merged_until_flushed(void **state)
{
	struct fx *f = *state;
	void *lo, *hi;

	assert_int_equal(rg_buddy_alloc(f->r, 64, A, 0, &lo), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 64, A, 0, &hi), 0);
	assert_ptr_equal((char *)lo + 64, hi); /* buddies */
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, lo, A), 0);
	assert_int_equal(rg_buddy_free(f->r, hi, A), 0); /* finds its buddy cached: no merge */
	assert_region_ok(f->r);
	assert_true(stats(f->r).order[6].in_use == 1);
	assert_int_equal(stats(f->r).buddy_free, 65536 - 64);
	assert_int_equal(rg_buddy_cache_flush(f->r, &f->bc, A), 64);
	assert_int_equal(stats(f->r).buddy_largest_free, 16384); /* merged all the way up */
	assert_region_ok(f->r);
}

static void test_reclaim_and_rebuild_count_cached_blocks(void **state)
{
	struct fx *f = *state;
	uint64_t bytes = 0;
	void *p[3];

	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(rg_buddy_alloc(f->r, (size_t)128 << i, A, 0, &p[i]), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p[0], A), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p[1], A), 0);
	/* a rebuild (after a lock holder died) keeps them in use */
	assert_int_equal(rg_buddy_lock(f->r), 0);
	assert_int_equal(rg_buddy_rebuild(f->r), 0);
	rg_buddy_unlock(f->r);
	assert_region_ok(f->r);
	assert_int_equal(stats(f->r).buddy_free, 65536 - 128 - 256 - 512);
	/* A dies: reclaim takes the cached and the allocated ones */
	assert_int_equal(rg_region_reclaim(f->r, A, &bytes), 3);
	assert_int_equal(bytes, 128 + 256 + 512);
	assert_int_equal(stats(f->r).buddy_free, 65536);
	assert_region_ok(f->r);
}

static void test_an_overwritten_cached_block_is_not_handed_out(void **state)
{
	struct fx *f = *state;
	void *p, *q;

	assert_int_equal(rg_buddy_alloc(f->r, 2048, A, 0, &p), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, p, A), 0);
	/* the daemon took A for dead meanwhile, and B got the block */
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 1);
	assert_int_equal(rg_buddy_alloc(f->r, 2048, B, 0, &q), 0);
	assert_ptr_equal(q, p);
	assert_int_equal(rg_buddy_cache_alloc(f->r, &f->bc, 2048, A, &q), -EUCLEAN);
	assert_int_equal(rg_region_block_size(f->r, p), 2048); /* still B's */
	/* a flush drops a stale entry and gives back nothing */
	assert_int_equal(rg_buddy_alloc(f->r, 2048, A, 0, &q), 0);
	assert_int_equal(rg_buddy_cache_free(f->r, &f->bc, q, A), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 1);
	assert_int_equal(rg_buddy_cache_flush(f->r, &f->bc, A), 0);
	assert_int_equal(f->bc.bytes, 0);
	assert_int_equal(rg_buddy_free(f->r, p, B), 0);
	assert_int_equal(stats(f->r).buddy_free, 65536);
	assert_region_ok(f->r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_budget_is_a_quarter_of_the_area_over_the_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_then_alloc_reuses_the_block_and_it_stays_in_use, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_cached_block_is_nobody_elses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_cache_refuses_what_it_must_not_keep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_cached_block_is_never_merged_until_flushed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_and_rebuild_count_cached_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_overwritten_cached_block_is_not_handed_out, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
