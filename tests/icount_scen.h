/* SPDX-License-Identifier: MIT */
/*
 * icount_scen.h - the scenarios whose instructions are counted: x86-64 by
 * ptrace (tests/test_icount.c), arm64 under qemu-user
 * (tests/icount_qemu_driver.c). One copy, so both count the same calls.
 *
 * The includer defines ICOUNT_ARM(tag, fn) (the next call of fn is counted
 * under tag) and may define ICOUNT_BUDDY_START(desc) (run before a buddy
 * scenario), and seeds rnd_state before each scenario.
 *
 * Scenarios:
 *   drive_slab(bytes, fill, calls): nine classes 16..4096 B (equal bytes
 *     each, thread cache depth 4) filled to fill %, at least one block left
 *     free; calls x (counted alloc of a random class, counted free of a random
 *     allocated block of it); then drive_cache() on the same region.
 *   drive_reserve(calls): the 1 MiB slab region with 8 blocks of class 3 in
 *     reserve; allocations without and with the grant.
 *   drive_share(calls), after drive_slab(): the longest paths of sharing.
 *     An open that finds the one free record of its slot last, a share that
 *     adds the sixth holder, a release of the holder in the last entry, and
 *     the last release, which closes the record.
 *   drive_steal(calls), after drive_share(): 64 B in 4 stripes, the
 *     caller's home and the next two empty; a counted steal that finds its
 *     block in the last stripe it tries (the longest), then a free.
 *   drive_buddy(bytes, fill, calls): 16 B..1 MiB (1 GiB: 1 KiB..1 GiB), filled
 *     with random orders min..min+8 to fill % of the bytes; calls x (counted
 *     alloc of a random order, counted free of a random block).
 */
#ifndef RTMEM_TEST_ICOUNT_SCEN_H
#define RTMEM_TEST_ICOUNT_SCEN_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "region.h"

#ifndef ICOUNT_BUDDY_START
#define ICOUNT_BUDDY_START(d) ((void)(d))
#endif

#define ISCEN_GIB (1024ull * 1024 * 1024)

/* Tags of the counted calls. */
enum iscen_tag {
	T_ALLOC, T_FREE, T_ALLOC_HWM, T_CALLOC, T_CFREE, T_CFREE_FULL, T_RSV_OTHER, T_RSV_GRANTED, T_CFREE_MISS,
	T_BCALLOC, T_BCFREE, T_SH_OPEN, T_SH_ADD, T_SH_REL, T_SH_LAST, T_STEAL, ISCEN_NTAGS
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

enum kind { SLAB, BUDDY };

static struct rg_pool_desc scen_desc(enum kind kind, uint64_t bytes)
{
	struct rg_pool_desc d;

	memset(&d, 0, sizeof(d));
	d.nslots = 4;
	d.policy = RG_POLICY_NEXT_FIT;
	if (kind == SLAB) {
		d.cache = 4;
		d.nclasses = 9;
		for (unsigned c = 0; c < 9; c++) {
			uint32_t size = 16u << c;

			d.classes[c] = (struct rg_slab_desc){ .size = size, .count = (uint32_t)(bytes / 9 / size) };
		}
	} else {
		d.buddy.size = bytes;
		d.buddy.min_order = bytes >= ISCEN_GIB ? 10 : 4;
		d.buddy.max_order = bytes >= ISCEN_GIB ? 30 : 20;
	}
	return d;
}

static struct rg_region *scen_map(const struct rg_pool_desc *d)
{
	struct rg_footprint fp;
	struct rg_region *r;
	void *mem;

	if (rg_region_layout(d, &fp) < 0)
		return NULL;
	mem = mmap(NULL, fp.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	if (rg_region_format(mem, fp.total, d) < 0 || rg_region_attach(mem, fp.total, &r) < 0)
		return NULL;
	return r;
}

/* Thread cache: per call and random class, allocate (from the cache when it
 * holds a block of the class: counted) or free one of up to 8 blocks we keep
 * (into the cache, counted apart as of the hint's class or not; or on to the
 * list when it is full, counted apart). */
static int drive_cache(unsigned ncall, struct rg_region *r, const struct rg_pool_desc *d)
{
	const uint64_t me = rg_owner(1, 1);
	struct rg_slab_cache tc[RG_MAX_CLASSES];
	void *mine[RG_MAX_CLASSES][8];
	unsigned n[RG_MAX_CLASSES] = { 0 };
	void *p;
	int rc;

	rg_slab_cache_init(r, tc);
	for (unsigned i = 0; i < ncall; i++) {
		uint32_t c = rnd_below(d->nclasses);

		if (n[c] == 0 || (n[c] < 8 && rnd_below(2))) {
			if (tc[c].n) {
				ICOUNT_ARM(T_CALLOC, (const void *)rg_slab_cache_alloc);
				rc = rg_slab_cache_alloc(r, tc, c, me, &p);
			} else {
				rc = rg_slab_alloc(r, c, me, 0, &p);
			}
			if (rc == -ENOMEM)
				continue;
			if (rc != 0)
				return rc;
			mine[c][n[c]++] = p;
		} else {
			unsigned v = rnd_below(n[c]);
			void *victim = mine[c][v];
			long rb;

			mine[c][v] = mine[c][--n[c]];
			/* into the cache, the block of the hint's class or not; or full */
			ICOUNT_ARM(tc[c].n >= tc[c].cap			    ? T_CFREE_FULL
				   : tc[0].hint == RG_CACHE_HINT(c) ? T_CFREE
									  : T_CFREE_MISS,
				   (const void *)rg_slab_cache_free);
			rb = rg_slab_cache_free(r, tc, victim, me);
			if (rb < 0)
				return (int)rb;
		}
	}
	return 0;
}

/* Sharing: 8 client slots, 6 of them holders; each round opens a block with
 * 15 of the opener's 16 records in use, adds holders up to the sixth, and
 * releases them (see the header). */
static int drive_share(unsigned ncall)
{
	struct rg_pool_desc d = scen_desc(SLAB, 1024 * 1024);
	struct rg_region *r;
	uint64_t id[RG_SHARE_HOLDERS];
	void *held[16], *p;

	d.nslots = 8;
	r = scen_map(&d);
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < RG_SHARE_HOLDERS; i++) {
		struct rg_slot_record rec = { .owner = rg_owner(1 + i, 1), .pid = 1 };

		id[i] = rec.owner;
		if (rg_region_slot_set(r, 1 + i, &rec) != 0)
			return -EPROTO;
	}
	for (unsigned k = 0; k < 15; k++) /* the opener's records, all but the last */
		if (rg_slab_alloc(r, 0, id[0], 0, &held[k]) != 0 || rg_region_share(r, held[k], id[0], id[1]) != RG_SHARE_OPENED)
			return -EPROTO;
	for (unsigned i = 0; i < ncall; i++) {
		int rc;

		if (rg_slab_alloc(r, 1, id[0], 0, &p) != 0)
			return -ENOMEM;
		ICOUNT_ARM(T_SH_OPEN, (const void *)rg_region_share);
		if (rg_region_share(r, p, id[0], id[1]) != RG_SHARE_OPENED)
			return -EPROTO;
		for (uint32_t h = 2; h < RG_SHARE_HOLDERS; h++) {
			if (h == RG_SHARE_HOLDERS - 1)
				ICOUNT_ARM(T_SH_ADD, (const void *)rg_region_share);
			if (rg_region_share(r, p, id[h - 1], id[h]) != 0)
				return -EPROTO;
		}
		for (uint32_t h = 0; h < RG_SHARE_HOLDERS - 1; h++) {
			if (h == RG_SHARE_HOLDERS - 2) /* ids 0..4 gone: id 4 held the fifth entry */
				ICOUNT_ARM(T_SH_REL, (const void *)rg_region_release);
			if (rg_region_release(r, p, id[h]) != 0)
				return -EPROTO;
		}
		ICOUNT_ARM(T_SH_LAST, (const void *)rg_region_release);
		rc = rg_region_release(r, p, id[RG_SHARE_HOLDERS - 1]);
		if (rc != RG_SHARE_CLOSED || rg_slab_free(r, p, id[RG_SHARE_HOLDERS - 1]) != 0)
			return -EPROTO;
	}
	return 0;
}

/* Stealing (lib/core/stripe.c): home stripe 0 and stripes 1 and 2 empty,
 * so each counted steal pops two empty lists and finds its block in the
 * third, the most a steal over 4 stripes does. */
static int drive_steal(unsigned ncall)
{
	const uint64_t me = rg_owner(1, 1);
	struct rg_pool_desc d = scen_desc(SLAB, 1024 * 1024);
	struct rg_region *r;
	void *p;

	d.cache = 0;
	d.nclasses = 4;
	for (unsigned c = 0; c < 4; c++)
		d.classes[c] = (struct rg_slab_desc){ .size = 64, .count = c < 3 ? 8 : ncall + 1 };
	r = scen_map(&d);
	if (!r || rg_region_stripes(r) != 4)
		return -ENOMEM;
	for (unsigned c = 0; c < 3; c++)
		for (unsigned i = 0; i < 8; i++)
			if (rg_slab_alloc(r, c, me, 0, &p) != 0)
				return -EPROTO;
	for (unsigned i = 0; i < ncall; i++) {
		if (rg_slab_alloc(r, 0, me, 0, &p) != -ENOMEM)
			return -EPROTO;
		ICOUNT_ARM(T_STEAL, (const void *)rg_slab_alloc_steal);
		if (rg_slab_alloc_steal(r, 0, me, 0, &p) != 0 || rg_slab_free(r, p, me) != 0)
			return -EPROTO;
	}
	return 0;
}

/* Slab: every class filled to @fill %, one block at least left free; then
 * a counted allocation of a random class and a counted free of a random
 * allocated block of it, @ncall times; then the thread cache. */
static int drive_slab(uint64_t bytes, unsigned fill, unsigned ncall)
{
	const uint64_t me = rg_owner(1, 1);
	int rc;
	struct rg_pool_desc d = scen_desc(SLAB, bytes);
	struct rg_region *r = scen_map(&d);
	char *base[RG_MAX_CLASSES];
	void *p;

	if (!r)
		return -ENOMEM;
	for (uint32_t c = 0; c < d.nclasses; c++) {
		uint64_t n = (uint64_t)d.classes[c].count * fill / 100;

		if (n >= d.classes[c].count)
			n = d.classes[c].count - 1;
		base[c] = NULL;
		for (uint64_t i = 0; i < n; i++) {
			if (rg_slab_alloc(r, c, me, 0, &p) != 0)
				return -ENOMEM;
			if (!base[c])
				base[c] = p; /* a fresh class pops block 0 first */
		}
	}
	for (unsigned i = 0; i < ncall; i++) {
		uint32_t c = rnd_below(d.nclasses), size = d.classes[c].size;
		struct rg_region_stats rs;
		void *victim;

		rg_region_stats(r, &rs); /* will this allocation set a new high-water mark? */
		ICOUNT_ARM(rs.cls[c].in_use + 1 > rs.cls[c].hwm ? T_ALLOC_HWM : T_ALLOC, (const void *)rg_slab_alloc);
		rc = rg_slab_alloc(r, c, me, 0, &p);
		if (rc != 0)
			return rc;
		victim = p;
		for (unsigned t = 0; base[c] && t < 64 && rnd_below(100) < fill; t++) {
			char *q = base[c] + (uint64_t)rnd_below(d.classes[c].count) * size;

			if (rg_region_block_size(r, q) == size) {
				victim = q;
				break;
			}
		}
		ICOUNT_ARM(T_FREE, (const void *)rg_slab_free);
		rc = rg_slab_free(r, victim, me);
		if (rc != 0)
			return rc;
	}
	rc = drive_cache(ncall, r, &d);
	rc = rc ? rc : drive_share(ncall < 50 ? ncall : 50);
	return rc ? rc : drive_steal(ncall < 50 ? ncall : 50);
}

/* A class with a reserve (class 3 keeps 8 blocks): an allocation without the
 * grant checks the reserve first; one with it takes the plain pop. */
static int drive_reserve(unsigned ncall)
{
	const uint64_t me = rg_owner(1, 1);
	struct rg_pool_desc d = scen_desc(SLAB, 1024 * 1024);
	struct rg_region *r;
	void *p;

	d.classes[3].reserve = 8;
	r = scen_map(&d);
	if (!r)
		return -ENOMEM;
	for (unsigned i = 0; i < ncall; i++) {
		ICOUNT_ARM(T_RSV_OTHER, (const void *)rg_slab_alloc);
		if (rg_slab_alloc(r, 3, me, 0, &p) != 0 || rg_slab_free(r, p, me) != 0)
			return -EPROTO;
		ICOUNT_ARM(T_RSV_GRANTED, (const void *)rg_slab_alloc);
		if (rg_slab_alloc(r, 3, me, RG_ALLOC_RESERVE, &p) != 0 || rg_slab_free(r, p, me) != 0)
			return -EPROTO;
	}
	return 0;
}

/* Buddy: filled with random orders min..min+8 to @fill % of the bytes, then a
 * counted allocation of a random order and a counted free of a random block,
 * @ncall times; after each, a block of that order into the thread's buddy
 * cache and out again, both counted (the budget is lifted so that every
 * order is kept: the paths have no loop, so the order does not matter). */
static int drive_buddy(uint64_t bytes, unsigned fill, unsigned ncall)
{
	const uint64_t me = rg_owner(1, 1);
	struct rg_pool_desc d = scen_desc(BUDDY, bytes);
	struct rg_region *r = scen_map(&d);
	const uint32_t lo = d.buddy.min_order, span = 9;
	uint64_t cap = (bytes >> lo) + 1, n = 0, used = 0, goal = bytes / 100 * fill;
	void **blk = calloc(cap, sizeof(*blk));
	struct rg_buddy_cache bc;
	void *p;

	if (!r || !blk)
		return -ENOMEM;
	rg_buddy_cache_init(r, &bc);
	bc.budget = UINT64_MAX;
	ICOUNT_BUDDY_START(&d);
	if (rg_buddy_alloc(r, 1, me, 0, &p) != 0 || rg_buddy_free(r, p, me) != 0)
		return -EPROTO; /* warm-up: lazy PLT binding and the lock's per-thread lookups are not the allocator */
	while (used < goal) {
		uint32_t k = lo + rnd_below(span);

		while (k > lo && used + (1ull << k) > goal)
			k--;
		if (rg_buddy_alloc(r, 1ull << k, me, 0, &p) != 0)
			break; /* fragmented: as full as random orders get */
		blk[n++] = p;
		used += 1ull << k;
	}
	for (unsigned i = 0; i < ncall; i++) {
		uint64_t size = 1ull << (lo + rnd_below(span)), v;
		int rc;

		ICOUNT_ARM(T_ALLOC, (const void *)rg_buddy_alloc);
		rc = rg_buddy_alloc(r, size, me, 0, &p);
		if (rc == -ENOMEM)
			continue;
		if (rc != 0 || n == cap)
			return rc ? rc : -EOVERFLOW;
		blk[n++] = p;
		v = fill ? rnd_below(n) : n - 1;
		ICOUNT_ARM(T_FREE, (const void *)rg_buddy_free);
		rc = rg_buddy_free(r, blk[v], me);
		if (rc != 0)
			return rc;
		blk[v] = blk[--n];
		if (rg_buddy_alloc(r, size, me, 0, &p) != 0)
			continue;
		ICOUNT_ARM(T_BCFREE, (const void *)rg_buddy_cache_free);
		if (rg_buddy_cache_free(r, &bc, p, me) != 0)
			return -EPROTO;
		ICOUNT_ARM(T_BCALLOC, (const void *)rg_buddy_cache_alloc);
		if (rg_buddy_cache_alloc(r, &bc, size, me, &p) != 0 || rg_buddy_free(r, p, me) != 0)
			return -EPROTO;
	}
	return 0;
}

#endif /* RTMEM_TEST_ICOUNT_SCEN_H */
