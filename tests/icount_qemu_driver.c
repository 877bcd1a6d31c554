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
 * The buddy lock. lib/buddy.c takes it without glibc when uncontended, on
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
 * buddy BYTES FILL CALLS SEED; FILL in percent. The slab and buddy scenarios
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

#define GIB (1024ull * 1024 * 1024)
#define MAX_CALLS 4096

/* Tags, printed by name; the parser knows them by name. */
enum tag {
	T_ALLOC, T_FREE, T_ALLOC_HWM, T_CALLOC, T_CFREE, T_CFREE_FULL,
	T_RSV_OTHER, T_RSV_GRANTED,
	T_STRAIGHT, T_LOOP, T_CAS_OK, T_CAS_FAIL,
	NTAGS
};
static const char *const tag_name[NTAGS] = {
	"alloc", "free", "alloc_hwm", "cache_alloc", "cache_free", "cache_free_full",
	"rsv_other", "rsv_granted",
	"probe_straight", "probe_loop", "probe_cas_ok", "probe_cas_fail",
};

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

static uint64_t rnd_state;

static uint64_t rnd(void) /* xorshift64* */
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

static unsigned rnd_below(uint64_t n)
{
	return (unsigned)(rnd() % n);
}

enum kind { SLAB, BUDDY };

static struct rtmem_pool_desc scen_desc(enum kind kind, uint64_t bytes)
{
	struct rtmem_pool_desc d;

	memset(&d, 0, sizeof(d));
	d.nslots = 4;
	d.policy = RTMEM_POLICY_NEXT_FIT;
	if (kind == SLAB) {
		d.cache = 4;
		d.nclasses = 9;
		for (unsigned c = 0; c < 9; c++) {
			uint32_t size = 16u << c;

			d.classes[c] = (struct rtmem_slab_desc){ .size = size, .count = (uint32_t)(bytes / 9 / size) };
		}
	} else {
		d.buddy.size = bytes;
		d.buddy.min_order = bytes >= GIB ? 10 : 4;
		d.buddy.max_order = bytes >= GIB ? 30 : 20;
	}
	return d;
}

static struct rtmem_region *scen_map(const struct rtmem_pool_desc *d)
{
	struct rtmem_footprint fp;
	struct rtmem_region *r;
	void *mem;

	if (rtmem_region_layout(d, &fp) < 0)
		return NULL;
	mem = mmap(NULL, fp.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	if (rtmem_region_format(mem, fp.total, d) < 0 || rtmem_region_attach(mem, fp.total, &r) < 0)
		return NULL;
	return r;
}

/* Thread cache: per call and random class, allocate (from the cache when it
 * holds a block of the class: counted) or free one of up to 8 blocks we keep
 * (into the cache, counted; or on to the list when it is full, counted apart). */
static int drive_cache(unsigned ncall, struct rtmem_region *r, const struct rtmem_pool_desc *d)
{
	const uint64_t me = rtmem_owner(1, 1);
	struct rtmem_slab_cache tc[RTMEM_MAX_CLASSES];
	void *mine[RTMEM_MAX_CLASSES][8];
	unsigned n[RTMEM_MAX_CLASSES] = { 0 };
	void *p;
	int rc;

	rtmem_slab_cache_init(r, tc);
	for (unsigned i = 0; i < ncall; i++) {
		uint32_t c = rnd_below(d->nclasses);

		if (n[c] == 0 || (n[c] < 8 && rnd_below(2))) {
			if (tc[c].n) {
				icq_arm(T_CALLOC, (const void *)rtmem_slab_cache_alloc);
				rc = rtmem_slab_cache_alloc(r, tc, c, me, &p);
			} else {
				rc = rtmem_slab_alloc(r, c, me, 0, &p);
			}
			if (rc == -ENOMEM)
				continue;
			if (rc != 0)
				return rc;
			mine[c][n[c]++] = p;
		} else {
			unsigned v = rnd_below(n[c]);
			void *victim = mine[c][v];
			long rb;

			mine[c][v] = mine[c][--n[c]];
			icq_arm(tc[c].n < tc[c].cap ? T_CFREE : T_CFREE_FULL, (const void *)rtmem_slab_cache_free);
			rb = rtmem_slab_cache_free(r, tc, victim, me);
			if (rb < 0)
				return (int)rb;
		}
	}
	return 0;
}

/* Slab: every class filled to @fill %, one block at least left free; then
 * a counted allocation of a random class and a counted free of a random
 * allocated block of it, @ncall times; then the thread cache. */
static int drive_slab(uint64_t bytes, unsigned fill, unsigned ncall)
{
	const uint64_t me = rtmem_owner(1, 1);
	struct rtmem_pool_desc d = scen_desc(SLAB, bytes);
	struct rtmem_region *r = scen_map(&d);
	char *base[RTMEM_MAX_CLASSES];
	void *p;

	if (!r)
		return -ENOMEM;
	for (uint32_t c = 0; c < d.nclasses; c++) {
		uint64_t n = (uint64_t)d.classes[c].count * fill / 100;

		if (n >= d.classes[c].count)
			n = d.classes[c].count - 1;
		base[c] = NULL;
		for (uint64_t i = 0; i < n; i++) {
			if (rtmem_slab_alloc(r, c, me, 0, &p) != 0)
				return -ENOMEM;
			if (!base[c])
				base[c] = p; /* a fresh class pops block 0 first */
		}
	}
	for (unsigned i = 0; i < ncall; i++) {
		uint32_t c = rnd_below(d.nclasses), size = d.classes[c].size;
		struct rtmem_region_stats rs;
		void *victim;
		int rc;

		rtmem_region_stats(r, &rs); /* will this allocation set a new high-water mark? */
		icq_arm(rs.cls[c].in_use + 1 > rs.cls[c].hwm ? T_ALLOC_HWM : T_ALLOC, (const void *)rtmem_slab_alloc);
		rc = rtmem_slab_alloc(r, c, me, 0, &p);
		if (rc != 0)
			return rc;
		victim = p;
		for (unsigned t = 0; base[c] && t < 64 && rnd_below(100) < fill; t++) {
			char *q = base[c] + (uint64_t)rnd_below(d.classes[c].count) * size;

			if (rtmem_region_block_size(r, q) == size) {
				victim = q;
				break;
			}
		}
		icq_arm(T_FREE, (const void *)rtmem_slab_free);
		rc = rtmem_slab_free(r, victim, me);
		if (rc != 0)
			return rc;
	}
	return drive_cache(ncall, r, &d);
}

/* A class with a reserve (class 3 keeps 8 blocks): an allocation without the
 * grant checks the reserve first; one with it takes the plain pop. */
static int drive_reserve(unsigned ncall)
{
	const uint64_t me = rtmem_owner(1, 1);
	struct rtmem_pool_desc d = scen_desc(SLAB, 1024 * 1024);
	struct rtmem_region *r;
	void *p;

	d.classes[3].reserve = 8;
	r = scen_map(&d);
	if (!r)
		return -ENOMEM;
	for (unsigned i = 0; i < ncall; i++) {
		icq_arm(T_RSV_OTHER, (const void *)rtmem_slab_alloc);
		if (rtmem_slab_alloc(r, 3, me, 0, &p) != 0 || rtmem_slab_free(r, p, me) != 0)
			return -EPROTO;
		icq_arm(T_RSV_GRANTED, (const void *)rtmem_slab_alloc);
		if (rtmem_slab_alloc(r, 3, me, RTMEM_ALLOC_RESERVE, &p) != 0 || rtmem_slab_free(r, p, me) != 0)
			return -EPROTO;
	}
	return 0;
}

/* Buddy: filled with random orders min..min+8 to @fill % of the bytes, then a
 * counted allocation of a random order and a counted free of a random block,
 * @ncall times. */
static int drive_buddy(uint64_t bytes, unsigned fill, unsigned ncall)
{
	const uint64_t me = rtmem_owner(1, 1);
	struct rtmem_pool_desc d = scen_desc(BUDDY, bytes);
	struct rtmem_region *r = scen_map(&d);
	const uint32_t lo = d.buddy.min_order, span = 9;
	uint64_t cap = (bytes >> lo) + 1, n = 0, used = 0, goal = bytes / 100 * fill;
	void **blk = calloc(cap, sizeof(*blk));
	void *p;

	if (!r || !blk)
		return -ENOMEM;
	printf("stat steps %u\nstat fastlock %d\n", d.buddy.max_order - d.buddy.min_order,
	       rtmem_buddy_thread_prepare());
	if (rtmem_buddy_alloc(r, 1, me, 0, &p) != 0 || rtmem_buddy_free(r, p, me) != 0)
		return -EPROTO; /* warm-up, as test_icount.c */
	while (used < goal) {
		uint32_t k = lo + rnd_below(span);

		while (k > lo && used + (1ull << k) > goal)
			k--;
		if (rtmem_buddy_alloc(r, 1ull << k, me, 0, &p) != 0)
			break; /* fragmented: as full as random orders get */
		blk[n++] = p;
		used += 1ull << k;
	}
	for (unsigned i = 0; i < ncall; i++) {
		uint64_t size = 1ull << (lo + rnd_below(span)), v;
		int rc;

		icq_arm(T_ALLOC, (const void *)rtmem_buddy_alloc);
		rc = rtmem_buddy_alloc(r, size, me, 0, &p);
		if (rc == -ENOMEM)
			continue;
		if (rc != 0 || n == cap)
			return rc ? rc : -EOVERFLOW;
		blk[n++] = p;
		v = fill ? rnd_below(n) : n - 1;
		icq_arm(T_FREE, (const void *)rtmem_buddy_free);
		rc = rtmem_buddy_free(r, blk[v], me);
		if (rc != 0)
			return rc;
		blk[v] = blk[--n];
	}
	return 0;
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
	for (unsigned i = 0; i < ncalls; i++)
		printf("call %s %p\n", tag_name[calls[i].tag], calls[i].fn);
	return 0;
}
