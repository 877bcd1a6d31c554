/* SPDX-License-Identifier: MIT */
/*
 * arena_admin.c - the daemon's side of arena mode (arena.c): the layout, the
 * reclaim of a dead client's arenas and blocks, the arenas it leaves
 * ORPHAN, the memory tester's check-out of whole FREE arenas, quarantine and
 * statistics. Not on any RT path; nothing here waits for a client.
 *
 * The daemon reads only the shared state: the lease words and the state
 * table. In the arena of a live client it reads heads while that client
 * splits and merges; the walk "read the head, skip its size" still finds
 * every head that does not change under it (a dead client's blocks, REMOTE
 * blocks): a word that is not a head is TAIL or a stale FREE head left
 * inside a block that has since grown, and a stale head never reaches past
 * the block holding it, since blocks never cross a boundary of their own
 * alignment (buddy.c's head comment).
 */
#include <string.h>

#include "arena_int.h"

bool rg_arena_desc_ok(const struct rg_buddy_desc *b)
{
	uint32_t a = b->arena_order;

	return a >= b->max_order && a >= b->min_order && a - b->min_order <= RG_ARENA_MAXSHIFT && a <= RG_MAX_ORDER &&
	       !(b->size & ((1ull << a) - 1)) && (b->size >> a) >= 1 && (b->size >> a) <= RG_ARENA_MAX;
}

uint64_t rg_arena_meta_size(uint64_t narenas, uint32_t nslots, uint32_t shift)
{
	uint64_t anw = shift > 6 ? 1ull << (shift - 6) : 1;

	return narenas * sizeof(struct rg_arena) + sizeof(struct rg_arena_ctl) +
	       ((uint64_t)nslots + 1) * sizeof(struct rg_arena_slot) + narenas * anw * 8;
}

void rg_arena_fill(struct rg_region *r, const struct rg_buddy_desc *b, uint64_t arena_off)
{
	r->arena_order = b->arena_order;
	r->ashift = b->arena_order - b->min_order;
	r->narenas = b->size >> b->arena_order;
	r->arenas = (struct rg_arena *)(r->base + arena_off);
	r->actl = (struct rg_arena_ctl *)(r->arenas + r->narenas);
	r->aslots = (struct rg_arena_slot *)(r->actl + 1);
	r->anw = r->ashift > 6 ? 1u << (r->ashift - 6) : 1u;
	r->aremote = (_Atomic uint64_t *)(r->aslots + r->nslots + 1);
}

int rg_arena_format(struct rg_region *r)
{
	memset(r->arenas, 0, rg_arena_meta_size(r->narenas, r->nslots, r->ashift));
	for (uint64_t a = 0; a < r->narenas; a++) {
		atomic_init(&r->arenas[a].lease, RG_LEASE(RG_LEASE_FREE, 0));
		hint_free(r, a);
	}
	atomic_store(&r->actl->nfree, r->narenas); /* RG_NF_COUNT, no changes yet */
	return 0;
}

/* Is @w, at min-block @i, a head of arena order or less that ends by @end? */
static bool ahead_ok(const struct rg_region *r, uint64_t i, uint64_t w, uint64_t end)
{
	uint32_t s = RG_ST(w), k = RG_ORD(w);

	if (s != RG_BLK_FREE && s != RG_BLK_ALLOC && s != RG_BLK_CACHED && s != RG_BLK_REMOTE)
		return false;
	return k >= r->min_order && k <= r->arena_order && !(i & (nb(r, k) - 1)) && i + nb(r, k) <= end;
}

/* A word of a live client's arena: acquire, so that a head seen is a head
 * whose halves are seen too (arena.c writes the last head with release). */
static inline uint64_t lda(const struct rg_region *r, uint64_t i)
{
	return atomic_load_explicit(&r->bstate[i], memory_order_acquire);
}

static bool held(uint64_t w)
{
	return RG_ST(w) == RG_BLK_ALLOC || RG_ST(w) == RG_BLK_CACHED;
}

/*
 * Make arena @a, whose lease word is @lw and whose blocks are all free
 * (FREE, or REMOTE: handed back), one FREE block again and give it back.
 * REMOTE heads become FREE first, so that no REMOTE word is left inside
 * the arena for a late bit to find. Return: true if it went back.
 */
static bool reset(struct rg_region *r, uint64_t a, uint64_t lw)
{
	uint64_t base = a << r->ashift, end = base + nb(r, r->arena_order);

	for (uint64_t i = base; i < end;) {
		uint64_t w = lda(r, i);

		if (!ahead_ok(r, i, w, end))
			break; /* changed since the walk (a stray write): the checker reports it */
		if (RG_ST(w) == RG_BLK_REMOTE)
			st(r, i, wfree(RG_ORD(w)));
		i += nb(r, RG_ORD(w));
	}
	st(r, base, wfree(r->arena_order));
	if (!atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_FREE, 0)))
		return false;
	atomic_fetch_add(&r->actl->nfree, RG_NF_UP);
	hint_free(r, a);
	return true;
}

enum walk { W_OWN, W_OTHER, W_LOOK, W_NOTE };

/*
 * Walk arena @a for @owner's blocks. W_OWN (its own arena): they become
 * FREE. W_OTHER: they are handed back REMOTE, as if it had freed them, and
 * its REMOTE blocks' bits are set again (it may have died before it set
 * them). W_LOOK: nothing changes. W_NOTE: nothing changes, and the bits of
 * every REMOTE block, whoever freed it, are set again (a freer that died
 * between its CAS and its bits while no daemon ran is named by no record;
 * a bit is only a hint, so a bit set again takes nothing twice). Each change is a CAS from the word read:
 * a giver taking a block back from a receiver that died wins or loses whole.
 * Return: blocks taken (bytes added to *@bytes); *@busy: another client
 * still holds a block of it; -EUCLEAN: a word that is not a head.
 */
static long walk_owner(struct rg_region *r, uint64_t a, uint64_t owner, enum walk how, uint64_t *bytes, bool *busy)
{
	uint64_t base = a << r->ashift, end = base + nb(r, r->arena_order);
	long n = 0;

	*busy = false;
	for (uint64_t i = base; i < end;) {
		uint64_t w = lda(r, i);
		uint32_t k = RG_ORD(w);

		if (!ahead_ok(r, i, w, end))
			return -EUCLEAN;
		if ((how == W_OWN || how == W_OTHER) && held(w) && RG_OWNER(w) == owner) {
			uint64_t to = how == W_OWN ? wfree(k) : RG_WORD(RG_BLK_REMOTE, k, owner);

			if (!atomic_compare_exchange_strong(&r->bstate[i], &w, to))
				continue; /* taken back by its giver: read it again */
			if (how == W_OTHER)
				remote_note(r, i);
			n++;
			*bytes += 1ull << k;
		} else if (held(w)) {
			*busy = true;
		} else if (RG_ST(w) == RG_BLK_REMOTE && (how == W_NOTE || (how == W_OTHER && RG_OWNER(w) == owner))) {
			remote_note(r, i);
		}
		i += nb(r, k);
	}
	return n;
}

/*
 * The tester's mark on slot 0 around its CAS and its add (a checkout, a
 * checkin, a quarantine): the daemon's pid, so that a mark a killed daemon
 * left is not taken for live by the next one (whose tester's next mark
 * replaces it anyway).
 */
static uint64_t tester_mark(const struct rg_region *r)
{
	return (1ull << 32) | (uint32_t)atomic_load_explicit(&r->slots[0].pid, memory_order_relaxed);
}

static void tester_busy(struct rg_region *r, bool on)
{
	atomic_store(&r->aslots[0].busy, on ? tester_mark(r) : 0);
}

/*
 * Is any live client, or the tester, between its lease or give-back CAS and
 * its add to the count (arena.c, busy_set())? A mark whose client is no longer the slot's
 * (the daemon clears a dead client's record before it reclaims it), or that
 * names no client (a stray write), is cleared: that client is gone, and
 * whatever it left undone the recount sets right.
 */
static bool clients_busy(struct rg_region *r)
{
	bool busy = false;

	for (uint32_t s = 0; s <= r->nslots; s++) {
		uint64_t m = atomic_load(&r->aslots[s].busy);

		if (!m)
			continue;
		if (m == (s ? atomic_load(&r->slots[s].owner) : tester_mark(r)))
			busy = true;
		else
			atomic_compare_exchange_strong(&r->aslots[s].busy, &m, 0);
	}
	return busy;
}

/*
 * The count of FREE arenas. A client killed between its lease or give-back
 * CAS and its add leaves it wrong, and only a walk of the lease words says
 * by how much; but the walk is no snapshot. The count is set from a walk
 * only when no change of the count overlapped it (its high half, RG_NF_*)
 * and no live client was, after it, between a CAS and its add: a client
 * marks itself before its CAS (seq_cst), so a walk that saw the CAS sees the
 * mark, unless the client's add has landed since, which changes the count;
 * and its add is a release after the CAS, so a count read that includes the
 * add is followed by a walk that sees the CAS (arm64 could show the add first).
 * The daemon's tester marks slot 0 the same way (tester_mark()). Exact: a
 * walk that passes these tests counts what the count should say; a walk
 * that does not leaves the count to the next pass, so nothing here waits.
 */
static void recount(struct rg_region *r)
{
	uint64_t was = atomic_load(&r->actl->nfree), n = 0;

	for (uint64_t a = 0; a < r->narenas; a++)
		n += RG_ST(atomic_load(&r->arenas[a].lease)) == RG_LEASE_FREE;
	if (clients_busy(r) || atomic_load(&r->actl->nfree) != was || n == RG_NF_COUNT(was))
		return; /* the next pass */
	atomic_compare_exchange_strong(&r->actl->nfree, &was, ((was >> 32) + 1) << 32 | n);
}

/*
 * ORPHAN arenas whose last block came back go back; an arena whose lease
 * word is no state (a stray write) is quarantined BAD, since a client may
 * still split it from its private lists; FREE arenas get their hints
 * again, and held arenas the bits of their REMOTE blocks. Then the count
 * of FREE arenas, after these give-backs (recount()).
 */
static void arena_pass(struct rg_region *r)
{
	uint64_t bytes = 0;
	bool busy;

	for (uint64_t a = 0; a < r->narenas; a++) {
		uint64_t lw = lease_ld(r, a);
		uint32_t ls = RG_ST(lw);

		if (ls == RG_LEASE_ORPHAN && walk_owner(r, a, 0, W_LOOK, &bytes, &busy) >= 0 && !busy)
			reset(r, a, lw);
		else if ((ls != RG_LEASE_FREE && ls != RG_LEASE_HELD && ls != RG_LEASE_CHECKOUT && ls != RG_LEASE_BAD &&
			  ls != RG_LEASE_ORPHAN) ||
			 (ls != RG_LEASE_HELD && RG_OWNER(lw)) || (lw >> 16 & 0xffff) > r->nslots)
			atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_BAD, 0));
		else if (ls == RG_LEASE_HELD)
			walk_owner(r, a, 0, W_NOTE, &bytes, &busy); /* a head changing under it: the next pass */
		lw = lease_ld(r, a);
		if (RG_ST(lw) == RG_LEASE_FREE &&
		    (!(atomic_load(&r->actl->free1[a >> 6]) >> (a & 63) & 1) || !(atomic_load(&r->actl->free0) >> (a >> 6) & 1)))
			hint_free(r, a);
	}
	recount(r);
}

void rg_region_arena_pass(struct rg_region *r)
{
	if (r->arena_order)
		arena_pass(r);
}

long rg_arena_reclaim_leases(struct rg_region *r, const uint64_t *owners, uint64_t *ret_bytes)
{
	long n = 0;

	for (uint64_t a = 0; a < r->narenas; a++) {
		uint64_t lw = lease_ld(r, a), o = RG_OWNER(lw);
		uint32_t slot = (uint32_t)(lw >> 16 & 0xffff);
		uint64_t b = 0;
		long m;

		if (RG_ST(lw) != RG_LEASE_HELD || slot == 0 || slot > r->nslots || o == owners[slot])
			continue;
		m = rg_region_reclaim(r, o, &b); /* takes every arena it held, not only this one */
		if (m < 0)
			return m;
		n += m;
		if (ret_bytes)
			*ret_bytes += b;
	}
	return n;
}

void rg_arena_owner_scan(const struct rg_region *r, void (*fn)(void *arg, uint64_t owner), void *arg)
{
	for (uint64_t a = 0; a < r->narenas; a++) {
		uint64_t lw = lease_ld(r, a);

		if (RG_ST(lw) == RG_LEASE_HELD)
			fn(arg, RG_OWNER(lw));
	}
}

long rg_arena_reclaim(struct rg_region *r, uint64_t owner, uint64_t *ret_bytes)
{
	uint64_t bytes = 0;
	long n = 0;
	bool corrupt = false;

	for (uint64_t a = 0; a < r->narenas; a++) {
		uint64_t lw = lease_ld(r, a);
		bool own = lw == RG_LEASE(RG_LEASE_HELD, owner), busy;
		long k;

		if (RG_ST(lw) != RG_LEASE_HELD && RG_ST(lw) != RG_LEASE_ORPHAN)
			continue;
		k = walk_owner(r, a, owner, own ? W_OWN : W_OTHER, &bytes, &busy);
		if (k < 0) {
			corrupt = true;
			if (own) /* the daemon's until a rebuild: nobody splits it any more */
				atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_ORPHAN, 0));
			continue;
		}
		n += k;
		if (own && (busy || !reset(r, a, lw)))
			atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_ORPHAN, 0));
	}
	if (slot_of(owner) <= r->nslots) { /* died between a CAS and its add: the pass below recounts */
		uint64_t m = owner;

		atomic_compare_exchange_strong(&r->aslots[slot_of(owner)].busy, &m, 0);
	}
	arena_pass(r);
	if (ret_bytes)
		*ret_bytes += bytes;
	return corrupt ? -EUCLEAN : n;
}

static void add_free(struct rg_region_stats *s, const struct rg_region *r, uint32_t k)
{
	uint32_t o = k > r->max_order ? r->max_order : k;

	s->order[o].free += 1ull << (k - o);
	s->buddy_free += 1ull << k;
	if ((1ull << k) > s->buddy_largest_free)
		s->buddy_largest_free = 1ull << k;
}

void rg_arena_stats(const struct rg_region *r, struct rg_region_stats *s)
{
	struct rg_buddy *b = r->bdy;
	const uint64_t per = 1ull << (r->arena_order - r->max_order); /* largest blocks per arena */

	for (uint32_t k = r->min_order; k <= r->max_order; k++)
		s->order[k].size = 1ull << k;
	for (uint64_t a = 0; a < r->narenas; a++) {
		uint64_t lw = lease_ld(r, a), base = a << r->ashift, end = base + nb(r, r->arena_order);

		switch (RG_ST(lw)) {
		case RG_LEASE_FREE:
			add_free(s, r, r->arena_order);
			continue;
		case RG_LEASE_CHECKOUT:
			s->order[r->max_order].checkout += per;
			continue;
		case RG_LEASE_BAD:
			s->order[r->max_order].bad += per;
			continue;
		default:
			break;
		}
		for (uint64_t i = base; i < end;) { /* a live client's arena: a moment's picture */
			uint64_t w = lda(r, i);

			if (!ahead_ok(r, i, w, end))
				break;
			if (held(w) && RG_ORD(w) <= r->max_order)
				s->order[RG_ORD(w)].in_use++;
			else if (!held(w))
				add_free(s, r, RG_ORD(w));
			i += nb(r, RG_ORD(w));
		}
	}
	for (uint32_t k = r->min_order; k <= r->max_order; k++) {
		struct rg_class_stats *o = &s->order[k];
		uint64_t h = __atomic_load_n(&b->hwm[k], __ATOMIC_RELAXED);

		while (h < o->in_use && !__atomic_compare_exchange_n(&b->hwm[k], &h, o->in_use, false, __ATOMIC_RELAXED,
								      __ATOMIC_RELAXED))
			;
		o->hwm = h > o->in_use ? h : o->in_use;
		o->failed = atomic_load_explicit(&b->failed[k], memory_order_relaxed);
	}
}

/* The tester's unit is a whole FREE arena: @i must be an arena's first min-block. */
int rg_arena_checkout(struct rg_region *r, uint64_t i, uint64_t *ret_len)
{
	uint64_t a = i >> r->ashift, lw = RG_LEASE(RG_LEASE_FREE, 0);
	int rc = -EBUSY;

	if (i & ((1ull << r->ashift) - 1))
		return -EFAULT;
	tester_busy(r, true);
	if (atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_CHECKOUT, 0))) {
		atomic_fetch_add(&r->actl->nfree, RG_NF_DOWN);
		*ret_len = 1ull << r->arena_order;
		rc = 0;
	}
	tester_busy(r, false);
	return rc;
}

int rg_arena_checkin(struct rg_region *r, uint64_t i)
{
	uint64_t a = i >> r->ashift, lw = RG_LEASE(RG_LEASE_CHECKOUT, 0);
	int rc = -EINVAL;

	if (i & ((1ull << r->ashift) - 1))
		return -EINVAL;
	tester_busy(r, true);
	if (atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_FREE, 0))) {
		atomic_fetch_add(&r->actl->nfree, RG_NF_UP);
		hint_free(r, a);
		rc = 0;
	}
	tester_busy(r, false);
	return rc;
}

/* Quarantine the arena holding min-block @m: FREE or checked out -> BAD. */
int rg_arena_mark_bad(struct rg_region *r, uint64_t m)
{
	uint64_t a = m >> r->ashift, lw;
	bool ok;

	if (m >= r->nmin)
		return -EFAULT;
	lw = lease_ld(r, a); /* after the bound: @m comes from the tester's offset */
	if (RG_ST(lw) == RG_LEASE_BAD)
		return -EALREADY;
	if (lw != RG_LEASE(RG_LEASE_FREE, 0) && lw != RG_LEASE(RG_LEASE_CHECKOUT, 0))
		return -EBUSY;
	tester_busy(r, true);
	ok = atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_BAD, 0));
	if (ok && RG_ST(lw) == RG_LEASE_FREE)
		atomic_fetch_add(&r->actl->nfree, RG_NF_DOWN);
	tester_busy(r, false);
	return ok ? 0 : -EBUSY;
}

/* The tester's next unit at or after min-block @m: the next arena. */
int rg_arena_next(struct rg_region *r, uint64_t m, uint64_t *ret_i, uint64_t *ret_len)
{
	uint64_t a = (m + (1ull << r->ashift) - 1) >> r->ashift;

	if (a >= r->narenas)
		return -ENOENT;
	*ret_i = a << r->ashift;
	*ret_len = 1ull << r->arena_order;
	return 0;
}
