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
 *   drive_arena(bytes, lo, top, scan): the buddy in arena mode, arenas of
 *     2^top bytes, blocks of 2^lo..2^top; no random: each path driven once
 *     per step count (splits, merges, remote frees taken back), then the
 *     longest drains; with scan, the lease's search over stale hint groups
 *     (see "Arena mode" below).
 */
#ifndef RTMEM_TEST_ICOUNT_SCEN_H
#define RTMEM_TEST_ICOUNT_SCEN_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena_int.h"
#include "region.h"

#ifndef ICOUNT_BUDDY_START
#define ICOUNT_BUDDY_START(d) ((void)(d))
#endif

#define ISCEN_GIB (1024ull * 1024 * 1024)
#define ISCEN_AR_STEPS RG_ARENA_SPAN /* most splits or merges of one call in arena mode */
#define ISCEN_AR_VARIANTS 3u /* the longest drains: remote words 1..3 of the arena they take back from */

/* Tags of the counted calls. */
enum iscen_tag {
	T_ALLOC, T_FREE, T_ALLOC_HWM, T_CALLOC, T_CFREE, T_CFREE_FULL, T_RSV_OTHER, T_RSV_GRANTED, T_CFREE_MISS,
	T_BCALLOC, T_BCFREE, T_SH_OPEN, T_SH_ADD, T_SH_REL, T_SH_LAST, T_STEAL,
	/* arena mode (drive_arena()): a family per step count, + k */
	T_AR_ALLOC,                                        /* + k: k splits, from the client's own lists */
	T_AR_FREE = T_AR_ALLOC + ISCEN_AR_STEPS + 1,       /* + m: m merges, no arena given back */
	T_AR_LEASE = T_AR_FREE + ISCEN_AR_STEPS + 1,       /* + k: lists empty, a lease, k splits */
	T_AR_GIVEBACK = T_AR_LEASE + ISCEN_AR_STEPS + 1,   /* + m: m merges to a whole arena, given back */
	T_AR_DMERGE = T_AR_GIVEBACK + ISCEN_AR_STEPS + 1,  /* + m: one remote free taken back, m merges */
	T_AR_DRAIN = T_AR_DMERGE + ISCEN_AR_STEPS + 1,     /* + n: n remote frees in one word, n = 1..8 */
	T_AR_REMOTE = T_AR_DRAIN + RG_ARENA_DRAIN + 1,      /* a free by B of a block of A's: REMOTE */
	T_AR_DRAIN2W, T_AR_DRAIN2A,                        /* 2 remote frees in 2 remote words, in 2 arenas */
	T_AR_REQUEUE, T_AR_REQUEUE32,                      /* the drain's budget spent, 61 (29) arenas hinted again */
	T_AR_SLOW,                                         /* the drain, the slow drain, a lease */
	T_AR_DRAIN_MAX,                                    /* + v: the longest drains, v + 1 remote words */
	T_AR_FREE_DRAIN_MAX = T_AR_DRAIN_MAX + ISCEN_AR_VARIANTS,
	T_AR_SLOW_MAX = T_AR_FREE_DRAIN_MAX + ISCEN_AR_VARIANTS,
	T_AR_SCAN = T_AR_SLOW_MAX + ISCEN_AR_VARIANTS,      /* a lease past 63 stale hint groups */
	T_AR_SCAN_FAIL,                                    /* none free, after 64 */
	ISCEN_NTAGS
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

/*
 * Arena mode (lib/core/arena.c). Client A (slot 1) allocates and frees;
 * client B (slot 2) gets blocks from A (rg_region_give()) and frees them
 * REMOTE, for A to take back. Each phase starts and ends settled: A holds
 * no block, has nothing to take back, and keeps one whole free arena (K)
 * on its lists (RG_ARENA_KEEP). The checks read the shared words and A's
 * lists (arena_int.h), so that a scenario that took another path fails
 * instead of counting it.
 */
struct iscen_ar {
	struct rg_region *r;
	uint64_t a, b;    /* the clients */
	uint32_t lo, top; /* smallest order, arena order */
};

#define AR_NOTAG ISCEN_NTAGS /* a call that is not counted */

static int ar_alloc(const struct iscen_ar *x, unsigned tag, uint32_t order, void **p)
{
	if (tag != AR_NOTAG)
		ICOUNT_ARM(tag, (const void *)rg_buddy_alloc);
	return rg_buddy_alloc(x->r, (size_t)1 << order, x->a, 0, p) ? -EPROTO : 0;
}

static int ar_free(const struct iscen_ar *x, unsigned tag, void *p)
{
	if (tag != AR_NOTAG)
		ICOUNT_ARM(tag, (const void *)rg_buddy_free);
	return rg_buddy_free(x->r, p, x->a) ? -EPROTO : 0;
}

/* A gives @p to B; B frees it, counted: REMOTE, A's to take back. */
static int ar_remote(const struct iscen_ar *x, void *p)
{
	uint64_t i = (uint64_t)((char *)p - x->r->bdata) >> x->lo;

	if (rg_region_give(x->r, p, x->a, x->b) != 0)
		return -EPROTO;
	ICOUNT_ARM(T_AR_REMOTE, (const void *)rg_buddy_free);
	if (rg_buddy_free(x->r, p, x->b) != 0)
		return -EPROTO;
	return RG_ST(ld(x->r, i)) == RG_BLK_REMOTE ? 0 : -EPROTO;
}

static uint64_t ar_of(const struct iscen_ar *x, const void *p)
{
	return (uint64_t)((const char *)p - x->r->bdata) >> x->top;
}

static bool ar_held(const struct iscen_ar *x, uint64_t a)
{
	return lease_ld(x->r, a) == RG_LEASE(RG_LEASE_HELD, x->a);
}

static bool ar_pending(const struct iscen_ar *x)
{
	return atomic_load(&x->r->aslots[slot_of(x->a)].rem0) != 0;
}

/* Let A take back what is pending (each call drains), check that it is
 * settled, and make arena 0 its K (the phases lease from arena 1 on). */
static int ar_settle(const struct iscen_ar *x)
{
	const struct rg_arena_priv *p = x->r->apriv[slot_of(x->a)];
	uint64_t held = 0;
	void *q, *q0;

	for (unsigned t = 0; ar_pending(x); t++)
		if (t == 100000 || ar_alloc(x, AR_NOTAG, x->top, &q) || ar_free(x, AR_NOTAG, q))
			return -EPROTO;
	for (uint64_t a = 0; a < x->r->narenas; a++)
		held += ar_held(x, a);
	if (held != 1 || p->nonempty != 1ull << x->top || p->nfree[x->top] != 1)
		return -EPROTO;
	if (ar_held(x, 0))
		return 0;
	/* K and a lease of arena 0; arena 0 freed first is kept, K goes back */
	if (ar_alloc(x, AR_NOTAG, x->top, &q) || ar_alloc(x, AR_NOTAG, x->top, &q0) || ar_of(x, q0) != 0)
		return -EPROTO;
	return ar_free(x, AR_NOTAG, q0) || ar_free(x, AR_NOTAG, q) || !ar_held(x, 0) ? -EPROTO : 0;
}

/* For m = 0..S (S = top - lo): an allocation of order top - m from K alone
 * (m splits) and its free (m merges, K kept); then, with K taken whole, the
 * same order again (lists empty: a lease, m splits), K freed (kept), and
 * that block freed (m merges to a whole arena, which goes back). */
static int ar_steps(const struct iscen_ar *x)
{
	for (uint32_t m = 0; m <= x->top - x->lo; m++) {
		uint32_t o = x->top - m;
		void *p, *k;

		if (ar_alloc(x, T_AR_ALLOC + m, o, &p) || ar_free(x, T_AR_FREE + m, p))
			return -EPROTO;
		if (ar_alloc(x, AR_NOTAG, x->top, &k) || ar_alloc(x, T_AR_LEASE + m, o, &p))
			return -EPROTO;
		if (ar_of(x, p) == ar_of(x, k) || !ar_held(x, ar_of(x, p)))
			return -EPROTO; /* not a lease */
		if (ar_free(x, AR_NOTAG, k) || ar_free(x, T_AR_GIVEBACK + m, p))
			return -EPROTO;
		if (lease_ld(x->r, ar_of(x, p)) != RG_LEASE(RG_LEASE_FREE, 0))
			return -EPROTO; /* not given back */
	}
	return ar_settle(x);
}

/* Fillers of one arena: at most two per order between two leaves. */
#define AR_FILL (2 * ISCEN_AR_STEPS * (RG_ARENA_DRAIN + 2))

/* A allocates from arena @a (whole, and all that its lists hold) the
 * smallest blocks at offsets @at[0..@n-1] (ascending) into @ret, and the
 * rest of the arena as fillers, as large as fit, appended to @fill (*@nf
 * of them): its lists hold nothing after. */
static int ar_place(const struct iscen_ar *x, uint64_t a, const uint64_t *at, unsigned n, void **ret, void **fill,
		    unsigned *nf)
{
	char *base = x->r->bdata + (a << x->top);
	const uint64_t end = 1ull << (x->top - x->lo);
	uint64_t c = 0;

	for (unsigned t = 0; t <= n; t++) {
		uint64_t to = t < n ? at[t] : end;

		while (c < to) {
			uint32_t o = c ? (uint32_t)__builtin_ctzll(c) : x->top - x->lo;

			while (c + (1ull << o) > to)
				o--;
			if (ar_alloc(x, AR_NOTAG, x->lo + o, &fill[*nf]) || fill[*nf] != base + (c << x->lo))
				return -EPROTO;
			++*nf;
			c += 1ull << o;
		}
		if (t < n && (ar_alloc(x, AR_NOTAG, x->lo, &ret[t]) || ret[t] != base + (c++ << x->lo)))
			return -EPROTO;
	}
	return 0;
}

/* Two remote frees without a merge, in two remote words (T_AR_DRAIN2W;
 * T_AR_DRAIN + 2 has them in one): the smallest blocks 0, 1, 64 and 65 of
 * K are A's, B frees 0 and 64, A allocates. */
static int ar_drain_words(const struct iscen_ar *x)
{
	static const uint64_t at[4] = { 0, 1, 64, 65 };
	void *fill[AR_FILL], *blk[4], *p;
	unsigned nf = 0;

	if (ar_place(x, 0, at, 4, blk, fill, &nf))
		return -EPROTO;
	while (nf)
		if (ar_free(x, AR_NOTAG, fill[--nf]))
			return -EPROTO;
	if (ar_remote(x, blk[0]) || ar_remote(x, blk[2]) || ar_alloc(x, T_AR_DRAIN2W, x->lo, &p))
		return -EPROTO;
	if ((p != blk[0] && p != blk[2]) || ar_free(x, AR_NOTAG, blk[1]) || ar_free(x, AR_NOTAG, blk[3]) ||
	    ar_free(x, AR_NOTAG, p))
		return -EPROTO;
	return ar_settle(x);
}

/* n = 1..RG_ARENA_DRAIN remote frees in one remote word, none with a
 * merge: A allocates 2n smallest blocks from K (in a row), B frees every
 * other one, and A allocates one more (T_AR_DRAIN + n): the drain (its
 * budget: the arena, the word, then one per bit), then a pop. */
static int ar_drains(const struct iscen_ar *x)
{
	void *blk[2 * RG_ARENA_DRAIN], *p;

	for (unsigned n = 1; n <= RG_ARENA_DRAIN; n++) {
		uint64_t at;

		for (unsigned i = 0; i < 2 * n; i++)
			if (ar_alloc(x, AR_NOTAG, x->lo, &blk[i]) || (char *)blk[i] != (char *)blk[0] + ((size_t)i << x->lo))
				return -EPROTO;
		for (unsigned i = 0; i < n; i++)
			if (ar_remote(x, blk[2 * i]))
				return -EPROTO;
		if (ar_alloc(x, T_AR_DRAIN + n, x->lo, &p))
			return -EPROTO;
		at = (uint64_t)((char *)p - (char *)blk[0]) >> x->lo;
		if (at >= 2 * n || at & 1)
			return -EPROTO; /* not one taken back */
		for (unsigned i = 0; i < n; i++)
			if (ar_free(x, AR_NOTAG, blk[2 * i + 1]))
				return -EPROTO;
		if (ar_free(x, AR_NOTAG, p) || ar_settle(x))
			return -EPROTO;
	}
	return ar_drain_words(x);
}

/* One remote free taken back with m merges, m = 0..S: A allocates order
 * top - m from K, B frees it, and A allocates a whole arena: the drain
 * merges it back into K, which the pop then takes whole. */
static int ar_drain_merges(const struct iscen_ar *x)
{
	for (uint32_t m = 0; m <= x->top - x->lo; m++) {
		void *p, *q;

		if (ar_alloc(x, AR_NOTAG, x->top - m, &p) || ar_remote(x, p))
			return -EPROTO;
		if (ar_alloc(x, T_AR_DMERGE + m, x->top, &q) || q != p || ar_free(x, AR_NOTAG, q))
			return -EPROTO;
	}
	return ar_settle(x);
}

/*
 * The drain's budget spent early: A holds @n arenas, both halves of each,
 * and B frees the lower half of each. Then A allocates (counted under @tag)
 * a block of @order: half an arena, one of those taken back; or a whole
 * arena, which none of them is (the drain, then the slow drain, then a
 * lease). Every arena the budget does not reach is hinted again.
 */
static int ar_halves(const struct iscen_ar *x, uint64_t n, unsigned tag, uint32_t order)
{
	void **h = calloc(2 * n, sizeof(*h)), *p;
	int rc = -EPROTO;

	if (!h)
		return -ENOMEM;
	for (uint64_t i = 0; i < 2 * n; i++)
		if (ar_alloc(x, AR_NOTAG, x->top - 1, &h[i]))
			goto out;
	for (uint64_t i = 0; i < n; i++)
		if (ar_of(x, h[2 * i]) != ar_of(x, h[2 * i + 1]) || ar_remote(x, h[2 * i]))
			goto out;
	if (ar_alloc(x, tag, order, &p))
		goto out;
	for (uint64_t i = 0; i < n; i++)
		if (ar_free(x, AR_NOTAG, h[2 * i + 1]))
			goto out;
	if (ar_free(x, AR_NOTAG, p))
		goto out;
	rc = ar_settle(x);
out:
	free(h);
	return rc;
}

/* The smallest blocks a full drain takes back from one arena: the budget
 * (RG_ARENA_DRAIN) less the arena and its @w remote words. */
#define AR_LEAVES(w) (RG_ARENA_DRAIN - 1 - (w))

/* Offsets (in min-blocks, ascending) of AR_LEAVES(@w) smallest blocks in
 * @w remote words (64 min-blocks each) of an arena of 2^@steps min-blocks,
 * spread for the most merges when they come back: the words far apart (0,
 * half way, a quarter), the blocks in each far apart (bits reversed). */
static void ar_leaves(uint32_t steps, unsigned w, uint64_t *at)
{
	static const uint64_t rev[8] = { 0, 32, 16, 48, 8, 40, 24, 56 };
	const uint64_t nw = 1ull << (steps - 6), word[ISCEN_AR_VARIANTS] = { 0, nw / 2, nw / 4 };
	const unsigned n = AR_LEAVES(w);

	for (unsigned i = 0; i < n; i++) {
		uint64_t v = word[i % w] * 64 + rev[i / w], j = i;

		for (; j > 0 && at[j - 1] > v; j--)
			at[j] = at[j - 1];
		at[j] = v;
	}
}

/* The merges that freeing the blocks at @at[0..@n-1] makes in an arena of
 * 2^@steps min-blocks that is free but for them (and but for min-block
 * @held, if below 2^@steps): each node of the buddy tree above them once. */
static unsigned ar_merges(uint32_t steps, const uint64_t *at, unsigned n, uint64_t held)
{
	unsigned m = 0;

	for (uint32_t h = 1; h <= steps; h++)
		for (unsigned i = 0; i < n; i++) {
			bool first = (held >> h) != (at[i] >> h);

			for (unsigned j = 0; j < i; j++)
				first = first && (at[j] >> h) != (at[i] >> h);
			m += first;
		}
	return m;
}

/* A's halves: both halves of arenas @from..@to - 1 (leased in order; K is
 * arena 0), into @h[2a], @h[2a + 1]. */
static int ar_take_halves(const struct iscen_ar *x, uint64_t from, uint64_t to, void **h)
{
	for (uint64_t i = 2 * from; i < 2 * to; i++)
		if (ar_alloc(x, AR_NOTAG, x->top - 1, &h[i]) || ar_of(x, h[i]) != i / 2)
			return -EPROTO;
	return 0;
}

/*
 * The longest drains (variant @v: v + 1 remote words). Every arena of A's
 * holds remote frees; arena 0 the budget's worth (the arena, its words,
 * AR_LEAVES() smallest blocks spread for the most merges), which make it
 * whole again, and it goes back, since A keeps W (the pool's last arena)
 * whole; each other arena (both halves A's, the lower freed by B) is hinted
 * again. Counted: an allocation of the smallest order (the drain, then W
 * split all the way), or with @by_free, the free of W's first smallest block
 * (merges to W whole, then the drain).
 */
static int ar_drain_max(const struct iscen_ar *x, unsigned v, bool by_free)
{
	const uint64_t na = x->r->narenas;
	const unsigned nl = AR_LEAVES(v + 1);
	void **h = calloc(2 * na + AR_FILL, sizeof(*h)), **fill = h + 2 * na, *leaf[RG_ARENA_DRAIN], *wp[ISCEN_AR_STEPS], *w;
	uint64_t at[RG_ARENA_DRAIN];
	unsigned nf = 0;
	int rc = -EPROTO;

	if (!h)
		return -ENOMEM;
	ar_leaves(x->top - x->lo, v + 1, at);
	if (ar_take_halves(x, 0, na - 1, h) || ar_alloc(x, AR_NOTAG, x->lo, &w) || ar_of(x, w) != na - 1)
		goto out;
	for (uint32_t o = x->lo; o < x->top; o++) /* W's other pieces, off the lists for now */
		if (ar_alloc(x, AR_NOTAG, o, &wp[o - x->lo]) || ar_of(x, wp[o - x->lo]) != na - 1)
			goto out;
	if (ar_free(x, AR_NOTAG, h[0]) || ar_free(x, AR_NOTAG, h[1]) || ar_place(x, 0, at, nl, leaf, fill, &nf))
		goto out;
	while (nf)
		if (ar_free(x, AR_NOTAG, fill[--nf]))
			goto out;
	for (uint32_t o = x->lo; o < x->top; o++)
		if (ar_free(x, AR_NOTAG, wp[o - x->lo]))
			goto out;
	if (!by_free && ar_free(x, AR_NOTAG, w)) /* W whole, kept */
		goto out;
	for (uint64_t a = 1; a < na - 1; a++)
		if (ar_remote(x, h[2 * a]))
			goto out;
	for (unsigned i = 0; i < nl; i++)
		if (ar_remote(x, leaf[i]))
			goto out;
	if (by_free ? ar_free(x, T_AR_FREE_DRAIN_MAX + v, w) : ar_alloc(x, T_AR_DRAIN_MAX + v, x->lo, &w))
		goto out;
	if (lease_ld(x->r, 0) != RG_LEASE(RG_LEASE_FREE, 0) || !ar_pending(x) || (!by_free && ar_of(x, w) != na - 1))
		goto out; /* arena 0 did not go back, or the rest was not left for later */
	if (!by_free && ar_free(x, AR_NOTAG, w))
		goto out;
	for (uint64_t a = 1; a < na - 1; a++)
		if (ar_free(x, AR_NOTAG, h[2 * a + 1]))
			goto out;
	rc = ar_settle(x);
out:
	free(h);
	return rc;
}

/* Arenas whose remote frees the slow drain (RG_ARENA_DRAIN_SLOW) takes back whole. */
#define AR_SLOW_ARENAS (RG_ARENA_DRAIN_SLOW / RG_ARENA_DRAIN)
static_assert(AR_SLOW_ARENAS * RG_ARENA_DRAIN == RG_ARENA_DRAIN_SLOW, "the slow budget is whole arenas' worth");

/*
 * The longest allocation (variant @v as in ar_drain_max()): of a whole
 * arena, when A holds every arena and none is whole. Arenas 0..AR_SLOW_ARENAS
 * hold remote frees as arena 0 of ar_drain_max(), arena 0 one smallest block
 * more of A's own (its last), so that the drain leaves it short of whole;
 * the pop finds nothing, and the slow drain takes back arenas
 * 1..AR_SLOW_ARENAS whole (the first kept, which the pop then takes; the
 * others go back); every other arena is hinted again, by both drains.
 */
static int ar_slow_max(const struct iscen_ar *x, unsigned v)
{
	const uint64_t na = x->r->narenas, last = (1ull << (x->top - x->lo)) - 1;
	const unsigned nl = AR_LEAVES(v + 1);
	void **h = calloc(2 * na + (AR_SLOW_ARENAS + 1) * AR_FILL, sizeof(*h)), **fill = h + 2 * na, *p;
	void *leaf[AR_SLOW_ARENAS + 1][RG_ARENA_DRAIN];
	uint64_t at[RG_ARENA_DRAIN];
	unsigned nf = 0;
	int rc = -EPROTO;

	if (!h)
		return -ENOMEM;
	ar_leaves(x->top - x->lo, v + 1, at);
	at[nl] = last;
	if (ar_take_halves(x, 0, na, h))
		goto out;
	for (uint64_t a = 0; a <= AR_SLOW_ARENAS; a++)
		if (ar_free(x, AR_NOTAG, h[2 * a]) || ar_free(x, AR_NOTAG, h[2 * a + 1]) ||
		    ar_place(x, a, at, a ? nl : nl + 1, leaf[a], fill, &nf))
			goto out;
	while (nf)
		if (ar_free(x, AR_NOTAG, fill[--nf]))
			goto out;
	for (uint64_t a = 0; a < na; a++)
		for (unsigned i = 0; i < (a > AR_SLOW_ARENAS ? 1 : nl); i++)
			if (ar_remote(x, a > AR_SLOW_ARENAS ? h[2 * a] : leaf[a][i]))
				goto out;
	if (ar_alloc(x, T_AR_SLOW_MAX + v, x->top, &p) || ar_of(x, p) != 1 || !ar_held(x, 0))
		goto out;
	for (uint64_t a = 2; a <= AR_SLOW_ARENAS; a++)
		if (lease_ld(x->r, a) != RG_LEASE(RG_LEASE_FREE, 0))
			goto out;
	if (ar_free(x, AR_NOTAG, p) || ar_free(x, AR_NOTAG, leaf[0][nl]))
		goto out;
	for (uint64_t a = AR_SLOW_ARENAS + 1; a < na; a++)
		if (ar_free(x, AR_NOTAG, h[2 * a + 1]))
			goto out;
	rc = ar_settle(x);
out:
	free(h);
	return rc;
}

/* Level-0 bits of hint groups 0..@g set over empty level-1 words, as two
 * clients racing can leave them (a lease takes a group's last arena and
 * clears the group's bit just as a give-back sets it, then the give-back's
 * arena is leased too); a lease clears each it passes over. */
static void ar_stale(const struct iscen_ar *x, uint64_t g)
{
	atomic_fetch_or(&x->r->actl->free0, g >= 63 ? ~0ull : (1ull << (g + 1)) - 1);
}

/*
 * The lease's hint search at its longest, 64 groups (RG_ARENA_COUNT
 * arenas): A holds every arena and every level-0 bit is stale (ar_stale());
 * a lease clears each before it finds none (T_AR_SCAN_FAIL, -ENOMEM), or
 * an arena in the last group (T_AR_SCAN).
 */
static int ar_scan(const struct iscen_ar *x)
{
	const uint64_t na = x->r->narenas, ng = (na + 63) / 64, last = na - 1, all = ng < 64 ? (1ull << ng) - 1 : ~0ull;
	struct rg_arena_ctl *c = x->r->actl;
	void **p = calloc(na, sizeof(*p)), *q;
	int rc = -EPROTO;

	if (!p)
		return -ENOMEM;
	for (uint64_t a = 0; a < na; a++) /* K (arena 0), then a lease each, in order */
		if (ar_alloc(x, AR_NOTAG, x->top, &p[a]) || ar_of(x, p[a]) != a)
			goto out;
	if (ng < 2 || atomic_load(&c->free0) != 0) /* each group's last lease cleared its bit */
		goto out;
	ar_stale(x, ng - 1);
	ICOUNT_ARM(T_AR_SCAN_FAIL, (const void *)rg_buddy_alloc);
	if (rg_buddy_alloc(x->r, (size_t)1 << x->top, x->a, 0, &q) != -ENOMEM || atomic_load(&c->free0) != 0)
		goto out;
	/* A keeps the last arena, gives back the one before it, takes the last again */
	if (ar_free(x, AR_NOTAG, p[last]) || ar_free(x, AR_NOTAG, p[last - 1]) ||
	    ar_alloc(x, AR_NOTAG, x->top, &p[last]) || atomic_load(&c->free0) != 1ull << (ng - 1))
		goto out;
	ar_stale(x, ng - 2);
	if (atomic_load(&c->free0) != all || ar_alloc(x, T_AR_SCAN, x->top, &p[last - 1]) ||
	    ar_of(x, p[last - 1]) != last - 1 || atomic_load(&c->free0) != 0)
		goto out;
	for (uint64_t a = 0; a < na; a++)
		if (ar_free(x, AR_NOTAG, p[a]))
			goto out;
	rc = ar_settle(x);
out:
	free(p);
	return rc;
}

/*
 * Arena mode: @bytes in arenas of 2^@top bytes, blocks of 2^@lo..2^@top.
 * With @scan, only ar_scan(); else every phase above, in turn.
 */
static int drive_arena(uint64_t bytes, uint32_t lo, uint32_t top, bool scan)
{
	struct rg_pool_desc d;
	struct iscen_ar x = { .a = rg_owner(1, 1), .b = rg_owner(2, 1), .lo = lo, .top = top };
	void *p;

	memset(&d, 0, sizeof(d));
	d.nslots = 4;
	d.buddy = (struct rg_buddy_desc){ .size = bytes, .min_order = lo, .max_order = top, .arena_order = top };
	x.r = scen_map(&d);
	if (!x.r || rg_region_arena_prepare(x.r, x.a) != 0)
		return -ENOMEM;
	for (uint32_t s = 1; s <= 2; s++) {
		struct rg_slot_record rec = { .owner = rg_owner(s, 1), .pid = 1 };

		if (rg_region_slot_set(x.r, s, &rec) != 0)
			return -EPROTO;
	}
	/* warm-up (the private lock's first call looks up the TID), and K */
	if (ar_alloc(&x, AR_NOTAG, lo, &p) || ar_free(&x, AR_NOTAG, p) || ar_settle(&x))
		return -EPROTO;
	if (scan)
		return ar_scan(&x);
	if (ar_steps(&x) || ar_drains(&x) || ar_drain_merges(&x))
		return -EPROTO;
	if (ar_halves(&x, 2, T_AR_DRAIN2A, top - 1) || ar_halves(&x, x.r->narenas, T_AR_REQUEUE, top - 1) ||
	    ar_halves(&x, x.r->narenas / 2, T_AR_REQUEUE32, top - 1) ||
	    ar_halves(&x, x.r->narenas - 1, T_AR_SLOW, top))
		return -EPROTO;
	for (unsigned v = 0; v < ISCEN_AR_VARIANTS; v++)
		if (ar_drain_max(&x, v, false) || ar_drain_max(&x, v, true) || ar_slow_max(&x, v))
			return -EPROTO;
	return 0;
}

#endif /* RTMEM_TEST_ICOUNT_SCEN_H */
