/* SPDX-License-Identifier: MIT */
/*
 * arena_int.h - what arena.c (a client's allocation and free in arena mode)
 * and arena_admin.c (the daemon's side: format, reclaim, orphans, tester,
 * statistics, checker) share. Private to the core.
 */
#ifndef RTMEM_ARENA_INT_H
#define RTMEM_ARENA_INT_H

#include "buddy_int.h"

/*
 * A client's private view of the arenas it leases: free lists per order
 * (links and sentinels as in the locked buddy, but in this process's
 * memory, so that no other client's stray write can bend them) and one byte
 * per min-block saying what the block at that index is to this client:
 * AP_FREE | order (a free block on its lists), AP_ALLOC | order (a block it
 * took from its arenas, which may since have been given on, cached or
 * freed REMOTE by another client), or 0 (not a head of one of its blocks).
 * Merges and the taking back of remote frees read these bytes, never the
 * shared state words, which they only write for the daemon.
 */
#define AP_FREE 0x80u
#define AP_ALLOC 0x40u
#define AP_ORD 0x3fu

/* Whole free arenas a client keeps on its lists before it gives one back. */
#define RG_ARENA_KEEP 1u
/* Remote frees a call looks at (arenas and bits; each bit may be a free
 * with its merges): the bound of every call grows by this much. */
#define RG_ARENA_DRAIN 8u
/* ... and of the call that would otherwise lease a new arena. */
#define RG_ARENA_DRAIN_SLOW 32u

#if defined(__SANITIZE_THREAD__)
#define RG_ARENA_PMUTEX 1 /* TSan models pthread mutexes, not a futex it cannot see */
#else
#define RG_ARENA_PMUTEX 0
#endif

struct rg_arena_priv {
	_Atomic uint64_t owner; /* the client these lists are for */
#if RG_ARENA_PMUTEX
	pthread_mutex_t mu;
#else
	_Atomic int lock; /* 0, or the holder's TID (| FUTEX_WAITERS): a process-private PI futex */
	int pad;
#endif
	uint64_t nonempty; /* bit k: the order-k list is not empty */
	uint64_t nfree[RG_MAX_ORDER + 1];
	uint8_t *pst;          /* [nmin] */
	struct rg_link *link;  /* [nmin + RG_NSENT] */
	_Atomic uint64_t *busy; /* this slot's rg_arena_slot.busy */
};

static inline uint64_t pown(const struct rg_arena_priv *p)
{
	return atomic_load_explicit(&p->owner, memory_order_relaxed);
}

static inline uint32_t slot_of(uint64_t owner)
{
	return (uint32_t)(owner >> 16 & 0xffff);
}

static inline uint64_t lease_ld(const struct rg_region *r, uint64_t a)
{
	return atomic_load_explicit(&r->arenas[a].lease, memory_order_seq_cst);
}

/* Say that arena @a may be FREE: after its lease word says so. */
static inline void hint_free(struct rg_region *r, uint64_t a)
{
	atomic_fetch_or_explicit(&r->actl->free1[a >> 6], 1ull << (a & 63), memory_order_seq_cst);
	atomic_fetch_or_explicit(&r->actl->free0, 1ull << (a >> 6), memory_order_seq_cst);
}

/* Say that arena @a of @slot's client may have remote frees: after the bit. */
static inline void hint_remote(struct rg_region *r, uint32_t slot, uint64_t a)
{
	struct rg_arena_slot *as = &r->aslots[slot];

	atomic_fetch_or_explicit(&as->rem1[a >> 6], 1ull << (a & 63), memory_order_seq_cst);
	atomic_fetch_or_explicit(&as->rem0, 1ull << (a >> 6), memory_order_seq_cst);
}

/* Mark min-block @i (freed REMOTE) for its arena's holder, and tell it. */
static inline void remote_note(struct rg_region *r, uint64_t i)
{
	uint64_t a = i >> r->ashift, m = i & ((1ull << r->ashift) - 1), lw;

	atomic_fetch_or_explicit(&r->aremote[a * r->anw + (m >> 6)], 1ull << (m & 63), memory_order_seq_cst);
	atomic_fetch_or_explicit(&r->arenas[a].rsum[m >> 12], 1ull << (m >> 6 & 63), memory_order_seq_cst);
	lw = lease_ld(r, a);
	if (RG_ST(lw) == RG_LEASE_HELD && slot_of(lw) <= r->nslots)
		hint_remote(r, slot_of(lw), a);
}

/*
 * The block holding min-block @m, searched from the arena's order down (an
 * arena's first min-block always starts a block). In a live client's arena
 * the answer may be out of date by the time it is used: for error messages
 * and the daemon only.
 */
static inline bool arena_containing(const struct rg_region *r, uint64_t m, uint64_t *ret_i, uint32_t *ret_k)
{
	if (m >= r->nmin)
		return false;
	for (uint32_t k = r->arena_order + 1; k-- > r->min_order;) {
		uint64_t i = m & ~(nb(r, k) - 1), w = ld(r, i);
		uint32_t o = RG_ORD(w);

		if (RG_ST(w) == RG_BLK_TAIL || o < r->min_order || o > r->arena_order || (i & (nb(r, o) - 1)))
			return false;
		if (i + nb(r, o) > m) {
			*ret_i = i;
			*ret_k = o;
			return true;
		}
	}
	return false;
}

#endif
