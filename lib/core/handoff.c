/* SPDX-License-Identifier: MIT */
/*
 * handoff.c - blocks that change hands: a block handed from one client of a
 * region to another, and a block shared with several readers.
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
 * (the daemon writes it when it grants the slot and clears it, with a full
 * fence, before it reclaims a dead client) before the CAS and again after
 * it; if the receiver left in between, it takes the block back, and if the
 * daemon reclaimed the block first, the give counts as done (0): the block
 * is not the giver's any more. What the giver cannot
 * see, a receiver that leaves after the second check, the daemon finds:
 * it clears the record, reclaims, and then reclaims every block whose owner
 * is no current client (rg_region_reclaim_orphans()).
 *
 * Context of both calls: RT-safe; no lock, no system call, O(1).
 */
#include <errno.h>

#include "fastpath.h"

/*
 * The test hook (test_hooks.h) exists only in rtmem_core_test: it is called
 * between the steps below, so that a test can run another client's or the
 * daemon's steps there, or kill the caller there.
 */
#ifdef RG_TEST_HOOKS
#include "test_hooks.h"

void (*rg_handoff_test_hook)(enum rg_handoff_step step);
#define STEP(s)                                   \
	do {                                      \
		if (rg_handoff_test_hook)         \
			rg_handoff_test_hook(s);  \
	} while (0)
#else
#define STEP(s) ((void)0)
#endif

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

/*
 * Is @to the client of its slot? Sequentially consistent, as the write that
 * precedes it (the block word, an entry): the daemon clears the slot record
 * and then, after a full fence (rg_region_slot_set()), reads block words and
 * entries. Of two such store-then-load pairs, at least one load sees the
 * other's store; with acquire only, both could miss (store buffering), and
 * a dead receiver would keep a block that nobody ever frees.
 */
static bool receiver_here(const struct rg_region *r, uint64_t to)
{
	uint32_t slot = (uint32_t)(to >> 16 & 0xffff);

	return atomic_load_explicit(&r->slots[slot].owner, memory_order_seq_cst) == to;
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
	STEP(RG_STEP_GIVE_CHECKED);
	if (!receiver_here(r, to))
		return -ESRCH;
	mine = w;
	theirs = RG_WORD(RG_BLK_ALLOC, RG_ORD(w), to);
	STEP(RG_STEP_GIVE_HERE);
	if (!atomic_compare_exchange_strong_explicit(sw, &w, theirs, memory_order_seq_cst, memory_order_acquire))
		return -EPERM; /* it changed under us: freed or given by another thread of ours */
	STEP(RG_STEP_GIVE_SWAPPED);
	if (receiver_here(r, to))
		return 0;
	/* the receiver left meanwhile: take it back. If that fails, the block
	 * went on from the receiver before it left (it freed the block or gave
	 * it on, back to us too) or with it (the daemon reclaimed it): the give
	 * landed, as one that returned just before the receiver died, and
	 * counts as done. A block given back to us is ours through that give,
	 * which the receiver announces as any give, not through this one. */
	STEP(RG_STEP_GIVE_GONE);
	if (!atomic_compare_exchange_strong_explicit(sw, &theirs, mine, memory_order_acq_rel, memory_order_relaxed))
		return 0;
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

/*
 * Shared readers. A block's owner opens it to sharing with rg_region_share():
 * it takes a free record of its own slot (RG_SHARE_RECS per slot), writes
 * itself and the first reader into the record's entries, and then swaps the
 * block's owner for the record's share id with one CAS. From then on the
 * record's entries are the block's holders; each may add another client
 * (rg_region_share() again) and drops its own entry with rg_region_release().
 *
 * An entry is one word, the holder's id with the record's generation in its
 * low 16 bits, so dropping it is one CAS that nobody else's drop can undo,
 * and the daemon drops a dead client's entries the same way
 * (rg_share_drop()). Whoever drops an entry then looks at the others: if none
 * of this generation is left, it closes the record: a CAS of its header to
 * CLOSING, a second look at the entries (the first is no snapshot: a holder
 * may add a reader at an entry already read and let go of its own at one
 * not yet read), and a CAS to FREE, so that one closer wins; it then turns
 * the block back into an ordinary ALLOC block of its own, which it frees.
 * An adder reads the header after its entry CAS and backs out on CLOSING;
 * the closer reads the entries after its CLOSING CAS: one sees the other.
 * The daemon also closes every linked record it finds with no holder left
 * (one whose last holder died between its drop and its close, or in
 * CLOSING). A kill between FREE and the block's CAS leaves a block word
 * naming a closed record: the daemon's orphan pass takes it
 * (rg_share_dangling()).
 *
 * Adding a holder also races a holder's last drop when two threads of one
 * client share and release at once: the adder writes the new entry and
 * then reads its own; the releaser drops its entry and then reads the
 * others (both sequentially consistent), so at least one sees the other, and
 * an adder that finds its own entry gone takes the new one out again and
 * closes the record if that made it empty.
 *
 * Adding a holder writes its entry tentative (SH_TENTATIVE: bit 63, which no
 * client id has, and the adder's slot), checks, and then confirms it with a
 * CAS. A tentative entry holds the block (no close while it is there) but is
 * nobody's to release, and nobody is told -EALREADY for it: a release, and
 * the -EALREADY check, match only confirmed entries, so an entry that is
 * backed out was never the reader's. With the death of its reader or of its
 * adder the daemon marks it dead (SH_DEAD: no hold, no duplicate), so the
 * confirm fails; the adder alone frees its index, even then. A confirm that
 * lands before the daemon's drop leaves a confirmed entry, which the drop
 * takes as any other.
 * Two holders adding the same reader at once: each rescans the entries
 * after its own entry CAS, and one that finds another entry of the reader,
 * tentative or confirmed, takes its own out and returns -EAGAIN; the later
 * CAS's rescan sees the earlier entry, so no reader ends with two entries
 * (its one release would leave the block held until it exits).
 *
 * A reader that leaves: the opener writes the entries before it links the
 * record, then checks the reader's slot record; the daemon clears that
 * record, fences, and then drops a dead client's entries, in every record,
 * linked or not. Both sides' store-then-load is sequentially consistent, so
 * either the opener sees the reader gone and backs out, or the daemon sees
 * the entry and drops it. An opener killed before it linked the
 * record leaves a record in SETUP in its own slot, undone when it is
 * reclaimed; killed after, a linked record, whose holders carry on.
 */
enum { SH_FREE = 0, SH_SETUP = 1, SH_LIVE = 2, SH_CLOSING = 3 };
/* A tentative entry: bit 63 (no client id has it), the adder's slot in bits
 * 32..47, the reader's slot in bits 16..31 and the record's generation in
 * bits 0..15, as a confirmed entry has them. The reader's generation is not
 * in it: its slot names it while the add checks that the reader is there,
 * and the adder's slot lets the daemon find it at the adder's death. The
 * daemon never clears a tentative entry, it marks it SH_DEAD (no hold, no
 * duplicate): only the adder frees the index, so no other adder's entry,
 * equal to it after a slot changed hands, can take its place under it. */
#define SH_TENTATIVE RG_SHARE_BIT
#define SH_DEAD (1ull << 48) /* in a tentative entry: its reader or adder died; only its adder clears it */

static uint64_t ent_tentative(uint64_t reader, uint64_t adder, uint32_t gen)
{
	return SH_TENTATIVE | (adder >> 16 & 0xffff) << 32 | (reader & 0xffff0000u) | (gen & 0xffffu);
}

/* Is @x an entry, tentative or confirmed, of the reader of confirmed entry @e? */
static bool ent_same_reader(uint64_t x, uint64_t e)
{
	return x == e || ((x & (SH_TENTATIVE | SH_DEAD)) == SH_TENTATIVE && (uint32_t)x == (uint32_t)e);
}
#define SH_GEN_MASK 0x7ffffffu /* 27 bits of generation in a share id */

static uint64_t sid_make(uint32_t slot, uint32_t k, uint32_t gen)
{
	return RG_SHARE_BIT | (uint64_t)(gen & SH_GEN_MASK) << 36 | (uint64_t)k << 32 | (uint64_t)slot << 16;
}

static uint32_t sid_gen(uint64_t sid)
{
	return (uint32_t)(sid >> 36) & SH_GEN_MASK;
}

static uint64_t ent_of(uint64_t id, uint32_t gen)
{
	return id | (gen & 0xffffu);
}

/* Is entry @e a hold of generation @gen? */
static bool ent_holds(uint64_t e, uint32_t gen)
{
	return e && (e & 0xffff) == (gen & 0xffffu) && (e & (SH_TENTATIVE | SH_DEAD)) != (SH_TENTATIVE | SH_DEAD);
}

/* A header: state in bits 0..7, generation in bits 8..34, and from the
 * first close attempt on, a count of them in bits 40..63, so that a header
 * CLOSING once more after a revert differs from the one a stale closer saw. */
#define SH_TRY (1ull << 40)

static uint32_t hdr_gen(uint64_t h)
{
	return (uint32_t)(h >> 8) & SH_GEN_MASK;
}

/* Is record header @h in use (SETUP, LIVE or CLOSING)? */
static bool hdr_in_use(uint64_t h)
{
	return (h & 0xff) == SH_SETUP || (h & 0xff) == SH_LIVE || (h & 0xff) == SH_CLOSING;
}

static struct rg_share *sh_rec(const struct rg_region *r, uint64_t sid)
{
	uint32_t slot = (uint32_t)(sid >> 16 & 0xffff), k = (uint32_t)(sid >> 32 & 0xf);

	if (slot == 0 || slot > r->nslots)
		return NULL;
	return &r->shares[(uint64_t)slot * RG_SHARE_RECS + k];
}

/* The record that block word @w of the block at @off names, if the record
 * is in use for it (SETUP or LIVE, same generation, same block); else NULL. */
static struct rg_share *sh_named(const struct rg_region *r, uint64_t w, uint64_t off)
{
	uint64_t sid = RG_OWNER(w), h;
	struct rg_share *s;

	if (RG_ST(w) != RG_BLK_ALLOC || !(sid & RG_SHARE_BIT))
		return NULL;
	s = sh_rec(r, sid);
	if (!s)
		return NULL;
	h = atomic_load(&s->hdr);
	if (hdr_gen(h) != sid_gen(sid) || !hdr_in_use(h) || atomic_load(&s->blk) != off)
		return NULL;
	return s;
}

/* Index of entry @e in @s, or -1. */
static int sh_find(struct rg_share *s, uint64_t e)
{
	for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++)
		if (atomic_load(&s->ent[i]) == e)
			return (int)i;
	return -1;
}

/* Is entry @e, confirmed or tentative, in @s at an index other than @skip? */
static bool sh_find_other(struct rg_share *s, uint64_t e, int skip)
{
	for (int i = 0; i < (int)RG_SHARE_HOLDERS; i++)
		if (i != skip && ent_same_reader(atomic_load(&s->ent[i]), e))
			return true;
	return false;
}

/* After an entry of generation @gen went: if no entry of it is left, close
 * the record and turn block word @w (at @sw) into ALLOC(@closer).
 * Return: RG_SHARE_CLOSED if this caller did both (the block is @closer's
 * now, to free), 0 if not. */
/* Does an entry of generation @gen hold @s (a step of the test hook after
 * each entry that does not)? */
static bool sh_held(struct rg_share *s, uint32_t gen)
{
	for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++) {
		if (ent_holds(atomic_load(&s->ent[i]), gen))
			return true;
		STEP(RG_STEP_CLOSE_SCANNING);
	}
	return false;
}

static int sh_close(struct rg_share *s, _Atomic uint64_t *sw, uint64_t w, uint32_t gen, uint64_t closer)
{
	uint64_t h, c;

	for (;;) {
		bool held = sh_held(s, gen);

		h = atomic_load(&s->hdr);
		if (hdr_gen(h) != gen || !hdr_in_use(h))
			return 0;
		if (held) {
			/* a close that saw a holder only after its CLOSING, and
			 * was killed before it went back, left it CLOSING */
			if ((h & 0xff) == SH_CLOSING)
				atomic_compare_exchange_strong(&s->hdr, &h, (h & ~(uint64_t)0xff) | SH_LIVE);
			return 0;
		}
		/* our own attempt, or one in progress as it is now: either way
		 * the FREE below must find this very value */
		c = (h & 0xff) == SH_CLOSING ? h : ((h & ~(uint64_t)0xff) + SH_TRY) | SH_CLOSING;
		if (c != h && !atomic_compare_exchange_strong(&s->hdr, &h, c))
			continue; /* the header moved: look again */
		STEP(RG_STEP_CLOSE_CLOSING);
		/* The first scan is not a snapshot: a holder may have added a
		 * reader at an entry already read and let go of its own at one
		 * not yet read. An adder reads the header after its entry CAS;
		 * the header was c after that write or before it: either the
		 * adder sees CLOSING and backs out, or we see its entry now. */
		if (sh_held(s, gen)) {
			STEP(RG_STEP_CLOSE_REVERTING);
			h = c;
			atomic_compare_exchange_strong(&s->hdr, &h, (c & ~(uint64_t)0xff) | SH_LIVE);
			continue; /* LIVE again; the holder may already be gone */
		}
		h = c;
		if (atomic_compare_exchange_strong(&s->hdr, &h, (uint64_t)gen << 8 | SH_FREE))
			break;
		/* reverted, freed or tried again by another closer: look again */
	}
	STEP(RG_STEP_CLOSE_FREED);
	return atomic_compare_exchange_strong(sw, &w, RG_WORD(RG_BLK_ALLOC, RG_ORD(w), closer)) ? RG_SHARE_CLOSED : 0;
}

/* Open @owner's block (word @w at @sw, offset @off) to sharing with @to. */
static int sh_open(struct rg_region *r, _Atomic uint64_t *sw, uint64_t w, uint64_t off, uint64_t owner, uint64_t to)
{
	struct rg_share *recs = &r->shares[(uint64_t)(owner >> 16 & 0xffff) * RG_SHARE_RECS], *s = NULL;
	uint64_t h = 0;
	uint32_t gen = 0, k;

	for (k = 0; k < RG_SHARE_RECS && !s; k++) {
		h = atomic_load(&recs[k].hdr);
		gen = (hdr_gen(h) + 1) & SH_GEN_MASK;
		if ((h & 0xff) == SH_FREE && atomic_compare_exchange_strong(&recs[k].hdr, &h, (uint64_t)gen << 8 | SH_SETUP))
			s = &recs[k];
	}
	if (!s)
		return -ENOSPC;
	k--;
	STEP(RG_STEP_OPEN_TAKEN);
	atomic_store(&s->blk, off);
	atomic_store(&s->ent[0], ent_of(owner, gen));
	atomic_store(&s->ent[1], ent_of(to, gen));
	for (unsigned i = 2; i < RG_SHARE_HOLDERS; i++)
		atomic_store(&s->ent[i], 0);
	STEP(RG_STEP_OPEN_WRITTEN);
	if (!receiver_here(r, to) ||
	    !atomic_compare_exchange_strong(sw, &w, RG_WORD(RG_BLK_ALLOC, RG_ORD(w), sid_make((uint32_t)(owner >> 16 & 0xffff), k, gen)))) {
		int rc = receiver_here(r, to) ? -EPERM : -ESRCH; /* EPERM: freed or given meanwhile */

		for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++)
			atomic_store(&s->ent[i], 0);
		atomic_store(&s->hdr, (uint64_t)gen << 8 | SH_FREE);
		return rc;
	}
	STEP(RG_STEP_OPEN_LINKED);
	h = (uint64_t)gen << 8 | SH_SETUP; /* fails only if the daemon took over: we were reclaimed */
	atomic_compare_exchange_strong(&s->hdr, &h, (uint64_t)gen << 8 | SH_LIVE);
	return RG_SHARE_OPENED;
}

int rg_region_share(struct rg_region *r, void *p, uint64_t owner, uint64_t to)
{
	uint32_t slot = (uint32_t)(to >> 16 & 0xffff), gen;
	uint64_t off = (uint64_t)((char *)p - r->base), w, e, t, h;
	_Atomic uint64_t *sw;
	struct rg_share *s;
	bool dup;
	int i, rc;

	if ((to & 0xffff) || (to & RG_SHARE_BIT) || slot == 0 || slot > r->nslots)
		return -EINVAL;
	sw = block_word(r, p);
	if (!sw)
		return -EFAULT;
	if (to == owner)
		return -EALREADY;
	w = atomic_load(sw);
	if (RG_ST(w) == RG_BLK_ALLOC && RG_OWNER(w) == owner)
		return sh_open(r, sw, w, off, owner, to);
	s = sh_named(r, w, off);
	if (!s)
		return -EPERM;
	gen = sid_gen(RG_OWNER(w));
	if (sh_find(s, ent_of(owner, gen)) < 0)
		return -EPERM;
	if (sh_find(s, ent_of(to, gen)) >= 0)
		return -EALREADY;
	if (!receiver_here(r, to))
		return -ESRCH;
	STEP(RG_STEP_SHARE_CHECKED);
	t = ent_tentative(to, owner, gen);
	for (i = 0; i < (int)RG_SHARE_HOLDERS; i++) {
		e = 0;
		if (atomic_compare_exchange_strong(&s->ent[i], &e, t))
			break;
	}
	if (i == (int)RG_SHARE_HOLDERS)
		return -ENOSPC;
	STEP(RG_STEP_SHARE_ADDED);
	/* Another holder adding @to at the same instant: of two such adders,
	 * the later entry CAS's rescan sees the earlier entry, tentative or
	 * confirmed (all sequentially consistent), so at least one of them
	 * backs out and no reader is left with two entries. */
	dup = sh_find_other(s, ent_of(to, gen), i);
	h = atomic_load(&s->hdr);
	if (!dup && (h & 0xff) == SH_LIVE && hdr_gen(h) == gen && sh_find(s, ent_of(owner, gen)) >= 0 &&
	    receiver_here(r, to)) {
		/* Confirm it. From the checks on, a release of our own hold by
		 * another thread of ours cannot close the record (our entry is
		 * in it), and the reader then holds the block without us, as it
		 * would had that release come after this call. */
		STEP(RG_STEP_SHARE_CONFIRMING);
		e = t;
		if (atomic_compare_exchange_strong(&s->ent[i], &e, ent_of(to, gen)))
			return 0;
		rc = -ESRCH; /* the daemon marked it: the reader died */
	} else {
		/* a duplicate; the reader left; or another thread of ours
		 * released our own entry meanwhile: take the new one out */
		rc = dup ? -EAGAIN : !receiver_here(r, to) ? -ESRCH : sh_find(s, ent_of(owner, gen)) < 0 ? -EPERM : -EAGAIN;
	}
	/* as it is, or as the daemon marked it; a record opened again since
	 * (a new generation) has its entries written anew: then it is not ours */
	e = t;
	if (!atomic_compare_exchange_strong(&s->ent[i], &e, 0)) {
		e = t | SH_DEAD;
		atomic_compare_exchange_strong(&s->ent[i], &e, 0);
	}
	return sh_close(s, sw, w, gen, owner) == RG_SHARE_CLOSED ? RG_SHARE_CLOSED : rc;
}

int rg_region_release(struct rg_region *r, void *p, uint64_t owner)
{
	_Atomic uint64_t *sw = block_word(r, p);
	struct rg_share *s;
	uint64_t w, e;
	uint32_t gen;
	int i;

	if (!sw)
		return -EFAULT;
	w = atomic_load(sw);
	s = sh_named(r, w, (uint64_t)((char *)p - r->base));
	if (!s)
		return -EPERM;
	gen = sid_gen(RG_OWNER(w));
	e = ent_of(owner, gen);
	i = sh_find(s, e);
	if (i < 0 || !atomic_compare_exchange_strong(&s->ent[i], &e, 0))
		return -EPERM;
	STEP(RG_STEP_RELEASE_DROPPED);
	return sh_close(s, sw, w, gen, owner);
}

int rg_region_holders(const struct rg_region *r, const void *p)
{
	_Atomic uint64_t *sw = block_word(r, p);
	struct rg_share *s;
	uint64_t w;
	uint32_t gen;
	int n = 0;

	if (!sw)
		return -EFAULT;
	w = atomic_load(sw);
	s = sh_named(r, w, (uint64_t)((const char *)p - r->base));
	if (!s)
		return 0;
	gen = sid_gen(RG_OWNER(w));
	for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++)
		n += ent_holds(atomic_load(&s->ent[i]), gen);
	return n;
}

/* The block word record @s names, if @s is linked to it: @ret_sw, @ret_w. */
static bool sh_linked(struct rg_region *r, struct rg_share *s, uint64_t sid, _Atomic uint64_t **ret_sw, uint64_t *ret_w)
{
	uint64_t off = atomic_load(&s->blk);

	if (off >= r->total)
		return false;
	*ret_sw = block_word(r, r->base + off);
	if (!*ret_sw)
		return false;
	*ret_w = atomic_load(*ret_sw);
	return RG_ST(*ret_w) == RG_BLK_ALLOC && RG_OWNER(*ret_w) == sid;
}

/*
 * Drop dead @owner's entry at @ent: a confirmed one of it is cleared; a
 * tentative one of an add to or by slot @vacant (0: the slot is not vacant)
 * is marked dead (no hold from then on; its adder frees the index). A CAS
 * that fails is tried again on what is there now: an adder that passed its
 * checks before the slot record was cleared may confirm its tentative entry
 * between our load and our CAS, and that confirmed entry is the dead
 * reader's to drop. Each retry follows one step of such an adder, which
 * has one entry to confirm or clear, so the loop ends.
 */
static void drop_entry(_Atomic uint64_t *ent, uint64_t owner, uint32_t vacant)
{
	uint64_t e = atomic_load(ent);

	for (;;) {
		if (!e)
			return;
		if (!(e & SH_TENTATIVE)) {
			if ((e & ~(uint64_t)0xffff) != owner || atomic_compare_exchange_strong(ent, &e, 0))
				return;
		} else {
			if (!vacant || (e & SH_DEAD) || ((e >> 16 & 0xffff) != vacant && (e >> 32 & 0xffff) != vacant))
				return;
			STEP(RG_STEP_DROP_MARKING);
			if (atomic_compare_exchange_strong(ent, &e, e | SH_DEAD))
				return;
		}
	}
}

void rg_share_drop(struct rg_region *r, uint64_t owner)
{
	uint32_t mine = (uint32_t)(owner >> 16 & 0xffff);
	bool vacant = mine && mine <= r->nslots &&
		      atomic_load_explicit(&r->slots[mine].owner, memory_order_acquire) == 0;

	for (uint32_t slot = 1; slot <= r->nslots; slot++) {
		for (uint32_t k = 0; k < RG_SHARE_RECS; k++) {
			struct rg_share *s = &r->shares[(uint64_t)slot * RG_SHARE_RECS + k];
			uint64_t h = atomic_load(&s->hdr), w = 0;
			uint32_t gen = hdr_gen(h), st = (uint32_t)(h & 0xff);
			_Atomic uint64_t *sw = NULL;
			bool linked;

			if (st == SH_FREE)
				continue;
			linked = hdr_in_use(h) && sh_linked(r, s, sid_make(slot, k, gen), &sw, &w);
			if (!linked && slot == mine && vacant) {
				/* its opener died setting it up (or a stray write made it
				 * up): nobody can reach it, nobody sets it up now */
				if (atomic_compare_exchange_strong(&s->hdr, &h, (uint64_t)(gen & SH_GEN_MASK) << 8 | SH_FREE))
					for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++)
						atomic_store(&s->ent[i], 0);
				continue;
			}
			if (st == SH_SETUP && linked && slot == mine && vacant) /* died after linking it */
				atomic_compare_exchange_strong(&s->hdr, &h, (uint64_t)gen << 8 | SH_LIVE);
			for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++)
				drop_entry(&s->ent[i], owner, vacant ? mine : 0);
			/* closed if nobody holds it now: by this drop, or because its
			 * last holder died between its drop and its close */
			if (linked)
				(void)sh_close(s, sw, w, gen, owner);
		}
	}
}

void rg_share_holders_scan(const struct rg_region *r, void (*fn)(void *arg, uint64_t owner), void *arg)
{
	for (uint64_t k = RG_SHARE_RECS; k < ((uint64_t)r->nslots + 1) * RG_SHARE_RECS; k++) {
		const struct rg_share *s = &r->shares[k];
		uint64_t h = atomic_load_explicit(&s->hdr, memory_order_relaxed);

		if (!hdr_in_use(h))
			continue;
		for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++) {
			uint64_t e = atomic_load_explicit(&s->ent[i], memory_order_relaxed);

			if (!ent_holds(e, hdr_gen(h)))
				continue;
			if (!(e & SH_TENTATIVE)) {
				fn(arg, e & ~(uint64_t)0xffff);
				continue;
			}
			/* a tentative one: generation 0 of its reader's slot and of
			 * its adder's, no client's, whose reclaim drops it if that
			 * slot is vacant (rg_share_drop()) */
			fn(arg, rg_owner((uint32_t)(e >> 16 & 0xffff), 0));
			fn(arg, rg_owner((uint32_t)(e >> 32 & 0xffff), 0));
		}
	}
}

bool rg_share_dangling(const struct rg_region *r, uint64_t w, const void *p)
{
	return RG_ST(w) == RG_BLK_ALLOC && (RG_OWNER(w) & RG_SHARE_BIT) &&
	       !sh_named(r, w, (uint64_t)((const char *)p - r->base));
}
