/* SPDX-License-Identifier: MIT */
/*
 * test_arena_mp.c - many client processes on one buddy area in arenas
 * (lib/core/arena.c), handing blocks to each other, with one of them
 * SIGKILLed at a random instant of most bursts.
 *
 * Each child is a client of its own slot: it allocates blocks of random
 * orders, frees some, and gives others to a random other client through a
 * box in shared memory (take the box entry, rg_region_give(), post the
 * offset); it frees what it finds in its own boxes. The parent plays the
 * daemon: it starts a burst, kills a random child at a random moment in
 * it, clears that slot's record and reclaims it while the others go on,
 * and at the end of the burst (every live child idle) takes back blocks
 * handed to the dead (rg_region_reclaim_orphans()), runs the arena pass
 * and the checker, and starts a new child in the freed slot. At the end
 * every child stops; the area must be all free arenas again, to the byte.
 */
#include <errno.h>
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

#define NCH 3         /* children, slots 1..NCH */
#define BURSTS 400 /* argv[1] may ask for another count */
#define OPS 3000      /* per child per burst */
#define BOX 8
#define AREA (256u * 1024)

struct ctl {
	_Atomic uint64_t box[NCH + 1][BOX]; /* offsets given to slot s; 1: being filled */
	_Atomic uint32_t gen[NCH + 1];
	_Atomic uint32_t go;              /* the burst to run */
	_Atomic uint32_t done[NCH + 1];   /* the last burst each child finished */
	_Atomic uint32_t quit;
	_Atomic uint64_t errors;
	_Atomic uint64_t ops;
};

static unsigned bursts = BURSTS;

static void child(struct fixture_region *f, struct ctl *c, uint32_t slot)
{
	struct rg_region *r;
	uint64_t me = rg_owner(slot, atomic_load(&c->gen[slot])), seed = (uint64_t)getpid() * (uint64_t)0x9e3779b97f4a7c15ull;
	void *held[64] = { 0 };

	if (rg_region_attach(f->mem, f->size, &r) != 0 || rg_region_arena_prepare(r, me) != 0)
		_exit(3);
	for (uint32_t burst = atomic_load(&c->done[slot]) + 1;; burst++) {
		while (atomic_load(&c->go) < burst && !atomic_load(&c->quit))
			sched_yield();
		if (atomic_load(&c->quit))
			break;
		for (int n = 0; n < OPS; n++) {
			unsigned k;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			k = (unsigned)(seed >> 58);
			if (!held[k]) {
				if (rg_buddy_alloc(r, (size_t)64 << (seed >> 40) % 7, me, 0, &held[k]) != 0)
					held[k] = NULL;
			} else if (seed >> 32 & 1) {
				if (rg_buddy_free(r, held[k], me) != 0)
					atomic_fetch_add(&c->errors, 1);
				held[k] = NULL;
			} else {
				uint32_t to = 1 + (uint32_t)(seed >> 20) % NCH, b = (uint32_t)(seed >> 24) % BOX;
				uint64_t zero = 0, off = (uint64_t)((char *)held[k] - r->base);

				if (to != slot && atomic_compare_exchange_strong(&c->box[to][b], &zero, 1)) {
					if (rg_region_give(r, held[k], me, rg_owner(to, atomic_load(&c->gen[to]))) == 0) {
						atomic_store(&c->box[to][b], off);
						held[k] = NULL;
					} else {
						atomic_store(&c->box[to][b], 0); /* its receiver left: still ours */
					}
				}
			}
			for (uint32_t b = 0; b < BOX; b++) {
				uint64_t off = atomic_load(&c->box[slot][b]);

				if (off > 1 && atomic_compare_exchange_strong(&c->box[slot][b], &off, 0) &&
				    rg_buddy_free(r, r->base + off, me) != 0)
					atomic_fetch_add(&c->errors, 1);
			}
		}
		atomic_fetch_add(&c->ops, OPS);
		atomic_store(&c->done[slot], burst);
	}
	for (unsigned k = 0; k < 64; k++)
		if (held[k] && rg_buddy_free(r, held[k], me) != 0)
			atomic_fetch_add(&c->errors, 1);
	_exit(0);
}

static pid_t start(struct fixture_region *f, struct ctl *c, uint32_t slot)
{
	struct rg_slot_record rec = { .owner = rg_owner(slot, atomic_load(&c->gen[slot])) };
	pid_t pid;

	assert_int_equal(rg_region_slot_set(f->r, slot, &rec), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(f, c, slot);
	return pid;
}

/* A child that died on its own or stopped making progress fails the test
 * instead of hanging it: 120 s is far above a burst even under valgrind. */
static void wait_done(struct ctl *c, pid_t *pid, uint32_t s, uint32_t burst)
{
	struct timespec t0, t;
	int ws = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (pid[s] > 0 && atomic_load(&c->done[s]) < burst) {
		if (waitpid(pid[s], &ws, WNOHANG) == pid[s]) {
			pid[s] = 0;
			fail_msg("burst %u: child of slot %u ended by itself (status 0x%x)", burst, s, ws);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 120) {
			kill(pid[s], SIGKILL);
			fail_msg("burst %u: child of slot %u made no progress for 120 s (done %u)", burst, s,
				 atomic_load(&c->done[s]));
		}
		sched_yield();
	}
}

static void owners_now(const struct ctl *c, const pid_t *pid, uint64_t *owners)
{
	memset(owners, 0, sizeof(uint64_t) * (NCH + 1));
	for (uint32_t s = 1; s <= NCH; s++)
		if (pid[s] > 0)
			owners[s] = rg_owner(s, atomic_load(&c->gen[s]));
}

static void test_killed_clients_hand_blocks_around(void **state)
{
	struct rg_pool_desc d;
	struct fixture_region *f;
	struct ctl *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid[NCH + 1] = { 0 };
	uint64_t owners[NCH + 1], bytes = 0, seed = 42, kills = 0, taken = 0;
	struct rg_region_stats st;

	(void)state;
	assert_true(c != MAP_FAILED);
	memset(&d, 0, sizeof(d));
	d.nslots = NCH;
	d.buddy = (struct rg_buddy_desc){ .size = AREA, .min_order = 6, .max_order = 12, .arena_order = 13 };
	f = fixture_region_new(&d);
	assert_non_null(f);
	for (uint32_t s = 1; s <= NCH; s++)
		pid[s] = start(f, c, s);
	for (uint32_t burst = 1; burst <= bursts; burst++) {
		uint32_t victim = 0;
		char msg[256];

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		atomic_store(&c->go, burst);
		if (burst % 4) { /* most bursts: one child dies in the middle of it */
			struct rg_slot_record none = { 0 };

			victim = 1 + (uint32_t)(seed >> 33) % NCH;
			usleep((useconds_t)(seed >> 20) % 3000);
			kill(pid[victim], SIGKILL);
			waitpid(pid[victim], NULL, 0);
			pid[victim] = 0;
			kills++;
			/* as the daemon: the record first, then the reclaim, others still running */
			assert_int_equal(rg_region_slot_set(f->r, victim, &none), 0);
			taken += (uint64_t)rg_region_reclaim(f->r, rg_owner(victim, atomic_load(&c->gen[victim])), &bytes);
		}
		for (uint32_t s = 1; s <= NCH; s++)
			wait_done(c, pid, s, burst);
		/* every live child idle: what was handed to the dead, then the check */
		owners_now(c, pid, owners);
		assert_true(rg_region_reclaim_orphans(f->r, owners, &bytes) >= 0);
		rg_region_arena_pass(f->r);
		if (rg_region_check(f->r, msg, sizeof(msg)) != 0)
			fail_msg("burst %u: %s", burst, msg);
		if (victim) {
			for (uint32_t b = 0; b < BOX; b++)
				atomic_store(&c->box[victim][b], 0); /* given to the dead: reclaimed */
			atomic_fetch_add(&c->gen[victim], 1);
			atomic_store(&c->done[victim], burst);
			pid[victim] = start(f, c, victim);
		}
	}
	atomic_store(&c->quit, 1);
	for (uint32_t s = 1; s <= NCH; s++) {
		int ws = 0;

		waitpid(pid[s], &ws, 0);
		assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	/* boxes still full: blocks their receivers never took; they are gone now */
	for (uint32_t s = 1; s <= NCH; s++)
		taken += (uint64_t)rg_region_reclaim(f->r, rg_owner(s, atomic_load(&c->gen[s])), &bytes);
	rg_region_arena_pass(f->r);
	assert_region_ok(f->r);
	rg_region_stats(f->r, &st);
	print_message("# %u bursts, %llu ops, %llu kills, %llu blocks taken back from the dead, %llu errors\n", bursts,
		      (unsigned long long)atomic_load(&c->ops), (unsigned long long)kills, (unsigned long long)taken,
		      (unsigned long long)atomic_load(&c->errors));
	assert_int_equal(atomic_load(&c->errors), 0);
	assert_int_equal(st.buddy_free, AREA);
	for (uint64_t a = 0; a < f->r->narenas; a++)
		assert_int_equal(atomic_load(&f->r->arenas[a].lease), RG_LEASE(RG_LEASE_FREE, 0));
	fixture_region_free(f);
	munmap(c, sizeof(*c));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_killed_clients_hand_blocks_around),
	};

	if (argc > 1 && atoi(argv[1]) > 0)
		bursts = (unsigned)atoi(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
