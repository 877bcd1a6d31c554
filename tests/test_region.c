/* SPDX-License-Identifier: MIT */
/*
 * test_region.c - unit tests of the allocator core: layout, format, attach,
 * slab and buddy paths with every error, tester checkout, reclaim, stats, and
 * the checker finding deliberately corrupted regions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"

struct fx {
	struct rg_pool_desc d;
	void *mem;
	size_t size;
	struct rg_region *r;
};

static const uint64_t A = 0x10000, B = 0x20000; /* owners: slot 1 gen 0, slot 2 gen 0 */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->d = fixture_desc();
	f->mem = fixture_map(&f->d, &f->size);
	assert_non_null(f->mem);
	assert_int_equal(rg_region_attach(f->mem, f->size, &f->r), 0);
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

static void test_layout_rejects_bad_descriptions(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct rg_footprint fp = { 1, 2, 3 };

	(void)state;
	d.classes[1].size = 32; /* not increasing */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.classes[0].size = 12; /* not a multiple of 8 */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.classes[0].count = 0;
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.classes[0].reserve = 100; /* reserve must leave something */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.classes[2].align = 8192;
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.buddy.min_order = 15; /* min > max */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.buddy.size = 8192; /* below one max block */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.nslots = 0;
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.nclasses = 0;
	d.buddy.size = 0; /* nothing at all */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.nclasses = RG_MAX_CLASSES + 1;
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.classes[2].count = RG_MAX_BLOCKS + 1u;
	assert_int_equal(rg_region_layout(&d, &fp), -EOVERFLOW);
	d = fixture_desc();
	d.classes[2] = (struct rg_slab_desc){ .size = 0xfffff000u, .count = RG_MAX_BLOCKS };
	d.buddy = (struct rg_buddy_desc){ .size = 1ull << 40, .min_order = 10, .max_order = 40 };
	assert_int_equal(rg_region_layout(&d, &fp), 0); /* big but representable */
	assert_true(fp.total > (1ull << 40));
	assert_int_equal(fp.meta + fp.data, fp.total);
}

static void test_layout_footprint_is_exact(void **state)
{
	struct fx *f = *state;
	struct rg_footprint fp;

	assert_int_equal(rg_region_layout(&f->d, &fp), 0);
	assert_int_equal(fp.total, f->size);
	assert_int_equal(fp.meta % 4096, 0);
	/* data: every class rounded to pages, plus the buddy area */
	assert_int_equal(fp.data, 4096 * 1 + 4096 * 3 + 8 * 4096 + 64 * 1024);
	assert_int_equal(rg_region_format(f->mem, f->size - 1, &f->d), -ENOSPC);
	assert_int_equal(rg_region_format((char *)f->mem + 64, f->size - 64, &f->d), -EINVAL);
}

static void test_attach_rejects_foreign_or_corrupt_header(void **state)
{
	struct fx *f = *state;
	struct rg_hdr *h = f->mem;
	struct rg_region *r = NULL;
	struct rg_hdr saved = *h;

	assert_int_equal(rg_region_attach(f->mem, 16, &r), -EBADMSG);
	h->magic ^= 1;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EBADMSG);
	*h = saved;
	h->version = 99;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EBADMSG);
	*h = saved;
	h->layout_hash ^= 1;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EBADMSG);
	*h = saved;
	h->nclasses = 200;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EUCLEAN);
	*h = saved;
	h->data_off += 4096;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EUCLEAN);
	*h = saved;
	assert_int_equal(rg_region_attach(f->mem, f->size - 4096, &r), -EUCLEAN); /* truncated */
	/* a descriptor changed behind our back: geometry no longer matches */
	struct rg_class *k = (struct rg_class *)((char *)f->mem + h->classes_off) + 1;
	k->count = 1000000;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EUCLEAN);
	k->count = 40;
	k->next_off += 64;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EUCLEAN);
	k->next_off -= 64;
	h->slots_off += 64; /* the slot table moved */
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), -EUCLEAN);
	h->slots_off -= 64;
	assert_null(r);
	assert_int_equal(rg_region_attach(f->mem, f->size, &r), 0);
	rg_region_detach(r);
	rg_region_detach(NULL);
}

static void test_slot_record_round_trips_and_rejects_bad_slots(void **state)
{
	struct fx *f = *state;
	uint32_t n = rg_region_nslots(f->r);
	struct rg_slot_record w = { rg_owner(n, 7), 4242, 123456789, 3 }, g = { 0 }, none = { 1, 2, 3, 4 };

	assert_int_equal(rg_region_slot_get(f->r, n, &g), 0);
	assert_int_equal(g.owner, 0); /* a new region: every slot free */
	assert_int_equal(rg_region_slot_set(f->r, n, &w), 0);
	assert_int_equal(rg_region_slot_get(f->r, n, &g), 0);
	assert_memory_equal(&g, &w, sizeof(w));
	/* slot 0 is the daemon's, n + 1 past the table: refused, nothing written */
	assert_int_equal(rg_region_slot_set(f->r, 0, &w), -EINVAL);
	assert_int_equal(rg_region_slot_set(f->r, n + 1, &w), -EINVAL);
	assert_int_equal(rg_region_slot_get(f->r, n + 1, &none), -EINVAL);
	assert_int_equal(none.owner, 1);
	/* the record lives in the region: a second attach sees it */
	struct rg_region *r2;
	assert_int_equal(rg_region_attach(f->mem, f->size, &r2), 0);
	assert_int_equal(rg_region_slot_get(r2, n, &g), 0);
	assert_int_equal(g.pid, 4242);
	rg_region_detach(r2);
}

static void test_slab_class_for_policies(void **state)
{
	struct fx *f = *state;

	assert_int_equal(rg_class_for(f->r, 1, RG_POLICY_NEXT_FIT), 0);
	assert_int_equal(rg_class_for(f->r, 32, RG_POLICY_NEXT_FIT), 0);
	assert_int_equal(rg_class_for(f->r, 33, RG_POLICY_NEXT_FIT), 1);
	assert_int_equal(rg_class_for(f->r, 4096, RG_POLICY_NEXT_FIT), 2);
	assert_int_equal(rg_class_for(f->r, 4097, RG_POLICY_NEXT_FIT), -ENOENT);
	assert_int_equal(rg_class_for(f->r, 256, RG_POLICY_EXACT), 1);
	assert_int_equal(rg_class_for(f->r, 255, RG_POLICY_EXACT), -ENOENT);
	assert_int_equal(rg_slab_class_size(f->r, 1), 256);
	assert_int_equal(rg_slab_class_size(f->r, 3), 0);
}

/* The size -> class table (sizes up to 4096) and the search above it agree
 * with a plain scan for every size, with classes on both sides of 4096; a
 * size of 0 has no class. */
static void test_slab_class_for_matches_a_scan(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct rg_region *r;
	size_t size;
	void *mem;

	(void)state;
	d.nclasses = 5;
	d.buddy.size = 0;
	d.classes[0] = (struct rg_slab_desc){ .size = 24, .count = 4 };
	d.classes[1] = (struct rg_slab_desc){ .size = 40, .count = 4 };
	d.classes[2] = (struct rg_slab_desc){ .size = 1000, .count = 4 };
	d.classes[3] = (struct rg_slab_desc){ .size = 4104, .count = 4 };
	d.classes[4] = (struct rg_slab_desc){ .size = 65536, .count = 1 };
	mem = fixture_map(&d, &size);
	assert_non_null(mem);
	assert_int_equal(rg_region_attach(mem, size, &r), 0);
	for (size_t n = 0; n <= 70000; n++) {
		int want = -ENOENT, exact = -ENOENT;

		for (uint32_t c = 0; n > 0 && c < d.nclasses; c++) { /* 0 bytes: no class */
			if (d.classes[c].size >= n) {
				want = (int)c;
				exact = d.classes[c].size == n ? (int)c : -ENOENT;
				break;
			}
		}
		if (rg_class_for(r, n, RG_POLICY_NEXT_FIT) != want ||
		    rg_class_for(r, n, RG_POLICY_EXACT) != exact)
			fail_msg("size %zu: class %d/%d, want %d/%d", n, rg_class_for(r, n, RG_POLICY_NEXT_FIT),
				 rg_class_for(r, n, RG_POLICY_EXACT), want, exact);
	}
	rg_region_detach(r);
	munmap(mem, size);
}

static void test_slab_alloc_until_empty_then_free_all(void **state)
{
	struct fx *f = *state;
	void *p[100], *q = (void *)1;
	struct rg_region_stats s;

	for (int i = 0; i < 100; i++) {
		assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &p[i]), 0);
		assert_int_equal(((uintptr_t)p[i]) % 32, 0);
		assert_int_equal(rg_region_block_size(f->r, p[i]), 32);
		memset(p[i], 0xa5, 32); /* user data never touches the lists */
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(p[i], p[j]);
	}
	assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &q), -ENOMEM);
	assert_ptr_equal(q, (void *)1); /* untouched on error */
	rg_region_stats(f->r, &s);
	assert_int_equal(s.cls[0].in_use, 100);
	assert_int_equal(s.cls[0].free, 0);
	assert_int_equal(s.cls[0].hwm, 100);
	assert_int_equal(s.cls[0].failed, 1);
	assert_region_ok(f->r);
	for (int i = 0; i < 100; i++)
		assert_int_equal(rg_slab_free(f->r, p[i], A), 0);
	rg_region_stats(f->r, &s);
	assert_int_equal(s.cls[0].in_use, 0);
	assert_int_equal(s.cls[0].free, 100);
	assert_int_equal(s.cls[0].hwm, 100);
	assert_region_ok(f->r);
}

static void test_slab_free_errors_change_nothing(void **state)
{
	struct fx *f = *state;
	void *p, *q;
	int x;

	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), 0);
	assert_int_equal(rg_slab_alloc(f->r, 9, A, 0, &q), -EINVAL);
	assert_int_equal(rg_slab_free(f->r, p, B), -EPERM);        /* not the owner */
	assert_int_equal(rg_slab_free(f->r, (char *)p + 8, A), -EFAULT); /* not a block start */
	assert_int_equal(rg_slab_free(f->r, &x, A), -EFAULT);     /* not in the region */
	assert_int_equal(rg_slab_free(f->r, f->mem, A), -EFAULT); /* metadata */
	assert_region_ok(f->r);
	assert_int_equal(rg_slab_free(f->r, p, A), 0);
	assert_int_equal(rg_slab_free(f->r, p, A), -EALREADY); /* double free */
	assert_region_ok(f->r);
	/* padding past the last block of a class (class 1: 40 x 256 B in 3 pages) */
	char *c1 = (char *)f->mem + (uint64_t)(f->r->cls[1].data - (char *)f->mem);
	assert_int_equal(rg_slab_free(f->r, c1 + 40 * 256, A), -EFAULT);
}

/* The fixture's pool with 3 of class 2's 8 blocks kept as a reserve. */
static struct rg_region *reserve_region(void **ret_mem, size_t *ret_size)
{
	struct rg_pool_desc d = fixture_desc();
	struct rg_region *r;

	d.classes[2].reserve = 3;
	*ret_mem = fixture_map(&d, ret_size);
	assert_int_equal(rg_region_attach(*ret_mem, *ret_size, &r), 0);
	return r;
}

static void test_slab_reserve_only_for_granted(void **state)
{
	size_t size;
	void *mem, *p[10];
	struct rg_region *r = reserve_region(&mem, &size);

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(rg_slab_alloc(r, 2, A, 0, &p[i]), 0);
	assert_int_equal(rg_slab_alloc(r, 2, A, 0, &p[5]), -ENOMEM);
	for (int i = 5; i < 8; i++)
		assert_int_equal(rg_slab_alloc(r, 2, B, RG_ALLOC_RESERVE, &p[i]), 0);
	assert_int_equal(rg_slab_alloc(r, 2, B, RG_ALLOC_RESERVE, &p[8]), -ENOMEM);
	assert_region_ok(r);
	rg_region_detach(r);
	munmap(mem, size);
}

/* A block the tester holds comes out of the room of callers without the
 * grant, not out of the reserve. */
static void test_slab_reserve_whole_while_tester_holds_a_block(void **state)
{
	uint64_t len = 0, off;
	size_t size;
	void *mem, *p[10];
	struct rg_region *r = reserve_region(&mem, &size);

	(void)state;
	off = (uint64_t)(r->cls[2].data - (char *)mem) + 7 * 4096; /* the last block */
	assert_int_equal(rg_region_checkout(r, off, &len), 0);
	for (int i = 0; i < 4; i++) /* 8 - 3 reserved - 1 with the tester */
		assert_int_equal(rg_slab_alloc(r, 2, A, 0, &p[i]), 0);
	assert_int_equal(rg_slab_alloc(r, 2, A, 0, &p[4]), -ENOMEM);
	for (int i = 4; i < 7; i++) /* the whole reserve */
		assert_int_equal(rg_slab_alloc(r, 2, B, RG_ALLOC_RESERVE, &p[i]), 0);
	assert_int_equal(rg_slab_alloc(r, 2, B, RG_ALLOC_RESERVE, &p[7]), -ENOMEM);
	assert_region_ok(r);
	assert_int_equal(rg_region_checkin(r, off), 0);
	assert_int_equal(rg_slab_free(r, p[0], A), 0);
	assert_int_equal(rg_slab_alloc(r, 2, A, 0, &p[0]), -ENOMEM); /* 6 in use + 3 reserved > 8 */
	assert_int_equal(rg_slab_alloc(r, 2, B, RG_ALLOC_RESERVE, &p[0]), 0);
	assert_region_ok(r);
	rg_region_detach(r);
	munmap(mem, size);
}

static void test_buddy_split_and_coalesce(void **state)
{
	struct fx *f = *state;
	struct rg_region_stats s;
	void *a, *b, *c;

	assert_int_equal(rg_buddy_alloc(f->r, 1, A, 0, &a), 0); /* one min block: 64 B */
	assert_int_equal(rg_region_block_size(f->r, a), 64);
	assert_int_equal(rg_buddy_alloc(f->r, 100, A, 0, &b), 0);
	assert_int_equal(rg_region_block_size(f->r, b), 128);
	assert_int_equal(rg_buddy_alloc(f->r, 16384, B, 0, &c), 0);
	assert_int_equal(((uintptr_t)c - (uintptr_t)f->r->bdata) % 16384, 0);
	rg_region_stats(f->r, &s);
	assert_int_equal(s.order[6].in_use, 1);
	assert_int_equal(s.order[7].in_use, 1);
	assert_int_equal(s.order[14].in_use, 1);
	assert_int_equal(s.buddy_free, 65536 - 64 - 128 - 16384);
	assert_int_equal(s.buddy_largest_free, 16384);
	assert_region_ok(f->r);
	assert_int_equal(rg_buddy_free(f->r, a, A), 0);
	assert_int_equal(rg_buddy_free(f->r, b, A), 0);
	assert_int_equal(rg_buddy_free(f->r, c, B), 0);
	rg_region_stats(f->r, &s);
	assert_int_equal(s.buddy_free, 65536);
	assert_int_equal(s.order[14].free, 4); /* fully coalesced back */
	assert_int_equal(s.order[6].hwm, 1);
	assert_region_ok(f->r);
}

static void test_buddy_errors(void **state)
{
	struct fx *f = *state;
	struct rg_pool_desc d = fixture_desc();
	struct rg_region *r;
	void *p, *q[4], *big;
	size_t size;
	void *mem;

	assert_int_equal(rg_buddy_alloc(f->r, 16385, A, 0, &p), -E2BIG);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rg_buddy_alloc(f->r, 16384, A, 0, &q[i]), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 64, A, 0, &p), -ENOMEM);
	assert_int_equal(rg_buddy_free(f->r, q[0], B), -EPERM);
	assert_int_equal(rg_buddy_free(f->r, (char *)q[0] + 64, A), -EFAULT); /* inside a block */
	assert_int_equal(rg_buddy_free(f->r, (char *)q[0] + 1, A), -EFAULT);
	assert_int_equal(rg_buddy_free(f->r, q[0], A), 0);
	assert_int_equal(rg_buddy_free(f->r, q[0], A), -EALREADY);
	/* a slab address is not a buddy block; rg_region_free dispatches */
	assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &p), 0);
	assert_int_equal(rg_buddy_free(f->r, p, A), -EFAULT);
	size_t sz = 0;
	assert_int_equal(rg_region_free(f->r, p, A, &sz), 0);
	assert_int_equal(sz, 32); /* the size comes from the same lookup */
	assert_int_equal(rg_region_free(f->r, q[1], A, &sz), 0);
	assert_int_equal(sz, 16384);
	sz = 7;
	assert_int_equal(rg_region_free(f->r, q[1], A, &sz), -EALREADY);
	assert_int_equal(sz, 7); /* untouched on error */
	assert_region_ok(f->r);
	/* no buddy area at all */
	d.buddy.size = 0;
	mem = fixture_map(&d, &size);
	assert_int_equal(rg_region_attach(mem, size, &r), 0);
	assert_int_equal(rg_buddy_alloc(r, 64, A, 0, &big), -ENODEV);
	rg_region_detach(r);
	munmap(mem, size);
}

static void test_buddy_reserve(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct rg_region *r;
	size_t size;
	void *mem, *p[4];

	(void)state;
	d.buddy.reserve = 16384;
	mem = fixture_map(&d, &size);
	assert_int_equal(rg_region_attach(mem, size, &r), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rg_buddy_alloc(r, 16384, A, 0, &p[i]), 0);
	assert_int_equal(rg_buddy_alloc(r, 64, A, 0, &p[3]), -ENOMEM);
	assert_int_equal(rg_buddy_alloc(r, 16384, B, RG_ALLOC_RESERVE, &p[3]), 0);
	assert_region_ok(r);
	rg_region_detach(r);
	munmap(mem, size);
}

static void test_reclaim_frees_exactly_the_owners_blocks(void **state)
{
	struct fx *f = *state;
	struct rg_region_stats s;
	uint64_t bytes = 0;
	void *p;

	for (int i = 0; i < 10; i++) {
		assert_int_equal(rg_slab_alloc(f->r, (uint32_t)i % 3, i % 2 ? A : B, 0, &p), 0);
		assert_int_equal(rg_buddy_alloc(f->r, 64u << (i % 4), i % 2 ? A : B, 0, &p), 0);
	}
	/* A held slab classes 1,0,2,1,0 and buddy 128,512,128,512,128 */
	uint64_t blocks = 0, held = 0;
	rg_region_owner_usage(f->r, A, &blocks, &held);
	assert_int_equal(blocks, 10);
	assert_int_equal(held, 256 + 32 + 4096 + 256 + 32 + 128 + 512 + 128 + 512 + 128);
	assert_int_equal(rg_region_reclaim(f->r, A, &bytes), 10);
	rg_region_owner_usage(f->r, A, &blocks, &held);
	assert_int_equal(blocks + held, 0);
	assert_int_equal(bytes, 256 + 32 + 4096 + 256 + 32 + 128 + 512 + 128 + 512 + 128);
	rg_region_stats(f->r, &s);
	assert_int_equal(s.cls[0].in_use + s.cls[1].in_use + s.cls[2].in_use, 5);
	assert_int_equal(rg_region_reclaim(f->r, A, &bytes), 0);
	assert_int_equal(rg_region_reclaim(f->r, B, NULL), 10);
	rg_region_stats(f->r, &s);
	assert_int_equal(s.buddy_free, 65536);
	assert_region_ok(f->r);
}

/* A region like the fixture's with thread caches of @depth blocks per class. */
static struct fx *cached_fx(uint32_t depth)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->d = fixture_desc();
	f->d.cache = depth;
	f->d.nslots = 3;             /* owners A and B; caps count / 12 */
	f->d.classes[2].count = 96;  /* cap 8, like class 0's */
	f->mem = fixture_map(&f->d, &f->size);
	assert_non_null(f->mem);
	assert_int_equal(rg_region_attach(f->mem, f->size, &f->r), 0);
	assert_int_equal(rg_region_cache(f->r), depth);
	return f;
}

static uint64_t class_in_use(const struct rg_region *r, uint32_t c)
{
	struct rg_region_stats s;

	rg_region_stats(r, &s);
	return s.cls[c].in_use;
}

static void test_cache_depth_is_validated(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct rg_footprint fp;

	(void)state;
	d.cache = RG_CACHE_MAX + 1;
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d.cache = RG_CACHE_MAX;
	assert_int_equal(rg_region_layout(&d, &fp), 0);
}

/* A class's cap is the depth, but at most count / (4 x slots). */
static void test_cache_cap_leaves_three_quarters_of_a_class(void **state)
{
	struct fx *f = cached_fx(RG_CACHE_MAX);
	struct rg_slab_cache tc[3];

	(void)state;
	assert_int_equal(rg_slab_cache_cap(f->r, 0), 100 / 12); /* below the depth of 15 */
	assert_int_equal(rg_slab_cache_cap(f->r, 1), 40 / 12);
	assert_int_equal(rg_slab_cache_cap(f->r, 3), 0);
	rg_slab_cache_init(f->r, tc);
	assert_int_equal(tc[1].cap, 3);
	teardown((void **)&f);
	f = cached_fx(2);
	assert_int_equal(rg_slab_cache_cap(f->r, 0), 2); /* the depth when the class is big enough */
	teardown((void **)&f);
	f = cached_fx(7);
	assert_int_equal(rg_slab_cache_cap(f->r, 0), 7); /* 100 / 12 = 8 would allow more */
	teardown((void **)&f);
	/* the fixture's 8 blocks of 4 KiB among 16 slots: no cache for that class */
	f = calloc(1, sizeof(*f));
	f->d = fixture_desc();
	f->d.cache = 4;
	f->mem = fixture_map(&f->d, &f->size);
	assert_non_null(f->mem);
	assert_int_equal(rg_region_attach(f->mem, f->size, &f->r), 0);
	assert_int_equal(rg_slab_cache_cap(f->r, 2), 0);
	assert_int_equal(rg_slab_cache_cap(f->r, 0), 1); /* 100 / 64 */
	teardown((void **)&f);
}

static void test_cache_free_then_alloc_reuses_block_without_shared_list(void **state)
{
	struct fx *f = cached_fx(3);
	struct rg_slab_cache tc[3];
	void *p[5], *q;

	(void)state;
	rg_slab_cache_init(f->r, tc);
	assert_int_equal(rg_slab_cache_alloc(f->r, tc, 1, A, &q), -EAGAIN);
	for (int i = 0; i < 5; i++)
		assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p[i]), 0);
	/* three fit in the cache: still in use, still A's, not allocatable by B */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rg_slab_cache_free(f->r, tc, p[i], A), 0);
		assert_int_equal(rg_region_block_size(f->r, p[i]), 0); /* not allocated */
	}
	assert_int_equal(tc[1].n, 3);
	assert_int_equal(class_in_use(f->r, 1), 5);
	uint64_t blocks = 0, held = 0;
	rg_region_owner_usage(f->r, A, &blocks, &held);
	assert_int_equal(blocks, 5);
	assert_int_equal(held, 5 * 256);
	assert_region_ok(f->r);
	/* the fourth goes to the shared list and reports its size */
	assert_int_equal(rg_slab_cache_free(f->r, tc, p[3], A), 256);
	assert_int_equal(class_in_use(f->r, 1), 4);
	/* last in, first out, and allocated again */
	assert_int_equal(rg_slab_cache_alloc(f->r, tc, 1, A, &q), 0);
	assert_ptr_equal(q, p[2]);
	assert_int_equal(rg_region_block_size(f->r, q), 256);
	assert_int_equal(rg_slab_cache_alloc(f->r, tc, 7, A, &q), -EINVAL);
	assert_int_equal(tc[1].n, 2);
	assert_region_ok(f->r);
	teardown((void **)&f);
}

static void test_cache_free_errors_change_nothing(void **state)
{
	struct fx *f = cached_fx(3);
	struct rg_slab_cache tc[3];
	size_t bytes;
	void *p, *b;

	(void)state;
	rg_slab_cache_init(f->r, tc);
	assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &p), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 64, A, 0, &b), 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, p, B), -EPERM);
	assert_int_equal(rg_slab_cache_free(f->r, tc, (char *)p + 8, A), -EFAULT);
	assert_int_equal(rg_slab_cache_free(f->r, tc, b, A), -EFAULT); /* buddy: not here */
	assert_int_equal(rg_slab_cache_free(f->r, tc, (char *)f->mem - 4096, A), -EFAULT);
	assert_int_equal(tc[0].n, 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, p, A), 0);
	/* a double free is caught while the block sits in the cache, by either path */
	assert_int_equal(rg_slab_cache_free(f->r, tc, p, A), -EALREADY);
	assert_int_equal(rg_slab_free(f->r, p, A), -EALREADY);
	assert_int_equal(rg_region_free(f->r, p, A, NULL), -EALREADY);
	assert_int_equal(tc[0].n, 1);
	/* the tester cannot take a cached block */
	assert_int_equal(rg_region_checkout(f->r, (uint64_t)((char *)p - (char *)f->mem), &bytes), -EBUSY);
	assert_int_equal(rg_region_mark_bad(f->r, (uint64_t)((char *)p - (char *)f->mem)), -EBUSY);
	assert_int_equal(rg_buddy_free(f->r, b, A), 0);
	assert_region_ok(f->r);
	teardown((void **)&f);
}

/* A free tries the hint's class (the last allocated) first; a block of any
 * other class still lands in its own class's cache, and the hint follows it.
 * Something that is not a block is refused whichever class the hint names. */
static void test_cache_free_finds_the_class_whatever_the_hint(void **state)
{
	struct fx *f = cached_fx(3);
	struct rg_slab_cache tc[3];
	void *p[3], *q;

	(void)state;
	rg_slab_cache_init(f->r, tc);
	assert_int_equal(tc[0].hint, RG_CACHE_HINT(0));
	for (uint32_t c = 0; c < 3; c++)
		assert_int_equal(rg_slab_alloc(f->r, c, A, 0, &p[c]), 0);
	assert_int_equal(rg_slab_cache_alloc(f->r, tc, 1, A, &q), -EAGAIN);
	assert_int_equal(tc[0].hint, RG_CACHE_HINT(1));
	/* not blocks: inside one of the hint's class, inside one of another's */
	assert_int_equal(rg_slab_cache_free(f->r, tc, (char *)p[1] + 8, A), -EFAULT);
	assert_int_equal(rg_slab_cache_free(f->r, tc, (char *)p[2] + 8, A), -EFAULT);
	assert_int_equal(tc[0].hint, RG_CACHE_HINT(1));
	/* blocks of other classes than the hint's: each into its own cache */
	assert_int_equal(rg_slab_cache_free(f->r, tc, p[2], A), 0);
	assert_int_equal(tc[0].hint, RG_CACHE_HINT(2));
	assert_int_equal(rg_slab_cache_free(f->r, tc, p[0], A), 0);
	assert_int_equal(tc[0].hint, RG_CACHE_HINT(0));
	assert_int_equal(rg_slab_cache_free(f->r, tc, p[1], A), 0);
	for (uint32_t c = 0; c < 3; c++)
		assert_int_equal(tc[c].n, 1);
	/* the hint's class's own block, freed twice */
	assert_int_equal(rg_slab_cache_alloc(f->r, tc, 2, A, &q), 0);
	assert_ptr_equal(q, p[2]);
	assert_int_equal(rg_slab_cache_free(f->r, tc, q, A), 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, q, A), -EALREADY);
	assert_int_equal(tc[2].n, 1);
	assert_region_ok(f->r);
	assert_int_equal(rg_slab_cache_flush(f->r, tc, A), 32 + 256 + 4096);
	assert_region_ok(f->r);
	teardown((void **)&f);
}

/* Without slab classes a cache holds nothing, but a free still reads the
 * hint: rg_slab_cache_init() sets it in the one entry the caller gives,
 * whatever was there, and a buddy block is refused for rg_region_free(). */
static void test_cache_free_without_classes_refuses_buddy_blocks(void **state)
{
	struct fx f = { .d = fixture_desc() };
	struct rg_slab_cache tc[1];
	void *b;

	(void)state;
	f.d.nclasses = 0;
	f.mem = fixture_map(&f.d, &f.size);
	assert_non_null(f.mem);
	assert_int_equal(rg_region_attach(f.mem, f.size, &f.r), 0);
	memset(tc, 0xa5, sizeof(tc));
	rg_slab_cache_init(f.r, tc);
	assert_int_equal(tc[0].hint, RG_CACHE_HINT(0));
	assert_int_equal(tc[0].n, 0);
	assert_int_equal(rg_buddy_alloc(f.r, 64, A, 0, &b), 0);
	assert_int_equal(rg_slab_cache_free(f.r, tc, b, A), -EFAULT);
	assert_int_equal(rg_slab_cache_free(f.r, tc, f.mem, A), -EFAULT);
	assert_int_equal(rg_slab_cache_flush(f.r, tc, A), 0);
	assert_int_equal(rg_region_free(f.r, b, A, NULL), 0);
	assert_region_ok(f.r);
	rg_region_detach(f.r);
	munmap(f.mem, f.size);
}

static void test_cache_overwritten_state_is_detected(void **state)
{
	struct fx *f = cached_fx(2);
	struct rg_slab_cache tc[3];
	size_t bytes;
	void *p, *q;

	(void)state;
	rg_slab_cache_init(f->r, tc);
	assert_int_equal(rg_slab_alloc(f->r, 2, A, 0, &p), 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, p, A), 0);
	/* the daemon reclaims A meanwhile (A was taken for dead): the cache must not hand it out */
	assert_int_equal(rg_region_reclaim(f->r, A, &bytes), 1);
	assert_int_equal(bytes, 4096);
	assert_int_equal(rg_slab_alloc(f->r, 2, B, 0, &q), 0);
	assert_ptr_equal(q, p);
	assert_int_equal(rg_slab_cache_alloc(f->r, tc, 2, A, &q), -EUCLEAN);
	assert_int_equal(rg_region_block_size(f->r, p), 4096); /* still B's */
	assert_int_equal(rg_slab_free(f->r, p, B), 0);
	/* a flush drops what is no longer ours and gives back the rest */
	assert_int_equal(rg_slab_alloc(f->r, 2, A, 0, &p), 0);
	assert_int_equal(rg_slab_alloc(f->r, 2, A, 0, &q), 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, p, A), 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, q, A), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 2);
	assert_int_equal(rg_slab_alloc(f->r, 2, A, 0, &p), 0);
	/* the stale entries name p (allocated again) and a free block: neither comes out */
	assert_int_equal(rg_slab_cache_alloc(f->r, tc, 2, A, &q), -EUCLEAN);
	assert_int_equal(rg_slab_cache_flush(f->r, tc, A), 0);
	assert_int_equal(tc[2].n, 0);
	assert_int_equal(class_in_use(f->r, 2), 1);
	assert_int_equal(rg_slab_free(f->r, p, A), 0);
	assert_region_ok(f->r);
	teardown((void **)&f);
}

static void test_cache_flush_and_reclaim_return_every_block(void **state)
{
	struct fx *f = cached_fx(RG_CACHE_MAX);
	struct rg_slab_cache tc[3];
	void *p[3][RG_CACHE_MAX];
	size_t bytes;

	(void)state;
	rg_slab_cache_init(f->r, tc); /* caps 8, 3, 8 */
	for (uint32_t c = 0; c < 3; c++)
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(rg_slab_alloc(f->r, c, A, 0, &p[c][i]), 0);
	for (uint32_t c = 0; c < 3; c++)
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(rg_slab_cache_free(f->r, tc, p[c][i], A), 0);
	assert_region_ok(f->r);
	assert_int_equal(rg_slab_cache_flush(f->r, tc, A), 3 * (32 + 256 + 4096));
	for (uint32_t c = 0; c < 3; c++) {
		assert_int_equal(tc[c].n, 0);
		assert_int_equal(class_in_use(f->r, c), 0);
	}
	assert_region_ok(f->r);
	/* a dead owner's cached blocks are reclaimed with its allocated ones */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &p[0][i]), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(rg_slab_cache_free(f->r, tc, p[0][i], A), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, &bytes), 4);
	assert_int_equal(bytes, 4 * 32);
	assert_int_equal(class_in_use(f->r, 0), 0);
	assert_region_ok(f->r);
	teardown((void **)&f);
}

static void test_checkout_hands_block_to_tester_not_allocator(void **state)
{
	struct fx *f = *state;
	struct rg_cls *k = &f->r->cls[2];
	uint64_t off = (uint64_t)(k->data - (char *)f->mem), len = 0;
	void *p[8];

	/* the head of class 2's list is block 0: check it out while listed */
	assert_int_equal(rg_region_checkout(f->r, off, &len), 0);
	assert_int_equal(len, 4096);
	assert_int_equal(rg_region_checkout(f->r, off, &len), -EBUSY);
	assert_region_ok(f->r);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(rg_slab_alloc(f->r, 2, A, 0, &p[i]), 0);
		assert_ptr_not_equal(p[i], (char *)f->mem + off); /* never the tester's block */
	}
	assert_int_equal(rg_slab_alloc(f->r, 2, A, 0, &p[7]), -ENOMEM);
	assert_int_equal(RG_ST(k->state[0]), RG_BLK_CHECKOUT_U);
	assert_region_ok(f->r);
	assert_int_equal(rg_region_checkin(f->r, off), 0); /* pushed back */
	assert_int_equal(rg_region_checkin(f->r, off), -EINVAL);
	assert_int_equal(rg_slab_alloc(f->r, 2, A, 0, &p[7]), 0);
	assert_ptr_equal(p[7], (char *)f->mem + off);
	assert_int_equal(rg_region_checkout(f->r, off, &len), -EBUSY); /* allocated */
	assert_int_equal(rg_region_checkout(f->r, 12, &len), -EFAULT);
	assert_region_ok(f->r);
}

/*
 * A merge leaves the upper buddy's head behind as a stale FREE word inside
 * the merged block. The tester finds a block, lets go of the lock, and checks
 * it out later: by then it may be such a stale head, which must be refused,
 * not unlinked from a list it is no longer on.
 */
static void test_checkout_refuses_a_head_merged_away(void **state)
{
	struct fx *f = *state;
	uint64_t off, len = 0;
	void *a, *b;

	assert_int_equal(rg_buddy_alloc(f->r, 64, A, 0, &a), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 64, A, 0, &b), 0);
	assert_ptr_equal((char *)b, (char *)a + 64);
	assert_int_equal(rg_buddy_free(f->r, b, A), 0); /* b is a free head: a is allocated */
	off = (uint64_t)((char *)b - (char *)f->mem);
	assert_int_equal(rg_buddy_free(f->r, a, A), 0); /* merges b away */
	assert_int_equal(RG_ST(f->r->bstate[1]), RG_BLK_FREE); /* the stale head */
	assert_int_equal(rg_region_checkout(f->r, off, &len), -EFAULT);
	assert_int_equal(rg_buddy_free(f->r, b, A), -EALREADY); /* inside a free block */
	assert_region_ok(f->r);
	assert_int_equal(rg_region_checkout(f->r, off - 64, &len), 0); /* the merged block */
	assert_int_equal(len, 16384);
	assert_int_equal(rg_region_checkin(f->r, off - 64), 0);
	assert_region_ok(f->r);
}

static void test_mark_bad_slab_block_never_handed_out(void **state)
{
	struct fx *f = *state;
	struct rg_region_stats s;
	uint64_t off = (uint64_t)(f->r->cls[1].data - (char *)f->mem) + 256 * 5 + 17, len;
	void *p;
	int n = 0;

	assert_int_equal(rg_region_mark_bad(f->r, off), 0); /* any byte names the block */
	assert_int_equal(rg_region_mark_bad(f->r, off), -EALREADY);
	while (rg_slab_alloc(f->r, 1, A, 0, &p) == 0) {
		assert_ptr_not_equal(p, (char *)f->mem + (uint64_t)(f->r->cls[1].data - (char *)f->mem) + 256 * 5);
		n++;
	}
	assert_int_equal(n, 39);
	rg_region_stats(f->r, &s);
	assert_int_equal(s.cls[1].bad, 1);
	assert_int_equal(s.cls[1].free, 0);
	assert_region_ok(f->r);
	/* tester's path: check out, fault found, quarantine */
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 39);
	off = (uint64_t)(f->r->cls[0].data - (char *)f->mem);
	assert_int_equal(rg_region_checkout(f->r, off, &len), 0);
	assert_int_equal(rg_region_mark_bad(f->r, off + 4), 0);
	assert_int_equal(rg_region_checkin(f->r, off), -EINVAL);
	assert_region_ok(f->r);
	assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &p), 0);
	assert_int_equal(rg_region_mark_bad(f->r, (uint64_t)((char *)p - (char *)f->mem)), -EBUSY);
}

static void test_mark_bad_buddy_isolates_one_min_block(void **state)
{
	struct fx *f = *state;
	struct rg_region_stats s;
	uint64_t boff = f->r->bdata_off, off, len;
	void *p;

	/* a fault in the middle of the first 16 KiB free block */
	assert_int_equal(rg_region_mark_bad(f->r, boff + 5000), 0);
	rg_region_stats(f->r, &s);
	assert_int_equal(s.order[6].bad, 1);
	assert_int_equal(s.buddy_free, 65536 - 64);
	assert_region_ok(f->r);
	assert_int_equal(rg_region_mark_bad(f->r, boff + 5010), -EALREADY);
	/* the tester's sweep: next block after the bad one, check out, check in */
	assert_int_equal(rg_region_next_block(f->r, boff + 5000 / 64 * 64 + 1, &off, &len), 0);
	assert_int_equal(off, boff + 5000 / 64 * 64 + 64);
	assert_int_equal(rg_region_checkout(f->r, off, &len), 0);
	assert_int_equal(rg_region_mark_bad(f->r, off + len - 1), 0); /* fault at its end */
	assert_region_ok(f->r);
	/* a whole allocation sweep never returns a bad min-block */
	while (rg_buddy_alloc(f->r, 64, A, 0, &p) == 0) {
		uint64_t o = (uint64_t)((char *)p - (char *)f->mem);
		assert_true(o != boff + 5000 / 64 * 64 && o != off + len - 64);
	}
	rg_region_stats(f->r, &s);
	assert_int_equal(s.order[6].in_use, 1024 - 2);
	assert_region_ok(f->r);
}

static void test_next_block_sweeps_every_block_once(void **state)
{
	struct fx *f = *state;
	uint64_t off = 0, len, n = 0, bytes = 0;
	void *p;

	assert_int_equal(rg_buddy_alloc(f->r, 200, A, 0, &p), 0); /* splits the first block */
	while (rg_region_next_block(f->r, off, &off, &len) == 0) {
		n++;
		bytes += len;
		off += len;
	}
	/* 148 slab blocks; buddy: 256, 256, 512, 1K, 2K, 4K, 8K, then 3 x 16K */
	assert_int_equal(n, 148 + 10);
	assert_int_equal(bytes, 100 * 32 + 40 * 256 + 8 * 4096 + 65536);
}

static void test_check_reports_corruption(void **state)
{
	struct fx *f = *state;
	struct rg_cls *k = &f->r->cls[0];
	char msg[256];
	uint32_t saved;
	uint64_t w;

	saved = k->next[3];
	k->next[3] = 2; /* 0 -> 1 -> 2 -> 3 -> 2: a cycle */
	assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "cycle"));
	k->next[3] = 1000; /* out of bounds */
	assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "out of bounds"));
	k->next[3] = saved;
	w = k->state[7];
	k->state[7] = RG_WORD(RG_BLK_ALLOC, 0, A); /* allocated but listed */
	assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "block 7"));
	k->state[7] = w;
	atomic_fetch_sub(&k->ctl->pushed, 1);
	assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "in_use"));
	atomic_fetch_add(&k->ctl->pushed, 1);
	assert_region_ok(f->r);
	/* buddy: a tail overwritten (an allocated head, and a free one of a
	 * misaligned order: only aligned stale free heads may stay inside), a
	 * list head pointing nowhere */
	w = f->r->bstate[1];
	f->r->bstate[1] = RG_WORD(RG_BLK_ALLOC, 6, A);
	assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "neither TAIL"));
	f->r->bstate[1] = RG_WORD(RG_BLK_FREE, 7, 0);
	assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "neither TAIL"));
	f->r->bstate[1] = RG_WORD(RG_BLK_FREE, 6, 0); /* what a merge leaves behind */
	assert_region_ok(f->r);
	f->r->bstate[1] = w;
	saved = f->r->link[f->r->nmin + 14].next;
	f->r->link[f->r->nmin + 14].next = 0x7fffffff;
	assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "out of bounds"));
	f->r->link[f->r->nmin + 14].next = saved;
	assert_region_ok(f->r);
	/* the last slot owns blocks like any other; one past it is no slot */
	{
		uint32_t last = rg_region_nslots(f->r);
		void *p;
		uint64_t i;

		assert_int_equal(rg_slab_alloc(f->r, 0, rg_owner(last, 1), 0, &p), 0);
		assert_region_ok(f->r);
		assert_int_equal(rg_slab_free(f->r, p, rg_owner(last, 1)), 0);
		assert_int_equal(rg_buddy_alloc(f->r, 64, rg_owner(last, 1), 0, &p), 0);
		assert_region_ok(f->r);
		i = (uint64_t)((char *)p - f->r->bdata) >> f->r->min_order;
		w = f->r->bstate[i];
		f->r->bstate[i] = RG_WORD(RG_BLK_ALLOC, RG_ORD(w), rg_owner(last + 1, 1));
		assert_int_equal(rg_region_check(f->r, msg, sizeof(msg)), -EUCLEAN);
		assert_non_null(strstr(msg, "owned by slot"));
		f->r->bstate[i] = w;
		assert_int_equal(rg_buddy_free(f->r, p, rg_owner(last, 1)), 0);
		assert_region_ok(f->r);
	}
}

static void test_corrupt_shared_indices_do_not_crash_fast_paths(void **state)
{
	struct fx *f = *state;
	struct rg_cls *k = &f->r->cls[1];
	void *p = NULL;

	atomic_store(&k->ctl->head, 0xdeadbeef00000000ull); /* head index out of bounds */
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), -EUCLEAN);
	atomic_store(&k->ctl->head, 0);
	k->state[0] = 0x99; /* garbage state word */
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), -EUCLEAN);
	assert_null(p);
	atomic_store(&k->ctl->head, 0);
	k->state[0] = RG_WORD(RG_BLK_FREE, 0, 0);
	k->next[0] = 77777; /* a link out of bounds: checked when it is the head */
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), 0);
	p = NULL;
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), -EUCLEAN);
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), -EUCLEAN); /* and stays refused */
	assert_null(p);
	/* buddy: a list head out of bounds */
	f->r->link[f->r->nmin + 14].next = 0x7ffffff0;
	assert_int_equal(rg_buddy_alloc(f->r, 16384, A, 0, &p), -EUCLEAN);
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_rejects_bad_descriptions),
		cmocka_unit_test_setup_teardown(test_layout_footprint_is_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_rejects_foreign_or_corrupt_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_record_round_trips_and_rejects_bad_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slab_class_for_policies, setup, teardown),
		cmocka_unit_test(test_slab_class_for_matches_a_scan),
		cmocka_unit_test_setup_teardown(test_slab_alloc_until_empty_then_free_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slab_free_errors_change_nothing, setup, teardown),
		cmocka_unit_test(test_slab_reserve_only_for_granted),
		cmocka_unit_test(test_slab_reserve_whole_while_tester_holds_a_block),
		cmocka_unit_test_setup_teardown(test_buddy_split_and_coalesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buddy_errors, setup, teardown),
		cmocka_unit_test(test_buddy_reserve),
		cmocka_unit_test_setup_teardown(test_reclaim_frees_exactly_the_owners_blocks, setup, teardown),
		cmocka_unit_test(test_cache_depth_is_validated),
		cmocka_unit_test(test_cache_cap_leaves_three_quarters_of_a_class),
		cmocka_unit_test(test_cache_free_then_alloc_reuses_block_without_shared_list),
		cmocka_unit_test(test_cache_free_errors_change_nothing),
		cmocka_unit_test(test_cache_free_finds_the_class_whatever_the_hint),
		cmocka_unit_test(test_cache_free_without_classes_refuses_buddy_blocks),
		cmocka_unit_test(test_cache_overwritten_state_is_detected),
		cmocka_unit_test(test_cache_flush_and_reclaim_return_every_block),
		cmocka_unit_test_setup_teardown(test_checkout_hands_block_to_tester_not_allocator, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkout_refuses_a_head_merged_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_bad_slab_block_never_handed_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_bad_buddy_isolates_one_min_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_block_sweeps_every_block_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_reports_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_shared_indices_do_not_crash_fast_paths, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
