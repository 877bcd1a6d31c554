/* SPDX-License-Identifier: MIT */
/*
 * check.c - rg_region_check(): verify every invariant of a quiescent region
 * and report the first violation in words.
 *
 * It reads shared memory only through bounds-checked indices, follows lists
 * with a visited bitmap (so a cycle is reported, not looped on), and never
 * writes to the region. The geometry comes from the validated handle.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fastpath.h"

#define RELAXED memory_order_relaxed

struct chk {
	char *msg;
	size_t len;
	uint64_t *seen; /* bitmap, one bit per block */
};

static __attribute__((format(printf, 2, 3))) int fail(struct chk *x, const char *fmt, ...)
{
	va_list ap;

	if (x->len) {
		va_start(ap, fmt);
		vsnprintf(x->msg, x->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static bool test_and_set(uint64_t *bm, uint64_t i)
{
	bool was = bm[i / 64] >> (i % 64) & 1;

	bm[i / 64] |= 1ull << (i % 64);
	return was;
}

static bool listed_state(uint32_t s)
{
	return s == RG_BLK_FREE || s == RG_BLK_FREE_P || s == RG_BLK_CHECKOUT || s == RG_BLK_BAD;
}

static int check_class(const struct rg_region *r, uint32_t c, struct chk *x)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t n_alloc = 0, n_bad = 0, n_co = 0, steps = 0;
	uint32_t i = RG_HEAD_IDX(atomic_load_explicit(&k->ctl->head, RELAXED));

	for (uint32_t w = 0; w < (k->count + 63) / 64; w++)
		x->seen[w] = 0;
	while (i != RG_NIL) {
		if (i >= k->count)
			return fail(x, "class %u (%u B): free list index %u out of bounds (count %u)", c, k->size, i,
				    k->count);
		if (test_and_set(x->seen, i))
			return fail(x, "class %u (%u B): free list has a cycle at block %u", c, k->size, i);
		if (!listed_state(RG_ST(atomic_load_explicit(&k->state[i], RELAXED))))
			return fail(x, "class %u (%u B): block %u is on the free list in state %u", c, k->size, i,
				    RG_ST(atomic_load_explicit(&k->state[i], RELAXED)));
		i = atomic_load_explicit(&k->next[i], RELAXED);
		steps++;
	}
	for (uint32_t b = 0; b < k->count; b++) {
		uint64_t w = atomic_load_explicit(&k->state[b], RELAXED);
		uint32_t s = RG_ST(w);
		bool listed = x->seen[b / 64] >> (b % 64) & 1;

		if (!listed && listed_state(s))
			return fail(x, "class %u (%u B): block %u is in state %u but not on the free list", c,
				    k->size, b, s);
		if (listed)
			continue;
		if (s == RG_BLK_ALLOC || s == RG_BLK_CACHED) {
			if ((w >> 16 & 0xffff) > r->nslots) /* slots 1..nslots */
				return fail(x, "class %u (%u B): block %u owned by slot %u of %u", c, k->size, b,
					    (unsigned)(w >> 16 & 0xffff), r->nslots);
			n_alloc++;
		} else if (s != RG_BLK_CHECKOUT_U && s != RG_BLK_BAD_U) {
			return fail(x, "class %u (%u B): block %u has invalid state word %#llx", c, k->size, b,
				    (unsigned long long)w);
		}
	}
	for (uint32_t b = 0; b < k->count; b++) {
		uint32_t s = RG_ST(atomic_load_explicit(&k->state[b], RELAXED));

		n_bad += s == RG_BLK_BAD || s == RG_BLK_BAD_U;
		n_co += s == RG_BLK_CHECKOUT || s == RG_BLK_CHECKOUT_U;
	}
	if (rg_in_use(k->ctl) != n_alloc)
		return fail(x, "class %u (%u B): in_use (pops - pushes) %llu, %llu blocks allocated or cached", c, k->size,
			    (unsigned long long)rg_in_use(k->ctl),
			    (unsigned long long)n_alloc);
	if (atomic_load_explicit(&k->ctl->bad, RELAXED) != n_bad ||
	    atomic_load_explicit(&k->ctl->checkout, RELAXED) != n_co)
		return fail(x, "class %u (%u B): bad/checkout counters disagree with %llu bad, %llu checked out", c,
			    k->size, (unsigned long long)n_bad, (unsigned long long)n_co);
	if (atomic_load_explicit(&k->ctl->hwm, RELAXED) < n_alloc)
		return fail(x, "class %u (%u B): high-water mark below blocks in use", c, k->size);
	return 0;
}

/*
 * A word inside a block of order @k at min-block @m: TAIL, or the FREE head a
 * merge left behind (buddy.c, release()), of a smaller order and aligned to it.
 */
static bool interior_ok(const struct rg_region *r, uint64_t m, uint32_t k, uint64_t w)
{
	uint32_t o = RG_ORD(w);

	if (w == RG_WORD(RG_BLK_TAIL, 0, 0))
		return true;
	return w == RG_WORD(RG_BLK_FREE, o, 0) && o >= r->min_order && o < k &&
	       !(m & ((1ull << (o - r->min_order)) - 1));
}

/* Walk the tiling: heads valid, the rest TAIL or stale, counts per state and order. */
static int check_tiling(const struct rg_region *r, struct chk *x, uint64_t *cnt)
{
	const struct rg_buddy *b = r->bdy;
	uint64_t free_bytes = 0;

	for (uint64_t i = 0; i < r->nmin;) {
		uint64_t w = atomic_load_explicit(&r->bstate[i], RELAXED), n;
		uint32_t s = RG_ST(w), k = RG_ORD(w);

		if (s != RG_BLK_FREE && s != RG_BLK_ALLOC && s != RG_BLK_CACHED && s != RG_BLK_CHECKOUT &&
		    s != RG_BLK_BAD)
			return fail(x, "buddy: min-block %llu should be a block head, state word %#llx",
				    (unsigned long long)i, (unsigned long long)w);
		if (k < r->min_order || k > r->max_order)
			return fail(x, "buddy: block at %llu has order %u outside %u..%u", (unsigned long long)i, k,
				    r->min_order, r->max_order);
		n = 1ull << (k - r->min_order);
		if (i & (n - 1) || i + n > r->nmin)
			return fail(x, "buddy: block at %llu of order %u misaligned or past the end",
				    (unsigned long long)i, k);
		for (uint64_t t = 1; t < n; t++)
			if (!interior_ok(r, i + t, k, atomic_load_explicit(&r->bstate[i + t], RELAXED)))
				return fail(x, "buddy: min-block %llu inside block %llu is neither TAIL nor a stale free head",
					    (unsigned long long)(i + t), (unsigned long long)i);
		if (s == RG_BLK_FREE) {
			uint64_t bi = i ^ n;

			free_bytes += 1ull << k;
			if (k < r->max_order && bi + n <= r->nmin && bi < i &&
			    atomic_load_explicit(&r->bstate[bi], RELAXED) == w)
				return fail(x, "buddy: free buddies at %llu and %llu (order %u) not merged",
					    (unsigned long long)bi, (unsigned long long)i, k);
		}
		if ((s == RG_BLK_ALLOC || s == RG_BLK_CACHED) && (w >> 16 & 0xffff) > r->nslots) /* slots 1..nslots */
			return fail(x, "buddy: block at %llu owned by slot %u of %u", (unsigned long long)i,
				    (unsigned)(w >> 16 & 0xffff), r->nslots);
		cnt[s * (RG_MAX_ORDER + 1) + k]++;
		i += n;
	}
	if (free_bytes != b->free_bytes)
		return fail(x, "buddy: free_bytes %llu, blocks say %llu", (unsigned long long)b->free_bytes,
			    (unsigned long long)free_bytes);
	return 0;
}

static int check_lists(const struct rg_region *r, struct chk *x, const uint64_t *cnt)
{
	const struct rg_buddy *b = r->bdy;

	for (uint64_t w = 0; w < (r->nmin + 63) / 64; w++)
		x->seen[w] = 0;
	for (uint32_t k = 0; k <= RG_MAX_ORDER; k++) {
		const uint64_t sent = r->nmin + k;
		uint64_t i = r->link[sent].next, prev = sent, len = 0;

		if (!!(b->nonempty >> k & 1) != (i != sent))
			return fail(x, "buddy: non-empty bitmap bit %u disagrees with its list", k);
		if (i != sent && (k < r->min_order || k > r->max_order))
			return fail(x, "buddy: list of order %u outside %u..%u is not empty", k, r->min_order,
				    r->max_order);
		for (; i != sent; prev = i, i = r->link[i].next, len++) {
			if (i >= r->nmin)
				return fail(x, "buddy: order %u list index %llu out of bounds", k, (unsigned long long)i);
			if (test_and_set(x->seen, i))
				return fail(x, "buddy: block %llu listed twice (or a cycle) at order %u",
					    (unsigned long long)i, k);
			if (atomic_load_explicit(&r->bstate[i], RELAXED) != RG_WORD(RG_BLK_FREE, k, 0))
				return fail(x, "buddy: block %llu on the order %u list is not a free order-%u head",
					    (unsigned long long)i, k, k);
			if (r->link[i].prev != prev)
				return fail(x, "buddy: block %llu has a wrong back link", (unsigned long long)i);
		}
		if (len != b->nfree[k] || (k >= r->min_order && len != cnt[RG_BLK_FREE * (RG_MAX_ORDER + 1) + k]))
			return fail(x, "buddy: order %u list has %llu blocks, counter %llu", k,
				    (unsigned long long)len, (unsigned long long)b->nfree[k]);
		if (k < r->min_order || k > r->max_order)
			continue;
		if (b->in_use[k] != cnt[RG_BLK_ALLOC * (RG_MAX_ORDER + 1) + k] +
					     cnt[RG_BLK_CACHED * (RG_MAX_ORDER + 1) + k] ||
		    b->bad[k] != cnt[RG_BLK_BAD * (RG_MAX_ORDER + 1) + k] ||
		    b->checkout[k] != cnt[RG_BLK_CHECKOUT * (RG_MAX_ORDER + 1) + k])
			return fail(x, "buddy: order %u counters disagree with the state table", k);
		if (b->hwm[k] < b->in_use[k])
			return fail(x, "buddy: order %u high-water mark below blocks in use", k);
	}
	return 0;
}

/*
 * Arena mode (arena.c): every lease word a known state; a FREE, checked out
 * or quarantined arena one FREE head; every other arena a valid tiling of
 * its own (no block past it, REMOTE only as a head, no two free buddies left
 * unmerged but in an ORPHAN arena, which the daemon merges when it gives it
 * back); every FREE arena hinted and counted; every REMOTE block's bit set
 * and its arena hinted to its holder.
 */
static int check_arenas(const struct rg_region *r, struct chk *x)
{
	uint64_t nfree = 0, an = 1ull << r->ashift;

	for (uint64_t a = 0; a < r->narenas; a++) {
		uint64_t lw = atomic_load(&r->arenas[a].lease), base = a * an, end = base + an;
		uint32_t ls = RG_ST(lw);

		if (ls == RG_LEASE_BAD && !RG_OWNER(lw))
			continue; /* quarantined: a bad cell, or a lease word a stray write broke, its words as they were */
		if (ls == RG_LEASE_FREE || ls == RG_LEASE_CHECKOUT) {
			if (atomic_load_explicit(&r->bstate[base], RELAXED) != RG_WORD(RG_BLK_FREE, r->arena_order, 0) ||
			    RG_OWNER(lw))
				return fail(x, "buddy: arena %llu (lease %#llx) is not one free block",
					    (unsigned long long)a, (unsigned long long)lw);
			if (ls == RG_LEASE_FREE) {
				nfree++;
				if (!(atomic_load(&r->actl->free1[a >> 6]) >> (a & 63) & 1) ||
				    !(atomic_load(&r->actl->free0) >> (a >> 6) & 1))
					return fail(x, "buddy: free arena %llu has no hint", (unsigned long long)a);
			}
			continue;
		}
		if ((ls != RG_LEASE_HELD && ls != RG_LEASE_ORPHAN) || (lw >> 16 & 0xffff) > r->nslots ||
		    (ls == RG_LEASE_ORPHAN && RG_OWNER(lw)))
			return fail(x, "buddy: arena %llu has lease word %#llx", (unsigned long long)a,
				    (unsigned long long)lw);
		for (uint64_t i = base; i < end;) {
			uint64_t w = atomic_load_explicit(&r->bstate[i], RELAXED), n, m = i - base;
			uint32_t s = RG_ST(w), k = RG_ORD(w);

			if (s != RG_BLK_FREE && s != RG_BLK_ALLOC && s != RG_BLK_CACHED && s != RG_BLK_REMOTE)
				return fail(x, "buddy: min-block %llu should be a block head, state word %#llx",
					    (unsigned long long)i, (unsigned long long)w);
			if (k < r->min_order || k > (s == RG_BLK_FREE ? r->arena_order : r->max_order))
				return fail(x, "buddy: block at %llu has order %u outside %u..%u",
					    (unsigned long long)i, k, r->min_order, r->max_order);
			n = 1ull << (k - r->min_order);
			if (i & (n - 1) || i + n > end)
				return fail(x, "buddy: block at %llu of order %u misaligned or past its arena",
					    (unsigned long long)i, k);
			for (uint64_t t = 1; t < n; t++)
				if (!interior_ok(r, i + t, k, atomic_load_explicit(&r->bstate[i + t], RELAXED)))
					return fail(x, "buddy: min-block %llu inside block %llu is neither TAIL nor a "
						    "stale free head", (unsigned long long)(i + t), (unsigned long long)i);
			if (s == RG_BLK_FREE && ls == RG_LEASE_HELD && k < r->arena_order &&
			    atomic_load_explicit(&r->bstate[i ^ n], RELAXED) == w)
				return fail(x, "buddy: free buddies at %llu and %llu (order %u) not merged",
					    (unsigned long long)i, (unsigned long long)(i ^ n), k);
			if (s == RG_BLK_REMOTE && ls == RG_LEASE_HELD &&
			    (!(atomic_load(&r->aremote[a * r->anw + (m >> 6)]) >> (m & 63) & 1) ||
			     !(atomic_load(&r->arenas[a].rsum[m >> 12]) >> (m >> 6 & 63) & 1) ||
			     !(atomic_load(&r->aslots[lw >> 16 & 0xffff].rem1[a >> 6]) >> (a & 63) & 1)))
				return fail(x, "buddy: remote free at %llu not signalled to arena %llu's holder",
					    (unsigned long long)i, (unsigned long long)a);
			if (s != RG_BLK_FREE && (w >> 16 & 0xffff) > r->nslots && !(w & RG_SHARE_BIT))
				return fail(x, "buddy: block at %llu owned by slot %u of %u", (unsigned long long)i,
					    (unsigned)(w >> 16 & 0xffff), r->nslots);
			i += n;
		}
	}
	if (RG_NF_COUNT(atomic_load(&r->actl->nfree)) != nfree)
		return fail(x, "buddy: %llu free arenas counted, %llu found",
			    (unsigned long long)RG_NF_COUNT(atomic_load(&r->actl->nfree)), (unsigned long long)nfree);
	return 0;
}

int rg_region_check(const struct rg_region *r, char *msg, size_t len)
{
	uint64_t maxn = r->nmin;
	uint64_t cnt[(RG_BLK_CACHED + 1) * (RG_MAX_ORDER + 1)] = { 0 };
	struct chk x = { msg, len, NULL };
	int rc = 0;

	for (uint32_t c = 0; c < r->nclasses; c++)
		if (r->cls[c].count > maxn)
			maxn = r->cls[c].count;
	x.seen = malloc((maxn + 63) / 64 * 8 + 8);
	if (!x.seen)
		return -ENOMEM;
	if (len)
		msg[0] = '\0';
	for (uint32_t c = 0; c < r->nclasses && rc == 0; c++)
		rc = check_class(r, c, &x);
	if (rc == 0 && r->arena_order) {
		rc = check_arenas(r, &x);
	} else if (rc == 0 && r->bdy) {
		rc = check_tiling(r, &x, cnt);
		if (rc == 0)
			rc = check_lists(r, &x, cnt);
	}
	free(x.seen);
	return rc;
}
