/* SPDX-License-Identifier: MIT */
/*
 * test_handoff_steps.c - handoff and sharing (lib/core/handoff.c) with the
 * other side acting between this side's steps, deterministically: the test
 * hook of rtmem_core_test (test_hooks.h) stops the caller at each step and
 * runs there what the other side does.
 *
 * - a receiver or reader that dies at each step of a give, an open, a
 *   share-on (the daemon's steps run there: record cleared, reclaim, orphan
 *   pass); the call's return then matches who owns the block, and once the
 *   survivors let go of it the region is all free;
 * - two holders adding the same reader at once: one of them backs out
 *   (-EAGAIN) and the reader holds the block once; an entry being added is
 *   tentative until its checks pass, so a reader's release never takes it
 *   and nobody is told -EALREADY for it; it stops holding with its adder's
 *   death; an add to a slot's new client is not confirmed by a stale add to
 *   its old one, though their tentative entries are equal; a confirm that
 *   lands between the daemon's read of the entry and its mark is dropped;
 * - a close whose scan of the entries an add and a release overtook: the
 *   record stays, with the new reader in it; two closers, one going back
 *   to LIVE: one of them closes; a closer killed in CLOSING with holders
 *   left: the next add's close makes the record LIVE again;
 * - the opener dying between a reader's drop and its close, and the
 *   daemon's orphan pass between a closer's two steps;
 * - share ids a stray write stamped on the words of allocated blocks: the
 *   orphan pass frees each of those blocks, once, and a share id inside a
 *   buddy block frees nothing;
 * - a reader that leaves while a block is opened to it, in two threads at
 *   once, many times: no opened block keeps a dead reader's entry (the
 *   store-then-load on each side is sequentially consistent).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"
#include "test_hooks.h"

#define A rg_owner(1, 3)
#define B rg_owner(2, 4)
#define C rg_owner(3, 5)
#define Q rg_owner(4, 6)
#define NPARTY 4

static uint64_t party(int i)
{
	return i == 0 ? A : i == 1 ? B : i == 2 ? C : Q;
}

/* What the hook does when the caller reaches a step. */
enum act {
	ACT_NONE,
	ACT_DIE_B,      /* B dies: the daemon clears its record, reclaims it, runs the orphan pass */
	ACT_DIE_C,      /* the same for C */
	ACT_DIE_A,      /* the same for A */
	ACT_UNRECORD_B, /* only the first of B's death steps: its record cleared */
	ACT_RECLAIM_B,  /* the rest of them */
	ACT_SHARE_B_C,  /* another holder, B, adds C */
	ACT_ORPHANS,    /* the daemon's orphan pass (after any client's reclaim) */
	ACT_A_SHARES_C, /* A adds C (and tells it), then Q lets go of its hold */
	ACT_C_RELEASES, /* C lets go of the hold it was told of */
	ACT_B_GIVES_BACK, /* B gives the block back to A, and dies */
	ACT_B_LETS_GO_A_SHARES_C, /* another thread of B releases B's hold; A adds C */
	ACT_EXIT,                 /* the caller is killed here (a fork child) */
	ACT_C_ADDS_Q_LETS_GO,     /* C adds Q (and tells it), then lets go of its own hold */
};

static struct {
	struct fixture_region *f;
	uint64_t owners[17]; /* the daemon's view: each slot's client, 0 if none */
	enum rg_handoff_step step[2];
	enum act act[2];
	bool fired[2], busy;
	int other_rc; /* ACT_SHARE_B_C's return */
	void *block;  /* the block the scenario is about */
} T;

static void plan(enum rg_handoff_step s0, enum act a0, enum rg_handoff_step s1, enum act a1)
{
	T.step[0] = s0, T.act[0] = a0, T.step[1] = s1, T.act[1] = a1;
	T.fired[0] = T.fired[1] = false;
	T.other_rc = 1;
}

static uint32_t slot_of(uint64_t owner)
{
	return (uint32_t)(owner >> 16 & 0xffff);
}

static void daemon_unrecord(uint64_t who)
{
	assert_int_equal(fixture_unrecord(T.f->r, who), 0);
	T.owners[slot_of(who)] = 0;
}

static void daemon_reclaim(uint64_t who)
{
	assert_true(rg_region_reclaim(T.f->r, who, NULL) >= 0);
	assert_true(rg_region_reclaim_orphans(T.f->r, T.owners, NULL) >= 0);
}

static void run(enum act a)
{
	switch (a) {
	case ACT_DIE_A:
		daemon_unrecord(A);
		daemon_reclaim(A);
		break;
	case ACT_DIE_B:
		daemon_unrecord(B);
		daemon_reclaim(B);
		break;
	case ACT_DIE_C:
		daemon_unrecord(C);
		daemon_reclaim(C);
		break;
	case ACT_UNRECORD_B:
		daemon_unrecord(B);
		break;
	case ACT_RECLAIM_B:
		daemon_reclaim(B);
		break;
	case ACT_SHARE_B_C:
		T.other_rc = rg_region_share(T.f->r, T.block, B, C);
		break;
	case ACT_A_SHARES_C:
		T.other_rc = rg_region_share(T.f->r, T.block, A, C);
		assert_int_equal(rg_region_release(T.f->r, T.block, Q), 0);
		break;
	case ACT_B_GIVES_BACK:
		T.other_rc = rg_region_give(T.f->r, T.block, B, A);
		daemon_unrecord(B);
		daemon_reclaim(B);
		break;
	case ACT_B_LETS_GO_A_SHARES_C:
		assert_int_equal(rg_region_release(T.f->r, T.block, B), 0);
		T.other_rc = rg_region_share(T.f->r, T.block, A, C);
		break;
	case ACT_EXIT:
		_exit(0);
	case ACT_C_ADDS_Q_LETS_GO:
		T.other_rc = rg_region_share(T.f->r, T.block, C, Q);
		assert_int_equal(rg_region_release(T.f->r, T.block, C), 0);
		break;
	case ACT_C_RELEASES:
		assert_int_equal(rg_region_release(T.f->r, T.block, C), 0);
		break;
	case ACT_ORPHANS:
		assert_true(rg_region_reclaim_orphans(T.f->r, T.owners, NULL) >= 0);
		break;
	case ACT_NONE:
		break;
	}
}

static void hook(enum rg_handoff_step step)
{
	if (T.busy)
		return; /* a step of what the hook itself runs */
	for (int i = 0; i < 2; i++) {
		if (T.fired[i] || T.act[i] == ACT_NONE || T.step[i] != step)
			continue;
		T.fired[i] = true;
		T.busy = true;
		run(T.act[i]);
		T.busy = false;
		return;
	}
}

static int setup(void **state)
{
	struct rg_pool_desc d = fixture_desc();

	(void)state;
	memset(&T, 0, sizeof(T));
	T.f = fixture_region_new(&d);
	assert_non_null(T.f);
	for (int i = 0; i < NPARTY; i++) {
		assert_int_equal(fixture_record(T.f->r, party(i)), 0);
		T.owners[slot_of(party(i))] = party(i);
	}
	rg_handoff_test_hook = hook;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rg_handoff_test_hook = NULL;
	fixture_region_free(T.f);
	return 0;
}

/* A fresh region with A, B and C recorded, for the next scenario. */
static void again(void)
{
	teardown(NULL);
	setup(NULL);
}

static void *alloc_a(bool buddy)
{
	void *p;

	if (buddy)
		assert_int_equal(rg_buddy_alloc(T.f->r, 200, A, 0, &p), 0);
	else
		assert_int_equal(rg_slab_alloc(T.f->r, 1, A, 0, &p), 0);
	T.block = p;
	return p;
}

static int free_as(void *p, uint64_t owner)
{
	int rc = rg_slab_free(T.f->r, p, owner);

	return rc == -EFAULT ? rg_buddy_free(T.f->r, p, owner) : rc;
}

/* The number of entries of @who in LIVE records for the block at @p. */
static int entries_of(const void *p, uint64_t who)
{
	uint64_t off = (uint64_t)((const char *)p - (const char *)T.f->mem);
	int n = 0;

	for (uint32_t k = 0; k < (T.f->r->nslots + 1) * RG_SHARE_RECS; k++) {
		const struct rg_share *s = &T.f->r->shares[k];

		if ((atomic_load(&s->hdr) & 0xff) != 2 || atomic_load(&s->blk) != off)
			continue;
		for (unsigned i = 0; i < RG_SHARE_HOLDERS; i++)
			n += (atomic_load(&s->ent[i]) & ~(uint64_t)0xffff) == who;
	}
	return n;
}

/* Holders @n of them (variadic owner ids) let go of shared block @p in
 * turn: the last release closes it and frees it; then all is free. */
static void let_go(void *p, int n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		uint64_t who = va_arg(ap, uint64_t);
		int rc = rg_region_release(T.f->r, p, who);

		assert_int_equal(rc, i < n - 1 ? 0 : RG_SHARE_CLOSED);
		if (rc == RG_SHARE_CLOSED)
			assert_int_equal(free_as(p, who), 0);
	}
	va_end(ap);
	assert_region_all_free(T.f->r);
}

/* The survivors let go of @p the way a client does (a free of their own
 * block, a release of their hold, the last release's free); then nothing
 * may be left in use. */
static void settle(void *p)
{
	for (int i = 0; i < NPARTY; i++) {
		uint64_t x = party(i);
		int rc;

		if (!T.owners[slot_of(x)])
			continue;
		if (rg_region_owned(T.f->r, p, x, NULL) == 0) {
			assert_int_equal(free_as(p, x), 0);
			continue;
		}
		rc = rg_region_release(T.f->r, p, x);
		if (rc == RG_SHARE_CLOSED)
			assert_int_equal(free_as(p, x), 0);
		else
			assert_true(rc == 0 || rc == -EPERM);
	}
	assert_region_all_free(T.f->r);
}

/* --- the other side acts between the caller's steps --- */

static void test_give_with_the_receiver_dying_at_each_step(void **state)
{
	static const struct {
		enum rg_handoff_step s0;
		enum act a0;
		enum rg_handoff_step s1;
		enum act a1;
		int rc; /* what the give returns: 0, the block went; -ESRCH, it stayed A's */
	} cases[] = {
		{ RG_STEP_GIVE_CHECKED, ACT_DIE_B, RG_STEP_COUNT, ACT_NONE, -ESRCH },
		{ RG_STEP_GIVE_HERE, ACT_DIE_B, RG_STEP_COUNT, ACT_NONE, -ESRCH }, /* taken back */
		{ RG_STEP_GIVE_SWAPPED, ACT_DIE_B, RG_STEP_COUNT, ACT_NONE, 0 },   /* reclaimed with B */
		{ RG_STEP_GIVE_SWAPPED, ACT_UNRECORD_B, RG_STEP_GIVE_GONE, ACT_RECLAIM_B, 0 },
		{ RG_STEP_GIVE_HERE, ACT_UNRECORD_B, RG_STEP_GIVE_GONE, ACT_RECLAIM_B, 0 },
		{ RG_STEP_GIVE_SWAPPED, ACT_NONE, RG_STEP_COUNT, ACT_NONE, 0 }, /* nobody dies */
	};

	(void)state;
	for (int buddy = 0; buddy < 2; buddy++) {
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			void *p = alloc_a(buddy);
			int rc;

			plan(cases[i].s0, cases[i].a0, cases[i].s1, cases[i].a1);
			rc = rg_region_give(T.f->r, p, A, B);
			printf("# give, %s block, case %u: %d\n", buddy ? "buddy" : "slab", i, rc);
			assert_int_equal(rc, cases[i].rc);
			assert_true(T.fired[0] || cases[i].a0 == ACT_NONE);
			/* the return says who has it: A exactly when the give failed */
			assert_int_equal(rg_region_owned(T.f->r, p, A, NULL), rc == 0 ? -EPERM : 0);
			settle(p);
			again();
		}
	}
}

static void test_give_with_the_receiver_giving_it_back_and_dying(void **state)
{
	void *p = alloc_a(false);

	(void)state;
	/* A's give landed: B had the block, and gave it back to A (which it
	 * announces, as any give) before it died. A's give is done (0); the
	 * block is A's again through B's give, which A takes */
	plan(RG_STEP_GIVE_SWAPPED, ACT_B_GIVES_BACK, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_give(T.f->r, p, A, B), 0);
	assert_int_equal(T.other_rc, 0);
	assert_int_equal(rg_region_owned(T.f->r, p, A, NULL), 0);
	assert_int_equal(free_as(p, A), 0);
	assert_region_all_free(T.f->r);
}

static void test_open_with_the_reader_dying_at_each_step(void **state)
{
	static const struct {
		enum rg_handoff_step s;
		int rc, holders;
	} cases[] = {
		{ RG_STEP_OPEN_TAKEN, -ESRCH, 0 },
		{ RG_STEP_OPEN_WRITTEN, -ESRCH, 0 },
		{ RG_STEP_OPEN_LINKED, RG_SHARE_OPENED, 1 }, /* B's entry dropped by the daemon */
	};

	(void)state;
	for (int buddy = 0; buddy < 2; buddy++) {
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			void *p = alloc_a(buddy);
			int rc;

			plan(cases[i].s, ACT_DIE_B, RG_STEP_COUNT, ACT_NONE);
			rc = rg_region_share(T.f->r, p, A, B);
			assert_int_equal(rc, cases[i].rc);
			assert_true(T.fired[0]);
			assert_int_equal(rg_region_holders(T.f->r, p), cases[i].holders);
			assert_int_equal(entries_of(p, B), 0);
			assert_int_equal(rg_region_owned(T.f->r, p, A, NULL), rc == -ESRCH ? 0 : -EPERM);
			settle(p);
			again();
		}
	}
}

static void test_share_on_with_the_reader_dying_at_each_step(void **state)
{
	static const enum rg_handoff_step steps[] = { RG_STEP_SHARE_CHECKED, RG_STEP_SHARE_ADDED };

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		void *p = alloc_a(i);

		assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
		plan(steps[i], ACT_DIE_C, RG_STEP_COUNT, ACT_NONE);
		assert_int_equal(rg_region_share(T.f->r, p, A, C), -ESRCH);
		assert_true(T.fired[0]);
		assert_int_equal(rg_region_holders(T.f->r, p), 2);
		assert_int_equal(entries_of(p, C), 0);
		settle(p);
		again();
	}
}

static void test_two_holders_adding_one_reader_at_once(void **state)
{
	(void)state;
	for (int buddy = 0; buddy < 2; buddy++) {
		void *p = alloc_a(buddy);
		int rc;

		assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
		/* both looked and found no entry of C; B adds its entry first */
		plan(RG_STEP_SHARE_CHECKED, ACT_SHARE_B_C, RG_STEP_COUNT, ACT_NONE);
		rc = rg_region_share(T.f->r, p, A, C);
		assert_true(T.fired[0]);
		assert_int_equal(T.other_rc, 0);
		assert_int_equal(rc, -EAGAIN);
		assert_int_equal(entries_of(p, C), 1);
		assert_int_equal(rg_region_holders(T.f->r, p), 3);
		/* A calls again: C holds it */
		plan(RG_STEP_COUNT, ACT_NONE, RG_STEP_COUNT, ACT_NONE);
		assert_int_equal(rg_region_share(T.f->r, p, A, C), -EALREADY);
		/* C's one release lets go of it */
		assert_int_equal(rg_region_release(T.f->r, p, C), 0);
		assert_int_equal(entries_of(p, C), 0);
		assert_int_equal(rg_region_release(T.f->r, p, B), 0);
		assert_int_equal(rg_region_release(T.f->r, p, A), RG_SHARE_CLOSED);
		assert_int_equal(free_as(p, A), 0);
		assert_region_all_free(T.f->r);
		again();
	}
}

static void test_a_release_never_takes_an_entry_being_added(void **state)
{
	void *p = alloc_a(false);

	(void)state;
	assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_share(T.f->r, p, A, Q), 0); /* entries: A, B, Q */
	/* B looks and finds no C; A adds C after the three (and tells C); Q
	 * lets go, so B's tentative entry lands before A's; C's release (for
	 * A's add) must take A's confirmed entry, not B's tentative one, which
	 * B then confirms: C, told twice, holds twice */
	plan(RG_STEP_SHARE_CHECKED, ACT_A_SHARES_C, RG_STEP_SHARE_ADDED, ACT_C_RELEASES);
	assert_int_equal(rg_region_share(T.f->r, p, B, C), 0);
	assert_true(T.fired[0] && T.fired[1]);
	assert_int_equal(T.other_rc, 0);
	assert_int_equal(entries_of(p, C), 1);
	assert_int_equal(rg_region_release(T.f->r, p, C), 0); /* for B's add */
	assert_int_equal(entries_of(p, C), 0);
	let_go(p, 2, A, B);
}

static void test_an_add_backing_out_makes_no_false_ealready(void **state)
{
	void *p = alloc_a(true);

	(void)state;
	assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
	/* B adds C; with its entry in, another thread of B lets go of B's
	 * hold, and A shares C: C holds nothing yet, so A must not be told
	 * -EALREADY; B then backs out (its own hold is gone) */
	plan(RG_STEP_SHARE_ADDED, ACT_B_LETS_GO_A_SHARES_C, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_share(T.f->r, p, B, C), -EPERM);
	assert_true(T.fired[0]);
	assert_int_equal(T.other_rc, -EAGAIN);
	assert_int_equal(entries_of(p, C), 0);
	assert_int_equal(rg_region_holders(T.f->r, p), 1);
	plan(RG_STEP_COUNT, ACT_NONE, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_share(T.f->r, p, A, C), 0); /* again: now it lands */
	let_go(p, 2, C, A);
}

static void test_an_adder_killed_with_its_entry_tentative(void **state)
{
	void *p = alloc_a(false);
	pid_t pid;
	int st;

	(void)state;
	assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
	/* B adds C and is killed with C's entry tentative */
	plan(RG_STEP_SHARE_ADDED, ACT_EXIT, RG_STEP_COUNT, ACT_NONE);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)rg_region_share(T.f->r, p, B, C);
		_exit(3); /* the step was not reached */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	plan(RG_STEP_COUNT, ACT_NONE, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_holders(T.f->r, p), 3); /* A, B, C tentative */
	daemon_unrecord(B);
	daemon_reclaim(B);
	/* the tentative entry went with its adder: C can be added, and holds
	 * the block only when told */
	assert_int_equal(rg_region_holders(T.f->r, p), 1);
	assert_int_equal(rg_region_share(T.f->r, p, A, C), 0);
	let_go(p, 2, C, A);
}

/* Two threads of B: the first adds C and stops before its confirm; C dies,
 * its slot goes to C2, and the second adds C2. Its tentative entry is equal
 * to the first's (same slots, same record generation): the first's confirm
 * must not take it for its own, and the second must get C2 added. */
#define C2 rg_owner(3, 6)
/* Threads stopped at named steps: each stop is (role, step), reached once. */
static _Thread_local int Role;
struct stop {
	int role;
	enum rg_handoff_step step;
	_Atomic int arrived, go;
};
static struct stop Stops[4];
static int Nstops;

static void stop_hook(enum rg_handoff_step step)
{
	for (int i = 0; i < Nstops; i++) {
		if (Stops[i].role != Role || Stops[i].step != step || atomic_load(&Stops[i].arrived))
			continue;
		atomic_store(&Stops[i].arrived, 1);
		while (!atomic_load(&Stops[i].go))
			sched_yield();
		return;
	}
}

static int stop_at(int role, enum rg_handoff_step step)
{
	Stops[Nstops] = (struct stop){ .role = role, .step = step };
	return Nstops++;
}

static void arrived(int k)
{
	while (!atomic_load(&Stops[k].arrived))
		sched_yield();
}

static _Atomic int Rc[4]; /* each role's return */

static void go(int k)
{
	atomic_store(&Stops[k].go, 1);
}

/* Start a thread as @role running @fn, with the stop hook on. */
static pthread_t start(int role, void *(*fn)(void *))
{
	pthread_t t;

	rg_handoff_test_hook = stop_hook;
	assert_int_equal(pthread_create(&t, NULL, fn, (void *)(intptr_t)role), 0);
	return t;
}

static void *b_adds(void *arg)
{
	Role = (int)(intptr_t)arg;
	atomic_store(&Rc[Role], rg_region_share(T.f->r, T.block, B, Role == 1 ? C : C2));
	return NULL;
}

static void test_an_add_to_a_slots_new_client_is_not_confirmed_by_another(void **state)
{
	pthread_t t1, t2;
	int k1, k2;

	(void)state;
	alloc_a(false);
	assert_int_equal(rg_region_share(T.f->r, T.block, A, B), RG_SHARE_OPENED);
	Nstops = 0;
	k1 = stop_at(1, RG_STEP_SHARE_CONFIRMING);
	k2 = stop_at(2, RG_STEP_SHARE_ADDED);
	t1 = start(1, b_adds);
	arrived(k1);
	daemon_unrecord(C); /* C dies; its slot goes to C2 */
	daemon_reclaim(C);
	assert_int_equal(fixture_record(T.f->r, C2), 0);
	T.owners[slot_of(C2)] = C2;
	t2 = start(2, b_adds);
	arrived(k2);
	go(k1);
	assert_int_equal(pthread_join(t1, NULL), 0);
	go(k2);
	assert_int_equal(pthread_join(t2, NULL), 0);
	rg_handoff_test_hook = NULL;
	assert_int_equal(atomic_load(&Rc[1]), -ESRCH); /* C left */
	assert_int_equal(atomic_load(&Rc[2]), 0);      /* C2 holds it, once */
	assert_int_equal(entries_of(T.block, C), 0);
	assert_int_equal(entries_of(T.block, C2), 1);
	assert_int_equal(rg_region_holders(T.f->r, T.block), 3);
	let_go(T.block, 3, C2, A, B);
}

/* A adds C and passes its checks; C dies; the daemon's drop reads A's
 * tentative entry, and before it marks it, A confirms it: the drop must
 * then take the confirmed entry of the dead reader out. */
static void *a_adds_c(void *arg)
{
	Role = (int)(intptr_t)arg;
	atomic_store(&Rc[Role], rg_region_share(T.f->r, T.block, A, C));
	return NULL;
}

static void *c_dies(void *arg)
{
	Role = (int)(intptr_t)arg;
	daemon_unrecord(C);
	daemon_reclaim(C);
	return NULL;
}

static void test_a_confirm_between_the_drops_load_and_mark_is_dropped(void **state)
{
	pthread_t a, d;
	int ka, kd;

	(void)state;
	alloc_a(true);
	assert_int_equal(rg_region_share(T.f->r, T.block, A, B), RG_SHARE_OPENED);
	Nstops = 0;
	ka = stop_at(1, RG_STEP_SHARE_CONFIRMING);
	kd = stop_at(3, RG_STEP_DROP_MARKING);
	a = start(1, a_adds_c);
	arrived(ka);
	d = start(3, c_dies);
	arrived(kd); /* C's record cleared, its entries being dropped */
	go(ka);
	assert_int_equal(pthread_join(a, NULL), 0);
	go(kd);
	assert_int_equal(pthread_join(d, NULL), 0);
	rg_handoff_test_hook = NULL;
	assert_int_equal(atomic_load(&Rc[1]), 0); /* C was here at A's last check */
	assert_int_equal(entries_of(T.block, C), 0);
	assert_int_equal(rg_region_holders(T.f->r, T.block), 2);
	let_go(T.block, 2, B, A);
}

static void test_a_close_whose_scan_an_add_overtook_lets_the_record_be(void **state)
{
	void *p = alloc_a(false);

	(void)state;
	assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_share(T.f->r, p, A, C), 0);
	assert_int_equal(rg_region_release(T.f->r, p, A), 0); /* entries: -, B, C */
	/* B lets go; its close reads entry 0, empty; then C adds Q there (Q is
	 * told) and lets go of its own, which B's scan reads next: B must not
	 * close the record under Q */
	plan(RG_STEP_CLOSE_SCANNING, ACT_C_ADDS_Q_LETS_GO, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_release(T.f->r, p, B), 0);
	assert_true(T.fired[0]);
	assert_int_equal(T.other_rc, 0);
	assert_int_equal(entries_of(p, Q), 1);
	assert_int_equal(rg_region_holders(T.f->r, p), 1);
	plan(RG_STEP_COUNT, ACT_NONE, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_share(T.f->r, p, Q, C), 0); /* LIVE again: Q can share it on */
	let_go(p, 2, C, Q);
}

static void *b_releases(void *arg)
{
	Role = (int)(intptr_t)arg;
	atomic_store(&Rc[Role], rg_region_release(T.f->r, T.block, B));
	return NULL;
}

static void *c_adds_q(void *arg)
{
	Role = (int)(intptr_t)arg;
	atomic_store(&Rc[Role], rg_region_share(T.f->r, T.block, C, Q));
	return NULL;
}

static void test_two_closers_one_going_back_to_live(void **state)
{
	pthread_t x, y;
	int kx1, kx2, ky1, ky2, closed = 0;

	(void)state;
	alloc_a(false);
	assert_int_equal(rg_region_share(T.f->r, T.block, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_share(T.f->r, T.block, A, C), 0);
	assert_int_equal(rg_region_release(T.f->r, T.block, A), 0); /* entries: -, B, C */
	Nstops = 0;
	kx1 = stop_at(1, RG_STEP_CLOSE_SCANNING);
	kx2 = stop_at(1, RG_STEP_CLOSE_REVERTING);
	ky1 = stop_at(2, RG_STEP_SHARE_ADDED);
	ky2 = stop_at(2, RG_STEP_CLOSE_CLOSING);
	/* B's release reads entry 0, empty; C adds Q there, tentative; C lets
	 * go of its own; B's close goes CLOSING and sees Q's entry; C's add
	 * sees CLOSING and backs out, and its close finds the header CLOSING;
	 * B goes back to LIVE; then C's close goes on. Someone must close. */
	x = start(1, b_releases);
	arrived(kx1);
	y = start(2, c_adds_q);
	arrived(ky1);
	assert_int_equal(rg_region_release(T.f->r, T.block, C), 0);
	go(kx1);
	arrived(kx2);
	go(ky1);
	arrived(ky2);
	go(kx2);
	assert_int_equal(pthread_join(x, NULL), 0);
	go(ky2);
	assert_int_equal(pthread_join(y, NULL), 0);
	rg_handoff_test_hook = NULL;
	/* exactly one of them closed it, and frees it */
	if (atomic_load(&Rc[1]) == RG_SHARE_CLOSED)
		closed++, assert_int_equal(free_as(T.block, B), 0);
	if (atomic_load(&Rc[2]) == RG_SHARE_CLOSED)
		closed++, assert_int_equal(free_as(T.block, C), 0);
	printf("# B's release %d, C's add %d\n", atomic_load(&Rc[1]), atomic_load(&Rc[2]));
	assert_int_equal(closed, 1);
	assert_region_all_free(T.f->r);
}

static void test_a_closer_killed_in_closing_with_holders_left(void **state)
{
	struct rg_share *s = NULL;
	uint64_t h;

	(void)state;
	alloc_a(true);
	assert_int_equal(rg_region_share(T.f->r, T.block, A, B), RG_SHARE_OPENED);
	for (uint32_t k = 0; k < (T.f->r->nslots + 1) * RG_SHARE_RECS; k++)
		if ((atomic_load(&T.f->r->shares[k].hdr) & 0xff) == 2)
			s = &T.f->r->shares[k];
	assert_non_null(s);
	/* a closer that saw a holder only after its CLOSING, killed there */
	h = atomic_load(&s->hdr);
	atomic_store(&s->hdr, ((h & ~(uint64_t)0xff) + (1ull << 40)) | 3);
	/* an add finds it CLOSING, backs out, and its close, seeing holders,
	 * makes it LIVE again: the next add lands */
	assert_int_equal(rg_region_share(T.f->r, T.block, A, C), -EAGAIN);
	assert_int_equal(rg_region_share(T.f->r, T.block, A, C), 0);
	let_go(T.block, 3, C, B, A);
}

static void test_release_with_the_opener_dying_between_drop_and_close(void **state)
{
	void *p = alloc_a(false);

	(void)state;
	assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
	/* B drops its entry; before it looks at the record, A dies: the
	 * daemon's drop of A empties the record, closes it and frees the block */
	plan(RG_STEP_RELEASE_DROPPED, ACT_DIE_A, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_release(T.f->r, p, B), 0);
	assert_true(T.fired[0]);
	assert_region_all_free(T.f->r);
}

static void test_the_orphan_pass_between_a_closers_two_steps(void **state)
{
	void *p = alloc_a(true);

	(void)state;
	assert_int_equal(rg_region_share(T.f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_release(T.f->r, p, A), 0);
	/* B's last release freed the record; before it takes the block back,
	 * the orphan pass sees a block naming a free record and frees it: B's
	 * block CAS then fails, and its release says someone else finished */
	plan(RG_STEP_CLOSE_FREED, ACT_ORPHANS, RG_STEP_COUNT, ACT_NONE);
	assert_int_equal(rg_region_release(T.f->r, p, B), 0);
	assert_true(T.fired[0]);
	assert_region_all_free(T.f->r);
}

static void test_stray_share_ids_are_freed_one_block_each(void **state)
{
	enum { K = 40 };
	_Atomic uint64_t *word[K];
	void *p[K];
	uint64_t bytes = 0, want = 0;

	(void)state;
	/* a stray write stamps share ids of records nobody set up on the state
	 * words of K allocated blocks: slab blocks of two classes, buddy heads */
	for (int i = 0; i < K; i++) {
		uint64_t off, w;
		uint32_t c = 0;
		size_t sz;

		if (i % 4 == 3)
			assert_int_equal(rg_buddy_alloc(T.f->r, 100, A, 0, &p[i]), 0);
		else
			assert_int_equal(rg_slab_alloc(T.f->r, (uint32_t)(i % 2), A, 0, &p[i]), 0);
		assert_int_equal(rg_region_owned(T.f->r, p[i], A, &sz), 0);
		want += sz;
		off = (uint64_t)((char *)p[i] - (char *)T.f->mem);
		if (i % 4 == 3) {
			word[i] = &T.f->r->bstate[(uint64_t)((char *)p[i] - T.f->r->bdata) >> T.f->r->min_order];
		} else {
			uint64_t idx;

			assert_int_equal(rg_locate(T.f->r, off, &c, &idx), 0);
			word[i] = &T.f->r->cls[c].state[idx];
		}
		w = atomic_load(word[i]);
		atomic_store(word[i], RG_WORD(RG_BLK_ALLOC, RG_ORD(w), RG_SHARE_BIT | (uint64_t)(i % 16) << 32 |
										(uint64_t)(1 + i % 3) << 16));
	}
	/* each is freed by itself, once, and nothing else moves */
	assert_int_equal(rg_region_reclaim_orphans(T.f->r, T.owners, &bytes), K);
	assert_int_equal(bytes, want);
	assert_region_all_free(T.f->r);
}

static void test_a_stray_share_id_inside_a_buddy_block_frees_nothing(void **state)
{
	struct rg_region_stats before, after;
	_Atomic uint64_t *tail;
	uint64_t saved;
	void *p;

	(void)state;
	/* a 1 KiB block of A's, and a stray share id of order 7 on the word of
	 * its third 64 B unit: aligned as a 128 B head would be, but inside */
	assert_int_equal(rg_buddy_alloc(T.f->r, 1024, A, 0, &p), 0);
	tail = &T.f->r->bstate[((uint64_t)((char *)p - T.f->r->bdata) >> T.f->r->min_order) + 2];
	saved = atomic_load(tail);
	atomic_store(tail, RG_WORD(RG_BLK_ALLOC, 7, RG_SHARE_BIT | 1ull << 16));
	rg_region_stats(T.f->r, &before);
	assert_int_equal(rg_region_reclaim_orphans(T.f->r, T.owners, NULL), 0);
	rg_region_stats(T.f->r, &after);
	assert_int_equal(after.buddy_free, before.buddy_free); /* nothing inside A's block was listed */
	assert_int_equal(rg_region_owned(T.f->r, p, A, NULL), 0);
	atomic_store(tail, saved); /* the stray write undone, as the checker would ask */
	assert_int_equal(free_as(p, A), 0);
	assert_region_all_free(T.f->r);
}

/* --- a reader leaving while a block is opened to it, in two threads --- */

struct race {
	_Atomic unsigned long go, done; /* the round started, and finished by the daemon side */
	_Atomic uint64_t reader;        /* this round's reader id */
	_Atomic int stop;
};

/* The daemon: clears the reader's record and reclaims it, each round. The
 * opener starts after a spin that grows after each open that beat the
 * clear and shrinks after each that did not, so that the two keep landing
 * on top of each other. */
static void *daemon_side(void *arg)
{
	struct race *x = arg;

	for (unsigned long round = 1;; round++) {
		uint64_t b;

		for (unsigned n = 1; atomic_load(&x->go) != round; n++) {
			if (atomic_load(&x->stop))
				return NULL;
			if (!(n & 255))
				sched_yield(); /* the other thread may need this CPU */
		}
		b = atomic_load(&x->reader);
		assert_int_equal(fixture_unrecord(T.f->r, b), 0);
		assert_true(rg_region_reclaim(T.f->r, b, NULL) >= 0);
		atomic_store(&x->done, round);
	}
}

static void test_a_reader_leaving_while_opened_to_it(void **state)
{
	struct race x = { 0 };
	struct timespec t0, t1;
	unsigned long rounds = 0, opened = 0, leaks = 0;
	unsigned delay = 0;
	pthread_t t;

	(void)state;
	rg_handoff_test_hook = NULL;
	assert_int_equal(pthread_create(&t, NULL, daemon_side, &x), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* 300000 rounds, or as many as 4 s allow (valgrind, qemu, TSan) */
	for (uint32_t gen = 10; rounds < 300000; gen++) {
		uint64_t b = rg_owner(2, gen);
		void *p;
		int rc;

		if (!(rounds & 1023)) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (t1.tv_sec - t0.tv_sec >= 4)
				break;
		}
		assert_int_equal(fixture_record(T.f->r, b), 0);
		assert_int_equal(rg_slab_alloc(T.f->r, 1, A, 0, &p), 0);
		atomic_store(&x.reader, b);
		atomic_store(&x.go, ++rounds);
		for (volatile unsigned spin = delay + (unsigned)(rounds * 7919 % 8); spin; spin--)
			;
		rc = rg_region_share(T.f->r, p, A, b);
		for (unsigned n = 1; atomic_load(&x.done) != rounds; n++)
			if (!(n & 255))
				sched_yield();
		delay = rc == RG_SHARE_OPENED ? delay + 1 : delay ? delay - 1 : 0; /* stay where they cross */
		if (rc == RG_SHARE_OPENED) {
			opened++;
			if (entries_of(p, b)) { /* a dead reader's hold that nobody drops */
				leaks++;
				assert_true(rg_region_reclaim(T.f->r, b, NULL) >= 0); /* undo it, count on */
			}
			assert_int_equal(rg_region_release(T.f->r, p, A), RG_SHARE_CLOSED);
		} else {
			assert_int_equal(rc, -ESRCH);
		}
		assert_int_equal(free_as(p, A), 0);
	}
	atomic_store(&x.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	printf("# %lu rounds, %lu opened before the reader left, %lu dead readers' holds left\n", rounds, opened,
	       leaks);
	assert_int_equal(leaks, 0);
	assert_region_all_free(T.f->r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_give_with_the_receiver_dying_at_each_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_give_with_the_receiver_giving_it_back_and_dying, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_with_the_reader_dying_at_each_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_on_with_the_reader_dying_at_each_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_holders_adding_one_reader_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_release_never_takes_an_entry_being_added, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_add_backing_out_makes_no_false_ealready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_adder_killed_with_its_entry_tentative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_add_to_a_slots_new_client_is_not_confirmed_by_another, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_confirm_between_the_drops_load_and_mark_is_dropped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_close_whose_scan_an_add_overtook_lets_the_record_be, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_closers_one_going_back_to_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_closer_killed_in_closing_with_holders_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_with_the_opener_dying_between_drop_and_close, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_orphan_pass_between_a_closers_two_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray_share_ids_are_freed_one_block_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_stray_share_id_inside_a_buddy_block_frees_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_reader_leaving_while_opened_to_it, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
