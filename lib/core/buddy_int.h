/* SPDX-License-Identifier: MIT */
/*
 * buddy_int.h - what buddy.c (allocation, freeing, the lock) and
 * buddy_admin.c (rebuild, reclaim, the tester's check-out and quarantine)
 * share: the state-table accessors and the free lists. Private to the core.
 */
#ifndef RTMEM_BUDDY_INT_H
#define RTMEM_BUDDY_INT_H

#include <errno.h>

#include "fastpath.h"

#define RELAXED memory_order_relaxed

static inline uint64_t nb(const struct rg_region *r, uint32_t k)
{
	return 1ull << (k - r->min_order);
}

static inline uint64_t ld(const struct rg_region *r, uint64_t i)
{
	return atomic_load_explicit(&r->bstate[i], RELAXED);
}

static inline void st(const struct rg_region *r, uint64_t i, uint64_t w)
{
	atomic_store_explicit(&r->bstate[i], w, RELAXED);
}

static inline uint64_t wfree(uint32_t k)
{
	return RG_WORD(RG_BLK_FREE, k, 0);
}

/* Is @w a valid head word for a block at min-block @i? */
static inline bool head_ok(const struct rg_region *r, uint64_t i, uint64_t w)
{
	uint32_t s = RG_ST(w), k = RG_ORD(w);

	if (s != RG_BLK_FREE && s != RG_BLK_ALLOC && s != RG_BLK_CACHED && s != RG_BLK_CHECKOUT && s != RG_BLK_BAD)
		return false;
	return k >= r->min_order && k <= r->max_order && !(i & (nb(r, k) - 1)) && i + nb(r, k) <= r->nmin;
}

/* The order that fits @size (1 <= @size <= bmax): ceil(log2(size)), at
 * least min_order (bminmask is never 0). */
static inline uint32_t order_for(const struct rg_region *r, size_t size)
{
	return 64u - (uint32_t)__builtin_clzll((uint64_t)(size - 1) | r->bminmask);
}

/* Is @w, read at min-block @i, the head of a block allocated to @owner,
 * of a valid order, aligned, and inside the area? One compare for state and
 * owner, then the order, as head_ok() checks it. */
static inline bool owned_head(const struct rg_region *r, uint64_t i, uint64_t w, uint64_t owner)
{
	uint32_t s = RG_ORD(w) - r->min_order; /* wraps below min_order: refused with the rest */
	uint64_t n;

	if ((w & ~(uint64_t)0xff00) != (RG_BLK_ALLOC | owner) || s > r->max_order - r->min_order)
		return false;
	n = 1ull << s;
	return !(i & (n - 1)) && (i < r->ntop || i + n <= r->nmin); /* below ntop, aligned is inside */
}

/* Link index limit: min-blocks, then the sentinels. */
static inline uint64_t lim(const struct rg_region *r)
{
	return r->nmin + RG_NSENT;
}

static inline uint32_t sent(const struct rg_region *r, uint32_t k)
{
	return (uint32_t)(r->nmin + k);
}

/* Put block @i first on the order-@k list. A next link out of bounds (a
 * corrupted ring) gets no back link; the checker reports the ring. */
static inline void list_push(struct rg_region *r, uint64_t i, uint32_t k)
{
	struct rg_link *link = r->link;
	uint32_t s = sent(r, k), n = link[s].next;

	link[i] = (struct rg_link){ s, n };
	if (n < lim(r))
		link[n].prev = (uint32_t)i;
	link[s].next = (uint32_t)i;
	r->bdy->nonempty |= 1ull << k;
	r->bdy->nfree[k]++;
}

/* Return: 0, -EUCLEAN if a link read from shared memory is out of bounds. */
static inline int list_unlink(struct rg_region *r, uint64_t i, uint32_t k)
{
	struct rg_link *link = r->link;
	uint32_t p = link[i].prev, n = link[i].next;

	if (p >= lim(r) || n >= lim(r))
		return -EUCLEAN;
	link[p].next = n;
	link[n].prev = p;
	if (p == n) /* only the sentinel is left */
		r->bdy->nonempty &= ~(1ull << k);
	r->bdy->nfree[k]--;
	return 0;
}

/* Why a free of min-block @i was refused, given the head @h holding it and
 * its word @w: a pointer inside a block is a double free if that block is
 * free, else a bad pointer; at a head, not allocated is a double free, and
 * allocated to someone else -EPERM (@mine: to the caller, a word that
 * changed under it: -EUCLEAN). */
static inline int free_verdict(uint64_t i, uint64_t h, uint64_t w, bool mine)
{
	if (h != i)
		return RG_ST(w) == RG_BLK_FREE ? -EALREADY : -EFAULT;
	if (RG_ST(w) != RG_BLK_ALLOC)
		return -EALREADY;
	return mine ? -EUCLEAN : -EPERM;
}

/* Free block @i of order @k, merge, list it, lock held; its merged order
 * in *ret_k. Return: the merged block's index. */
uint64_t rg_buddy_release(struct rg_region *r, uint64_t i, uint32_t k, uint32_t *ret_k);

#endif
