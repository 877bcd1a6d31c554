/* SPDX-License-Identifier: MIT */
/*
 * region_int.h - the shared-memory layout of a region and the private handle:
 * structs, constants and the declarations of the core's lib-internal
 * functions, nothing that runs. Internal to lib/core/ (and the tests that
 * look inside a region); the code of the fast path is fastpath.h.
 *
 * Layout (offsets from the region base, every part 64-byte aligned):
 *
 *   rg_hdr                                   header, geometry, offsets
 *   rg_class[nclasses]                       one control line + one descriptor line each
 *   rg_buddy                                 lock, per-order lists and counters (if any)
 *   rg_slot[nslots + 1]                      one line per client slot (slot 0: the daemon)
 *   rg_share[(nslots + 1) * RG_SHARE_RECS]   share records, RG_SHARE_RECS per slot (handoff.c)
 *   per class: uint32_t next[count]          free-list links, outside user data
 *              uint64_t state[count]         state + owner words
 *   buddy:     struct rg_link link[nmin + RG_NSENT]  circular doubly linked free lists:
 *                                            min-block indices, then one sentinel per order
 *              uint64_t state[nmin]          state + order + owner words
 *   data (page aligned): class 0 .. class n-1 (each page aligned), buddy area
 *
 * Everything in shared memory is written by the daemon at format time; after
 * that clients write only heads, links, state words and counters. The
 * geometry is copied into the private handle at attach, after validation, and
 * never read from shared memory again. The handle also holds a private page ->
 * class table (one byte per data page) so that a free finds its class in O(1)
 * without trusting anything a client could have overwritten.
 *
 * The handle's layout serves the free paths' first reads: base, total and
 * pagecls open it (one arm64 LDP reaches them; none reaches past cls[]), and
 * each class's count and shift sit side by side as 64-bit words (an LDP on
 * arm64, a compare with memory on x86-64).
 */
#ifndef RTMEM_REGION_INT_H
#define RTMEM_REGION_INT_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "region.h"

#define RG_MAGIC 0x3147524d454d5452ull /* "RTMEMRG1" little-endian */
#define RG_VERSION 5u
#define RG_PAGE 4096u
#define RG_LINE 64u
#define RG_NIL 0xffffffffu
/* Buddy list sentinels: the list of order k is a ring through link[nmin + k]. */
#define RG_NSENT (RG_MAX_ORDER + 1u)
/* pagecls values past the real classes; each names a sentinel class with
 * count 0 in the handle, so a lookup through it fails the index check. */
#define RG_PAGE_NONE RG_MAX_CLASSES         /* metadata or padding */
#define RG_PAGE_BUDDY (RG_MAX_CLASSES + 1u) /* the buddy area */

/* Sizes up to this many bytes find their slab class in one table lookup. */
#define RG_SIZECLS_MAX 4096u
#define RG_SIZECLS_NONE 0xffu

/*
 * Slab words of the listed states (FREE, FREE_P, CHECKOUT, BAD) carry no
 * owner: bits 16..31 hold the slot that freed the block (0: the daemon or a
 * flush), bits 32..63 the head's pop count read just before that free. No
 * two frees of a block write the same word (a pop comes between them), so a
 * CAS expecting a word read earlier fails if the block went round meanwhile:
 * see slab.c, "Kills".
 */
#define RG_FREEW(st, slotbits, h) (((uint64_t)(h) << 32) | ((slotbits) & 0xffff0000u) | (st))
#define RG_FREE_FIN (RG_BLK_FREE_P ^ RG_BLK_FREE) /* FREE_P ^ this = FREE, upper bits kept */
/* Low byte FREE or FREE_P (0x01, 0x11): a block a pop may claim. 0x00 and
 * 0x10 pass too; they are no state, and only a corrupt word has them. */
#define RG_CLAIMABLE(w) (((w) & 0xeeu) == 0)

/* State word fields. */
#define RG_ST(w) ((uint32_t)((w) & 0xffu))
#define RG_ORD(w) ((uint32_t)(((w) >> 8) & 0xffu))
#define RG_OWNER(w) ((w) & ~(uint64_t)0xffffu)
#define RG_WORD(st, ord, owner) ((uint64_t)(st) | ((uint64_t)(ord) << 8) | (owner))

/*
 * Slab head: 32-bit index (high) + 32-bit tag (low). The tag counts pops:
 * a pop bumps it, a push keeps it. That is enough against ABA (a pop's CAS
 * fails if anyone popped meanwhile, and the head cannot return to the same
 * index without a pop), and it makes the tag a pop counter, so blocks in use
 * are pops - pushed: the allocation path updates no counter of its own.
 */
#define RG_HEAD_IDX(h) ((uint32_t)((h) >> 32))
#define RG_HEAD_POP(h, idx) (((uint64_t)(idx) << 32) | (uint32_t)((uint32_t)(h) + 1u))
#define RG_HEAD_PUSH(h, idx) (((uint64_t)(idx) << 32) | (uint32_t)(h))

struct rg_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;     /* sizeof(struct rg_hdr) */
	uint64_t layout_hash;  /* hash of struct sizes/offsets and ABI, see rg_layout_hash() */
	uint64_t total_size;   /* bytes: the footprint total */
	uint32_t nclasses;     /* 0..RG_MAX_CLASSES */
	uint32_t policy;       /* enum rg_class_policy */
	uint32_t nslots;       /* client slots */
	uint32_t has_buddy;    /* 0 or 1 */
	uint64_t classes_off;  /* rg_class[nclasses] */
	uint64_t buddy_off;    /* rg_buddy, 0 if none */
	uint64_t slots_off;    /* rg_slot[nslots + 1] */
	uint64_t data_off;     /* page aligned */
	uint64_t data_size;    /* bytes, multiple of RG_PAGE */
	uint64_t meta_size;    /* bytes before data_off */
	uint32_t cache;        /* thread cache depth, 0..RG_CACHE_MAX */
	uint32_t pad32;
	uint64_t pad[3];
};
static_assert(sizeof(struct rg_hdr) == 128, "rg_hdr is two cache lines");

/* One slab class: a control line written by everyone, a descriptor line read-only. */
struct rg_class {
	/* line 0: the hot line. head and its counters share it: after the CAS
	 * on head the line is already held exclusively. */
	_Atomic uint64_t head;    /* RG_HEAD: index of the first free block + ABA tag */
	_Atomic uint64_t pushed;  /* frees, reclaims and tester hand-offs, mod 2^32; see rg_in_use() */
	_Atomic uint64_t hwm;     /* highest in_use reached by an allocation */
	_Atomic uint64_t failed;  /* allocations that found the class empty */
	_Atomic uint32_t waiters; /* threads in a timed allocation (futex users) */
	_Atomic uint32_t seq;     /* futex word: bumped on every free when waiters */
	_Atomic uint64_t bad;      /* quarantined blocks */
	_Atomic uint64_t checkout; /* blocks with the tester */
	uint64_t pad0;
	/* line 1: descriptor, written at format only */
	uint32_t size;    /* block size, bytes */
	uint32_t count;   /* blocks */
	uint32_t align;   /* bytes */
	uint32_t reserve; /* blocks kept for RG_ALLOC_RESERVE */
	uint64_t data_off;  /* first block */
	uint64_t next_off;  /* uint32_t[count] */
	uint64_t state_off; /* uint64_t[count] */
	uint64_t area_size; /* bytes of data pages of this class */
	uint64_t pad1[2];
};
static_assert(sizeof(struct rg_class) == 2 * RG_LINE, "rg_class is two cache lines");
static_assert(offsetof(struct rg_class, size) == RG_LINE, "descriptor on its own line");

/*
 * One client slot: who holds it, and what that client is doing. The first
 * half is the daemon's record, written only by the daemon (when it grants
 * and takes back the slot) and never trusted by it on the way back in: it
 * cross-checks it with its own tables and the kernel (pidfd, /proc). It is
 * what a daemon that restarts under running clients finds about them. The
 * second half is the client's own line of work: written only by the client
 * holding the slot (its intent record, see docs/), read by the daemon once
 * the client has died.
 */
struct rg_slot {
	_Atomic uint64_t owner;      /* rg_owner(slot, gen) while held, 0 when free */
	_Atomic uint64_t pid;        /* the holder's pid, in the daemon's PID namespace */
	_Atomic uint64_t start_time; /* its start time: clock ticks after boot (/proc/PID/stat field 22) */
	_Atomic uint64_t flags;      /* RG_SLOT_*: daemon-side state of the slot */
	_Atomic uint64_t intent[4];  /* the client's: written by the slot's holder only */
};
static_assert(sizeof(struct rg_slot) == RG_LINE, "a slot is one cache line");

/*
 * A block shared with several readers (handoff.c, "Shared readers"). Its
 * state word stays ALLOC, with a share id as owner (RG_SHARE_BIT set, which
 * no client id has) naming one of these records; each slot has
 * RG_SHARE_RECS of them for the blocks its client opens to sharing.
 */
#define RG_SHARE_BIT (1ull << 63)
struct rg_share {
	_Atomic uint64_t hdr;                    /* generation << 8 | RG_SH_FREE, _SETUP or _LIVE */
	_Atomic uint64_t blk;                    /* the block's offset from the region base */
	_Atomic uint64_t ent[RG_SHARE_HOLDERS]; /* a holder's id | (generation & 0xffff), or 0 */
};
static_assert(sizeof(struct rg_share) == RG_LINE, "a share record is one cache line");

/* A buddy list link: min-block indices, or nmin + k for the sentinel of order k.
 * An empty list is its sentinel linked to itself. */
struct rg_link {
	uint32_t prev, next;
};

/* The buddy area's control block. Everything but the descriptor is guarded by lock. */
struct rg_buddy {
	pthread_mutex_t lock; /* process-shared, robust, PTHREAD_PRIO_INHERIT */
	char pad_lock[RG_LINE - (sizeof(pthread_mutex_t) % RG_LINE)];
	/* descriptor, written at format only */
	uint32_t min_order, max_order;
	uint64_t nmin;      /* min-blocks */
	uint64_t data_off;  /* first byte of the area */
	uint64_t link_off;  /* struct rg_link[nmin + RG_NSENT] */
	uint64_t state_off; /* uint64_t[nmin] */
	uint64_t reserve;   /* bytes kept for RG_ALLOC_RESERVE */
	uint32_t arena_order; /* arena mode (arena.c): log2 of an arena; 0: the area is under lock */
	uint32_t pad32;
	uint64_t arena_off;   /* arena mode: struct rg_arena[narenas], rg_arena_ctl, rg_arena_slot[nslots + 1] */
	/* under lock */
	uint64_t nonempty;   /* bit k set <=> the order-k list is not empty */
	uint64_t free_bytes; /* sum of free block sizes */
	uint64_t repairs;    /* rebuilds after EOWNERDEAD */
	uint64_t pad1[5];
	uint64_t nfree[RG_MAX_ORDER + 1];
	uint64_t in_use[RG_MAX_ORDER + 1];
	uint64_t hwm[RG_MAX_ORDER + 1];
	uint64_t bad[RG_MAX_ORDER + 1];
	uint64_t checkout[RG_MAX_ORDER + 1];
	_Atomic uint64_t failed[RG_MAX_ORDER + 1]; /* bumped without lock too */
};

/*
 * Arena mode (lib/core/arena.c): the buddy area is cut into arenas of
 * 2^arena_order bytes. A client leases a whole arena with one CAS on its
 * lease word and splits and merges inside it with lists kept in its own
 * private memory; the state table stays the truth the daemon reads. Nothing
 * here is a lock: every word is taken with one CAS or set with one atomic OR.
 *
 *   rg_arena[narenas]       one line per arena: lease word, which remote words have bits
 *   rg_arena_ctl            the hints of FREE arenas, and their count
 *   rg_arena_slot[nslots+1] per client slot: which of its arenas have remote frees
 *   uint64_t[narenas][nw]   remote-free bits, one per min-block (nw words per arena)
 *
 * Hints are two levels of 64-bit words (bit g of a level-0 word: level-1
 * word g may have bits), so one count-trailing-zeros per level finds an
 * arena; a hint may be stale (set for an arena that is no longer FREE, or a
 * remote bit for a block already taken back) and whoever finds one checks
 * the word it points at. They are never missing for long: whoever sets the
 * real state sets the hint after it, and the daemon sets them again after
 * every reclaim (a client killed between the two).
 */
#define RG_ARENA_MAX RG_ARENA_COUNT /* 64 level-1 words of 64 */
#define RG_ARENA_SUMW 4u   /* remote summary words per arena: 4 x 64 words of 64 min-blocks */
#define RG_ARENA_MAXSHIFT RG_ARENA_SPAN
enum rg_lease_state {
	RG_LEASE_FREE = 1,     /* on no client's lists; its state table is one FREE head of arena order */
	RG_LEASE_HELD = 2,     /* leased to the owner in the word */
	RG_LEASE_CHECKOUT = 3, /* the memory tester's */
	RG_LEASE_BAD = 5,      /* quarantined */
	RG_LEASE_ORPHAN = 6,   /* its holder died with blocks of it still held by others: the daemon's */
};
#define RG_LEASE(st, owner) ((uint64_t)(st) | (owner))

/*
 * rg_arena_ctl.nfree: the count of FREE arenas in its low 32 bits, and in
 * its high 32 a count of its changes, so that the daemon's recount can tell
 * a walk of the lease words that no lease or give-back overlapped (a lease
 * and a give-back during the walk leave the count as it was).
 * RG_NF_DOWN is 2^32 + (2^32 - 1): the low half's -1 carries into the high
 * half, so a change counts 1 or 2 there (1 when a wrong count was 0).
 */
#define RG_NF_UP ((1ull << 32) + 1)
#define RG_NF_DOWN ((1ull << 33) - 1)
#define RG_NF_COUNT(v) ((uint64_t)(uint32_t)(v))

struct rg_arena {
	_Atomic uint64_t lease;                /* RG_LEASE(state, owner) */
	_Atomic uint64_t rsum[RG_ARENA_SUMW];  /* bit w % 64 of word w / 64: remote word w may have bits */
	uint64_t pad[3];
};
static_assert(sizeof(struct rg_arena) == RG_LINE, "an arena is one line");

struct rg_arena_ctl {
	_Atomic uint64_t free0;  /* bit g: free1[g] may have bits */
	_Atomic uint64_t nfree;  /* FREE arenas, for the reserve (RG_NF_*); the daemon recounts */
	uint64_t pad[6];
	_Atomic uint64_t free1[RG_ARENA_MAX / 64]; /* bit a % 64 of word a / 64: arena a may be FREE */
};

struct rg_arena_slot {
	_Atomic uint64_t rem0; /* bit g: rem1[g] may have bits */
	_Atomic uint64_t busy; /* the slot's client id from before its lease or give-back CAS to after its add to
				* the count of FREE arenas, else 0: the daemon's recount waits while a live one is;
				* slot 0: the daemon's tester, rg_arena_tester_mark() */
	uint64_t pad[6];
	_Atomic uint64_t rem1[RG_ARENA_MAX / 64]; /* arena a of this slot's client may have remote frees */
};

/*
 * Private, validated geometry of one class (the fast paths read only this).
 * A block's index from its offset is an exact division done as a multiply:
 * size = d * 2^shift with d odd, inv = d^-1 mod 2^64, and
 * ror64(rel * inv, shift) equals rel / size when size divides rel, and is
 * >= 2^32 > count otherwise (Granlund & Montgomery's divisibility test), so
 * one compare with count checks both "a block start" and "in range".
 */
struct rg_cls {
	struct rg_class *ctl;
	_Atomic uint32_t *next;
	_Atomic uint64_t *state;
	char *data;        /* first block */
	uint64_t inv;      /* inverse of the odd part of size, mod 2^64 */
	union {            /* count64: count zero-extended (count_hi stays 0, the handle is calloc()ed), */
		uint64_t count64; /* so that an index check is one compare with memory on x86-64 */
		struct {
			uint32_t count; /* blocks */
			uint32_t count_hi;
		};
	};
	union {            /* shift64: shift in its low 6 bits, what a rotate reads; with count64, one arm64 LDP */
		uint64_t shift64;
		struct {
			uint32_t shift; /* log2 of the power-of-two part of size */
			uint32_t size;  /* block size, bytes */
		};
	};
	uint32_t lim;     /* pops without a reserve check may take indices below: count, or 0 with a reserve */
	uint32_t reserve;
};
static_assert(sizeof(struct rg_cls) == 64, "one line per class: the index is a shift");
static_assert(offsetof(struct rg_cls, count64) == offsetof(struct rg_cls, count) && offsetof(struct rg_cls, count64) % 8 == 0 &&
		      offsetof(struct rg_cls, shift64) == offsetof(struct rg_cls, shift) &&
		      offsetof(struct rg_cls, shift64) == offsetof(struct rg_cls, count64) + 8,
	      "count64 overlays count, shift64 shift, side by side");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "count64 is count zero-extended on little-endian only");

/* Offset of class @k's first block from the region base. */
#define RG_CLS_DATA_OFF(r, k) ((uint64_t)((k)->data - (r)->base))


struct rg_region {
	/* first line: base, total, pagecls, what every free reads first, at
	 * offsets an arm64 LDP reaches (it cannot reach past cls[]) */
	char *base;
	uint64_t total;   /* footprint: offsets below it have a pagecls entry */
	uint8_t *pagecls; /* private: region page -> class index, RG_PAGE_BUDDY or RG_PAGE_NONE */
	size_t size;
	struct rg_hdr *hdr;
	uint32_t nclasses, nslots;
	uint32_t policy, cache;
	uint64_t data_off;
	/* &r->cls[c] is r->cls + 64 * c; two sentinels (count 0) follow */
	struct rg_cls cls[RG_MAX_CLASSES + 2];
	uint64_t data_size;
	struct rg_slot *slots; /* [nslots + 1], slot 0 the daemon's */
	/* private: request size (rounded up to 8) / 8 -> smallest class that fits, RG_SIZECLS_NONE if none */
	uint8_t sizecls[RG_SIZECLS_MAX / 8 + 1];
	uint32_t stripes; /* S: core classes per size (see region.h, "Striped classes") */
	uint32_t home;    /* this handle's stripe, 0..S-1, added by rg_class_for() */
	/* buddy, NULL bdy if none */
	struct rg_buddy *bdy;
	struct rg_link *link;
	_Atomic uint64_t *bstate;
	char *bdata;
	uint64_t bdata_off, nmin;
	uint32_t min_order, max_order;
	/* derived from the validated buddy descriptor at attach (0 without a buddy area) */
	uint64_t bsize;    /* bytes in the area: nmin << min_order */
	uint64_t bminmask; /* 2^min_order - 1 */
	uint64_t bmax;     /* largest block, bytes: 2^max_order */
	uint64_t ntop;     /* min-blocks in whole blocks of max_order: their buddies never leave the area */
	uint64_t breserve; /* bytes kept for RG_ALLOC_RESERVE */
	/* the daemon's guard on the buddy lock (buddy.c, "Guarded lock"); NULL in clients */
	bool (*guard_owner_ok)(void *arg, int tid);
	void *guard_arg;
	int guard_kind;          /* __kind of a mutex formatted as rg_region_format() does */
	_Atomic uint64_t guard_repairs; /* lock words or kinds a stray write had changed */
	struct rg_share *shares; /* [(nslots + 1) * RG_SHARE_RECS] */
	/* arena mode (arena.c); arena_order 0 without it */
	uint32_t arena_order, ashift; /* ashift: arena_order - min_order */
	uint64_t narenas;
	struct rg_arena *arenas;
	struct rg_arena_ctl *actl;
	struct rg_arena_slot *aslots;  /* [nslots + 1] */
	_Atomic uint64_t *aremote;     /* [narenas * anw]: bit m of an arena's words: min-block m freed REMOTE */
	uint32_t anw, pad_a;           /* remote words per arena */
	struct rg_arena_priv **apriv;  /* [nslots + 1], private: this process's lists for each slot's client */
};

static_assert(offsetof(struct rg_region, cls) == 64, "one line before cls[]");

uint64_t rg_layout_hash(void);

/* buddy.c: rebuild lists and counters from the state table (lock held). */
int rg_buddy_rebuild(struct rg_region *r);

/* The daemon's guarded buddy lock (buddy_guard.c); rg_guard_held: this
 * thread holds it. */
int rg_guarded_lock(struct rg_region *r);
void rg_guarded_unlock(struct rg_region *r);
extern __thread bool rg_guard_held __attribute__((tls_model("initial-exec")));
int rg_buddy_lock(struct rg_region *r);
void rg_buddy_unlock(struct rg_region *r);
long rg_buddy_reclaim(struct rg_region *r, uint64_t owner, uint64_t *ret_bytes);
void rg_buddy_stats(const struct rg_region *r, struct rg_region_stats *s);

/* Arena mode (arena.c, arena_admin.c; region.h has what the daemon calls). */
struct rg_buddy_desc;
bool rg_arena_desc_ok(const struct rg_buddy_desc *b);
uint64_t rg_arena_meta_size(uint64_t narenas, uint32_t nslots, uint32_t shift);
void rg_arena_fill(struct rg_region *r, const struct rg_buddy_desc *b, uint64_t arena_off);
int rg_arena_format(struct rg_region *r);
void rg_arena_forget(struct rg_region *r);
int rg_arena_alloc(struct rg_region *r, uint32_t j, uint64_t owner, unsigned flags, void **ret);
int rg_arena_free(struct rg_region *r, uint64_t i, uint64_t owner);
long rg_arena_reclaim(struct rg_region *r, uint64_t owner, uint64_t *ret_bytes);
/* Reclaim each client that holds an arena's lease and is not @owners[its slot];
 * report each lease holder to @fn (the daemon's survey after a restart). */
long rg_arena_reclaim_leases(struct rg_region *r, const uint64_t *owners, uint64_t *ret_bytes);
void rg_arena_owner_scan(const struct rg_region *r, void (*fn)(void *arg, uint64_t owner), void *arg);
void rg_arena_stats(const struct rg_region *r, struct rg_region_stats *s);
int rg_arena_checkout(struct rg_region *r, uint64_t i, uint64_t *ret_len);
int rg_arena_checkin(struct rg_region *r, uint64_t i);
int rg_arena_mark_bad(struct rg_region *r, uint64_t m);
int rg_arena_next(struct rg_region *r, uint64_t m, uint64_t *ret_i, uint64_t *ret_len);
int rg_buddy_checkout(struct rg_region *r, uint64_t i, uint64_t *ret_len);
int rg_buddy_checkin(struct rg_region *r, uint64_t i);
int rg_buddy_mark_bad(struct rg_region *r, uint64_t m);
bool rg_buddy_containing(const struct rg_region *r, uint64_t m, uint64_t *ret_i, uint32_t *ret_k);
int rg_slab_checkout(struct rg_region *r, uint32_t c, uint32_t idx);
int rg_slab_checkin(struct rg_region *r, uint32_t c, uint32_t idx);
int rg_slab_mark_bad(struct rg_region *r, uint32_t c, uint32_t idx);
long rg_slab_reclaim(struct rg_region *r, uint32_t c, uint64_t owner);
/* slab.c, "Kills": give back class @c's blocks that dead clients left in a
 * listed state but on no list; @live[slot] != 0 for slots held by live
 * clients, @bm scratch of (count + 63) / 64 words. A corrupt list (index out
 * of range, cycle) is detached and rebuilt from the state words first, and
 * *ret_repaired set. Return: blocks given back, -EAGAIN (the list moved too
 * fast to walk), -EUCLEAN (corrupt, and the repair could not take the head). */
long rg_slab_sweep(struct rg_region *r, uint32_t c, const uint8_t *live, uint64_t *bm, bool *ret_repaired);
/* Set class @c's push count from its state words, with a pair CAS on head
 * and pushed (arm64, x86-64): exact with no client left; with clients, off
 * only by pops not yet claimed. Return: 1 if it was wrong, 0 if not. */
int rg_slab_recount(struct rg_region *r, uint32_t c);

/* Where does offset @off (from base) fall? Return 0 with class/index, 1 for a
 * buddy min-block index, -EFAULT otherwise. Checks block-start alignment. */
int rg_locate(const struct rg_region *r, uint64_t off, uint32_t *ret_cls, uint64_t *ret_idx);

/* handoff.c: drop every reference @owner holds to a shared block; a block it
 * held last becomes ALLOC(@owner), for the reclaim that follows. Records its
 * slot was setting up, with nobody in the slot now, are undone. Daemon only. */
void rg_share_drop(struct rg_region *r, uint64_t owner);
/* handoff.c: @fn(@arg, id) for each holder's entry in a share record in use. */
void rg_share_holders_scan(const struct rg_region *r, void (*fn)(void *arg, uint64_t owner), void *arg);
/* handoff.c: is @w a share id's word whose record no longer names it (its
 * closer died between the record and the block word)? */
bool rg_share_dangling(const struct rg_region *r, uint64_t w, const void *p);

#endif /* RTMEM_REGION_INT_H */
