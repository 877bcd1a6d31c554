/* SPDX-License-Identifier: MIT */
/*
 * service.c - the daemon's side of a region: reclaiming a dead client's blocks
 * and lending free blocks to the memory tester. Not on any RT path.
 *
 * Blocks are named by their offset from the region base. The tester sweeps
 * with rg_region_next_block() and takes one free block at a time with
 * rg_region_checkout(); slab.c and buddy.c keep allocations from ever
 * waiting on it.
 */
#include <errno.h>
#include <stdlib.h>

#include "fastpath.h"

long rg_region_reclaim(struct rg_region *r, uint64_t owner, uint64_t *ret_bytes)
{
	uint64_t bytes = 0;
	long n = 0;

	rg_share_drop(r, owner); /* a shared block it held last is ALLOC(owner) now */
	for (uint32_t c = 0; c < r->nclasses; c++) {
		long k = rg_slab_reclaim(r, c, owner);

		n += k;
		bytes += (uint64_t)k * r->cls[c].size;
	}
	if (r->bdy) {
		long k = rg_buddy_reclaim(r, owner, &bytes);

		if (k < 0)
			return k;
		n += k;
	}
	if (ret_bytes)
		*ret_bytes = bytes;
	return n;
}

long rg_region_sweep(struct rg_region *r, const uint8_t *live)
{
	return rg_region_sweep_report(r, live, NULL);
}

long rg_region_sweep_report(struct rg_region *r, const uint8_t *live, uint32_t *ret_repaired)
{
	uint32_t most = 0, repaired = 0;
	uint64_t *bm;
	long n = 0, err = 0;

	for (uint32_t c = 0; c < r->nclasses; c++)
		most = r->cls[c].count > most ? r->cls[c].count : most;
	if (!r->nclasses)
		return 0;
	bm = malloc(((size_t)most + 63) / 64 * 8);
	if (!bm)
		return -ENOMEM;
	for (uint32_t c = 0; c < r->nclasses; c++) {
		bool fixed = false;
		long k = rg_slab_sweep(r, c, live, bm, &fixed);

		repaired += fixed;
		if (k < 0)
			err = err == -EUCLEAN ? err : k;
		else
			n += k;
	}
	free(bm);
	if (ret_repaired)
		*ret_repaired = repaired;
	return err && !n ? err : n;
}

int rg_region_recount(struct rg_region *r)
{
	int n = 0;

	for (uint32_t c = 0; c < r->nclasses; c++)
		n += rg_slab_recount(r, c);
	return n;
}

/* Is @w an allocated or cached word whose owner is not @owners[its slot]? */
static bool orphan_word(const struct rg_region *r, uint64_t w, const uint64_t *owners)
{
	uint32_t slot = (uint32_t)(w >> 16 & 0xffff);

	if (RG_ST(w) != RG_BLK_ALLOC && RG_ST(w) != RG_BLK_CACHED)
		return false;
	if (w & RG_SHARE_BIT) /* a shared block: its holders' (reclaim_if_orphan() takes a dangling one) */
		return false;
	return slot != 0 && slot <= r->nslots && RG_OWNER(w) != owners[slot];
}

/* Reclaim the owner of word @w (at @sw, of the block at @p) if it is an
 * orphan not reclaimed yet (@done: owners reclaimed so far, at most 16
 * remembered), or the block if it is a shared block whose closer died.
 * Such a block goes to an owner no client is (generation 0 of the slot the
 * share id names): a slab block is then freed at once, a buddy word only
 * marked in @gone, for one buddy reclaim per slot after the scan (a buddy
 * word may be a stray write inside a block, which only the reclaim's walk
 * of the heads tells from a head). A stray write that stamped share ids on
 * K words thus costs K frees, not K scans of the region.
 * Return: blocks, or < 0. */
static long reclaim_if_orphan(struct rg_region *r, _Atomic uint64_t *sw, void *p, const uint64_t *owners,
			      uint64_t *done, unsigned *ndone, uint64_t *bytes, uint64_t *gone)
{
	uint64_t w = atomic_load_explicit(sw, memory_order_acquire), o = RG_OWNER(w), b = 0;
	uint32_t slot = (uint32_t)(w >> 16 & 0xffff);
	long m;

	if (p && rg_share_dangling(r, w, p)) {
		if (slot == 0 || slot > r->nslots)
			slot = 1; /* a stray slot number: any generation 0 is nobody */
		o = rg_owner(slot, 0);
		/* slab words have order 0: a stray order would make the free refuse it */
		if (!atomic_compare_exchange_strong(sw, &w, RG_WORD(RG_BLK_ALLOC, gone ? RG_ORD(w) : 0, o)))
			return 0; /* its closer was alive after all, and got there first */
		if (gone) {
			gone[slot / 64] |= 1ull << (slot % 64);
			return 0;
		}
		b = rg_region_block_size(r, p); /* while it is allocated */
		if (rg_slab_free(r, p, o) < 0)
			return 0; /* not a block start: the checker reports the word */
		*bytes += b;
		return 1;
	}
	if (!orphan_word(r, w, owners))
		return 0;
	for (unsigned j = 0; j < *ndone; j++)
		if (done[j] == o)
			return 0;
	m = rg_region_reclaim(r, o, &b);
	*bytes += b;
	if (m >= 0 && *ndone < 16)
		done[(*ndone)++] = o;
	return m;
}

long rg_region_reclaim_orphans(struct rg_region *r, const uint64_t *owners, uint64_t *ret_bytes)
{
	uint64_t done[16], bytes = 0, *gone = NULL;
	unsigned ndone = 0;
	long n = 0, m;

	for (uint32_t c = 0; c < r->nclasses; c++) {
		const struct rg_cls *k = &r->cls[c];

		for (uint32_t b = 0; b < k->count; b++) {
			m = reclaim_if_orphan(r, &k->state[b], k->data + (uint64_t)b * k->size, owners, done, &ndone,
					      &bytes, NULL);
			if (m < 0)
				return m;
			n += m;
		}
	}
	if (r->nmin) {
		gone = calloc((r->nslots + 64) / 64, sizeof(*gone)); /* slots 0..nslots */
		if (!gone)
			return -ENOMEM;
	}
	for (uint64_t i = 0; i < r->nmin; i++) { /* the buddy's head words (nmin is 0 without one) */
		m = reclaim_if_orphan(r, &r->bstate[i], r->bdata + (i << r->min_order), owners, done, &ndone,
				      &bytes, gone);
		if (m < 0) {
			free(gone);
			return m;
		}
		n += m;
	}
	for (uint32_t slot = 0; gone && slot <= r->nslots; slot++) {
		if (!(gone[slot / 64] >> (slot % 64) & 1))
			continue;
		m = rg_buddy_reclaim(r, rg_owner(slot, 0), &bytes);
		if (m < 0) {
			free(gone);
			return m;
		}
		n += m;
	}
	free(gone);
	if (r->arena_order) { /* a client that died holding arenas and no block that names it */
		m = rg_arena_reclaim_leases(r, owners, &bytes);
		if (m < 0)
			return m;
		n += m;
	}
	if (ret_bytes)
		*ret_bytes = bytes;
	return n;
}

void rg_region_owner_usage(const struct rg_region *r, uint64_t owner, uint64_t *ret_blocks, uint64_t *ret_bytes)
{
	const uint64_t want = RG_WORD(RG_BLK_ALLOC, 0, owner), cached = RG_WORD(RG_BLK_CACHED, 0, owner);
	uint64_t blocks = 0, bytes = 0;

	for (uint32_t c = 0; c < r->nclasses; c++) {
		const struct rg_cls *k = &r->cls[c];

		for (uint32_t i = 0; i < k->count; i++) {
			uint64_t w = atomic_load_explicit(&k->state[i], memory_order_relaxed);

			if (w == want || w == cached) { /* cached blocks are held too */
				blocks++;
				bytes += k->size;
			}
		}
	}
	for (uint64_t i = 0; r->bdy && i < r->nmin; i++) {
		uint64_t w = atomic_load_explicit(&r->bstate[i], memory_order_relaxed);

		if ((RG_ST(w) == RG_BLK_ALLOC || RG_ST(w) == RG_BLK_CACHED) && RG_OWNER(w) == owner &&
		    RG_ORD(w) >= r->min_order &&
		    RG_ORD(w) <= r->max_order) {
			blocks++;
			bytes += 1ull << RG_ORD(w);
		}
	}
	*ret_blocks = blocks;
	*ret_bytes = bytes;
}

void rg_region_owner_scan(const struct rg_region *r, void (*fn)(void *arg, uint64_t owner), void *arg)
{
	for (uint32_t c = 0; c < r->nclasses; c++) {
		const struct rg_cls *k = &r->cls[c];

		for (uint32_t i = 0; i < k->count; i++) {
			uint64_t w = atomic_load_explicit(&k->state[i], memory_order_relaxed);

			if ((RG_ST(w) == RG_BLK_ALLOC || RG_ST(w) == RG_BLK_CACHED) && !(w & RG_SHARE_BIT))
				fn(arg, RG_OWNER(w));
		}
	}
	for (uint64_t i = 0; r->bdy && i < r->nmin; i++) {
		uint64_t w = atomic_load_explicit(&r->bstate[i], memory_order_relaxed);

		if ((RG_ST(w) == RG_BLK_ALLOC || RG_ST(w) == RG_BLK_CACHED) && !(w & RG_SHARE_BIT))
			fn(arg, RG_OWNER(w));
	}
	rg_share_holders_scan(r, fn, arg);
	if (r->arena_order)
		rg_arena_owner_scan(r, fn, arg); /* arenas' holders, blocks or not */
}

static int next_buddy(struct rg_region *r, uint64_t offset, uint64_t *ret_off, uint64_t *ret_len)
{
	uint64_t rel = offset > r->bdata_off ? offset - r->bdata_off : 0, i;
	uint64_t m = (rel + (1ull << r->min_order) - 1) >> r->min_order;
	uint32_t k;
	int rc;

	if (r->arena_order) {
		rc = rg_arena_next(r, m, &i, ret_len);
		if (rc == 0)
			*ret_off = r->bdata_off + (i << r->min_order);
		return rc;
	}
	rc = rg_buddy_lock(r);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	if (m < r->nmin && rg_buddy_containing(r, m, &i, &k)) {
		if (i < m) { /* starts before: take the next block */
			i += 1ull << (k - r->min_order);
			if (i >= r->nmin || !rg_buddy_containing(r, i, &i, &k))
				i = r->nmin;
		}
		if (i < r->nmin) {
			*ret_off = r->bdata_off + (i << r->min_order);
			*ret_len = 1ull << k;
			rc = 0;
		}
	}
	rg_buddy_unlock(r);
	return rc;
}

int rg_region_next_block(const struct rg_region *rc_, uint64_t offset, uint64_t *ret_off, uint64_t *ret_len)
{
	struct rg_region *r = (struct rg_region *)rc_;

	for (uint32_t c = 0; c < r->nclasses; c++) {
		const struct rg_cls *k = &r->cls[c];
		uint64_t end = RG_CLS_DATA_OFF(r, k) + (uint64_t)k->count * k->size, idx;

		if (offset >= end)
			continue;
		idx = offset > RG_CLS_DATA_OFF(r, k) ? (offset - RG_CLS_DATA_OFF(r, k) + k->size - 1) / k->size : 0;
		if (idx >= k->count)
			continue;
		*ret_off = RG_CLS_DATA_OFF(r, k) + idx * k->size;
		*ret_len = k->size;
		return 0;
	}
	if (r->bdy)
		return next_buddy(r, offset, ret_off, ret_len);
	return -ENOENT;
}

int rg_region_checkout(struct rg_region *r, uint64_t offset, uint64_t *ret_len)
{
	uint64_t idx;
	uint32_t c;
	int kind = rg_locate(r, offset, &c, &idx);

	if (kind == 0) {
		int rc = rg_slab_checkout(r, c, (uint32_t)idx);

		if (rc == 0)
			*ret_len = r->cls[c].size;
		return rc;
	}
	if (kind == 1)
		return rg_buddy_checkout(r, idx, ret_len);
	return -EFAULT;
}

int rg_region_checkin(struct rg_region *r, uint64_t offset)
{
	uint64_t idx;
	uint32_t c;
	int kind = rg_locate(r, offset, &c, &idx);

	if (kind == 0)
		return rg_slab_checkin(r, c, (uint32_t)idx);
	if (kind == 1)
		return rg_buddy_checkin(r, idx);
	return -EINVAL;
}

int rg_region_mark_bad(struct rg_region *r, uint64_t offset)
{
	uint64_t idx;
	uint32_t c;
	int kind;

	/* Any byte of a block names it: round down to the slab block or min-block. */
	for (c = 0; c < r->nclasses; c++) {
		const struct rg_cls *k = &r->cls[c];

		if (offset >= RG_CLS_DATA_OFF(r, k) && offset < RG_CLS_DATA_OFF(r, k) + (uint64_t)k->count * k->size) {
			offset -= (offset - RG_CLS_DATA_OFF(r, k)) % k->size;
			break;
		}
	}
	if (r->bdy && offset >= r->bdata_off)
		offset -= (offset - r->bdata_off) & ((1ull << r->min_order) - 1);
	kind = rg_locate(r, offset, &c, &idx);
	if (kind == 0)
		return rg_slab_mark_bad(r, c, (uint32_t)idx);
	if (kind == 1)
		return rg_buddy_mark_bad(r, idx);
	return -EFAULT;
}
