/* SPDX-License-Identifier: MIT */
/*
 * icount_qemu_driver.c - the guest side of the arm64 instruction counter
 * (tests/icount_qemu.py): runs the allocator calls whose instructions are to
 * be counted, under qemu-aarch64 -singlestep -d exec,nochain, which logs the
 * PC of every instruction executed (one instruction per translation block).
 *
 * Before each counted call the driver calls icq_arm(tag, fn): it notes the
 * tag and @fn and calls icq_mark(), a two-instruction function whose PC cuts
 * the log into slices. In its slice, the parser counts from the first
 * instruction of @fn up to and including its return (the PC after the call
 * instruction), callees included: the count of bench/icount.c's ptrace
 * counter. The driver's own instructions are never counted.
 *
 * Output, on stdout, after the calls (nothing is printed in between, so the
 * log holds only the driver's own execution):
 *   mark <hex>              icq_mark's address
 *   text <hex-lo> <hex-hi>  this executable's code
 *   call <tag> <hex-fn>     one line per counted call, in call order
 *   stat <name> <value>     facts of the scenario (e.g. buddy steps)
 *
 * The buddy lock. lib/core/buddy.c takes it without glibc when uncontended, on
 * the robust-list head that get_robust_list reports; qemu-user answers
 * ENOSYS (it cannot keep a guest robust list), and the lock would go through
 * pthread_mutex_lock, a path a Raspberry Pi never takes. So this program
 * answers get_robust_list itself: its syscall() (the allocator, linked in
 * statically, calls it through the executable) reports a head of its own,
 * laid out as glibc's. The fast path then runs as on the Pi, instruction for
 * instruction; nothing here dies holding the lock, so no kernel walks it.
 * "stat fastlock 1" says the buddy lock took it.
 *
 * Scenarios (argv): probes | slab BYTES FILL CALLS SEED | reserve CALLS |
 * buddy BYTES FILL CALLS SEED | arena BYTES MIN-ORDER ARENA-ORDER |
 * arena_scan BYTES MIN-ORDER ARENA-ORDER; FILL in percent. The scenarios
 * are those of tests/test_icount.c (same regions, fills and call mix).
 * Exit: 0, or 1 with a message on stderr.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "region.h"

static void icq_arm(unsigned tag, const void *fn);
#define ICOUNT_ARM(tag, fn) icq_arm(tag, fn)
#define ICOUNT_BUDDY_START(d) \
	printf("stat steps %u\nstat fastlock %d\n", (d)->buddy.max_order - (d)->buddy.min_order, \
	       rg_buddy_thread_prepare())
#include "icount_scen.h"

#define MAX_CALLS 4096

/* Tags, printed by name; the parser knows them by name. The scenario tags
 * come from icount_scen.h, the probes' follow. An arena family (a tag per
 * step count or variant) prints as its name and the number: arena_alloc_3. */
enum probe_tag { T_STRAIGHT = ISCEN_NTAGS, T_LOOP, T_CAS_OK, T_CAS_FAIL, NTAGS };
static const char *const tag_name[T_AR_ALLOC] = {
	"alloc", "free", "alloc_hwm", "cache_alloc", "cache_free", "cache_free_full",
	"rsv_other", "rsv_granted", "cache_free_miss", "buddy_cache_alloc", "buddy_cache_free",
	"share_open", "share_add", "share_release", "share_release_last", "steal",
};
static const char *const probe_name[NTAGS - ISCEN_NTAGS] = {
	"probe_straight", "probe_loop", "probe_cas_ok", "probe_cas_fail",
};
static const struct {
	unsigned tag, n; /* first tag, tags in the family (1: no number) */
	const char *name;
} arena_tag[] = {
	{ T_AR_ALLOC, ISCEN_AR_STEPS + 1, "arena_alloc" },
	{ T_AR_FREE, ISCEN_AR_STEPS + 1, "arena_free" },
	{ T_AR_LEASE, ISCEN_AR_STEPS + 1, "arena_lease" },
	{ T_AR_GIVEBACK, ISCEN_AR_STEPS + 1, "arena_giveback" },
	{ T_AR_DMERGE, ISCEN_AR_STEPS + 1, "arena_drain_merge" },
	{ T_AR_DRAIN, RG_ARENA_DRAIN + 1, "arena_drain" },
	{ T_AR_REMOTE, 1, "arena_remote_free" },
	{ T_AR_DRAIN2W, 1, "arena_drain_2words" },
	{ T_AR_DRAIN2A, 1, "arena_drain_2arenas" },
	{ T_AR_REQUEUE, 1, "arena_requeue" },
	{ T_AR_REQUEUE32, 1, "arena_requeue32" },
	{ T_AR_SLOW, 1, "arena_slow" },
	{ T_AR_DRAIN_MAX, ISCEN_AR_VARIANTS, "arena_drain_max" },
	{ T_AR_FREE_DRAIN_MAX, ISCEN_AR_VARIANTS, "arena_free_drain_max" },
	{ T_AR_SLOW_MAX, ISCEN_AR_VARIANTS, "arena_slow_max" },
	{ T_AR_SCAN, 1, "arena_scan" },
	{ T_AR_SCAN_FAIL, 1, "arena_scan_fail" },
};

static void print_tag(unsigned t)
{
	if (t < T_AR_ALLOC) {
		printf("%s", tag_name[t]);
		return;
	}
	if (t >= ISCEN_NTAGS) {
		printf("%s", probe_name[t - ISCEN_NTAGS]);
		return;
	}
	for (unsigned f = sizeof(arena_tag) / sizeof(arena_tag[0]); f-- > 0;)
		if (t >= arena_tag[f].tag) {
			if (arena_tag[f].n > 1)
				printf("%s_%u", arena_tag[f].name, t - arena_tag[f].tag);
			else
				printf("%s", arena_tag[f].name);
			return;
		}
}

/* The marker and the probes: code of known length, in assembly so that the
 * compiler cannot change it. probe_straight: 4 instructions, ret included;
 * probe_loop: 1 + 2 * 5 + 1 = 12; probe_cas: success 6, failure 4. */
void icq_mark(void);
void probe_straight(void);
void probe_loop(void);
void probe_cas(uint64_t *word, uint64_t expected, uint64_t desired);
__asm__(".text\n"
	".globl icq_mark\n.type icq_mark, %function\nicq_mark:\n\tnop\n\tret\n"
	".globl probe_straight\n.type probe_straight, %function\nprobe_straight:\n"
	"\tnop\n\tnop\n\tnop\n\tret\n"
	".globl probe_loop\n.type probe_loop, %function\nprobe_loop:\n"
	"\tmov w1, #5\n1:\tsubs w1, w1, #1\n\tb.ne 1b\n\tret\n"
	".globl probe_cas\n.type probe_cas, %function\nprobe_cas:\n"
	"1:\tldaxr x3, [x0]\n\tcmp x3, x1\n\tb.ne 2f\n\tstlxr w4, x2, [x0]\n\tcbnz w4, 1b\n2:\tret\n");

extern char __executable_start[], etext[];

/* The kernel's struct robust_list_head; futex_offset as glibc registers it. */
static struct {
	void *next;
	long futex_offset;
	void *list_op_pending;
} robust_head = {
	.next = &robust_head,
	.futex_offset = (long)offsetof(pthread_mutex_t, __data.__lock) - (long)offsetof(pthread_mutex_t, __data.__list.__next),
};

/* syscall(2), with get_robust_list for this thread answered as a kernel would. */
long syscall(long nr, ...)
{
	static long (*next)(long, ...);
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (unsigned i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_get_robust_list && a[0] == 0) {
		*(void **)a[1] = &robust_head;
		*(size_t *)a[2] = sizeof(robust_head);
		return 0;
	}
	if (!next)
		next = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return next(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static struct {
	unsigned tag;
	const void *fn;
} calls[MAX_CALLS];
static unsigned ncalls;

/* The next call of @fn is counted under @tag. */
static void icq_arm(unsigned tag, const void *fn)
{
	if (ncalls == MAX_CALLS) {
		fprintf(stderr, "icount_qemu_driver: more than %d counted calls\n", MAX_CALLS);
		exit(1);
	}
	calls[ncalls].tag = tag;
	calls[ncalls++].fn = fn;
	icq_mark();
}

static int drive_probes(void)
{
	uint64_t w = 7;

	icq_arm(T_STRAIGHT, (const void *)probe_straight);
	probe_straight();
	icq_arm(T_LOOP, (const void *)probe_loop);
	probe_loop();
	icq_arm(T_CAS_OK, (const void *)probe_cas);
	probe_cas(&w, 7, 8);
	icq_arm(T_CAS_FAIL, (const void *)probe_cas);
	probe_cas(&w, 7, 9); /* fails: w is 8 */
	return w == 8 ? 0 : -EPROTO;
}

/* Facts of an arena scenario with @steps orders: for each longest-drain
 * variant, the frees and merges of its arena (icount_scen.h, ar_leaves()). */
static void arena_stats(uint32_t steps)
{
	printf("stat steps %u\n", steps);
	for (unsigned v = 0; v < ISCEN_AR_VARIANTS; v++) {
		uint64_t at[RG_ARENA_DRAIN];

		ar_leaves(steps, v + 1, at);
		printf("stat frees_%u %u\nstat merges_%u %u\nstat merges_held_%u %u\n", v, AR_LEAVES(v + 1), v,
		       ar_merges(steps, at, AR_LEAVES(v + 1), UINT64_MAX), v,
		       ar_merges(steps, at, AR_LEAVES(v + 1), (1ull << steps) - 1));
	}
}

static uint64_t arg_u64(const char *s)
{
	return (uint64_t)strtoull(s, NULL, 0);
}

int main(int argc, char **argv)
{
	int rc = -EINVAL;

	if (argc == 2 && !strcmp(argv[1], "probes")) {
		rc = drive_probes();
	} else if (argc == 3 && !strcmp(argv[1], "reserve")) {
		rc = drive_reserve((unsigned)arg_u64(argv[2]));
	} else if (argc == 5 && (!strcmp(argv[1], "arena") || !strcmp(argv[1], "arena_scan"))) {
		rc = drive_arena(arg_u64(argv[2]), (uint32_t)arg_u64(argv[3]), (uint32_t)arg_u64(argv[4]),
				 !strcmp(argv[1], "arena_scan"));
		arena_stats((uint32_t)(arg_u64(argv[4]) - arg_u64(argv[3])));
	} else if (argc == 6 && (!strcmp(argv[1], "slab") || !strcmp(argv[1], "buddy"))) {
		rnd_state = arg_u64(argv[5]) | 1;
		if (!strcmp(argv[1], "slab"))
			rc = drive_slab(arg_u64(argv[2]), (unsigned)arg_u64(argv[3]), (unsigned)arg_u64(argv[4]));
		else
			rc = drive_buddy(arg_u64(argv[2]), (unsigned)arg_u64(argv[3]), (unsigned)arg_u64(argv[4]));
	}
	if (rc != 0) {
		fprintf(stderr, "icount_qemu_driver: %s: %s\n", argc > 1 ? argv[1] : "(no scenario)", strerror(-rc));
		return 1;
	}
	printf("mark %p\ntext %p %p\n", (void *)icq_mark, (void *)__executable_start, (void *)etext);
	for (unsigned i = 0; i < ncalls; i++) {
		printf("call ");
		print_tag(calls[i].tag);
		printf(" %p\n", calls[i].fn);
	}
	return 0;
}
