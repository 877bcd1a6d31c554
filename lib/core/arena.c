/* SPDX-License-Identifier: MIT */
/*
 * arena.c - the buddy area without a lock that clients share (arena mode,
 * the pool key buddy_arena; docs/many-clients.md, "Buddy: per-client
 * arenas").
 *
 * The area is cut into arenas of 2^arena_order bytes. A client leases a
 * FREE arena whole, with one CAS on its lease word, and then splits and
 * merges inside its arenas alone: its free lists and the byte per min-block
 * that says what each block is to it (arena_int.h) live in its own memory,
 * guarded by a process-private PI mutex that only its own threads take. The
 * state table stays the shared truth, written as the locked buddy writes it
 * (after every single store, the walk "read the head, skip its size" still
 * tiles the area), so that the daemon can take back a dead client's arenas
 * from it alone.
 *
 * A block that another client frees (it was given to it, rtmem_give()) is
 * not merged by that client: its head word goes ALLOC(freer) -> REMOTE(freer)
 * with one CAS, which hands it back, and the freer then sets the block's
 * bit in its arena's line and the arena's bit in the holder's slot line.
 * The holder takes back up to RG_ARENA_DRAIN such blocks on each call. Each
 * bit is only a hint: whoever reads one checks the head word (REMOTE) and its
 * own byte for the block (AP_ALLOC of that order), so a bit set twice, late
 * or by the daemon again after a client died between the CAS and the bit
 * takes nothing twice. Nothing ever waits for another client: an allocation
 * reads its own lists, a lease is a CAS on a FREE arena's word, a remote free
 * is a CAS on a word that only the freer may change.
 *
 * A whole arena that comes free again goes back (lease HELD -> FREE) once
 * the client already keeps RG_ARENA_KEEP whole free arenas, so a client that
 * frees what it allocated does not lease and give back on every call.
 *
 * Bounds: an allocation is BASE + SPLIT per split, plus a lease when its
 * lists are empty; a free BASE + MERGE per merge, plus a give-back; a
 * remote free one CAS and its bits. Any call may first take back remote
 * frees: RG_ARENA_DRAIN arenas, summary words and bits looked at, each bit
 * a free with its merges; an allocation whose lists are still empty then
 * takes back up to RG_ARENA_DRAIN_SLOW more before it leases. A lease is
 * one CAS uncontended; its hint search passes over stale hint groups (left
 * by races) and clears each. tests/test_icount.c and tests/icount_qemu.py
 * assert each part.
 */
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena_int.h"

/* The test hook of test_hooks.h, in rtmem_core_test only. */
#ifdef RG_TEST_HOOKS
#include "test_hooks.h"

void (*rg_arena_test_hook)(void);

static inline void drain_hook(void)
{
	if (rg_arena_test_hook)
		rg_arena_test_hook();
}
#else
static inline void drain_hook(void)
{
}
#endif

/*
 * The private lock. Only the client's own threads take it, so its word
 * holds a TID of this process: a PI futex, private, owner TID in the word.
 * Uncontended it is one CAS each way. Where the kernel refuses
 * FUTEX_LOCK_PI (qemu-user), a waiter yields until the holder lets go.
 */
#if RG_ARENA_PMUTEX
static inline void plock(struct rg_arena_priv *p)
{
	pthread_mutex_lock(&p->mu);
}

static inline void punlock(struct rg_arena_priv *p)
{
	pthread_mutex_unlock(&p->mu);
}

static int plock_init(struct rg_arena_priv *p)
{
	pthread_mutexattr_t ma;
	int e = pthread_mutexattr_init(&ma);

	if (!e)
		e = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	if (!e)
		e = pthread_mutex_init(&p->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	return -e;
}
#else
static __thread int a_tid __attribute__((tls_model("initial-exec")));
static pthread_once_t a_once = PTHREAD_ONCE_INIT;

static void a_forget(void)
{
	a_tid = 0; /* a fork child has a TID of its own */
}

static void a_once_fn(void)
{
	pthread_atfork(NULL, NULL, a_forget);
}

static __attribute__((noinline)) int tid_init(void)
{
	pthread_once(&a_once, a_once_fn);
	a_tid = (int)syscall(SYS_gettid);
	return a_tid;
}

static __attribute__((noinline)) void plock_slow(struct rg_arena_priv *p, int t)
{
	for (;;) {
		int z = 0;

		if (atomic_compare_exchange_strong_explicit(&p->lock, &z, t, memory_order_acquire,
							    memory_order_relaxed))
			return;
		if (syscall(SYS_futex, &p->lock, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0) == 0) {
			atomic_thread_fence(memory_order_acquire);
			return;
		}
		if (errno != EINTR && errno != EAGAIN)
			sched_yield(); /* no PI futex here (ENOSYS): wait for the holder's CAS */
	}
}

static inline void plock(struct rg_arena_priv *p)
{
	int z = 0, t = a_tid;

	if (__builtin_expect(!t, 0))
		t = tid_init();
	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(&p->lock, &z, t, memory_order_acquire,
								       memory_order_relaxed),
			     0))
		plock_slow(p, t);
}

static __attribute__((noinline)) void punlock_slow(struct rg_arena_priv *p)
{
	syscall(SYS_futex, &p->lock, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
}

static inline void punlock(struct rg_arena_priv *p)
{
	int t = a_tid;

	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(&p->lock, &t, 0, memory_order_release,
								       memory_order_relaxed),
			     0))
		punlock_slow(p); /* FUTEX_WAITERS: the kernel hands it on */
}

static int plock_init(struct rg_arena_priv *p)
{
	atomic_init(&p->lock, 0);
	return 0;
}
#endif

/* Empty lists: each sentinel a ring of itself, every byte 0. */
static void priv_reset(const struct rg_region *r, struct rg_arena_priv *p)
{
	memset(p->pst, 0, r->nmin);
	for (uint32_t k = 0; k < RG_NSENT; k++)
		p->link[sent(r, k)] = (struct rg_link){ sent(r, k), sent(r, k) };
	p->nonempty = 0;
	memset(p->nfree, 0, sizeof(p->nfree));
}

static void priv_free(struct rg_arena_priv *p)
{
	if (!p)
		return;
#if RG_ARENA_PMUTEX
	pthread_mutex_destroy(&p->mu);
#endif
	free(p->pst);
	free(p->link);
	free(p);
}

static struct rg_arena_priv *priv_make(const struct rg_region *r, uint64_t owner)
{
	struct rg_arena_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->pst = malloc(r->nmin);
	p->link = malloc(sizeof(struct rg_link) * (r->nmin + RG_NSENT));
	if (!p->pst || !p->link || plock_init(p) < 0) {
		free(p->pst);
		free(p->link);
		free(p);
		return NULL;
	}
	/* every page touched now: no fault on the RT path */
	memset(p->link, 0, sizeof(struct rg_link) * (r->nmin + RG_NSENT));
	priv_reset(r, p);
	atomic_init(&p->owner, owner);
	p->busy = &r->aslots[slot_of(owner)].busy;
	return p;
}

/*
 * @owner's private lists in this handle, made on first use (not RT: it
 * allocates; rg_region_arena_prepare() does it at open). A slot whose client
 * changed (the daemon took the old one's arenas back) starts empty.
 */
static __attribute__((noinline)) struct rg_arena_priv *priv_new(struct rg_region *r, uint64_t owner)
{
	uint32_t s = slot_of(owner);
	struct rg_arena_priv **ap = atomic_load_explicit((struct rg_arena_priv **_Atomic *)&r->apriv,
							 memory_order_acquire);
	struct rg_arena_priv *p, *none = NULL;

	if (!r->arena_order || s > r->nslots || (owner & 0xffff) || (owner >> 63))
		return NULL;
	if (!ap) {
		struct rg_arena_priv **mine = calloc(r->nslots + 1u, sizeof(*mine)), **nil = NULL;

		if (!mine)
			return NULL;
		if (!atomic_compare_exchange_strong((struct rg_arena_priv **_Atomic *)&r->apriv, &nil, mine)) {
			free(mine);
			mine = nil;
		}
		ap = mine;
	}
	p = atomic_load_explicit((struct rg_arena_priv *_Atomic *)&ap[s], memory_order_acquire);
	if (p) {
		if (atomic_load(&p->owner) != owner) {
			plock(p);
			priv_reset(r, p);
			atomic_store(&p->owner, owner);
			punlock(p);
		}
		return p;
	}
	p = priv_make(r, owner);
	if (!p)
		return NULL;
	if (!atomic_compare_exchange_strong((struct rg_arena_priv *_Atomic *)&ap[s], &none, p)) {
		priv_free(p);
		return priv_new(r, owner);
	}
	return p;
}

static inline struct rg_arena_priv *priv(struct rg_region *r, uint64_t owner)
{
	struct rg_arena_priv **ap = atomic_load_explicit((struct rg_arena_priv **_Atomic *)&r->apriv,
							 memory_order_acquire), *p;
	uint32_t s = slot_of(owner);

	if (__builtin_expect(ap && s <= r->nslots, 1)) {
		p = atomic_load_explicit((struct rg_arena_priv *_Atomic *)&ap[s], memory_order_acquire);
		if (__builtin_expect(p && atomic_load_explicit(&p->owner, memory_order_relaxed) == owner, 1))
			return p;
	}
	return priv_new(r, owner);
}

int rg_region_arena_prepare(struct rg_region *r, uint64_t owner)
{
	if (!r->arena_order)
		return 0;
	return priv(r, owner) ? 0 : -ENOMEM;
}

void rg_arena_forget(struct rg_region *r)
{
	if (!r->apriv)
		return;
	for (uint32_t s = 0; s <= r->nslots; s++)
		priv_free(r->apriv[s]);
	free(r->apriv);
	r->apriv = NULL;
}

static inline void ppush(const struct rg_region *r, struct rg_arena_priv *p, uint64_t i, uint32_t k)
{
	uint32_t s = sent(r, k), n = p->link[s].next;

	p->link[i] = (struct rg_link){ s, n };
	p->link[n].prev = (uint32_t)i;
	p->link[s].next = (uint32_t)i;
	p->nonempty |= 1ull << k;
	p->nfree[k]++;
	p->pst[i] = (uint8_t)(AP_FREE | k);
}

static inline void punlink(struct rg_arena_priv *p, uint64_t i, uint32_t k)
{
	uint32_t pr = p->link[i].prev, nx = p->link[i].next;

	p->link[pr].next = nx;
	p->link[nx].prev = pr;
	if (pr == nx) /* only the sentinel is left */
		p->nonempty &= ~(1ull << k);
	p->nfree[k]--;
	p->pst[i] = 0;
}

/*
 * Take a free block of order >= @j off the lists and split it down to @j.
 * The lists j..k-1 are empty, so each split-off upper half is the only
 * block of its list. Shared words as the locked buddy writes them: the
 * halves' heads inside the still free block, the block's own head last.
 */
static inline int take(struct rg_region *r, struct rg_arena_priv *p, uint32_t j, uint64_t owner, uint64_t *ret_i)
{
	uint64_t avail = p->nonempty & -(1ull << j), i, half;
	uint32_t k;

	if (!avail)
		return -ENOMEM;
	k = (uint32_t)__builtin_ctzll(avail);
	i = p->link[sent(r, k)].next;
	punlink(p, i, k);
	for (half = nb(r, k); k > j;) {
		uint64_t u;

		k--;
		half >>= 1;
		u = i + half;
		st(r, u, wfree(k));
		p->link[u] = (struct rg_link){ sent(r, k), sent(r, k) };
		p->link[sent(r, k)] = (struct rg_link){ (uint32_t)u, (uint32_t)u };
		p->pst[u] = (uint8_t)(AP_FREE | k);
		p->nfree[k] = 1;
		p->nonempty |= 1ull << k;
	}
	p->pst[i] = (uint8_t)(AP_ALLOC | j);
	/* release: a daemon walking this arena that sees the new head sees the halves (arm64) */
	atomic_store_explicit(&r->bstate[i], RG_WORD(RG_BLK_ALLOC, j, owner), memory_order_release);
	*ret_i = i;
	return 0;
}

/*
 * Free block @i of order @k (one of ours: AP_ALLOC), merge it with its free
 * buddies inside the arena, list it. Shared words: the block FREE, then the
 * merged block's head, as the locked buddy writes them. Return: the merged
 * block's index, its order in *ret_k.
 */
static inline uint64_t release(struct rg_region *r, struct rg_arena_priv *p, uint64_t i, uint32_t k, uint32_t *ret_k)
{
	uint64_t half = nb(r, k);

	st(r, i, wfree(k));
	p->pst[i] = 0;
	for (; k < r->arena_order; k++, half <<= 1) {
		uint64_t bi = i ^ half;

		if (p->pst[bi] != (AP_FREE | k))
			break;
		punlink(p, bi, k);
		i &= ~half;
	}
	atomic_store_explicit(&r->bstate[i], wfree(k), memory_order_release); /* as in take() */
	ppush(r, p, i, k);
	*ret_k = k;
	return i;
}

/*
 * Between these, a lease or give-back CAS and its add to the count of FREE
 * arenas: the daemon's recount does not trust a walk of the lease words
 * while a live client is there (arena_admin.c, recount()). The set is
 * seq_cst, before the CAS, so that a walk that saw the CAS sees it too.
 */
static inline void busy_set(const struct rg_arena_priv *p)
{
	atomic_store_explicit(p->busy, pown(p), memory_order_seq_cst);
}

static inline void busy_clear(const struct rg_arena_priv *p)
{
	atomic_store_explicit(p->busy, 0, memory_order_release);
}

/* A whole free arena at @i beyond the ones kept: lease HELD -> FREE. */
static __attribute__((noinline)) void give_back(struct rg_region *r, struct rg_arena_priv *p, uint64_t i)
{
	uint64_t a = i >> r->ashift, lw = RG_LEASE(RG_LEASE_HELD, pown(p));

	punlink(p, i, r->arena_order);
	busy_set(p);
	if (atomic_compare_exchange_strong_explicit(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_FREE, 0),
						    memory_order_seq_cst, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&r->actl->nfree, RG_NF_UP, memory_order_release); /* after the CAS, seen */
		hint_free(r, a);
	}
	busy_clear(p);
	/* else a stray write changed our lease: the arena stays out of use
	 * until the daemon's next pass finds it (rg_arena_reclaim()) */
}

static inline void released(struct rg_region *r, struct rg_arena_priv *p, uint64_t i, uint32_t k)
{
	if (__builtin_expect(k == r->arena_order && p->nfree[k] > RG_ARENA_KEEP, 0))
		give_back(r, p, i);
}

/* Take back remote frees of arena @a's min-blocks in @bits (word @wi). */
static uint64_t take_back(struct rg_region *r, struct rg_arena_priv *p, uint64_t a, uint32_t wi, uint64_t bits,
			  unsigned *budget)
{
	while (bits && *budget) {
		uint64_t m = wi * 64u + (uint64_t)__builtin_ctzll(bits), i = (a << r->ashift) + m, w;
		uint32_t k;

		bits &= bits - 1;
		(*budget)--; /* each bit costs, real or not: a stray write cannot make a call long */
		if (m >> r->ashift)
			continue; /* past the arena (fewer than 64 min-blocks): a stray bit */
		w = ld(r, i);
		k = RG_ORD(w);
		if (k < r->min_order || k > r->max_order || (i & (nb(r, k) - 1)))
			continue; /* an order a stray write made: nothing of ours */
		if (RG_ST(w) != RG_BLK_REMOTE || p->pst[i] != (AP_ALLOC | (k & AP_ORD)) || k < r->min_order)
			continue; /* taken back already, or not ours: a stale or stray bit */
		i = release(r, p, i, k, &k);
		released(r, p, i, k);
	}
	return bits;
}

/* Take back what remote word @wi of arena @a holds, @budget bits at most;
 * put back what is left and say so in the summary. Return: true if some is left. */
static bool drain_word(struct rg_region *r, struct rg_arena_priv *p, uint64_t a, uint32_t wi, unsigned *budget)
{
	_Atomic uint64_t *word = &r->aremote[a * r->anw + wi];
	uint64_t bits = atomic_exchange_explicit(word, 0, memory_order_seq_cst);

	bits = take_back(r, p, a, wi, bits, budget);
	if (!bits)
		return false;
	atomic_fetch_or_explicit(word, bits, memory_order_seq_cst);
	atomic_fetch_or_explicit(&r->arenas[a].rsum[wi >> 6], 1ull << (wi & 63), memory_order_seq_cst);
	return true;
}

/*
 * Take back arena @a's remote frees within @budget. A take-back can merge
 * the arena whole and give it back; from then on its words are its next
 * holder's, and a bit read from them would be taken from that holder and
 * dropped (not a block of ours), so the walk stops there. Our byte of the
 * arena's first min-block is 0 exactly when we no longer hold it: every
 * block we hold or list has a byte, and that min-block starts one.
 * Return: true if some are left.
 */
static bool drain_arena(struct rg_region *r, struct rg_arena_priv *p, uint64_t a, unsigned *budget)
{
	const uint64_t first = a << r->ashift;
	bool left = false;

	for (uint32_t si = 0; si < RG_ARENA_SUMW && si * 64 < r->anw; si++) {
		_Atomic uint64_t *sum = &r->arenas[a].rsum[si];
		uint64_t sm;

		if (!atomic_load_explicit(sum, memory_order_relaxed))
			continue;
		sm = atomic_exchange_explicit(sum, 0, memory_order_seq_cst);
		while (sm && *budget) {
			uint32_t wi = si * 64 + (uint32_t)__builtin_ctzll(sm);

			sm &= sm - 1;
			(*budget)--;
			if (wi < r->anw)
				left |= drain_word(r, p, a, wi, budget);
			drain_hook();
			if (!p->pst[first])
				return false; /* given back: what is left of @sm was of our lease, all taken */
		}
		if (sm) {
			atomic_fetch_or_explicit(sum, sm, memory_order_seq_cst);
			left = true;
		}
	}
	return left;
}

/* Take back remote frees of @p's arenas: @budget arenas, summary words and
 * bits looked at, at most, so that a stray write cannot make a call long;
 * what is left is hinted again for the next call. Lock held. */
static __attribute__((noinline)) void drain(struct rg_region *r, struct rg_arena_priv *p, unsigned budget)
{
	uint32_t s = slot_of(pown(p));
	struct rg_arena_slot *as = &r->aslots[s];
	uint64_t held = RG_LEASE(RG_LEASE_HELD, pown(p)), l0;

	while (budget && (l0 = atomic_load_explicit(&as->rem0, memory_order_seq_cst)) != 0) {
		uint32_t g = (uint32_t)__builtin_ctzll(l0);
		uint64_t l1;

		atomic_fetch_and_explicit(&as->rem0, ~(1ull << g), memory_order_seq_cst);
		l1 = atomic_exchange_explicit(&as->rem1[g], 0, memory_order_seq_cst);
		while (l1) {
			uint64_t a = (uint64_t)g * 64 + (uint64_t)__builtin_ctzll(l1);

			l1 &= l1 - 1;
			if (!budget) { /* the rest of this word waits for the next call: two ORs */
				atomic_fetch_or_explicit(&as->rem1[g], l1 | 1ull << (a & 63), memory_order_seq_cst);
				atomic_fetch_or_explicit(&as->rem0, 1ull << g, memory_order_seq_cst);
				break;
			}
			budget--;
			if (a >= r->narenas || lease_ld(r, a) != held)
				continue; /* not ours (any more): its bits are its holder's */
			if (drain_arena(r, p, a, &budget))
				hint_remote(r, s, a);
		}
	}
}

static inline bool remote_pending(const struct rg_region *r, const struct rg_arena_priv *p)
{
	return atomic_load_explicit(&r->aslots[slot_of(pown(p))].rem0, memory_order_relaxed) != 0;
}

/*
 * Lease a FREE arena: find one through the hints, CAS its lease word FREE
 * -> HELD(owner). A hint that led nowhere is cleared (and set again if the
 * arena came free meanwhile). Lock-free: a CAS fails only because another
 * client leased that arena. Return: the arena, or -ENOMEM.
 */
static int64_t lease(struct rg_region *r, uint64_t owner, unsigned flags)
{
	struct rg_arena_ctl *c = r->actl;
	const uint64_t asize = 1ull << r->arena_order;

	uint64_t nf = RG_NF_COUNT(atomic_load_explicit(&c->nfree, memory_order_relaxed));

	if (nf > r->narenas) /* below 0: a count the daemon's pass is about to set */
		nf = 0;
	if (r->breserve && !(flags & RG_ALLOC_RESERVE) && nf * asize < r->breserve + asize)
		return -ENOMEM;
	for (;;) {
		uint64_t l0 = atomic_load_explicit(&c->free0, memory_order_seq_cst), l1, a, lw;
		uint32_t g;

		if (!l0)
			return -ENOMEM;
		g = (uint32_t)__builtin_ctzll(l0);
		l1 = atomic_load_explicit(&c->free1[g], memory_order_seq_cst);
		if (!l1) {
			atomic_fetch_and_explicit(&c->free0, ~(1ull << g), memory_order_seq_cst);
			if (atomic_load_explicit(&c->free1[g], memory_order_seq_cst))
				atomic_fetch_or_explicit(&c->free0, 1ull << g, memory_order_seq_cst);
			continue;
		}
		a = (uint64_t)g * 64 + (uint64_t)__builtin_ctzll(l1);
		lw = RG_LEASE(RG_LEASE_FREE, 0);
		if (a < r->narenas &&
		    atomic_compare_exchange_strong_explicit(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_HELD, owner),
							    memory_order_seq_cst, memory_order_relaxed)) {
			if (atomic_fetch_and_explicit(&c->free1[g], ~(1ull << (a & 63)), memory_order_seq_cst) ==
			    1ull << (a & 63)) { /* the group's last hint: its summary bit goes, unless one came meanwhile */
				atomic_fetch_and_explicit(&c->free0, ~(1ull << g), memory_order_seq_cst);
				if (atomic_load_explicit(&c->free1[g], memory_order_seq_cst))
					atomic_fetch_or_explicit(&c->free0, 1ull << g, memory_order_seq_cst);
			}
			atomic_fetch_add_explicit(&c->nfree, RG_NF_DOWN, memory_order_release); /* as in give_back() */
			if (ld(r, a << r->ashift) == wfree(r->arena_order))
				return (int64_t)a;
			/* its head is not one FREE arena (a stray write): the daemon's */
			lw = RG_LEASE(RG_LEASE_HELD, owner);
			atomic_compare_exchange_strong(&r->arenas[a].lease, &lw, RG_LEASE(RG_LEASE_ORPHAN, 0));
			continue;
		}
		atomic_fetch_and_explicit(&c->free1[g], ~(1ull << (a & 63)), memory_order_seq_cst);
		if (a < r->narenas && lease_ld(r, a) == RG_LEASE(RG_LEASE_FREE, 0))
			hint_free(r, a);
	}
}

/* The lists had nothing of order >= @j: take remote frees back, else lease. */
static __attribute__((noinline)) int alloc_more(struct rg_region *r, struct rg_arena_priv *p, uint32_t j,
						  unsigned flags, uint64_t *ret_i)
{
	int64_t a;

	if (remote_pending(r, p)) {
		drain(r, p, RG_ARENA_DRAIN_SLOW);
		if (take(r, p, j, pown(p), ret_i) == 0)
			return 0;
	}
	busy_set(p);
	a = lease(r, pown(p), flags);
	busy_clear(p);
	if (a < 0)
		return (int)a;
	ppush(r, p, (uint64_t)a << r->ashift, r->arena_order);
	return take(r, p, j, pown(p), ret_i);
}

int rg_arena_alloc(struct rg_region *r, uint32_t j, uint64_t owner, unsigned flags, void **ret)
{
	struct rg_arena_priv *p = priv(r, owner);
	uint64_t i = 0;
	int rc;

	if (__builtin_expect(!p, 0))
		return owner & 0xffff || slot_of(owner) > r->nslots ? -EINVAL : -ENOMEM;
	plock(p);
	if (__builtin_expect(remote_pending(r, p), 0))
		drain(r, p, RG_ARENA_DRAIN);
	rc = take(r, p, j, owner, &i);
	if (__builtin_expect(rc < 0, 0))
		rc = alloc_more(r, p, j, flags, &i);
	punlock(p);
	if (__builtin_expect(rc < 0, 0)) {
		atomic_fetch_add_explicit(&r->bdy->failed[j], 1, memory_order_relaxed);
		return rc;
	}
	*ret = r->bdata + (i << r->min_order);
	return 0;
}

/* Why a free was refused (free_verdict()). */
static __attribute__((noinline)) int free_error(const struct rg_region *r, uint64_t i, uint64_t owner)
{
	uint64_t h, w;
	uint32_t k;

	if (!arena_containing(r, i, &h, &k))
		return -EUCLEAN;
	w = ld(r, h);
	return free_verdict(i, h, w, RG_OWNER(w) == owner);
}

/*
 * A block of an arena that is not ours: hand it back to the arena's holder
 * with one CAS (ALLOC(us) -> REMOTE(us)), then set the hints. A death
 * after the CAS leaves the hints unset; the daemon sets them when it takes
 * back this client's slot (rg_arena_reclaim()).
 */
static __attribute__((noinline)) int remote_free(struct rg_region *r, uint64_t i, uint64_t owner)
{
	uint64_t w = ld(r, i);

	if (!owned_head(r, i, w, owner))
		return free_error(r, i, owner);
	if (!atomic_compare_exchange_strong_explicit(&r->bstate[i], &w, RG_WORD(RG_BLK_REMOTE, RG_ORD(w), owner),
						     memory_order_seq_cst, memory_order_relaxed))
		return free_error(r, i, owner);
	remote_note(r, i);
	return 0;
}

int rg_arena_free(struct rg_region *r, uint64_t i, uint64_t owner)
{
	uint64_t a = i >> r->ashift, w;
	struct rg_arena_priv *p;
	uint32_t k;

	if (lease_ld(r, a) != RG_LEASE(RG_LEASE_HELD, owner))
		return remote_free(r, i, owner);
	p = priv(r, owner);
	if (__builtin_expect(!p, 0))
		return -ENOMEM;
	plock(p);
	w = ld(r, i);
	k = RG_ORD(w);
	if (__builtin_expect(!owned_head(r, i, w, owner) || p->pst[i] != (AP_ALLOC | (k & AP_ORD)), 0)) {
		punlock(p);
		return free_error(r, i, owner);
	}
	i = release(r, p, i, k, &k);
	released(r, p, i, k);
	if (__builtin_expect(remote_pending(r, p), 0))
		drain(r, p, RG_ARENA_DRAIN);
	punlock(p);
	return 0;
}
