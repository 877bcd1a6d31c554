/* SPDX-License-Identifier: MIT */
/*
 * buddy_cache.c - a client thread's cache of freed buddy blocks (region.h,
 * "Buddy thread caches"): what it keeps, it hands out again without the
 * buddy lock, so that a thread which allocates and frees the same sizes in
 * a cycle takes the lock that all clients of the pool share only while its
 * cache fills or empties.
 *
 * Kills: a block is ALLOC or CACHED with its owner at every instant (each
 * transition is one plain store by the owner), and reclaim takes both, so a
 * client killed anywhere in these functions loses nothing. A flush writes
 * the block ALLOC before it frees it through the lock.
 */
#include "buddy_int.h"

void rg_buddy_cache_init(const struct rg_region *r, struct rg_buddy_cache *bc)
{
	*bc = (struct rg_buddy_cache){ 0 };
	if (r->cache && r->bdy && r->nslots)
		bc->budget = r->bsize / (4ull * r->nslots);
}

int rg_buddy_cache_alloc(struct rg_region *r, struct rg_buddy_cache *bc, size_t size, uint64_t owner, void **ret)
{
	uint32_t j, s;
	uint64_t i, w;

	if (size - 1 >= r->bmax) /* size 0, no area (bmax 0), above the largest block */
		return -EAGAIN;
	j = order_for(r, size);
	s = j - r->min_order;
	if (s >= RG_BCACHE_ORDERS || !bc->n[s])
		return -EAGAIN;
	i = bc->idx[s][--bc->n[s]];
	bc->bytes -= 1ull << j;
	w = RG_WORD(RG_BLK_CACHED, j, owner);
	if (i >= r->nmin || ld(r, i) != w)
		return -EUCLEAN;
	st(r, i, w ^ (RG_BLK_CACHED ^ RG_BLK_ALLOC));
	*ret = r->bdata + (i << r->min_order);
	return 0;
}

int rg_buddy_cache_free(struct rg_region *r, struct rg_buddy_cache *bc, void *p, uint64_t owner)
{
	uint64_t rel = (uint64_t)((uintptr_t)p - (uintptr_t)r->bdata), i, w;
	uint32_t k, s;

	if (rel >= r->bsize || rel & r->bminmask) /* bsize is 0 without a buddy area */
		return -EAGAIN;
	i = rel >> r->min_order;
	w = ld(r, i);
	k = RG_ORD(w);
	s = k - r->min_order;
	if (!owned_head(r, i, w, owner) || s >= RG_BCACHE_ORDERS || bc->n[s] >= RG_BCACHE_MAX ||
	    bc->bytes + (1ull << k) > bc->budget)
		return -EAGAIN;
	st(r, i, w ^ (RG_BLK_ALLOC ^ RG_BLK_CACHED));
	bc->idx[s][bc->n[s]++] = (uint32_t)i;
	bc->bytes += 1ull << k;
	return 0;
}

uint64_t rg_buddy_cache_flush(struct rg_region *r, struct rg_buddy_cache *bc, uint64_t owner)
{
	uint64_t bytes = 0;

	for (uint32_t s = 0; s < RG_BCACHE_ORDERS; s++) {
		uint32_t k = r->min_order + s;

		while (bc->n[s]) {
			uint64_t i = bc->idx[s][--bc->n[s]], w = RG_WORD(RG_BLK_CACHED, k, owner);

			if (i >= r->nmin || ld(r, i) != w)
				continue; /* no longer ours: overwritten, nothing to give */
			st(r, i, w ^ (RG_BLK_CACHED ^ RG_BLK_ALLOC));
			if (rg_buddy_free(r, r->bdata + (i << r->min_order), owner) == 0)
				bytes += 1ull << k;
		}
	}
	bc->bytes = 0;
	return bytes;
}
