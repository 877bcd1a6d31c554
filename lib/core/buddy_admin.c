/* SPDX-License-Identifier: MIT */
/*
 * buddy_admin.c - the buddy area's cold operations, each under the lock
 * (rg_buddy_lock()): the rebuild after a holder died (buddy.c's head comment
 * says why the state table alone is enough), the reclaim of a dead client's
 * blocks, the memory tester's check-out, check-in and quarantine.
 */
#include "buddy_int.h"

/* Pass 1 of a rebuild: validate heads and make every non-head word TAIL. */
static int rebuild_normalize(struct rg_region *r)
{
	for (uint64_t i = 0; i < r->nmin;) {
		uint64_t w = ld(r, i), n;

		if (!head_ok(r, i, w))
			return -EUCLEAN;
		n = nb(r, RG_ORD(w));
		for (uint64_t t = 1; t < n; t++)
			if (ld(r, i + t) != RG_WORD(RG_BLK_TAIL, 0, 0))
				st(r, i + t, RG_WORD(RG_BLK_TAIL, 0, 0));
		i += n;
	}
	return 0;
}

/* Pass 2: merge free buddies a dead process left unmerged, order by order. */
static void rebuild_merge(struct rg_region *r)
{
	for (uint32_t k = r->min_order; k < r->max_order; k++) {
		for (uint64_t i = 0; i < r->nmin;) {
			uint64_t w = ld(r, i), n = nb(r, RG_ORD(w));

			if (w == wfree(k) && !(i & (2 * n - 1)) && i + 2 * n <= r->nmin && ld(r, i + n) == wfree(k)) {
				st(r, i, wfree(k + 1));
				st(r, i + n, RG_WORD(RG_BLK_TAIL, 0, 0));
				n *= 2;
			}
			i += n;
		}
	}
}

int rg_buddy_rebuild(struct rg_region *r)
{
	struct rg_buddy *b = r->bdy;
	int rc = rebuild_normalize(r);

	if (rc < 0)
		return rc;
	rebuild_merge(r);
	b->nonempty = 0;
	b->free_bytes = 0;
	for (uint32_t k = 0; k <= RG_MAX_ORDER; k++) {
		r->link[sent(r, k)] = (struct rg_link){ sent(r, k), sent(r, k) };
		b->nfree[k] = b->in_use[k] = b->bad[k] = b->checkout[k] = 0;
	}
	/* Push in reverse so that each list comes out in address order. */
	for (uint64_t i = r->nmin; i-- > 0;) {
		uint64_t w = ld(r, i);
		uint32_t k = RG_ORD(w);

		if (RG_ST(w) == RG_BLK_TAIL)
			continue;
		switch (RG_ST(w)) {
		case RG_BLK_FREE:
			list_push(r, i, k);
			b->free_bytes += 1ull << k;
			break;
		case RG_BLK_ALLOC:
		case RG_BLK_CACHED: /* in a live client's thread cache: in use */
			b->in_use[k]++;
			break;
		case RG_BLK_CHECKOUT:
			b->checkout[k]++;
			break;
		default:
			b->bad[k]++;
		}
	}
	for (uint32_t k = 0; k <= RG_MAX_ORDER; k++)
		if (b->hwm[k] < b->in_use[k])
			b->hwm[k] = b->in_use[k];
	return 0;
}

long rg_buddy_reclaim(struct rg_region *r, uint64_t owner, uint64_t *ret_bytes)
{
	uint64_t bytes = 0;
	long n = 0;
	int rc;

	if (r->arena_order)
		return rg_arena_reclaim(r, owner, ret_bytes);
	rc = rg_buddy_lock(r);
	if (rc < 0)
		return rc;
	for (uint64_t i = 0; i < r->nmin;) {
		uint64_t w = ld(r, i);
		uint32_t k = RG_ORD(w);

		if (!head_ok(r, i, w)) {
			rg_buddy_unlock(r);
			return -EUCLEAN;
		}
		if ((RG_ST(w) == RG_BLK_ALLOC || RG_ST(w) == RG_BLK_CACHED) && RG_OWNER(w) == owner) {
			r->bdy->in_use[k]--;
			bytes += 1ull << k;
			n++;
			i = rg_buddy_release(r, i, k, &k); /* may merge backwards: continue after the merged block */
		}
		i += nb(r, k);
	}
	rg_buddy_unlock(r);
	if (ret_bytes)
		*ret_bytes += bytes;
	return n;
}

int rg_buddy_checkout(struct rg_region *r, uint64_t i, uint64_t *ret_len)
{
	uint64_t w, h;
	uint32_t k;
	int rc;

	if (r->arena_order)
		return rg_arena_checkout(r, i, ret_len);
	rc = rg_buddy_lock(r);
	if (rc < 0)
		return rc;
	w = ld(r, i);
	/* @i may have been merged into a larger block since the caller found
	 * it: only a real head (not a stale one inside a merged block) counts */
	if (!rg_buddy_containing(r, i, &h, &k) || h != i)
		rc = -EFAULT;
	else if (RG_ST(w) != RG_BLK_FREE)
		rc = -EBUSY;
	else
		rc = list_unlink(r, i, RG_ORD(w));
	if (rc == 0) {
		st(r, i, RG_WORD(RG_BLK_CHECKOUT, RG_ORD(w), 0));
		r->bdy->checkout[RG_ORD(w)]++;
		r->bdy->free_bytes -= 1ull << RG_ORD(w);
		*ret_len = 1ull << RG_ORD(w);
	}
	rg_buddy_unlock(r);
	return rc;
}

int rg_buddy_checkin(struct rg_region *r, uint64_t i)
{
	uint64_t w;
	uint32_t k;
	int rc;

	if (r->arena_order)
		return rg_arena_checkin(r, i);
	rc = rg_buddy_lock(r);
	if (rc < 0)
		return rc;
	w = ld(r, i);
	k = RG_ORD(w);
	if (!head_ok(r, i, w) || RG_ST(w) != RG_BLK_CHECKOUT) {
		rc = -EINVAL;
	} else {
		r->bdy->checkout[k]--;
		rg_buddy_release(r, i, k, &k);
	}
	rg_buddy_unlock(r);
	return rc;
}

/*
 * The block holding min-block @m, searched from the largest order down: for
 * every order k at least that of the block holding m, m rounded down to 2^k
 * min-blocks starts a block (blocks never cross a boundary of their own
 * alignment), so each word read is a real head until the one that covers m;
 * the stale words inside merged blocks are never read. Lock held.
 */
bool rg_buddy_containing(const struct rg_region *r, uint64_t m, uint64_t *ret_i, uint32_t *ret_k)
{
	if (m >= r->nmin)
		return false;
	for (uint32_t k = r->max_order + 1; k-- > r->min_order;) {
		uint64_t i = m & ~(nb(r, k) - 1), w = ld(r, i);

		if (!head_ok(r, i, w))
			return false;
		if (i + nb(r, RG_ORD(w)) > m) {
			*ret_i = i;
			*ret_k = RG_ORD(w);
			return true;
		}
	}
	return false;
}

/*
 * Quarantine min-block @m: split the free or checked-out block holding it
 * down to one min-block, give the other halves back, mark @m BAD. Each split
 * writes the far half's head before shrinking the near one (see above).
 */
int rg_buddy_mark_bad(struct rg_region *r, uint64_t m)
{
	struct rg_buddy *b = r->bdy;
	uint64_t h, w;
	uint32_t k;
	int rc;

	if (r->arena_order)
		return rg_arena_mark_bad(r, m);
	rc = rg_buddy_lock(r);
	if (rc < 0)
		return rc;
	if (!rg_buddy_containing(r, m, &h, &k)) {
		rc = -EUCLEAN;
		goto out_unlock;
	}
	w = ld(r, h);
	if (RG_ST(w) == RG_BLK_BAD) {
		rc = -EALREADY;
		goto out_unlock;
	}
	if (RG_ST(w) == RG_BLK_FREE) {
		rc = list_unlink(r, h, k);
		if (rc < 0)
			goto out_unlock;
		b->free_bytes -= 1ull << k;
		st(r, h, RG_WORD(RG_BLK_CHECKOUT, k, 0));
	} else if (RG_ST(w) == RG_BLK_CHECKOUT) {
		b->checkout[k]--;
	} else {
		rc = -EBUSY;
		goto out_unlock;
	}
	while (k > r->min_order) {
		uint64_t hi;

		k--;
		hi = h + nb(r, k);
		st(r, hi, m >= hi ? RG_WORD(RG_BLK_CHECKOUT, k, 0) : wfree(k));
		st(r, h, m >= hi ? wfree(k) : RG_WORD(RG_BLK_CHECKOUT, k, 0));
		list_push(r, m >= hi ? h : hi, k);
		b->free_bytes += 1ull << k;
		if (m >= hi)
			h = hi;
	}
	st(r, h, RG_WORD(RG_BLK_BAD, k, 0));
	b->bad[k]++;
out_unlock:
	rg_buddy_unlock(r);
	return rc;
}

void rg_buddy_stats(const struct rg_region *r, struct rg_region_stats *s)
{
	struct rg_buddy *b = r->bdy;

	s->min_order = r->min_order;
	s->max_order = r->max_order;
	s->buddy_size = r->nmin << r->min_order;
	if (r->arena_order) {
		rg_arena_stats(r, s);
		return;
	}
	if (rg_buddy_lock((struct rg_region *)r) < 0)
		return;
	for (uint32_t k = r->min_order; k <= r->max_order; k++) {
		struct rg_class_stats *o = &s->order[k];

		o->size = 1ull << k;
		o->in_use = b->in_use[k];
		o->free = b->nfree[k];
		o->hwm = b->hwm[k];
		o->failed = atomic_load_explicit(&b->failed[k], memory_order_relaxed);
		o->bad = b->bad[k];
		o->checkout = b->checkout[k];
	}
	s->buddy_free = b->free_bytes;
	s->buddy_largest_free = b->nonempty ? 1ull << (63 - __builtin_clzll(b->nonempty)) : 0;
	s->buddy_repairs = b->repairs;
	rg_buddy_unlock((struct rg_region *)r);
}
