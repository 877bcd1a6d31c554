/* SPDX-License-Identifier: MIT */
/*
 * test_kill_arena.c - a client killed at any instruction of a buddy call in
 * arena mode loses no byte (lib/core/arena.c; the daemon's side,
 * lib/core/arena_admin.c).
 *
 * - every instruction: a child, client A, runs one call under ptrace: an
 *   allocation that leases a fresh arena (its first buddy call), one that
 *   splits inside an arena it holds, a free that merges up to a whole arena
 *   and gives it back (it keeps one whole arena already), a free of a block
 *   that B gave it (REMOTE: the CAS, then the bits), an allocation that
 *   first takes back blocks that C freed REMOTE (the drain), with C still
 *   holding another block of A's arena, and a give of a block of A's arena
 *   to B, which leaves the arena ORPHAN when A dies after it. The parent
 *   runs it n instructions and SIGKILLs it, for n = 0, 1, 2, ... until the
 *   call ends on its own (single steps, or a breakpoint on the call's
 *   recorded path and a few steps: see struct path). A's private lists live
 *   in the child only and die with it. After each kill the parent does what
 *   the daemon does: it clears A's slot record and reclaims A; B or C, by
 *   turns, finishes (frees what it holds) and leaves, leaves after A, or
 *   leaves before A is reclaimed; then the arena pass. Every round starts
 *   from a freshly formatted region, so that each n is the same call's n-th
 *   instruction. Then the checker passes, every byte of the area is free
 *   and every lease word is FREE.
 * - kill storm: the storm workers of the slab tests (stress_worker.h) on a
 *   pool whose buddy area is in arenas; the parent kills one at a random
 *   moment, reclaims it while the others go on, at least 1000 times. At
 *   the end every byte is free and every arena FREE.
 *
 * ptrace does not reach the guest under qemu-user: there the stepping test
 * skips (77) and says so.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "step_probe.h"
#include "arena_int.h"
#include "stress_worker.h"

#define ARENA 4096u
#define NARENA 8u
#define AREA (NARENA * ARENA) /* blocks of 64 B .. 4 KiB */
#define STEP_MAX 10000
#define A rg_owner(1, 5) /* the killed client */
#define B rg_owner(2, 9) /* a live one, the giver of a remote free */
#define C rg_owner(3, 2) /* a live one, the freer of a drain */

struct shm {
	int fd;
	size_t size;
	void *mem;
	struct rg_region *r;
};

static struct shm *shm_new(const struct rg_pool_desc *d)
{
	struct shm *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->mem = fixture_map_shared(d, &s->fd, &s->size);
	assert_non_null(s->mem);
	assert_int_equal(rg_region_attach(s->mem, s->size, &s->r), 0);
	return s;
}

static void shm_free(struct shm *s)
{
	rg_region_detach(s->r);
	munmap(s->mem, s->size);
	close(s->fd);
	free(s);
}

static struct rg_pool_desc step_desc(void)
{
	struct rg_pool_desc d;

	memset(&d, 0, sizeof(d));
	d.nslots = 4;
	d.buddy = (struct rg_buddy_desc){ .size = AREA, .min_order = 6, .max_order = 12, .arena_order = 12 };
	return d;
}

enum op { OP_LEASE, OP_SPLIT, OP_GIVE_BACK, OP_REMOTE, OP_DRAIN, OP_GIVE, OP_N };
static const char *const op_name[OP_N] = {
	"alloc leasing a fresh arena", "alloc splitting in a held arena", "free merging a whole arena, given back",
	"free of a given block (REMOTE)", "alloc taking back REMOTE frees", "give of a block of A's arena"
};

/* The blocks of a round that the parent needs; in a MAP_SHARED page, so
 * that the child can say where its blocks are. */
struct round {
	void *blk;  /* the block A's call frees */
	void *held; /* the block B or C holds when A dies (OP_GIVE: B's if the give landed) */
};

static uint64_t idx_of(const struct rg_region *r, const void *p)
{
	return (uint64_t)((const char *)p - r->bdata) >> r->min_order;
}

/* A's state before its call, made in the child: A's lists are the child's. */
static int child_prepare(struct rg_region *r, enum op op, struct round *rd)
{
	void *x, *y, *q[3];

	if (rg_region_arena_prepare(r, A) != 0)
		return -1;
	switch (op) {
	case OP_SPLIT: /* half the arena held: the 64 B block splits the other half 5 times */
		return rg_buddy_alloc(r, 2048, A, 0, &x);
	case OP_GIVE_BACK: /* one whole free arena kept; the second, where Y is, goes back */
		if (rg_buddy_alloc(r, ARENA, A, 0, &x) || rg_buddy_alloc(r, 64, A, 0, &y) ||
		    rg_buddy_free(r, x, A))
			return -1;
		rd->blk = y;
		return 0;
	case OP_DRAIN:
		/* A keeps 2 KiB; of the rest 64 + 64 + 128 go to C and come back
		 * REMOTE (they merge into 256 B when taken back), 256 B stay C's */
		if (rg_buddy_alloc(r, 2048, A, 0, &x) || rg_buddy_alloc(r, 64, A, 0, &q[0]) ||
		    rg_buddy_alloc(r, 64, A, 0, &q[1]) || rg_buddy_alloc(r, 128, A, 0, &q[2]) ||
		    rg_buddy_alloc(r, 256, A, 0, &y))
			return -1;
		for (int k = 0; k < 3; k++)
			if (rg_region_give(r, q[k], A, C) || rg_buddy_free(r, q[k], C))
				return -1;
		if (rg_region_give(r, y, A, C))
			return -1;
		rd->held = y;
		return 0;
	case OP_GIVE: /* a block of A's arena to B, another A keeps */
		if (rg_buddy_alloc(r, 64, A, 0, &x) || rg_buddy_alloc(r, 128, A, 0, &y))
			return -1;
		rd->held = y;
		return 0;
	default:
		return 0;
	}
}

/* The child: prepare, stop for the tracer, then run @op once. */
static void child_op(struct shm *s, enum op op, struct round *rd)
{
	void *p;

	if (child_prepare(s->r, op, rd) != 0)
		_exit(6);
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
		_exit(5);
	/* not raise(), whose signal-mask dance would be stepped through each time */
	syscall(SYS_tgkill, getpid(), gettid(), SIGSTOP);
	if (op == OP_GIVE_BACK || op == OP_REMOTE)
		(void)rg_buddy_free(s->r, rd->blk, A);
	else if (op == OP_GIVE)
		(void)rg_region_give(s->r, rd->held, A, B);
	else
		(void)rg_buddy_alloc(s->r, 64, A, 0, &p);
	syscall(SYS_exit_group, 0); /* resolved already: _exit() would step through the lazy binder */
	_exit(0);
}

/* Fork a child for @op and wait for its stop before the call. Return: its
 * pid, or -ENOSYS if it cannot be traced. */
static pid_t start_child(struct shm *s, enum op op, struct round *rd)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		child_op(s, op, rd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 6)
		fail_msg("%s: the child's preparation failed", op_name[op]);
	if (!WIFSTOPPED(st)) /* PTRACE_TRACEME refused: no tracing here */
		return -ENOSYS;
	return pid;
}

/* Single-step @pid once. Return: 1 if it is still there, 0 if it exited,
 * -ENOSYS if it cannot be stepped. */
static int step1(pid_t pid)
{
	int st;

	if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0)
		return -ENOSYS;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? 0 : 1;
}

/*
 * The call's path: ip[i] is where the child stands after i instructions,
 * i = 0 .. n - 1 (the n-th instruction ends it), and occ[i] how many of
 * ip[0..i] equal ip[i]. Single-stepping to instruction k costs k stops, so
 * stepping to each k in turn costs n^2 / 2 (minutes here, for a few
 * thousand instructions). With the path, the k-th instruction is reached
 * with a breakpoint at an instruction a little before it, stopped at for
 * the occ-th time, and single steps for the rest; the round checks that it
 * stands at ip[k] then, and every VERIFY_EVERY-th round also reaches k by
 * single steps alone, in a second region, and compares the two regions
 * byte for byte. Where the breakpoint is not written for the machine, every
 * round single-steps (slow, still exact).
 */
struct path {
	uint64_t *ip;
	unsigned *occ;
	unsigned n;
};
#ifndef VERIFY_EVERY /* -DVERIFY_EVERY=1: every round */
#define VERIFY_EVERY 64
#endif

#if defined(__x86_64__)
#include <sys/user.h>

static uint64_t ip_of(pid_t pid)
{
	struct user_regs_struct g;

	assert_int_equal(ptrace(PTRACE_GETREGS, pid, NULL, &g), 0);
	return g.rip;
}

static void set_ip(pid_t pid, uint64_t ip)
{
	struct user_regs_struct g;

	assert_int_equal(ptrace(PTRACE_GETREGS, pid, NULL, &g), 0);
	g.rip = ip;
	assert_int_equal(ptrace(PTRACE_SETREGS, pid, NULL, &g), 0);
}

/* Write @word at @ip of @pid's text (its own copy of the page). */
static void poke(pid_t pid, uint64_t ip, long word)
{
	assert_int_equal(ptrace(PTRACE_POKETEXT, pid, (void *)ip, (void *)word), 0);
}

/* Run @pid, stopped at ip[0], until it has executed instruction @m - 1 and
 * stands at ip[m] (@m > 0): an int3 at ip[m], hit occ[m] times; each hit
 * before the last steps the original instruction and puts the int3 back. */
static void run_to_break(pid_t pid, const struct path *p, unsigned m, enum op op)
{
	uint64_t t = p->ip[m];
	long orig;
	int st;

	errno = 0;
	orig = ptrace(PTRACE_PEEKTEXT, pid, (void *)t, NULL);
	assert_int_equal(errno, 0);
	poke(pid, t, (long)(((uint64_t)orig & ~0xffull) | 0xcc));
	for (unsigned hits = 0;;) {
		assert_int_equal(ptrace(PTRACE_CONT, pid, NULL, NULL), 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || ip_of(pid) != t + 1)
			fail_msg("%s: the path left its recording before instruction %u (status %#x)", op_name[op], m, st);
		poke(pid, t, orig);
		set_ip(pid, t);
		if (++hits == p->occ[m])
			return;
		assert_int_equal(step1(pid), 1);
		poke(pid, t, (long)(((uint64_t)orig & ~0xffull) | 0xcc));
	}
}

/* Record @op's path in a child of @s. Return: instructions, or -ENOSYS. */
static int record_path(struct shm *s, enum op op, struct round *rd, struct path *p)
{
	pid_t pid = start_child(s, op, rd);
	unsigned cap = 1024;
	int rc;

	if (pid < 0)
		return pid;
	p->ip = malloc(cap * sizeof(*p->ip));
	assert_non_null(p->ip);
	for (p->n = 0;; p->n++) {
		if (p->n == cap) {
			cap *= 2;
			p->ip = realloc(p->ip, cap * sizeof(*p->ip));
			assert_non_null(p->ip);
		}
		p->ip[p->n] = ip_of(pid);
		rc = step1(pid);
		if (rc < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return rc;
		}
		if (rc == 0)
			break;
	}
	p->n++; /* ip[0 .. n - 1]: the n-th step ended it */
	p->occ = calloc(p->n, sizeof(*p->occ));
	assert_non_null(p->occ);
	for (unsigned i = 0; i < p->n; i++) /* quadratic in n, but a compare each: milliseconds */
		for (unsigned j = 0; j <= i; j++)
			p->occ[i] += p->ip[j] == p->ip[i];
	return (int)p->n;
}

/* Bring @pid, stopped before the call, to @n instructions executed. */
static int run_to(pid_t pid, const struct path *p, unsigned n, enum op op)
{
	unsigned m = n, best = ~0u;
	int st;

	if (!p->ip) { /* single steps only */
		for (unsigned i = 0; i < n; i++) {
			int rc = step1(pid);

			if (rc <= 0)
				return rc;
		}
		return 1;
	}
	if (n >= p->n) { /* past the path's end: it ends by itself */
		assert_int_equal(ptrace(PTRACE_CONT, pid, NULL, NULL), 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st))
			fail_msg("%s: the child did not end after its path (status %#x)", op_name[op], st);
		return 0;
	}
	/* the anchor: fewest stops, 3 per hit before it and 1 per step after */
	for (unsigned k = n; k > 0 && n - k < 64; k--)
		if (3 * p->occ[k] + (n - k) < best) {
			best = 3 * p->occ[k] + (n - k);
			m = k;
		}
	if (n > 0)
		run_to_break(pid, p, m, op);
	for (unsigned i = m; i < n; i++)
		assert_int_equal(step1(pid), 1);
	if (ip_of(pid) != p->ip[n])
		fail_msg("%s: at %#llx after %u instructions, the path says %#llx", op_name[op],
			 (unsigned long long)ip_of(pid), n, (unsigned long long)p->ip[n]);
	return 1;
}
#else
static int record_path(struct shm *s, enum op op, struct round *rd, struct path *p)
{
	(void)s;
	(void)op;
	(void)rd;
	p->ip = NULL;
	return 0;
}

static int run_to(pid_t pid, const struct path *p, unsigned n, enum op op)
{
	(void)p;
	(void)op;
	for (unsigned i = 0; i < n; i++) {
		int rc = step1(pid);

		if (rc <= 0)
			return rc;
	}
	return 1;
}
#endif

/* Run @op's call in a child, kill it after @n instructions (the path @p,
 * or single steps alone where @p has none). Return: 1 if it was killed
 * mid-call, 0 if the call ended first, -ENOSYS if it cannot be traced. */
static int kill_after(struct shm *s, enum op op, struct round *rd, const struct path *p, unsigned n)
{
	pid_t pid = start_child(s, op, rd);
	int rc, st;

	if (pid < 0)
		return pid;
	rc = run_to(pid, p, n, op);
	if (rc == 0)
		return 0;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return rc < 0 ? rc : WIFEXITED(st) ? 0 : 1;
}

/* Every lease word, and the head words, remote bits and hints of the arenas
 * not FREE: what a failure report needs. */
static void dump(const struct rg_region *r)
{
	for (uint64_t a = 0; a < r->narenas; a++) {
		uint64_t lw = atomic_load(&r->arenas[a].lease), base = a << r->ashift;

		printf("# arena %llu: lease %#llx, remote summary %#llx, first remote word %#llx\n", (unsigned long long)a,
		       (unsigned long long)lw, (unsigned long long)atomic_load(&r->arenas[a].rsum[0]),
		       (unsigned long long)atomic_load(&r->aremote[a * r->anw]));
		if (lw == RG_LEASE(RG_LEASE_FREE, 0))
			continue;
		for (uint64_t i = base; i < base + (1ull << r->ashift); i++) {
			uint64_t w = atomic_load(&r->bstate[i]);

			if (w)
				printf("#   [%llu] %#llx\n", (unsigned long long)i, (unsigned long long)w);
		}
	}
	for (uint32_t k = 1; k <= r->nslots; k++)
		printf("# slot %u: rem0 %#llx rem1[0] %#llx\n", k, (unsigned long long)atomic_load(&r->aslots[k].rem0),
		       (unsigned long long)atomic_load(&r->aslots[k].rem1[0]));
	printf("# free0 %#llx free1[0] %#llx nfree %llu\n", (unsigned long long)atomic_load(&r->actl->free0),
	       (unsigned long long)atomic_load(&r->actl->free1[0]), (unsigned long long)atomic_load(&r->actl->nfree));
}

/* Fail the round: what the region holds, then why. */
static __attribute__((format(printf, 4, 5))) void round_fail(const struct rg_region *r, enum op op, unsigned n,
							     const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dump(r);
	fail_msg("%s, killed after %u instructions: %s", op_name[op], n, why);
}

static uint64_t free_bytes_of(const struct rg_region *r)
{
	struct rg_region_stats st;

	rg_region_stats(r, &st);
	return st.buddy_free;
}

/* The daemon's side of a client's death: its slot record cleared, its
 * blocks and arenas reclaimed (the arena pass with them). Return: blocks. */
static long bury(struct shm *s, uint64_t owner, enum op op, unsigned n)
{
	long k;

	assert_int_equal(fixture_unrecord(s->r, owner), 0);
	k = rg_region_reclaim(s->r, owner, NULL);
	if (k < 0)
		round_fail(s->r, op, n, "the reclaim of slot %u failed: %ld", (unsigned)(owner >> 16 & 0xffff), k);
	return k;
}

/* Every byte free, every arena FREE, the checker content. */
static void assert_round_clean(struct shm *s, enum op op, unsigned n)
{
	struct rg_region_stats st;
	char msg[256];

	if (rg_region_check(s->r, msg, sizeof(msg)) != 0)
		round_fail(s->r, op, n, "checker: %s", msg);
	rg_region_stats(s->r, &st);
	if (st.buddy_free != AREA)
		round_fail(s->r, op, n, "%llu of %u bytes free", (unsigned long long)st.buddy_free, AREA);
	for (uint64_t a = 0; a < s->r->narenas; a++)
		if (atomic_load(&s->r->arenas[a].lease) != RG_LEASE(RG_LEASE_FREE, 0))
			round_fail(s->r, op, n, "arena %llu left with lease %#llx", (unsigned long long)a,
				   (unsigned long long)atomic_load(&s->r->arenas[a].lease));
}

/* Does @other hold @p (ALLOC)? */
static bool holds(const struct rg_region *r, const void *p, uint64_t other)
{
	uint64_t w = atomic_load(&r->bstate[idx_of(r, p)]);

	return RG_ST(w) == RG_BLK_ALLOC && RG_OWNER(w) == other;
}

/* What the kills found, per call. */
struct tally {
	long kills, torn, seen, reclaimed, handed;
};

/* What A's death left, before the daemon: the checker's verdict and the
 * call's own progress (leased, given back, freed REMOTE, taken back). */
static void observe(struct shm *s, enum op op, const struct round *rd, struct tally *t)
{
	const struct rg_region *r = s->r;
	char msg[256];
	uint64_t w;

	t->torn += rg_region_check(r, msg, sizeof(msg)) != 0;
	switch (op) {
	case OP_LEASE:
		for (uint64_t a = 0; a < r->narenas; a++)
			t->seen += atomic_load(&r->arenas[a].lease) == RG_LEASE(RG_LEASE_HELD, A);
		break;
	case OP_SPLIT: /* the new block's head written: ALLOC(A), 2 KiB into A's arena */
		for (uint64_t a = 0; a < r->narenas; a++)
			if (atomic_load(&r->arenas[a].lease) == RG_LEASE(RG_LEASE_HELD, A))
				t->seen += atomic_load(&r->bstate[(a << r->ashift) + 32]) ==
					   RG_WORD(RG_BLK_ALLOC, 6, A);
		break;
	case OP_GIVE_BACK:
		t->seen += atomic_load(&r->arenas[idx_of(r, rd->blk) >> r->ashift].lease) ==
			   RG_LEASE(RG_LEASE_FREE, 0);
		break;
	case OP_REMOTE:
		w = atomic_load(&r->bstate[idx_of(r, rd->blk)]);
		t->seen += RG_ST(w) == RG_BLK_REMOTE;
		break;
	case OP_GIVE:
		t->seen += holds(r, rd->held, B);
		break;
	case OP_DRAIN: /* the first given block (64 B, at 2 KiB) no longer REMOTE: taken back */
		w = atomic_load(&r->bstate[idx_of(r, rd->held) - 4]);
		t->seen += RG_ST(w) != RG_BLK_REMOTE;
		break;
	default:
		break;
	}
}

/* The daemon after A's death, and the other client of the call by turns:
 * it finishes and leaves, leaves after A, or leaves before A is reclaimed. */
static void after_death(struct shm *s, enum op op, const struct round *rd, unsigned n, struct tally *t)
{
	uint64_t other = op == OP_DRAIN ? C : B;
	bool held = rd->held && holds(s->r, rd->held, other);
	long k;

	if (!rd->held) {
		t->reclaimed += bury(s, A, op, n);
		return;
	}
	t->handed += held;
	switch (n % 3) {
	case 0:
		t->reclaimed += bury(s, A, op, n);
		if (held && op == OP_REMOTE) {
			/* B frees its other block: its drain takes the given one back */
			if (rg_buddy_free(s->r, rd->held, B) != 0)
				round_fail(s->r, op, n, "B's free failed");
			if (free_bytes_of(s->r) != AREA)
				round_fail(s->r, op, n, "B's drain left %llu bytes in use",
					   (unsigned long long)(AREA - free_bytes_of(s->r)));
		} else if (held) {
			/* A died with a block of its arena out: the daemon's until it comes back REMOTE */
			uint64_t lw = atomic_load(&s->r->arenas[idx_of(s->r, rd->held) >> s->r->ashift].lease);

			if (lw != RG_LEASE(RG_LEASE_ORPHAN, 0))
				round_fail(s->r, op, n, "A's arena has lease %#llx, not ORPHAN", (unsigned long long)lw);
			if (rg_buddy_free(s->r, rd->held, other) != 0)
				round_fail(s->r, op, n, "the other client's free failed");
		}
		k = bury(s, other, op, n);
		if (k != 0)
			round_fail(s->r, op, n, "%ld blocks left with the other client", k);
		break;
	case 1:
		t->reclaimed += bury(s, A, op, n);
		if (bury(s, other, op, n) != held)
			round_fail(s->r, op, n, "the other client's block not reclaimed once");
		break;
	default:
		if (bury(s, other, op, n) != held)
			round_fail(s->r, op, n, "the other client's block not reclaimed once");
		t->reclaimed += bury(s, A, op, n);
		break;
	}
}

/* B's side of OP_REMOTE, before A's call: two blocks of its arena, one given to A. */
static void parent_prepare(struct shm *s, enum op op, struct round *rd)
{
	void *p, *q;

	if (op != OP_REMOTE)
		return;
	assert_int_equal(rg_buddy_alloc(s->r, 64, B, 0, &p), 0);
	assert_int_equal(rg_buddy_alloc(s->r, 64, B, 0, &q), 0);
	assert_int_equal(rg_region_give(s->r, p, B, A), 0);
	rd->blk = p;
	rd->held = q;
}

/* A buddy call in arena mode, once, in this process: the lazy binder has
 * resolved what a client's first call reaches (pthread_once(), syscall()),
 * and the children do not step through it. */
static void warm_up(void)
{
	struct rg_pool_desc d = step_desc();
	struct shm *s = shm_new(&d);
	void *p;

	assert_int_equal(rg_buddy_alloc(s->r, 64, rg_owner(1, 1), 0, &p), 0);
	assert_int_equal(rg_buddy_free(s->r, p, rg_owner(1, 1)), 0);
	shm_free(s);
}

/* A fresh region for a round of @op: the clients' slot records, B's side. */
static struct shm *round_new(const struct rg_pool_desc *d, enum op op, struct round *rd)
{
	struct shm *s = shm_new(d);

	*rd = (struct round){ NULL, NULL };
	assert_int_equal(fixture_record(s->r, A), 0);
	assert_int_equal(fixture_record(s->r, B), 0);
	assert_int_equal(fixture_record(s->r, C), 0);
	parent_prepare(s, op, rd);
	return s;
}

/* The kill after @n instructions by single steps alone, in a region of its
 * own: it must leave that region as the path's kill left @fast's. */
static void verify_round(const struct rg_pool_desc *d, enum op op, struct round *rd, unsigned n, int rc,
			 const struct shm *fast)
{
	static const struct path none;
	struct shm *s = round_new(d, op, rd);

	if (kill_after(s, op, rd, &none, n) != rc || s->size != fast->size || memcmp(s->mem, fast->mem, s->size))
		fail_msg("%s: killed after %u instructions by the path and by single steps, the regions differ",
			 op_name[op], n);
	shm_free(s);
}

static void test_arena_kill_at_every_instruction_loses_nothing(void **state)
{
	struct rg_pool_desc d = step_desc();
	struct round *rd = mmap(NULL, 2 * sizeof(*rd), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(rd != MAP_FAILED);
	warm_up();
	for (enum op op = 0; op < OP_N; op++) {
		struct tally t = { 0 };
		struct path p = { 0 };
		struct shm *s = round_new(&d, op, &rd[0]);
		unsigned n;

		if (record_path(s, op, &rd[0], &p) < 0)
			fail_msg("ptrace single-stepping failed after the probe succeeded");
		shm_free(s);
		for (n = 0; n < STEP_MAX; n++) {
			int rc;

			s = round_new(&d, op, &rd[0]);
			rc = kill_after(s, op, &rd[0], &p, n);
			if (rc == -ENOSYS)
				fail_msg("ptrace single-stepping failed after the probe succeeded");
			if (p.ip && (n % VERIFY_EVERY == 0 || rc == 0))
				verify_round(&d, op, &rd[1], n, rc, s);
			t.kills += rc;
			observe(s, op, &rd[0], &t);
			after_death(s, op, &rd[0], n, &t);
			rg_region_arena_pass(s->r);
			assert_round_clean(s, op, n);
			shm_free(s);
			if (rc == 0)
				break;
		}
		assert_true(n < STEP_MAX);
		free(p.ip);
		free(p.occ);
		printf("# %s: killed at each of %ld instructions; the checker failed before the reclaim after %ld, "
		       "the call's step was done in %ld; %ld blocks reclaimed from A, %ld held by B or C\n",
		       op_name[op], t.kills, t.torn, t.seen, t.reclaimed, t.handed);
		/* both sides of each call's step were reached (the last round ran to the end) */
		assert_true(t.seen > 0 && t.seen < t.kills + 1);
		if (op == OP_REMOTE || op == OP_DRAIN) /* a REMOTE block without its bits: the daemon sets them */
			assert_true(t.torn > 0);
	}
	munmap(rd, 2 * sizeof(*rd));
}

#define STORM_WORKERS 3
#define STORM_KILLS 1000

static pid_t storm_start(struct shm *s, uint64_t owner, uint64_t seed)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sw_caches c;
		bool cached = seed & 1;

		sw_caches_init(s->r, &c);
		for (;;)
			if (sw_run_cached(s->r, cached ? &c : NULL, owner, seed, 1000, false) != 0)
				_exit(3);
	}
	return pid;
}

/* Workers of stress_worker.h on a pool whose buddy area is in arenas: the
 * parent kills one at a random moment and reclaims it while the others go
 * on, and starts a new worker in the freed slot. */
static void test_arena_kill_storm_loses_nothing(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct shm *s;
	unsigned seed = fixture_seed("arena kill storm");
	uint64_t rnd = seed | 1;
	pid_t pid[STORM_WORKERS + 1];
	uint32_t gen[STORM_WORKERS + 1] = { 0 };
	uint8_t live[STORM_WORKERS + 1] = { 0 };
	long given = 0, held = 0;
	int st;

	(void)state;
	d.nslots = STORM_WORKERS + 1;
	d.cache = 4;
	/* 32 arenas of 16 KiB: the workers ask up to 8 KiB */
	d.buddy = (struct rg_buddy_desc){ .size = 512 * 1024, .min_order = 6, .max_order = 14, .arena_order = 14 };
	s = shm_new(&d);
	for (uint32_t w = 1; w <= STORM_WORKERS; w++) {
		live[w] = 1;
		pid[w] = storm_start(s, rg_owner(w, ++gen[w]), sw_rand(&rnd));
	}
	for (int i = 0; i < STORM_KILLS + STORM_WORKERS; i++) {
		uint32_t w = i < STORM_KILLS ? 1 + (uint32_t)(sw_rand(&rnd) % STORM_WORKERS) : (uint32_t)(i - STORM_KILLS + 1);
		struct timespec ts = { 0, (long)(sw_rand(&rnd) % 300000) };
		long k;

		if (i < STORM_KILLS)
			nanosleep(&ts, NULL);
		kill(pid[w], SIGKILL);
		assert_int_equal(waitpid(pid[w], &st, 0), pid[w]);
		if (!WIFSIGNALED(st))
			fail_msg("worker %u ended by itself (status %#x): it found a block held twice", w, st);
		k = rg_region_reclaim(s->r, rg_owner(w, gen[w]), NULL);
		if (k < 0) {
			dump(s->r);
			fail_msg("kill %d: the reclaim of worker %u failed: %ld", i, w, k);
		}
		held += k;
		live[w] = 0;
		k = rg_region_sweep(s->r, live);
		assert_true(k >= 0);
		given += k;
		if (i < STORM_KILLS) {
			live[w] = 1;
			pid[w] = storm_start(s, rg_owner(w, ++gen[w]), sw_rand(&rnd));
		}
	}
	printf("# arena kill storm: %d kills, %ld blocks reclaimed, %ld given back by sweeps, 0 lost\n", STORM_KILLS,
	       held, given);
#if defined(RG_PUSH_TWO_STEPS)
	rg_region_recount(s->r); /* this build's slab push counts in a second step (as test_kill) */
#endif
	assert_region_all_free(s->r);
	for (uint64_t a = 0; a < s->r->narenas; a++)
		assert_int_equal(atomic_load(&s->r->arenas[a].lease), RG_LEASE(RG_LEASE_FREE, 0));
	shm_free(s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest step[] = {
		cmocka_unit_test(test_arena_kill_at_every_instruction_loses_nothing),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_kill_storm_loses_nothing),
	};

	if (argc > 1 && !strcmp(argv[1], "step")) {
		if (!can_step()) {
			printf("# skip: a child cannot be single-stepped with ptrace here (qemu-user, or ptrace denied)\n");
			return 77;
		}
		return cmocka_run_group_tests_name("arena: kill at every instruction", step, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
