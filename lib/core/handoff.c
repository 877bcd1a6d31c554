/* SPDX-License-Identifier: MIT */
/*
 * handoff.c - a block handed from one client of a region to another.
 *
 * A block's owner is the owner field of its state word (ALLOC). Handing it
 * over is one CAS of that word, ALLOC(giver) -> ALLOC(receiver), with the
 * state, the order (buddy) and the block's place untouched: no list is
 * touched, so the buddy's lock is not taken and the slab lists are not
 * involved. Before the CAS the block is the giver's, after it the
 * receiver's, and the daemon reclaims it with whichever of them dies: a
 * kill at any instruction leaves it with exactly one owner.
 *
 * A receiver that is gone when the CAS lands would own the block without
 * ever freeing it. The giver therefore checks the receiver's slot record
 * (the daemon writes it when it grants the slot and clears it before it
 * reclaims a dead client) before the CAS and again after it; if the
 * receiver left in between, it takes the block back. What the giver cannot
 * see, a receiver that leaves after the second check, the daemon finds:
 * it clears the record, reclaims, and then reclaims every block whose owner
 * is no current client (rg_region_reclaim_orphans()).
 *
 * Context of both calls: RT-safe; no lock, no system call, O(1).
 */
#include <errno.h>

#include "fastpath.h"

/* The state word of the block at @p: a slab block, or a buddy block's head
 * word. NULL if @p is not the start of one. */
static _Atomic uint64_t *block_word(const struct rg_region *r, const void *p)
{
	uint64_t off = (uint64_t)((const char *)p - r->base), idx, w;
	uint32_t c;
	int kind = rg_locate(r, off, &c, &idx);

	if (kind == 0)
		return &r->cls[c].state[idx];
	if (kind != 1)
		return NULL;
	w = atomic_load_explicit(&r->bstate[idx], memory_order_relaxed);
	if (RG_ORD(w) < r->min_order || RG_ORD(w) > r->max_order || (idx & ((1ull << (RG_ORD(w) - r->min_order)) - 1)))
		return NULL; /* not a head: a tail or a corrupt word */
	return &r->bstate[idx];
}

static bool receiver_here(const struct rg_region *r, uint64_t to)
{
	uint32_t slot = (uint32_t)(to >> 16 & 0xffff);

	return atomic_load_explicit(&r->slots[slot].owner, memory_order_acquire) == to;
}

int rg_region_give(struct rg_region *r, void *p, uint64_t owner, uint64_t to)
{
	uint32_t slot = (uint32_t)(to >> 16 & 0xffff);
	_Atomic uint64_t *sw;
	uint64_t w, mine, theirs;

	if ((to & 0xffff) || slot == 0 || slot > r->nslots)
		return -EINVAL;
	sw = block_word(r, p);
	if (!sw)
		return -EFAULT;
	w = atomic_load_explicit(sw, memory_order_acquire);
	if (RG_ST(w) != RG_BLK_ALLOC || RG_OWNER(w) != owner)
		return -EPERM;
	if (!receiver_here(r, to))
		return -ESRCH;
	mine = w;
	theirs = RG_WORD(RG_BLK_ALLOC, RG_ORD(w), to);
	if (!atomic_compare_exchange_strong_explicit(sw, &w, theirs, memory_order_acq_rel, memory_order_acquire))
		return -EPERM; /* it changed under us: freed or given by another thread of ours */
	if (receiver_here(r, to))
		return 0;
	/* the receiver left meanwhile: take it back, unless the daemon already
	 * reclaimed it (then it is free, and no longer ours either way) */
	atomic_compare_exchange_strong_explicit(sw, &theirs, mine, memory_order_acq_rel, memory_order_relaxed);
	return -ESRCH;
}

int rg_region_owned(const struct rg_region *r, const void *p, uint64_t owner, size_t *ret_size)
{
	_Atomic uint64_t *sw = block_word(r, p);
	uint64_t w;

	if (!sw)
		return -EFAULT;
	w = atomic_load_explicit(sw, memory_order_acquire);
	if (RG_ST(w) != RG_BLK_ALLOC || RG_OWNER(w) != owner)
		return -EPERM;
	if (ret_size)
		*ret_size = rg_region_block_size(r, p);
	return 0;
}
