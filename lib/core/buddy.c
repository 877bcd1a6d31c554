/* SPDX-License-Identifier: MIT */
/*
 * buddy.c - a bounded, repairable binary buddy allocator in a shared region.
 *
 * The area is nmin min-blocks of 2^min_order bytes. A block of order k starts
 * at a min-block index aligned to 2^(k - min_order); its buddy is that index
 * XOR 2^(k - min_order). Free blocks of each order sit on a circular doubly
 * linked list through a sentinel (links in link[], outside user data; the
 * sentinel of order k is link[nmin + k]), so any block is unlinked in O(1)
 * and without a branch for the ends, and `nonempty` has bit k set when list
 * k is non-empty, so finding a block is one count-trailing-zeros. An
 * allocation splits at most (max_order - min_order) times and a free merges
 * at most as often: the worst case is bounded by the number of orders, not by
 * the state of the heap or the size of the area.
 *
 * The truth is the state table: one word per min-block, the head word of each
 * block holding its state, order and owner. The words inside a block are
 * TAIL, or a stale FREE head that a merge left behind (below); nothing reads
 * them. The lists and counters are derived from the table and
 * rg_buddy_rebuild() recomputes them (turning every inside word into TAIL).
 * Every operation writes the table so that after each single store the walk
 * "start at 0, read the head, skip its size" still yields a valid tiling:
 * an allocation's splits write the split-off halves' heads inside the still
 * free block and the block's own head last, in one store; a free writes the
 * block FREE, unlinks each free buddy it merges with, and writes the merged
 * block's head last, in one store (until then the table shows the pieces,
 * which a rebuild merges). So a process killed anywhere inside the lock
 * leaves a table that rebuild turns into a consistent allocator, which is
 * what happens on EOWNERDEAD.
 *
 * Who reads a word at an arbitrary min-block must find a real head: the
 * buddy of a block of order k starts a block of order <= k (blocks never
 * cross a boundary of their own alignment), so merges only read real heads;
 * rg_buddy_containing() searches from the largest order down for the same
 * reason, and the tester's checkout and the free's error path go through it.
 *
 * Cost: a fixed base with the lock, a few more per split and more per merge
 * (a merge unlinks the buddy from its ring, with a bounds check on both
 * links); tests/test_icount.c asserts the figures (BUDDY_BASE, BUDDY_SPLIT,
 * BUDDY_MERGE) and docs/buddy-bound.md discusses them. The common path
 * calls no function: the lock's fast path, the list work and the fast unlock
 * are inline, and everything else (contention, repair, the test hook,
 * errors) continues in a function of its own.
 *
 * The lock is a process-shared mutex, robust (EOWNERDEAD instead of a dead
 * lock) and PTHREAD_PRIO_INHERIT (an RT client waiting for it boosts the
 * holder, as PREEMPT_RT needs). Uncontended, it is taken and released here
 * without glibc (see "Fast path of the lock" below); contended, or when the
 * fast path is unavailable, by pthread_mutex_lock()/unlock().
 */
#include <errno.h>
#include <linux/futex.h>
#include <stddef.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "buddy_int.h"

/*
 * The test hook (test_hooks.h) exists only in rtmem_core_test, the core
 * built for the tests that kill a process inside the lock; the core that
 * the daemon and librtmem link has neither the variable nor its test.
 */
#ifdef RG_TEST_HOOKS
#include "test_hooks.h"

void (*rg_buddy_test_hook)(void);
#define HOOKED() __builtin_expect(rg_buddy_test_hook != NULL, 0)
#else
#define HOOKED() false
#endif

static inline void hook(void)
{
#ifdef RG_TEST_HOOKS
	if (rg_buddy_test_hook)
		rg_buddy_test_hook();
#endif
}

/*
 * Fast path of the lock.
 *
 * The mutex stays a glibc PTHREAD_PRIO_INHERIT + ROBUST + PROCESS_SHARED
 * mutex, and its lock word follows the kernel's PI futex protocol: 0 free,
 * the owner's TID when held, | FUTEX_WAITERS when someone sleeps in
 * FUTEX_LOCK_PI, | FUTEX_OWNER_DIED set by the kernel when the owner died.
 * Uncontended, we CAS 0 -> TID and back ourselves, and keep __owner and
 * __nusers as glibc does, so a glibc locker (contended waiters, other
 * builds, the EOWNERDEAD repair) sees a mutex in the state it expects.
 *
 * Robustness without glibc's robust list: the kernel's exit walk of a dying
 * thread's robust list also handles robust_list_head.list_op_pending, as
 * one more entry (bit 0 set: PI). While a thread holds the lock through the
 * fast path, list_op_pending points at this mutex's entry, so a death inside
 * the lock sets FUTEX_OWNER_DIED exactly as for a glibc-held mutex, and the
 * next locker (CAS fails: glibc) gets EOWNERDEAD. This is sound because the
 * lock never nests and no glibc mutex function runs while it is held (glibc
 * uses list_op_pending only inside its own lock and unlock calls).
 * pending == the entry is also how unlock tells a fast hold from a glibc one:
 * glibc clears list_op_pending before pthread_mutex_lock() returns.
 *
 * Set pending before the CAS, clear it after the release: a death between
 * the two finds a lock word that does not name this thread, which the
 * kernel ignores. A failed release CAS means FUTEX_WAITERS: FUTEX_UNLOCK_PI
 * hands the lock to the top waiter (glibc's unlock would try to dequeue an
 * entry that was never queued).
 *
 * Per thread (initial-exec TLS): this thread's robust list head (glibc's,
 * found with get_robust_list) and TID, looked up on the thread's first lock
 * or by rg_buddy_thread_prepare(). A fork child starts over (atfork):
 * it has a new TID. No fast path (glibc only) when get_robust_list fails
 * (qemu-user: ENOSYS; a seccomp filter), when the head is not glibc's
 * layout, under ThreadSanitizer (it must see pthread_mutex_lock to model the
 * lock), and without glibc.
 */
#if defined(__GLIBC__) && defined(__linux__) && !defined(__SANITIZE_THREAD__)
#define FL_ENABLED 1
/* glibc queues &__data.__list.__next; futex_offset leads back to __lock. */
#define FL_FUTEX_OFFSET \
	((long)offsetof(pthread_mutex_t, __data.__lock) - (long)offsetof(pthread_mutex_t, __data.__list.__next))

struct robust_list_head;

struct fl_thread {
	void **pending; /* &head->list_op_pending; NULL: no fast path (yet) */
	int tid;        /* 0: not looked up yet */
	int pad;
};
static __thread struct fl_thread fl __attribute__((tls_model("initial-exec")));
static bool fl_atfork_ok;

static void fl_forget(void)
{
	fl.pending = NULL;
	fl.tid = 0;
}

static void fl_once(void)
{
	fl_atfork_ok = pthread_atfork(NULL, NULL, fl_forget) == 0;
}

/* The kernel's struct robust_list_head, as get_robust_list reports it. */
struct fl_head {
	void *next;
	long futex_offset;
	void *list_op_pending;
};

static void fl_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct fl_head *h = NULL;
	size_t len = 0;

	pthread_once(&once, fl_once);
	fl.tid = (int)syscall(SYS_gettid);
	if (fl_atfork_ok && syscall(SYS_get_robust_list, 0, &h, &len) == 0 && h && len == sizeof(*h) &&
	    h->futex_offset == FL_FUTEX_OFFSET)
		fl.pending = &h->list_op_pending;
}

static inline int *fl_word(struct rg_region *r)
{
	return &r->bdy->lock.__data.__lock;
}

static inline void *fl_entry(struct rg_region *r)
{
	return (void *)((uintptr_t)&r->bdy->lock.__data.__list.__next | 1u);
}

static inline void fl_release(struct rg_region *r, void **pending)
{
	int tid = fl.tid;

	if (!__atomic_compare_exchange_n(fl_word(r), &tid, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		syscall(SYS_futex, fl_word(r), FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(pending, NULL, __ATOMIC_RELAXED);
}

/* Return: true if locked through the fast path. */
static inline bool fl_trylock(struct rg_region *r)
{
	pthread_mutex_t *m = &r->bdy->lock;
	void **pending = fl.pending;
	int zero = 0;

	if (__builtin_expect(!pending, 0))
		return false;
	__atomic_store_n(pending, fl_entry(r), __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(
		    !__atomic_compare_exchange_n(fl_word(r), &zero, fl.tid, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED),
		    0)) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(pending, NULL, __ATOMIC_RELAXED);
		return false;
	}
	if (__builtin_expect(m->__data.__owner != 0, 0))
		return false; /* PTHREAD_MUTEX_NOTRECOVERABLE: lock_slow() gives it back, glibc says so */
	m->__data.__owner = fl.tid;
	m->__data.__count = 1;
	m->__data.__nusers++;
	return true;
}

/* Return: true if this thread holds the lock through the fast path. */
static inline bool fl_held(struct rg_region *r)
{
	void **pending = fl.pending;

	return pending && __atomic_load_n(pending, __ATOMIC_RELAXED) == fl_entry(r);
}

static inline void fl_unlock(struct rg_region *r)
{
	pthread_mutex_t *m = &r->bdy->lock;

	m->__data.__owner = 0;
	m->__data.__nusers--;
	fl_release(r, fl.pending);
}

/* Give back a fast-path hold without a call. Return: false if there are
 * waiters: the caller must then call fl_unlock_contended(). */
static inline bool fl_unlock_fast(struct rg_region *r)
{
	pthread_mutex_t *m = &r->bdy->lock;
	int tid = fl.tid;

	m->__data.__owner = 0;
	m->__data.__nusers--;
	if (__builtin_expect(!__atomic_compare_exchange_n(fl_word(r), &tid, 0, false, __ATOMIC_RELEASE,
							  __ATOMIC_RELAXED),
			     0))
		return false;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(fl.pending, NULL, __ATOMIC_RELAXED);
	return true;
}

/* FUTEX_WAITERS is set: the kernel hands the lock to the top waiter. Return: @rc. */
static __attribute__((noinline)) int fl_unlock_contended(struct rg_region *r, int rc)
{
	syscall(SYS_futex, fl_word(r), FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(fl.pending, NULL, __ATOMIC_RELAXED);
	return rc;
}

bool rg_buddy_thread_prepare(void)
{
	if (!fl.tid)
		fl_init();
	return fl.pending != NULL;
}

/*
 * Before sleeping in the kernel, spin a little: a hold is a few hundred
 * instructions, so a holder running on another CPU gives the lock back
 * within the spin, and the caller takes it through the fast path instead
 * of queuing in FUTEX_LOCK_PI behind it (which hands the lock over through
 * the kernel on every call: the convoy that several clients of one pool
 * made). Bounded: FL_SPIN loads of the word, each followed by a CPU pause.
 * A word with FUTEX_WAITERS set means a queue exists: the caller joins it
 * at once, so the kernel's priority order among sleepers is kept, and an RT
 * caller whose holder is preempted wastes at most the spin before it blocks
 * and boosts that holder. Return: true if locked (fast path), false to block
 * (or if fl_trylock() found it NOTRECOVERABLE: fl_held() then says so).
 */
#define FL_SPIN 64

static inline void fl_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static bool fl_spin(struct rg_region *r)
{
	for (unsigned i = 0; i < FL_SPIN && fl.pending; i++) {
		int w = __atomic_load_n(fl_word(r), __ATOMIC_RELAXED);

		if ((unsigned)w & FUTEX_WAITERS)
			return false;
		if (w == 0) {
			if (fl_trylock(r))
				return true;
			if (fl_held(r)) /* NOTRECOVERABLE: the caller gives it back */
				return false;
		}
		fl_pause();
	}
	return false;
}
#else
#define FL_ENABLED 0
static inline bool fl_trylock(struct rg_region *r)
{
	(void)r;
	return false;
}

static inline bool fl_held(struct rg_region *r)
{
	(void)r;
	return false;
}

static inline void fl_unlock(struct rg_region *r)
{
	(void)r;
}

static inline bool fl_unlock_fast(struct rg_region *r)
{
	(void)r;
	return true;
}

static inline int fl_unlock_contended(struct rg_region *r, int rc)
{
	(void)r;
	return rc;
}

bool rg_buddy_thread_prepare(void)
{
	return false;
}
#endif

/* The daemon's guarded lock (rg_region_guard()) is in buddy_guard.c. */

/* The lock through glibc, with the EOWNERDEAD repair. Not inlined: cold. */
static __attribute__((noinline)) int lock_slow(struct rg_region *r)
{
	int e;

#if FL_ENABLED
	if (!fl.tid) {
		fl_init();
		if (fl_trylock(r))
			return 0;
	}
	if (!r->guard_owner_ok && !fl_held(r) && fl_spin(r))
		return 0;
	if (fl_held(r)) /* fl_trylock() found it NOTRECOVERABLE: give it back, glibc reports that */
		fl_release(r, fl.pending);
#endif
	if (r->guard_owner_ok)
		return rg_guarded_lock(r);
	e = pthread_mutex_lock(&r->bdy->lock);
	if (e == 0)
		return 0;
	if (e == EOWNERDEAD) {
		int rc = rg_buddy_rebuild(r);

		if (rc < 0) {
			/* Leave it inconsistent: everyone gets ENOTRECOVERABLE. */
			pthread_mutex_unlock(&r->bdy->lock);
			return rc;
		}
		r->bdy->repairs++;
		pthread_mutex_consistent(&r->bdy->lock);
		return 0;
	}
	return e == ENOTRECOVERABLE ? -ENOTRECOVERABLE : -e;
}

static inline int lock(struct rg_region *r)
{
	if (__builtin_expect(fl_trylock(r), 1))
		return 0;
	return lock_slow(r);
}

static inline void unlock(struct rg_region *r)
{
	if (__builtin_expect(fl_held(r), 1))
		fl_unlock(r);
	else if (rg_guard_held)
		rg_guarded_unlock(r);
	else
		pthread_mutex_unlock(&r->bdy->lock);
}

int rg_buddy_lock(struct rg_region *r)
{
	return lock(r);
}

void rg_buddy_unlock(struct rg_region *r)
{
	unlock(r);
}

/*
 * Split the order-@k block at @i down to @j (k > j): each upper half gets its
 * head, a ring of itself and the sentinel (whose back link nothing reads: it
 * is written, never trusted) and its counter. Lock held.
 */
static inline __attribute__((always_inline)) void split(struct rg_region *r, uint64_t i, uint32_t k, uint32_t j)
{
	struct rg_link *link = r->link;
	_Atomic uint64_t *sw = r->bstate;
	uint64_t half = nb(r, k), w = wfree(k), *nf = &r->bdy->nfree[k];
	uint64_t ss = (uint64_t)(r->nmin + k) << 32 | (r->nmin + k);

	for (; k > j; k--) {
		uint64_t u;

		half >>= 1;
		w -= 1u << 8; /* wfree(k - 1) */
		ss -= 0x100000001ull;
		u = i + half;
		atomic_store_explicit(&sw[u], w, RELAXED);
		memcpy(&link[u], &ss, sizeof(ss));
		link[(uint32_t)ss].next = (uint32_t)u;
		*--nf = 1;
	}
}

/*
 * Take a free block of order >= @j and split it down to @j. Lock held.
 *
 * The block comes from the lowest non-empty list k >= j, so the lists j..k-1
 * are empty: each split-off upper half becomes the only element of its list
 * (a ring of itself and the sentinel), and their non-empty bits are set with
 * one mask. The halves' heads are written inside the still free order-k
 * block, and the block's own head last, in one store from FREE of order k to
 * ALLOC of order j: until that store the walk skips the halves as the inside
 * of the free block (a rebuild turns them back into TAIL), after it they tile.
 */
static inline __attribute__((always_inline)) int take(struct rg_region *r, uint32_t j, uint64_t owner,
						    uint64_t *ret_i, bool with_hook)
{
	struct rg_buddy *b = r->bdy;
	struct rg_link *link = r->link;
	_Atomic uint64_t *sw = r->bstate;
	const uint64_t jbit = 1ull << j, nmin = r->nmin;
	uint64_t ne = b->nonempty, avail = ne & -jbit, kbit = avail & -avail, i, w;
	uint32_t k, n, s;

	if (!avail)
		return -ENOMEM;
	k = (uint32_t)__builtin_ctzll(avail);
	w = wfree(k);
	if (k > r->max_order)
		return -EUCLEAN;
	s = (uint32_t)(nmin + k);
	i = link[s].next;
	if (i >= nmin || atomic_load_explicit(&sw[i], RELAXED) != w)
		return -EUCLEAN;
	/* Pop the first block: its prev is the sentinel. */
	n = link[i].next;
	if (n >= nmin + RG_NSENT)
		return -EUCLEAN;
	link[s].next = n;
	link[n].prev = s;
	if (n == s)
		ne ^= kbit; /* bit k, set: the lowest of avail */
	b->nfree[k]--;
	if (with_hook)
		hook();
	b->nonempty = ne | (kbit - jbit);
	if (k > j)
		split(r, i, k, j);
	atomic_store_explicit(&sw[i], RG_WORD(RG_BLK_ALLOC, j, owner), RELAXED);
	b->free_bytes -= 1ull << j;
	if (++b->in_use[j] > b->hwm[j])
		b->hwm[j] = b->in_use[j];
	*ret_i = i;
	return 0;
}

static inline bool reserve_ok(const struct rg_region *r, uint32_t j, unsigned flags)
{
	const struct rg_buddy *b = r->bdy;

	return !r->breserve || (flags & RG_ALLOC_RESERVE) || b->free_bytes >= (1ull << j) + r->breserve;
}

/* After take(), lock still held: the caller's pointer, or count a failure. */
static inline int alloc_done(struct rg_region *r, uint32_t j, uint64_t i, int rc, void **ret)
{
	if (rc < 0) {
		if (rc == -ENOMEM)
			atomic_fetch_add_explicit(&r->bdy->failed[j], 1, RELAXED);
		return rc;
	}
	*ret = r->bdata + (i << r->min_order);
	return 0;
}

/* lock() from a fast path that gave up: fl_trylock() may have left the
 * lock held when it found it NOTRECOVERABLE; lock_slow() gives it back then. */
static inline int relock(struct rg_region *r)
{
	if (__builtin_expect(fl_held(r), 0))
		return lock_slow(r);
	return lock(r);
}

/* Through glibc's lock (contended, no fast path, repair) or with the test hook. */
static __attribute__((noinline)) int alloc_slow(struct rg_region *r, uint32_t j, uint64_t owner, unsigned flags,
						void **ret)
{
	uint64_t i = 0;
	int rc = relock(r);

	if (rc < 0)
		return rc;
	rc = reserve_ok(r, j, flags) ? take(r, j, owner, &i, true) : -ENOMEM;
	rc = alloc_done(r, j, i, rc, ret);
	unlock(r);
	return rc;
}

/*
 * The common case makes no call at all (the compiler then needs no
 * callee-saved registers): the fast lock, take(), the fast unlock. Anything
 * else continues in a function of its own, as a tail call.
 */
int rg_buddy_alloc(struct rg_region *r, size_t size, uint64_t owner, unsigned flags, void **ret)
{
	uint32_t j;
	uint64_t i = 0;
	int rc;

	/* One compare for "no area" (bmax 0), size 0 and sizes above the largest block */
	if (__builtin_expect(size - 1 >= r->bmax, 0)) {
		if (!r->bdy)
			return -ENODEV;
		if (size)
			return -E2BIG;
		size = 1;
	}
	j = order_for(r, size);
	if (r->arena_order)
		return rg_arena_alloc(r, j, owner, flags, ret);
	if (HOOKED() || !fl_trylock(r))
		return alloc_slow(r, j, owner, flags, ret);
	rc = reserve_ok(r, j, flags) ? take(r, j, owner, &i, false) : -ENOMEM;
	rc = alloc_done(r, j, i, rc, ret);
	if (__builtin_expect(!fl_unlock_fast(r), 0))
		return fl_unlock_contended(r, rc);
	return rc;
}

/*
 * Free the block at @i (state already checked), merge, list. Lock held.
 *
 * Each merge only unlinks the free buddy; the merged block's head is written
 * once, at the end. Until then the state table still shows the pieces as
 * free blocks of their own orders (a valid tiling, which a rebuild merges),
 * and after it the heads of the merged-in upper halves stay behind inside
 * the new block as stale FREE words. Nothing reads them: the buddy of a
 * block of order k starts a block of order <= k, so a merge only ever reads
 * real heads, the walk skips block interiors, and rg_buddy_containing()
 * searches from the largest order down. A buddy whose links are out of
 * bounds is left alone.
 * Return: the merged block's index; its order in *ret_k.
 */
static inline __attribute__((always_inline)) uint64_t release_in(struct rg_region *r, uint64_t i, uint32_t k,
								    uint32_t *ret_k, bool with_hook, bool tail)
{
	struct rg_buddy *b = r->bdy;
	struct rg_link *link = r->link;
	_Atomic uint64_t *sw = r->bstate;
	const uint64_t nmin = r->nmin, lm = nmin + RG_NSENT, top = nb(r, r->max_order);
	uint64_t half = nb(r, k), w = wfree(k);

	atomic_store_explicit(&sw[i], w, RELAXED);
	if (with_hook)
		hook();
	b->free_bytes += 1ull << k;
	for (uint64_t *nf = &b->nfree[k]; half < top; half <<= 1, w += 1u << 8 /* wfree(k + 1) */, nf++) {
		uint64_t bi = i ^ half, l;
		uint32_t p, n;

		if ((tail && bi + half > nmin) || atomic_load_explicit(&sw[bi], RELAXED) != w)
			break;
		memcpy(&l, &link[bi], sizeof(l)); /* prev and next in one load */
		p = (uint32_t)l;
		n = (uint32_t)(l >> 32);
		if (p >= lm || n >= lm)
			break;
		link[p].next = n;
		link[n].prev = p;
		if (p == n) /* only the sentinel is left */
			b->nonempty &= ~(1ull << RG_ORD(w));
		--*nf;
		i &= bi; /* the lower of the two */
		if (with_hook) /* a death here: the buddy is off its list, the head not yet written */
			hook();
	}
	k = RG_ORD(w);
	atomic_store_explicit(&sw[i], w, RELAXED);
	list_push(r, i, k);
	*ret_k = k;
	return i;
}

/*
 * release_in() for a block in the whole top-order blocks of the area, whose
 * buddies are all inside it (no bounds check per merge), or in the smaller
 * blocks of its tail.
 */
static inline __attribute__((always_inline)) uint64_t release(struct rg_region *r, uint64_t i, uint32_t k,
							       uint32_t *ret_k, bool with_hook)
{
	if (__builtin_expect(i < r->ntop, 1))
		return release_in(r, i, k, ret_k, with_hook, false);
	return release_in(r, i, k, ret_k, with_hook, true);
}

/* Free min-block @i for @owner, lock held. */
static inline __attribute__((always_inline)) int free_locked(struct rg_region *r, uint64_t i, uint64_t owner,
							     bool with_hook)
{
	uint64_t w = ld(r, i);
	uint32_t k = RG_ORD(w);

	if (!owned_head(r, i, w, owner))
		return 1;
	r->bdy->in_use[k]--;
	release(r, i, k, &k, with_hook);
	return 0;
}

/*
 * Why free_locked() refused: the exact error. Lock held. A pointer inside a
 * block (not its head) is a double free if that block is free (merged after
 * a first free), else a bad pointer.
 */
static int free_error(const struct rg_region *r, uint64_t i)
{
	uint64_t h, w;
	uint32_t k;

	if (!rg_buddy_containing(r, i, &h, &k))
		return -EUCLEAN;
	w = ld(r, h);
	return free_verdict(i, h, w, false); /* -EPERM: another owner's (or @owner has low bits set) */
}

/* Through glibc's lock, with the test hook, or to say why not. */
static __attribute__((noinline)) int free_slow(struct rg_region *r, uint64_t i, uint64_t owner, bool locked)
{
	int rc = 0;

	if (!locked) {
		rc = relock(r);
		if (rc < 0)
			return rc;
		rc = free_locked(r, i, owner, true);
	}
	if (locked || rc > 0)
		rc = free_error(r, i);
	unlock(r);
	return rc;
}

/* As rg_buddy_alloc(): no call on the common path. */
int rg_buddy_free(struct rg_region *r, void *p, uint64_t owner)
{
	uint64_t rel = (uint64_t)((uintptr_t)p - (uintptr_t)r->bdata), i;

	if (rel >= r->bsize || rel & r->bminmask) /* bsize is 0 without a buddy area */
		return -EFAULT;
	i = rel >> r->min_order;
	if (r->arena_order)
		return rg_arena_free(r, i, owner);
	if (HOOKED() || !fl_trylock(r))
		return free_slow(r, i, owner, false);
	if (__builtin_expect(free_locked(r, i, owner, false) != 0, 0))
		return free_slow(r, i, owner, true);
	if (__builtin_expect(!fl_unlock_fast(r), 0))
		return fl_unlock_contended(r, 0);
	return 0;
}

uint64_t rg_buddy_release(struct rg_region *r, uint64_t i, uint32_t k, uint32_t *ret_k)
{
	return release(r, i, k, ret_k, false);
}
