/* SPDX-License-Identifier: MIT */
/*
 * test_arena.c - the buddy area in arenas (lib/core/arena.c, the pool key
 * buddy_arena): leases, splits and merges inside a client's arenas, arenas
 * going back, blocks freed by another client (REMOTE) and taken back by the
 * holder, a dead holder's arenas (given back, or ORPHAN while others hold
 * blocks of them), a freer that died between its CAS and its bits, the
 * tester's whole arenas, stray bits that must take nothing, and many
 * threads and killed processes handing blocks to each other, with the
 * checker after every burst and every byte accounted for at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "arena_int.h"
#include "test_hooks.h"

#define AREA (64u * 1024) /* 16 arenas of 4 KiB, blocks of 64 B .. 4 KiB */
#define ARENA 4096u
#define NARENA (AREA / ARENA)

static uint64_t own(uint32_t slot, uint32_t gen)
{
	return rg_owner(slot, gen);
}

static struct rg_pool_desc arena_desc(void)
{
	struct rg_pool_desc d;

	memset(&d, 0, sizeof(d));
	d.nslots = 8;
	d.buddy = (struct rg_buddy_desc){ .size = AREA, .min_order = 6, .max_order = 12, .arena_order = 12 };
	return d;
}

/* Every slot held by client own(s, 0): gives may land, marks are live. */
static struct fixture_region *region_with_clients(const struct rg_pool_desc *d)
{
	struct fixture_region *f = fixture_region_new(d);

	assert_non_null(f);
	for (uint32_t s = 1; s <= d->nslots; s++) {
		struct rg_slot_record rec = { .owner = own(s, 0) };

		assert_int_equal(rg_region_slot_set(f->r, s, &rec), 0);
	}
	return f;
}

static int setup(void **state)
{
	struct rg_pool_desc d = arena_desc();

	*state = region_with_clients(&d);
	return 0;
}

static int teardown(void **state)
{
	fixture_region_free(*state);
	return 0;
}

static struct rg_region *reg(void **state)
{
	return ((struct fixture_region *)*state)->r;
}

static uint64_t lease_of(const struct rg_region *r, const void *p)
{
	uint64_t i = (uint64_t)((const char *)p - r->bdata) >> r->min_order;

	return atomic_load(&r->arenas[i >> r->ashift].lease);
}

static uint64_t free_bytes(const struct rg_region *r)
{
	struct rg_region_stats s;

	rg_region_stats(r, &s);
	return s.buddy_free;
}

static uint64_t free_arenas(const struct rg_region *r)
{
	uint64_t n = 0;

	for (uint64_t a = 0; a < r->narenas; a++)
		n += atomic_load(&r->arenas[a].lease) == RG_LEASE(RG_LEASE_FREE, 0);
	return n;
}

static void *alloc(struct rg_region *r, size_t size, uint64_t owner)
{
	void *p = NULL;

	assert_int_equal(rg_buddy_alloc(r, size, owner, 0, &p), 0);
	return p;
}

static void test_layout_refuses_what_cannot_hold(void **state)
{
	struct rg_pool_desc d = arena_desc();
	struct rg_footprint fp;

	(void)state;
	assert_int_equal(rg_region_layout(&d, &fp), 0);
	d.buddy.arena_order = 11; /* smaller than the largest block */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = arena_desc();
	d.buddy.arena_order = 21; /* 2^15 smallest blocks, and the area not a multiple */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = arena_desc();
	d.buddy.size = AREA + 64; /* not whole arenas */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = arena_desc();
	d.buddy.size = 4097ull * ARENA; /* more arenas than the hints hold */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
}

static void test_fresh_area_is_free_arenas(void **state)
{
	struct rg_region *r = reg(state);

	assert_int_equal(r->narenas, NARENA);
	assert_int_equal(free_arenas(r), NARENA);
	assert_int_equal(free_bytes(r), AREA);
	assert_region_ok(r);
}

static void test_one_client_leases_splits_merges_and_gives_back(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0);
	void *p[8];

	p[0] = alloc(r, 64, a);
	assert_int_equal(lease_of(r, p[0]), RG_LEASE(RG_LEASE_HELD, a));
	assert_int_equal(free_arenas(r), NARENA - 1);
	p[1] = alloc(r, 64, a); /* the buddy of p[0]: same arena */
	assert_int_equal((char *)p[1] - (char *)p[0], 64);
	assert_region_ok(r);
	assert_int_equal(free_bytes(r), AREA - 128);
	assert_int_equal(rg_buddy_free(r, p[0], a), 0);
	assert_int_equal(rg_buddy_free(r, p[0], a), -EALREADY);
	assert_int_equal(rg_buddy_free(r, p[1], a), 0);
	/* whole again: kept (RG_ARENA_KEEP), not given back */
	assert_int_equal(free_arenas(r), NARENA - 1);
	assert_int_equal(free_bytes(r), AREA);
	assert_region_ok(r);
	/* four arenas' worth, then all back: one kept, three given back */
	for (int i = 0; i < 8; i++)
		p[i] = alloc(r, 2048, a);
	assert_int_equal(free_arenas(r), NARENA - 4);
	for (int i = 0; i < 8; i++)
		assert_int_equal(rg_buddy_free(r, p[i], a), 0);
	assert_int_equal(free_arenas(r), NARENA - 1);
	assert_region_ok(r);
	/* the kept arena is used first */
	p[0] = alloc(r, ARENA, a);
	assert_int_equal(free_arenas(r), NARENA - 1);
	assert_int_equal(rg_buddy_free(r, p[0], a), 0);
}

static void test_other_clients_arenas_and_errors(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0), b = own(2, 0);
	void *pa = alloc(r, 256, a), *pb = alloc(r, 256, b);

	assert_true(lease_of(r, pa) != lease_of(r, pb)); /* each in its own arena */
	assert_int_equal(rg_buddy_free(r, pa, b), -EPERM);
	assert_int_equal(rg_buddy_free(r, (char *)pa + 64, a), -EFAULT);
	assert_int_equal(rg_buddy_free(r, (char *)pa + 512, a), -EALREADY); /* inside a free block */
	assert_int_equal(rg_buddy_free(r, pa, a), 0);
	assert_int_equal(rg_buddy_free(r, pb, b), 0);
	assert_region_ok(r);
}

static void test_exhaustion_and_the_reserve(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0), b = own(2, 0);
	struct rg_region_stats s;
	void *p[NARENA], *q;

	for (unsigned i = 0; i < NARENA; i++)
		p[i] = alloc(r, ARENA, a);
	assert_int_equal(rg_buddy_alloc(r, 64, b, 0, &q), -ENOMEM);
	rg_region_stats(r, &s);
	assert_int_equal(s.order[6].failed, 1);
	assert_int_equal(s.order[12].in_use, NARENA);
	for (unsigned i = 0; i < NARENA; i++)
		assert_int_equal(rg_buddy_free(r, p[i], a), 0);
	assert_region_ok(r);
	assert_int_equal(free_arenas(r), NARENA - 1); /* a keeps one */
	assert_int_equal(rg_region_reclaim(r, a, NULL), 0); /* a leaves: its kept arena goes back */
	assert_int_equal(free_arenas(r), NARENA);
	/* a reserve of two arenas: an ungranted client leases down to it only */
	r->breserve = 2 * ARENA;
	for (unsigned i = 0; i < NARENA - 2; i++)
		p[i] = alloc(r, ARENA, b);
	assert_int_equal(rg_buddy_alloc(r, ARENA, b, 0, &q), -ENOMEM);
	assert_int_equal(rg_buddy_alloc(r, ARENA, b, RG_ALLOC_RESERVE, &q), 0);
	assert_int_equal(rg_buddy_free(r, q, b), 0);
	for (unsigned i = 0; i < NARENA - 2; i++)
		assert_int_equal(rg_buddy_free(r, p[i], b), 0);
	r->breserve = 0;
	assert_region_ok(r);
}

static void test_remote_free_comes_back_to_the_holder(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0), b = own(2, 0);
	uint64_t i;
	void *x = alloc(r, 1024, a), *y = alloc(r, 1024, a), *z;

	i = (uint64_t)((char *)x - r->bdata) >> r->min_order;
	assert_int_equal(rg_region_give(r, x, a, b), 0);
	assert_int_equal(rg_buddy_free(r, x, a), -EPERM); /* it is b's now */
	assert_int_equal(rg_buddy_free(r, x, b), 0);
	assert_int_equal(RG_ST(atomic_load(&r->bstate[i])), RG_BLK_REMOTE);
	assert_int_equal(rg_buddy_free(r, x, b), -EALREADY);
	assert_region_ok(r); /* its bit and its arena's hint are set */
	assert_int_equal(free_bytes(r), AREA - 1024);
	/* a's next call takes it back: then x's 1 KiB is a's to hand out again */
	z = alloc(r, 1024, a);
	assert_ptr_equal(z, x);
	assert_int_equal(rg_buddy_free(r, z, a), 0);
	assert_int_equal(rg_buddy_free(r, y, a), 0);
	assert_int_equal(free_bytes(r), AREA);
	assert_int_equal(free_arenas(r), NARENA - 1);
	assert_region_ok(r);
}

static void test_dead_holder_leaves_an_orphan_until_the_last_block(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0), b = own(2, 0);
	uint64_t bytes = 0;
	void *x = alloc(r, 512, a), *y = alloc(r, 512, a);

	(void)y;
	assert_int_equal(rg_region_give(r, x, a, b), 0);
	assert_int_equal(rg_region_reclaim(r, a, &bytes), 1);
	assert_int_equal(bytes, 512);
	assert_int_equal(lease_of(r, x), RG_LEASE(RG_LEASE_ORPHAN, 0));
	assert_region_ok(r);
	assert_int_equal(free_bytes(r), AREA - 512);
	assert_int_equal(rg_buddy_free(r, x, b), 0); /* REMOTE, to the daemon */
	rg_region_arena_pass(r);
	assert_int_equal(lease_of(r, x), RG_LEASE(RG_LEASE_FREE, 0));
	assert_int_equal(free_arenas(r), NARENA);
	assert_region_ok(r);
	/* a dead holder with nothing given away: its arena goes back at once */
	x = alloc(r, 64, b);
	assert_int_equal(rg_region_reclaim(r, b, &bytes), 1);
	assert_int_equal(free_arenas(r), NARENA);
	assert_region_ok(r);
	/* a count left one short (a client killed between its give-back's CAS
	 * and the count) and an orphan going back in the same pass: the pass's
	 * own give-back must not stop it from setting the count right */
	x = alloc(r, 512, own(3, 0));
	assert_int_equal(rg_region_give(r, x, own(3, 0), own(4, 0)), 0);
	assert_int_equal(rg_region_reclaim(r, own(3, 0), &bytes), 0); /* it held only what it gave */
	assert_int_equal(lease_of(r, x), RG_LEASE(RG_LEASE_ORPHAN, 0));
	assert_int_equal(rg_buddy_free(r, x, own(4, 0)), 0);
	atomic_fetch_sub(&r->actl->nfree, 1);
	rg_region_arena_pass(r);
	assert_int_equal(free_arenas(r), NARENA);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	assert_region_ok(r);
}

static void test_dead_receiver_hands_back_and_a_freer_dead_before_its_bits(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0), b = own(2, 0), c = own(3, 0);
	uint64_t bytes = 0, i;
	char msg[256];
	void *x = alloc(r, 128, a), *y = alloc(r, 128, a), *z;

	/* b dies holding x: x goes back REMOTE to a */
	assert_int_equal(rg_region_give(r, x, a, b), 0);
	assert_int_equal(rg_region_reclaim(r, b, &bytes), 1);
	i = (uint64_t)((char *)x - r->bdata) >> r->min_order;
	assert_int_equal(atomic_load(&r->bstate[i]), RG_WORD(RG_BLK_REMOTE, 7, b));
	assert_region_ok(r);
	/* c frees y with its CAS and dies before the bits: the checker sees
	 * it, the reclaim of c sets them, and a takes both back */
	assert_int_equal(rg_region_give(r, y, a, c), 0);
	i = (uint64_t)((char *)y - r->bdata) >> r->min_order;
	atomic_store(&r->bstate[i], RG_WORD(RG_BLK_REMOTE, 7, c));
	assert_int_not_equal(rg_region_check(r, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "not signalled"));
	assert_int_equal(rg_region_reclaim(r, c, &bytes), 0);
	assert_region_ok(r);
	z = alloc(r, 64, a); /* the drain takes both; the arena is whole but for z */
	assert_int_equal(free_bytes(r), AREA - 64);
	assert_int_equal(rg_buddy_free(r, z, a), 0);
	assert_int_equal(free_arenas(r), NARENA - 1);
	assert_region_ok(r);
	/* c dies between its CAS and its bits while no daemon runs: no record
	 * names c after a restart, so the pass finds its REMOTE head itself */
	x = alloc(r, 128, a);
	y = alloc(r, 128, a);
	assert_int_equal(rg_region_give(r, y, a, c), 0);
	i = (uint64_t)((char *)y - r->bdata) >> r->min_order;
	atomic_store(&r->bstate[i], RG_WORD(RG_BLK_REMOTE, 7, c));
	assert_int_not_equal(rg_region_check(r, msg, sizeof(msg)), 0);
	rg_region_arena_pass(r);
	assert_region_ok(r);
	assert_int_equal(rg_buddy_free(r, x, a), 0);
	z = alloc(r, 64, a); /* takes y back: all of the arena is a's but z */
	assert_int_equal(free_bytes(r), AREA - 64);
	assert_int_equal(rg_buddy_free(r, z, a), 0);
	assert_region_ok(r);
}

/*
 * The pass's recount of FREE arenas and a client between its lease or
 * give-back CAS and its add to the count (marked busy, arena.c): while it
 * lives the count waits for its add, so it is not counted twice; once it
 * is dead (its slot record cleared, or reclaimed) the pass sets the count.
 */
static void test_recount_waits_for_a_live_client_between_cas_and_add(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0);
	uint64_t lw = RG_LEASE(RG_LEASE_FREE, 0), bytes = 0;
	struct rg_slot_record none = { 0 };

	/* a lease: marked, the CAS done, the add not yet */
	atomic_store(&r->aslots[1].busy, a);
	assert_true(atomic_compare_exchange_strong(&r->arenas[3].lease, &lw, RG_LEASE(RG_LEASE_HELD, a)));
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	atomic_fetch_add(&r->actl->nfree, RG_NF_DOWN); /* its add lands, then its mark goes */
	atomic_store(&r->aslots[1].busy, 0);
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA - 1);
	/* a give-back: marked, the CAS done, killed before its add; its record
	 * cleared (it died): the next pass sets the count */
	atomic_store(&r->aslots[1].busy, a);
	lw = RG_LEASE(RG_LEASE_HELD, a);
	assert_true(atomic_compare_exchange_strong(&r->arenas[3].lease, &lw, RG_LEASE(RG_LEASE_FREE, 0)));
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA - 1);
	assert_int_equal(rg_region_slot_set(r, 1, &none), 0);
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	assert_int_equal(atomic_load(&r->aslots[1].busy), 0);
	/* the same lease, killed after its CAS, with its record still there:
	 * the reclaim clears its mark, and its pass sets the count */
	atomic_store(&r->aslots[2].busy, own(2, 0));
	lw = RG_LEASE(RG_LEASE_FREE, 0);
	assert_true(atomic_compare_exchange_strong(&r->arenas[4].lease, &lw, RG_LEASE(RG_LEASE_HELD, own(2, 0))));
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	assert_int_equal(rg_region_reclaim(r, own(2, 0), &bytes), 0); /* the arena goes back; the count right */
	assert_int_equal(free_arenas(r), NARENA);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	/* the tester between its checkout CAS and its add: waited for; a mark
	 * a killed daemon's tester left (another pid): cleared */
	atomic_store(&r->aslots[0].busy, 1ull << 32);
	lw = RG_LEASE(RG_LEASE_FREE, 0);
	assert_true(atomic_compare_exchange_strong(&r->arenas[5].lease, &lw, RG_LEASE(RG_LEASE_CHECKOUT, 0)));
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	atomic_fetch_add(&r->actl->nfree, RG_NF_DOWN);
	atomic_store(&r->aslots[0].busy, 0);
	assert_int_equal(rg_region_checkin(r, r->bdata_off + 5 * ARENA), 0);
	assert_int_equal(atomic_load(&r->aslots[0].busy), 0);
	atomic_store(&r->aslots[0].busy, 1ull << 32 | 4242);
	atomic_fetch_add(&r->actl->nfree, RG_NF_DOWN);
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	assert_int_equal(atomic_load(&r->aslots[0].busy), 0);
	/* a stray mark on a slot whose client is another: cleared, not waited on */
	atomic_store(&r->aslots[3].busy, own(3, 7));
	atomic_fetch_add(&r->actl->nfree, RG_NF_DOWN);
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	assert_int_equal(atomic_load(&r->aslots[3].busy), 0);
	assert_region_ok(r);
}

/*
 * A take-back that merges an arena whole gives it back in the middle of the
 * drain; another client leases it at once and gets a remote free in a word
 * that the first client's summary snapshot (a stale bit) still names. The
 * first client must not take that bit: the block would stay REMOTE, its
 * holder never told. The hook runs the others' steps at that instant.
 */
static struct rg_region *race_r;
static void *race_z[2];
static bool race_ran;

static void lease_and_remote_free_in_word_1(void)
{
	struct rg_region *r = race_r;
	const uint64_t c = own(3, 0), e = own(4, 0);

	if (race_ran)
		return;
	race_ran = true;
	race_z[0] = alloc(r, 4096, c); /* min-blocks 0..63 of the lowest FREE arena */
	race_z[1] = alloc(r, 4096, c); /* 64..127: remote word 1 */
	assert_int_equal(rg_region_give(r, race_z[1], c, e), 0);
	assert_int_equal(rg_buddy_free(r, race_z[1], e), 0);
}

static void test_drain_stops_at_an_arena_it_gave_back(void **state)
{
	struct rg_pool_desc d = arena_desc();
	struct fixture_region *f;
	struct rg_region *r;
	const uint64_t a = own(1, 0), b = own(2, 0), c = own(3, 0);
	void *x, *y, *z;

	(void)state;
	d.buddy = (struct rg_buddy_desc){ .size = 4 * 16384, .min_order = 6, .max_order = 14, .arena_order = 14 };
	f = region_with_clients(&d);
	r = f->r;
	assert_int_equal(r->anw, 4);
	x = alloc(r, 16384, a); /* arena 0, whole */
	y = alloc(r, 16384, a); /* arena 1, whole, then kept free */
	assert_int_equal(rg_buddy_free(r, y, a), 0);
	assert_int_equal(rg_region_give(r, x, a, b), 0);
	assert_int_equal(rg_buddy_free(r, x, b), 0); /* REMOTE: word 0 of arena 0 */
	atomic_fetch_or(&r->arenas[0].rsum[0], 2ull); /* a stale summary bit for word 1 */
	race_r = r;
	race_ran = false;
	rg_arena_test_hook = lease_and_remote_free_in_word_1;
	z = alloc(r, 64, a); /* the drain takes x back, arena 0 goes back; then the hook */
	rg_arena_test_hook = NULL;
	assert_true(race_ran);
	assert_ptr_equal(race_z[0], x); /* c leased arena 0 */
	assert_region_ok(r);             /* z[1]'s bit is still there for c */
	y = alloc(r, 4096, c);           /* c's next call takes it back */
	assert_ptr_equal(y, race_z[1]);
	assert_int_equal(rg_buddy_free(r, y, c), 0);
	assert_int_equal(rg_buddy_free(r, race_z[0], c), 0);
	assert_int_equal(rg_buddy_free(r, z, a), 0);
	assert_int_equal(free_bytes(r), 4 * 16384);
	assert_region_ok(r);
	fixture_region_free(f);
}

static void test_stray_bits_take_nothing(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0);
	void *x = alloc(r, 64, a), *p[63];
	uint64_t i = (uint64_t)((char *)x - r->bdata) >> r->min_order, ar = i >> r->ashift;

	/* bits for every min-block of a's arena, and a REMOTE word inside its
	 * free 2 KiB half: nothing is a's to take back */
	atomic_store(&r->aremote[ar * r->anw], ~0ull);
	atomic_store(&r->arenas[ar].rsum[0], ~0ull); /* words past the arena's one too */
	atomic_store(&r->bstate[i + 33], RG_WORD(RG_BLK_REMOTE, 6, own(2, 0)));
	hint_remote(r, 1, ar);
	/* a takes the other 63 blocks of its arena, each once */
	for (int k = 0; k < 63; k++) {
		p[k] = alloc(r, 64, a);
		assert_int_equal(lease_of(r, p[k]), RG_LEASE(RG_LEASE_HELD, a));
		for (int m = 0; m < k; m++)
			assert_ptr_not_equal(p[k], p[m]);
		assert_ptr_not_equal(p[k], x);
	}
	for (int k = 0; k < 63; k++)
		assert_int_equal(rg_buddy_free(r, p[k], a), 0);
	assert_int_equal(rg_buddy_free(r, x, a), 0);
	assert_int_equal(free_bytes(r), AREA);
	assert_region_ok(r);
}

/* A stray bit in a REMOTE word's order (k + 64 reads as k in six bits)
 * takes nothing and overruns nothing (ASan would say so). */
static void test_stray_order_takes_nothing(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0), b = own(2, 0);
	void *x = alloc(r, 128, a), *y = alloc(r, 128, a), *z;
	uint64_t i = (uint64_t)((char *)x - r->bdata) >> r->min_order;

	assert_int_equal(rg_region_give(r, x, a, b), 0);
	assert_int_equal(rg_buddy_free(r, x, b), 0);
	atomic_store(&r->bstate[i], RG_WORD(RG_BLK_REMOTE, 7 + 64, b));
	z = alloc(r, 64, a); /* drains the bit: the word is not a REMOTE block of a's */
	assert_int_equal(RG_ST(atomic_load(&r->bstate[i])), RG_BLK_REMOTE);
	atomic_store(&r->bstate[i], RG_WORD(RG_BLK_REMOTE, 7, b)); /* repaired: now it comes back */
	remote_note(r, i);
	assert_int_equal(rg_buddy_free(r, z, a), 0);
	z = alloc(r, 64, a);
	assert_int_equal(rg_buddy_free(r, z, a), 0);
	assert_int_equal(rg_buddy_free(r, y, a), 0);
	assert_int_equal(free_bytes(r), AREA);
	assert_region_ok(r);
}

/* A client that died holding only arenas (no block names it) is found by
 * its lease, and a lease word a stray write broke is quarantined. */
static void test_leases_of_the_dead_and_broken_leases(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0);
	uint64_t owners[9] = { 0 }, bytes = 0;
	void *p[NARENA];
	unsigned n = 0;

	rg_region_arena_pass(r);
	assert_int_equal(rg_buddy_free(r, alloc(r, 64, a), a), 0); /* a keeps its arena, holds nothing */
	assert_int_equal(free_arenas(r), NARENA - 1);
	for (uint32_t s = 2; s <= 8; s++)
		owners[s] = own(s, 0); /* every client but a is here */
	assert_int_equal(rg_region_reclaim_orphans(r, owners, &bytes), 0);
	assert_int_equal(free_arenas(r), NARENA);
	/* the count of FREE arenas is set right by the pass */
	atomic_store(&r->actl->nfree, 3);
	rg_region_arena_pass(r);
	assert_int_equal(RG_NF_COUNT(atomic_load(&r->actl->nfree)), NARENA);
	/* a FREE arena's lease word zeroed: BAD, never leased, the rest all are */
	atomic_store(&r->arenas[5].lease, 0);
	rg_region_arena_pass(r);
	assert_int_equal(atomic_load(&r->arenas[5].lease), RG_LEASE(RG_LEASE_BAD, 0));
	assert_region_ok(r); /* and the count one fewer */
	while (n < NARENA && rg_buddy_alloc(r, ARENA, a, 0, &p[n]) == 0)
		assert_true(lease_of(r, p[n++]) != RG_LEASE(RG_LEASE_BAD, 0));
	assert_int_equal(n, NARENA - 1);
	for (unsigned k = 0; k < n; k++)
		assert_int_equal(rg_buddy_free(r, p[k], a), 0);
	assert_region_ok(r);
}

static void test_tester_takes_whole_free_arenas(void **state)
{
	struct rg_region *r = reg(state);
	const uint64_t a = own(1, 0);
	uint64_t off, len, first;
	void *p[NARENA];
	unsigned n = 0;

	assert_int_equal(rg_region_next_block(r, r->bdata_off, &off, &len), 0);
	assert_int_equal(off, r->bdata_off);
	assert_int_equal(len, ARENA);
	assert_int_equal(rg_region_next_block(r, r->bdata_off + 1, &off, &len), 0);
	assert_int_equal(off, r->bdata_off + ARENA);
	first = r->bdata_off;
	assert_int_equal(rg_region_checkout(r, first, &len), 0);
	assert_int_equal(len, ARENA);
	assert_int_equal(rg_region_checkout(r, first, &len), -EBUSY);
	assert_int_equal(rg_region_mark_bad(r, first + ARENA + 100), 0); /* the second arena, FREE */
	assert_int_equal(rg_region_mark_bad(r, first + ARENA), -EALREADY);
	assert_region_ok(r);
	while (n < NARENA && rg_buddy_alloc(r, ARENA, a, 0, &p[n]) == 0) {
		assert_true((uint64_t)((char *)p[n] - r->base) >= first + 2 * ARENA);
		n++;
	}
	assert_int_equal(n, NARENA - 2);
	assert_int_equal(rg_region_checkout(r, first + 2 * ARENA, &len), -EBUSY); /* leased */
	assert_int_equal(rg_region_checkin(r, first), 0);
	assert_int_equal(rg_region_checkin(r, first), -EINVAL);
	assert_int_equal(rg_buddy_alloc(r, ARENA, a, 0, &p[n]), 0);
	assert_ptr_equal(p[n], r->bdata);
	n++;
	for (unsigned k = 0; k < n; k++)
		assert_int_equal(rg_buddy_free(r, p[k], a), 0);
	assert_region_ok(r);
}

/* Many clients at once: threads, each its own client, handing blocks on. */
#define NT 4
#define ROUNDS 20000

struct mt {
	struct rg_region *r;
	_Atomic uint64_t box[NT + 1][8]; /* offsets handed to slot s, 0 = empty */
	_Atomic unsigned errors;
};

static void *mt_client(void *arg_)
{
	struct mt *m = ((struct mt **)arg_)[0];
	uint32_t slot = (uint32_t)(uintptr_t)((void **)arg_)[1];
	uint64_t me = own(slot, 0), seed = slot * 2654435761u;
	void *held[32] = { 0 };

	for (int n = 0; n < ROUNDS; n++) {
		unsigned k;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		k = (unsigned)(seed >> 59);
		if (!held[k]) {
			if (rg_buddy_alloc(m->r, 64u << (seed >> 40 & 3), me, 0, &held[k]) != 0)
				held[k] = NULL;
		} else if (seed >> 32 & 1) {
			if (rg_buddy_free(m->r, held[k], me) != 0)
				atomic_fetch_add(&m->errors, 1);
			held[k] = NULL;
		} else {
			uint32_t to = 1 + (uint32_t)(seed >> 20) % NT, b = (uint32_t)(seed >> 24) % 8;
			uint64_t zero = 0, off = (uint64_t)((char *)held[k] - m->r->base);

			/* take the box entry (1: being filled), give, then post */
			if (to != slot && atomic_compare_exchange_strong(&m->box[to][b], &zero, 1)) {
				if (rg_region_give(m->r, held[k], me, own(to, 0)) != 0)
					atomic_fetch_add(&m->errors, 1);
				atomic_store(&m->box[to][b], off);
				held[k] = NULL;
			}
		}
		for (uint32_t b = 0; b < 8; b++) { /* what others handed us */
			uint64_t off = atomic_load(&m->box[slot][b]);

			if (off > 1 && atomic_compare_exchange_strong(&m->box[slot][b], &off, 0) &&
			    rg_buddy_free(m->r, m->r->base + off, me) != 0)
				atomic_fetch_add(&m->errors, 1);
		}
	}
	for (unsigned k = 0; k < 32; k++)
		if (held[k] && rg_buddy_free(m->r, held[k], me) != 0)
			atomic_fetch_add(&m->errors, 1);
	return NULL;
}

static void test_threads_hand_blocks_around(void **state)
{
	struct rg_region *r = reg(state);
	struct mt *m = calloc(1, sizeof(*m));
	pthread_t t[NT];
	void *args[NT][2];
	uint64_t bytes = 0;

	assert_non_null(m);
	m->r = r;
	for (uint32_t i = 0; i < NT; i++) {
		args[i][0] = m;
		args[i][1] = (void *)(uintptr_t)(i + 1);
		assert_int_equal(pthread_create(&t[i], NULL, mt_client, args[i]), 0);
	}
	for (uint32_t i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	for (uint32_t s = 1; s <= NT; s++) /* blocks still in a box: their receiver frees them */
		for (uint32_t b = 0; b < 8; b++) {
			uint64_t off = atomic_load(&m->box[s][b]);

			if (off)
				assert_int_equal(rg_buddy_free(r, r->base + off, own(s, 0)), 0);
		}
	assert_int_equal(atomic_load(&m->errors), 0);
	assert_region_ok(r);
	/* every client ends: everything is free again, to the byte */
	for (uint32_t s = 1; s <= NT; s++)
		assert_int_equal(rg_region_reclaim(r, own(s, 0), &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(free_arenas(r), NARENA);
	assert_int_equal(free_bytes(r), AREA);
	assert_region_ok(r);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_refuses_what_cannot_hold),
		cmocka_unit_test_setup_teardown(test_fresh_area_is_free_arenas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_client_leases_splits_merges_and_gives_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_clients_arenas_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion_and_the_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_free_comes_back_to_the_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_holder_leaves_an_orphan_until_the_last_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_receiver_hands_back_and_a_freer_dead_before_its_bits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recount_waits_for_a_live_client_between_cas_and_add, setup, teardown),
		cmocka_unit_test(test_drain_stops_at_an_arena_it_gave_back),
		cmocka_unit_test_setup_teardown(test_stray_bits_take_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray_order_takes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leases_of_the_dead_and_broken_leases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tester_takes_whole_free_arenas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_hand_blocks_around, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
