/* SPDX-License-Identifier: MIT */
/*
 * test_reliability.c - what a client (or any local peer) can do to a real
 * rtmemd must not stop or hang it, hurt other pools, or lose memory; the
 * daemon finds damage and says so (docs/trust.md, issue 12).
 *
 * Each test starts its own daemon, does something hostile, then checks that
 * the daemon still answers (a new client opens the other pool and allocates;
 * rtmemctl status works) and what it reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "daemon_fixture.h"
#include "proto.h"
#include "fastpath.h"
#include "rtmem/rtmem.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run rtmemctl with @args against @sock; its stdout in a static buffer, exit status in *ret_rc. */
static const char *ctl(const char *sock, const char *args, int *ret_rc)
{
	static char out[1 << 16];
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s -s %s %s 2>&1", RTMEMCTL_PATH, sock, args);
	return fixture_run(cmd, out, sizeof(out), ret_rc);
}

/* A connected socket to @path that says nothing. */
static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The daemon answers: a new client opens @pool and allocates from it, and rtmemctl status works. */
static void assert_daemon_answers(const struct daemon *d, const char *pool)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	void *blk;
	int rc;

	rc = rtmem_connect(d->sock, "prober", &c);
	if (rc)
		print_error("rtmem_connect: %s\n%s", strerror(-rc), daemon_log(d));
	assert_int_equal(rc, 0);
	assert_int_equal(rtmem_pool_open(c, pool, RTMEM_POOL_NOLOCK, &p), 0);
	assert_int_equal(rtmem_alloc(p, 64, &blk), 0);
	memset(blk, 0x5a, 64);
	assert_int_equal(rtmem_free(p, blk), 0);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	ctl(d->sock, "status", &rc);
	assert_int_equal(rc, 0);
}

#define TWO_POOLS                                                                                                  \
	"[daemon]\nmax_connections_per_uid = 16\n"                                                                   \
	"[pool a]\nslab = 64x64, 256x16\nmax_clients = 8\n"                                                          \
	"[pool b]\nslab = 64x64\nmax_clients = 8\n"

static struct daemon D; /* stopped by teardown, also when a test fails */

static int teardown(void **state)
{
	(void)state;
	if (D.pid > 0)
		daemon_stop(&D);
	return 0;
}

/* Wait until every fd in @fds (-1: done) is hung up on, at most @max_ms. Return: how many are still open. */
static unsigned wait_hangups(int *fds, unsigned n, uint64_t max_ms)
{
	uint64_t t0 = now_ms();
	unsigned open_now;

	for (;;) {
		open_now = 0;
		for (unsigned i = 0; i < n; i++) {
			struct pollfd pfd = { .fd = fds[i], .events = POLLIN };
			char b[256];

			if (fds[i] >= 0 && poll(&pfd, 1, 0) == 1 &&
			    ((pfd.revents & POLLHUP) || recv(fds[i], b, sizeof(b), MSG_DONTWAIT) == 0)) {
				close(fds[i]);
				fds[i] = -1;
			}
			open_now += fds[i] >= 0;
		}
		if (!open_now || now_ms() - t0 > max_ms)
			return open_now;
		usleep(20000);
	}
}

/*
 * An idle flood: far more connections than any limit, none saying HELLO.
 * A client and rtmemctl (same uid) still get in, since the oldest idle
 * connection makes room for each new one; the limit per uid then answers
 * -EUSERS to rtmem_connect, never -EPROTO.
 */
static void test_flood_idle_client_and_ctl_still_served(void **state)
{
	enum { FLOOD = 300, PER_UID = 16 };
	static int fds[FLOOD];
	struct rtmem_client *held[PER_UID];
	struct rtmem_client *c;

	(void)state;
	assert_int_equal(daemon_start(&D, TWO_POOLS), 0);
	for (int i = 0; i < FLOOD; i++)
		fds[i] = raw_connect(D.sock);
	assert_daemon_answers(&D, "a");
	/* HELLO'd connections count against the uid; idle ones make room for them */
	for (int i = 0; i < PER_UID; i++)
		assert_int_equal(rtmem_connect(D.sock, "held", &held[i]), 0);
	for (int i = 0; i < 20; i++) /* refused before or after HELLO was read: -EUSERS either way */
		assert_int_equal(rtmem_connect(D.sock, "one-too-many", &c), -EUSERS);
	assert_int_equal(wait_hangups(fds, FLOOD, 1000), 0); /* all made room, none still held */
	assert_non_null(strstr(daemon_log(&D), "max_connections_per_uid"));
	for (int i = 0; i < PER_UID; i++)
		rtmem_disconnect(held[i]);
	assert_daemon_answers(&D, "b");
	assert_int_equal(daemon_stop(&D), 0);
}

/* A peer that never says HELLO is hung up on after the HELLO timeout (3 s), not before. */
static void test_flood_idle_dropped_after_hello_timeout(void **state)
{
	enum { N = 8 };
	int fds[N];
	uint64_t t0, took;

	(void)state;
	assert_int_equal(daemon_start(&D, TWO_POOLS), 0);
	for (int i = 0; i < N; i++)
		fds[i] = raw_connect(D.sock);
	t0 = now_ms();
	assert_int_equal(wait_hangups(fds, N, 2500), N); /* none before 2.5 s */
	assert_int_equal(wait_hangups(fds, N, 2500), 0);
	took = now_ms() - t0;
	print_message("%d idle peers dropped %llu ms after connecting (timeout 3000 ms, tick 250 ms)\n", N,
		      (unsigned long long)took);
	assert_true(took >= 2900 && took <= 4000);
	assert_daemon_answers(&D, "a");
	assert_int_equal(daemon_stop(&D), 0);
}

/* The pool's mapping in this process: its /proc/self/maps line (static buffer), NULL if none. */
static const char *pool_maps_line(const char *pool)
{
	static char line[512];
	char want[64];
	FILE *f = fopen("/proc/self/maps", "r");

	snprintf(want, sizeof(want), "memfd:rtmemd:%s ", pool);
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, want)) {
			fclose(f);
			return line;
		}
	}
	fclose(f);
	return NULL;
}

/*
 * A pool is never executable: librtmem maps it rw- (shared), and its memfd
 * has no exec bits, by MFD_NOEXEC_SEAL (Linux 6.3+) or mode 0600 (older
 * kernels, which the daemon logs).
 */
static void test_memfd_pool_never_executable(void **state)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	const char *line;
	char perms[8], path[128];
	unsigned long lo, hi;
	struct stat st;

	(void)state;
	assert_int_equal(daemon_start(&D, TWO_POOLS), 0);
	assert_int_equal(rtmem_connect(D.sock, "x", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "a", RTMEM_POOL_NOLOCK, &p), 0);
	line = pool_maps_line("a");
	assert_non_null(line);
	print_message("%s", line);
	assert_int_equal(sscanf(line, "%lx-%lx %7s", &lo, &hi, perms), 3);
	assert_string_equal(perms, "rw-s");
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", lo, hi);
	if (stat(path, &st) == 0) /* needs CAP_SYS_ADMIN on some kernels */
		assert_int_equal(st.st_mode & 0111, 0);
	else
		print_message("no %s (%s): exec bits not checked\n", path, strerror(errno));
	assert_non_null(strstr(daemon_log(&D), "pool memfds are kept from execution by "));
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	assert_int_equal(daemon_stop(&D), 0);
}

/* The pool's mapping in this process, found through /proc/self/maps; its length in *ret_len. */
static char *pool_mapping(const char *pool, size_t *ret_len)
{
	const char *line = pool_maps_line(pool);
	unsigned long lo, hi;

	assert_non_null(line);
	assert_int_equal(sscanf(line, "%lx-%lx", &lo, &hi), 2);
	*ret_len = hi - lo;
	return (char *)lo;
}

#define RESERVE_POOL                                                                                               \
	"[pool r]\nslab = 64x32\nreserve_slab = 64x16\nreserve_users = nobody\nmax_clients = 4\nthread_cache = 0\n"                    \
	"[pool b]\nslab = 64x64\nmax_clients = 4\n"

/* Blocks of 64 B a client gets from @p before -ENOMEM (then freed again). */
static unsigned drain(struct rtmem_pool *p)
{
	static void *blk[64];
	unsigned n = 0;

	while (n < 64 && rtmem_alloc(p, 64, &blk[n]) == 0)
		n++;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(rtmem_free(p, blk[i]), 0);
	return n;
}

/*
 * A client rewrites the reserve (and the cache depth) in the region's
 * descriptor line and header; the next opener still gets the daemon's
 * limits: 16 of 32 blocks for a client without the reserve.
 */
static void test_limits_scribbled_reserve_ignored(void **state)
{
	struct rtmem_client *c1, *c2;
	struct rtmem_pool *p1, *p2;
	struct rg_hdr *h;
	struct rg_class *k;
	size_t len;

	(void)state;
	assert_int_equal(daemon_start(&D, RESERVE_POOL), 0);
	assert_int_equal(rtmem_connect(D.sock, "scribbler", &c1), 0);
	assert_int_equal(rtmem_pool_open(c1, "r", RTMEM_POOL_NOLOCK, &p1), 0);
	assert_int_equal(drain(p1), 16);
	h = (struct rg_hdr *)pool_mapping("r", &len);
	k = (struct rg_class *)((char *)h + h->classes_off);
	k->reserve = 0;
	h->cache = RG_CACHE_MAX;

	assert_int_equal(rtmem_connect(D.sock, "next", &c2), 0);
	assert_int_equal(rtmem_pool_open(c2, "r", RTMEM_POOL_NOLOCK, &p2), 0);
	assert_int_equal(drain(p2), 16);
	rtmem_pool_close(p2);
	rtmem_disconnect(c2);
	rtmem_pool_close(p1);
	rtmem_disconnect(c1);
	assert_daemon_answers(&D, "b");
	assert_int_equal(daemon_stop(&D), 0);
}

/* Poll rtmemctl pools until pool @name's line says damaged; Return: ms it took, or -1 after 5 s. */
static long wait_damaged(const char *name, uint64_t t0)
{
	char want[64];
	int rc;

	snprintf(want, sizeof(want), "pool \"%s\": damaged", name);
	while (now_ms() - t0 < 5000) {
		if (strstr(ctl(D.sock, "pools", &rc), want))
			return (long)(now_ms() - t0);
		usleep(20000);
	}
	return -1;
}

/* After damage to pool a: found and reported, b untouched and serving, the daemon answers. */
static void assert_damage_contained(const char *what, uint64_t t0)
{
	long ms = wait_damaged("a", t0);
	const char *out;
	int rc;

	print_message("%s: reported damaged after %ld ms\n", what, ms);
	if (ms < 0)
		print_error("%s\n%s", ctl(D.sock, "pools", &rc), daemon_log(&D));
	assert_true(ms >= 0);
	out = ctl(D.sock, "pools", &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "pool \"b\": serving"));
	assert_null(strstr(out, "18446744073709551615"));
	assert_non_null(strstr(ctl(D.sock, "status", &rc), "DAMAGED"));
	assert_non_null(strstr(daemon_log(&D), "pool \"a\" damaged"));
	assert_daemon_answers(&D, "b");
}

/* FALLOC_FL_PUNCH_HOLE over the whole pool: the memory is allocated, faulted and locked again, and reported. */
static void test_punch_hole_refaulted_and_reported(void **state)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	char path[128];
	size_t len;
	char *m;
	uint64_t t0;
	int fd;

	(void)state;
	assert_int_equal(daemon_start(&D, TWO_POOLS), 0);
	assert_int_equal(rtmem_connect(D.sock, "puncher", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "a", RTMEM_POOL_NOLOCK, &p), 0);
	m = pool_mapping("a", &len);
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)m, (unsigned long)(m + len));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rtmem_disconnect(c);
		rtmem_pool_close(p);
		skip(); /* map_files needs CAP_SYS_ADMIN; the test has no other way to the memfd */
	}
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)len), 0);
	t0 = now_ms();
	assert_true(lseek(fd, 0, SEEK_HOLE) < (off_t)len);
	assert_damage_contained("punch hole", t0);
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), (off_t)len); /* no hole left */
	assert_non_null(strstr(daemon_log(&D), "punched out"));
	close(fd);
	rtmem_disconnect(c);
	rtmem_pool_close(p); /* the shell rtmem_disconnect() left */
	assert_int_equal(daemon_stop(&D), 0);
}

enum scribble { SCRIBBLE_RANDOM, SCRIBBLE_FF, SCRIBBLE_BAD_INDEX, SCRIBBLE_CYCLE };

/* A client writes over pool a (the whole mapping, or a list) while it keeps it open. */
static void scribble_test(enum scribble how, const char *what)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	struct rg_hdr *h;
	size_t len;
	uint64_t t0;
	unsigned seed = (unsigned)time(NULL);

	assert_int_equal(daemon_start(&D, TWO_POOLS), 0);
	assert_int_equal(rtmem_connect(D.sock, "scribbler", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "a", RTMEM_POOL_NOLOCK, &p), 0);
	h = (struct rg_hdr *)pool_mapping("a", &len);
	if (how == SCRIBBLE_RANDOM) {
		print_message("seed %u\n", seed);
		srand(seed);
		for (size_t i = 0; i < len; i++)
			((unsigned char *)h)[i] = (unsigned char)rand();
	} else if (how == SCRIBBLE_FF) {
		memset(h, 0xff, len);
	} else {
		struct rg_class *k = (struct rg_class *)((char *)h + h->classes_off);
		uint32_t *next = (uint32_t *)((char *)h + k->next_off);

		if (how == SCRIBBLE_BAD_INDEX)
			next[0] = k->count + 7; /* in no class's range, as a plausible index */
		else
			next[2] = 0; /* 0 -> 1 -> 2 -> 0 */
		h->nslots ^= 1; /* and a header field, which the audit always finds */
	}
	t0 = now_ms();
	assert_damage_contained(what, t0);
	rtmem_disconnect(c); /* a death: the audit and sweep run again, the daemon stays up */
	rtmem_pool_close(p); /* the shell rtmem_disconnect() left */
	assert_daemon_answers(&D, "b");
	assert_int_equal(daemon_stop(&D), 0);
}

static void test_scribble_random_bytes_contained(void **state)
{
	(void)state;
	scribble_test(SCRIBBLE_RANDOM, "random bytes");
}

static void test_scribble_ff_contained(void **state)
{
	(void)state;
	scribble_test(SCRIBBLE_FF, "0xFF");
}

static void test_scribble_bad_index_contained(void **state)
{
	(void)state;
	scribble_test(SCRIBBLE_BAD_INDEX, "index out of range");
}

static void test_scribble_cycle_contained(void **state)
{
	(void)state;
	scribble_test(SCRIBBLE_CYCLE, "cycle in next[]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_flood_idle_client_and_ctl_still_served, teardown),
		cmocka_unit_test_teardown(test_flood_idle_dropped_after_hello_timeout, teardown),
		cmocka_unit_test_teardown(test_memfd_pool_never_executable, teardown),
		cmocka_unit_test_teardown(test_limits_scribbled_reserve_ignored, teardown),
		cmocka_unit_test_teardown(test_punch_hole_refaulted_and_reported, teardown),
		cmocka_unit_test_teardown(test_scribble_random_bytes_contained, teardown),
		cmocka_unit_test_teardown(test_scribble_ff_contained, teardown),
		cmocka_unit_test_teardown(test_scribble_bad_index_contained, teardown),
		cmocka_unit_test_teardown(test_scribble_cycle_contained, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
