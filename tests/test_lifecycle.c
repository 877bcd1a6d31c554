/* SPDX-License-Identifier: MIT */
/*
 * test_lifecycle.c - rtmemd stops, crashes and restarts under running
 * clients (docs/lifecycle.md), with a stand-in for systemd's fd store.
 *
 * The stand-in does what systemd does for a Type=notify service: a datagram
 * socket named by $NOTIFY_SOCKET receives "FDSTORE=1\nFDNAME=..." with fds
 * (kept, by name) and "FDSTOREREMOVE=1\nFDNAME=..." (dropped); each start
 * gets the kept fds from fd 3 on with LISTEN_FDS, LISTEN_PID and
 * LISTEN_FDNAMES. The store outlives the daemon, as systemd's does across
 * Restart= and `systemctl restart`.
 *
 * Clients are child processes that hold blocks filled with their own pattern
 * and allocate, check and free one more block every millisecond; a block
 * handed to two clients, or reclaimed under one, shows as a corrupted
 * pattern or a failed free. A block shared by three clients, one of which
 * dies while no daemon runs, must outlive the restart with the other two.
 * The crash and restart run again on a pool in slab stripes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region.h"
#include "rtmem/rtmem.h"

#define STORE_MAX 16
#define HOLD 64       /* blocks each client holds all along */
#define NCLIENTS 3

static char me[64];
/* What clients hold and churn: slab blocks, or buddy blocks in the arena rig. */
static size_t hold_size = 64, churn_size = 256;

struct store {
	int sock;
	int fd[STORE_MAX];
	char name[STORE_MAX][64];
	int n;
	bool ready; /* READY=1 seen since the last start */
};

struct rig {
	struct store st;
	pid_t pid; /* the daemon */
	char dir[64], conf[96], sock[96], log[96], notify[96];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *rig_log(const struct rig *r)
{
	static char buf[1 << 17];
	FILE *f = fopen(r->log, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

static void store_drop(struct store *st, const char *name)
{
	for (int i = 0; i < st->n;) {
		if (strcmp(st->name[i], name)) {
			i++;
			continue;
		}
		close(st->fd[i]);
		st->n--;
		st->fd[i] = st->fd[st->n];
		memcpy(st->name[i], st->name[st->n], sizeof(st->name[i]));
	}
}

/* Read every pending notification, as systemd would. */
static void store_drain(struct store *st)
{
	for (;;) {
		char buf[512], cbuf[CMSG_SPACE(8 * sizeof(int))];
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		int fds[8], nfds = 0;
		const char *nm;
		char name[64] = "stored";
		ssize_t n = recvmsg(st->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0)
			return;
		buf[n] = '\0';
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				memcpy(fds, CMSG_DATA(cm), (size_t)nfds * sizeof(int));
			}
		nm = strstr(buf, "FDNAME=");
		if (nm)
			sscanf(nm + 7, "%63[^\n]", name);
		if (strstr(buf, "READY=1"))
			st->ready = true;
		if (strstr(buf, "FDSTOREREMOVE=1"))
			store_drop(st, name);
		for (int i = 0; i < nfds; i++) {
			if (strstr(buf, "FDSTORE=1") && st->n < STORE_MAX) {
				st->fd[st->n] = fds[i];
				snprintf(st->name[st->n++], sizeof(st->name[0]), "%s", name);
			} else {
				close(fds[i]);
			}
		}
	}
}

static int store_fd(const struct store *st, const char *name)
{
	for (int i = 0; i < st->n; i++)
		if (!strcmp(st->name[i], name))
			return st->fd[i];
	return -1;
}

static void rig_write_conf(struct rig *r, const char *slab)
{
	FILE *f = fopen(r->conf, "w");

	assert_non_null(f);
	fprintf(f, "[memtest]\nenabled = no\n\n[pool life]\nslab = %s\nusers = %s\nmax_clients = 8\n", slab, me);
	fclose(f);
}

static void rig_exec(struct rig *r, bool store)
{
	char names[STORE_MAX * 65] = "", num[16], pid[16];
	int high[STORE_MAX];

	if (!freopen(r->log, "a", stderr))
		_exit(126);
	for (int i = 0; store && i < r->st.n; i++) /* out of the way of 3.. first */
		high[i] = fcntl(r->st.fd[i], F_DUPFD_CLOEXEC, 100);
	for (int i = 0; store && i < r->st.n; i++) {
		dup2(high[i], 3 + i);
		strcat(names, i ? ":" : "");
		strcat(names, r->st.name[i]);
	}
	if (store) {
		snprintf(num, sizeof(num), "%d", r->st.n);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("NOTIFY_SOCKET", r->notify, 1);
		if (r->st.n) {
			setenv("LISTEN_FDS", num, 1);
			setenv("LISTEN_PID", pid, 1);
			setenv("LISTEN_FDNAMES", names, 1);
		}
	}
	execl(RTMEMD_PATH, "rtmemd", "-c", r->conf, "-s", r->sock, "--event-loop=epoll", (char *)NULL);
	_exit(127);
}

/* Start the daemon (with the store's fds if @store) and wait for READY=1 and its socket. */
static unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void rig_start(struct rig *r, bool store)
{
	unsigned before = count_of(rig_log(r), "ready: "); /* the log is appended to */

	r->st.ready = false;
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0)
		rig_exec(r, store);
	for (int i = 0; i < 400; i++) {
		int status;

		store_drain(&r->st);
		if ((r->st.ready || !store) && count_of(rig_log(r), "ready: ") > before)
			return;
		if (waitpid(r->pid, &status, WNOHANG) == r->pid)
			break;
		usleep(10000);
	}
	fprintf(stderr, "rtmemd did not come up; its log:\n%s\n", rig_log(r));
	fail();
}

/* Stop the daemon with @sig and reap it. Return: its wait status. */
static int rig_kill(struct rig *r, int sig)
{
	int st = -1;

	kill(r->pid, sig);
	waitpid(r->pid, &st, 0);
	r->pid = 0;
	store_drain(&r->st);
	return st;
}

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(r->dir, "/tmp/rtmemd-life.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	chmod(r->dir, 0755);
	snprintf(r->conf, sizeof(r->conf), "%s/rtmemd.conf", r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/rtmemd.sock", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/rtmemd.log", r->dir);
	snprintf(r->notify, sizeof(r->notify), "%s/notify", r->dir);
	r->st.sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, r->notify);
	assert_int_equal(bind(r->st.sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	rig_write_conf(r, "64x256, 256x64");
	*state = r;
	return 0;
}

/* The same rig on a pool whose classes are in 4 stripes (docs/many-clients.md):
 * the region is re-adopted, clients resume on their home stripes, and the
 * grabber steals from every stripe. */
static int rig_setup_striped(void **state)
{
	int rc = rig_setup(state);

	rig_write_conf(*state, "64x256, 256x64\nslab_stripes = 4");
	return rc;
}

/* The same rig with clients holding and churning buddy blocks of an area in
 * arenas (buddy_arena, docs/many-clients.md): leases, private lists and the
 * daemon's reclaim of a dead client's arenas across a kill -9 and a restart;
 * the grabber and the census check the slab classes, and the end the area. */
static int rig_setup_arena(void **state)
{
	int rc = rig_setup(state);

	rig_write_conf(*state, "64x256, 256x64\nbuddy = 1M\nbuddy_min = 1K\nbuddy_arena = 64K");
	hold_size = 1024;
	churn_size = 2048;
	return rc;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;

	hold_size = 64;
	churn_size = 256;
	if (r->pid > 0)
		rig_kill(r, SIGTERM);
	for (int i = 0; i < r->st.n; i++)
		close(r->st.fd[i]);
	close(r->st.sock);
	unlink(r->notify);
	unlink(r->conf);
	unlink(r->log);
	unlink(r->sock);
	rmdir(r->dir);
	free(r);
	return 0;
}

/* What a client child reports through its pipe when told to finish (SIGUSR1). */
struct report {
	uint64_t calls, errors, corrupt;
	uint64_t longest_ns;      /* longest rtmem_alloc or rtmem_free */
	uint64_t reconnects;      /* rtmem_client_check() == 1 */
	uint64_t saw_shutdown;    /* rtmem_pool_daemon() == -ESHUTDOWN seen */
	int64_t final_check;      /* rtmem_client_check() at the end */
	uint64_t frees_failed;    /* of the HOLD blocks at the end */
};

static volatile sig_atomic_t finish;

static void on_usr1(int sig)
{
	(void)sig;
	finish = 1;
}

static bool pattern_ok(const uint64_t *b, size_t words, uint64_t pat)
{
	for (size_t i = 0; i < words; i++)
		if (b[i] != pat)
			return false;
	return true;
}

static void fill(uint64_t *b, size_t words, uint64_t pat)
{
	for (size_t i = 0; i < words; i++)
		b[i] = pat;
}

static void timed(struct report *rep, uint64_t t0)
{
	uint64_t d = now_ns() - t0;

	if (d > rep->longest_ns)
		rep->longest_ns = d;
}

/* A client: hold HOLD blocks, allocate/check/free one more every 1 ms, check the daemon every 20 ms. */
static void client_main(const struct rig *r, int id, int out, int ready)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	struct report rep = { 0 };
	void *held[HOLD];
	uint64_t pat = 0x5a00000000000000ull | (uint64_t)id << 40;
	unsigned tick = 0;

	signal(SIGUSR1, on_usr1);
	if (rtmem_connect(r->sock, "holder", &c) < 0 || rtmem_pool_open(c, "life", RTMEM_POOL_NOLOCK, &p) < 0)
		_exit(2);
	for (int i = 0; i < HOLD; i++) {
		if (rtmem_alloc(p, hold_size, &held[i]) < 0)
			_exit(3);
		fill(held[i], 8, pat + (uint64_t)i);
	}
	if (write(ready, "r", 1) != 1)
		_exit(4);
	while (!finish) {
		void *b;
		uint64_t t0 = now_ns();
		int rc = rtmem_alloc(p, churn_size, &b);

		timed(&rep, t0);
		rep.calls++;
		if (rc < 0) {
			rep.errors++;
		} else {
			fill(b, 32, pat | 0xffff);
			usleep(1000);
			if (!pattern_ok(b, 32, pat | 0xffff))
				rep.corrupt++;
			t0 = now_ns();
			rc = rtmem_free(p, b);
			timed(&rep, t0);
			rep.errors += rc < 0;
		}
		for (int i = 0; i < HOLD; i++)
			rep.corrupt += !pattern_ok(held[i], 8, pat + (uint64_t)i);
		if (rtmem_pool_daemon(p) == -ESHUTDOWN)
			rep.saw_shutdown++;
		if (++tick % 20 == 0 && rtmem_client_check(c) == 1)
			rep.reconnects++;
	}
	rep.final_check = rtmem_client_check(c);
	for (int i = 0; i < HOLD; i++) {
		rep.corrupt += !pattern_ok(held[i], 8, pat + (uint64_t)i);
		rep.frees_failed += rtmem_free(p, held[i]) < 0;
	}
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	_exit(write(out, &rep, sizeof(rep)) == (ssize_t)sizeof(rep) ? 0 : 5);
}

struct kid {
	pid_t pid;
	int out;
};

static struct kid spawn_client(const struct rig *r, int id)
{
	int out[2], ready[2];
	struct kid k;
	char ch;

	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(ready), 0);
	k.pid = fork();
	assert_true(k.pid >= 0);
	if (k.pid == 0) {
		close(out[0]);
		close(ready[0]);
		client_main(r, id, out[1], ready[1]);
	}
	close(out[1]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &ch, 1), 1);
	close(ready[0]);
	k.out = out[0];
	return k;
}

static struct report collect(struct kid k)
{
	struct report rep = { 0 };
	int st;

	kill(k.pid, SIGUSR1);
	assert_int_equal(read(k.out, &rep, sizeof(rep)), (ssize_t)sizeof(rep));
	close(k.out);
	assert_int_equal(waitpid(k.pid, &st, 0), k.pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return rep;
}

/* A fresh client takes every block of both classes: none may be missing (lost) or fail. */
static void assert_pool_whole(const struct rig *r)
{
	static const size_t sizes[2] = { 64, 256 }, counts[2] = { 256, 64 };
	struct rtmem_client *c;
	struct rtmem_pool *p;
	void **b = calloc(256, sizeof(*b));

	assert_int_equal(rtmem_connect(r->sock, "census", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "life", RTMEM_POOL_NOLOCK, &p), 0);
	for (int k = 0; k < 2; k++) {
		size_t n = 0;

		while (n < 256 && rtmem_alloc(p, sizes[k], &b[n]) == 0)
			n++;
		assert_int_equal(n, counts[k]);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(rtmem_free(p, b[i]), 0);
	}
	for (int i = 0; i < 300; i++) { /* a buddy area: every byte free once the reclaims ran */
		struct rtmem_pool_stats s;

		rtmem_pool_stats(p, &s);
		if (s.buddy_free == s.buddy_size)
			break;
		assert_true(i < 299);
		usleep(10000);
	}
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	free(b);
}

/* Wait until the daemon's log holds @what (it logs asynchronously to us). */
static bool log_waits_for(const struct rig *r, const char *what)
{
	for (int i = 0; i < 300; i++) {
		if (strstr(rig_log(r), what))
			return true;
		usleep(10000);
	}
	return false;
}

static void test_restart_sigkill_sigterm_clients_undisturbed(void **state)
{
	struct rig *r = *state;
	struct kid kids[NCLIENTS], victim;
	uint64_t worst = 0;
	int st;

	rig_start(r, true);
	assert_true(store_fd(&r->st, "pool-life") >= 0);
	assert_true(store_fd(&r->st, "key") >= 0);
	for (int i = 0; i < NCLIENTS; i++)
		kids[i] = spawn_client(r, i + 1);
	victim = spawn_client(r, 9);
	usleep(100000);

	/* crash: kill -9, then a client dies while no daemon runs */
	rig_kill(r, SIGKILL);
	usleep(50000);
	kill(victim.pid, SIGKILL);
	waitpid(victim.pid, &st, 0);
	close(victim.out);
	usleep(50000);
	rig_start(r, true);
	assert_non_null(strstr(rig_log(r), "3 clients kept, 1 exited meanwhile"));
	{
		const char *l = strstr(rig_log(r), "re-adopted 1 pools from the fd store in");

		assert_non_null(l);
		print_message("after kill -9: %.*s\n", (int)strcspn(l, "\n"), l);
	}
	usleep(200000); /* the clients reconnect on their next check */
	assert_true(log_waits_for(r, "resumed pool \"life\""));

	/* an orderly stop (what systemctl restart and an upgrade do), then a start */
	st = rig_kill(r, SIGTERM);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(strstr(rig_log(r), "kept for it (daemon stopping)"));
	usleep(100000);
	rig_start(r, true);
	usleep(200000);

	/* a grabber takes everything free: if a held block were free it would get it */
	{
		struct rtmem_client *c;
		struct rtmem_pool *p;
		void *b[256];
		size_t n = 0;

		assert_int_equal(rtmem_connect(r->sock, "grabber", &c), 0);
		assert_int_equal(rtmem_pool_open(c, "life", RTMEM_POOL_NOLOCK, &p), 0);
		while (n < 256 && rtmem_alloc(p, 64, &b[n]) == 0) {
			memset(b[n], 0xee, 64);
			n++;
		}
		assert_int_equal(n, hold_size == 64 ? 256 - NCLIENTS * HOLD : 256); /* the arena rig holds buddy blocks */
		usleep(50000);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(rtmem_free(p, b[i]), 0);
		rtmem_pool_close(p);
		rtmem_disconnect(c);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		struct report rep = collect(kids[i]);

		print_message("client %d: %llu calls, %llu errors, %llu corrupt, %llu reconnects, longest call %llu us\n",
			      i + 1, (unsigned long long)rep.calls, (unsigned long long)rep.errors,
			      (unsigned long long)rep.corrupt, (unsigned long long)rep.reconnects,
			      (unsigned long long)(rep.longest_ns / 1000));
		assert_int_equal(rep.errors, 0);
		assert_int_equal(rep.corrupt, 0);
		assert_int_equal(rep.frees_failed, 0);
		assert_int_equal(rep.reconnects, 2);
		assert_true(rep.saw_shutdown > 0); /* the SIGTERM'd daemon said so in the header */
		assert_int_equal(rep.final_check, 0);
		if (rep.longest_ns > worst)
			worst = rep.longest_ns;
	}
	print_message("longest alloc/free across a kill -9 and a SIGTERM restart: %llu us\n",
		      (unsigned long long)(worst / 1000));
	usleep(100000);
	assert_pool_whole(r);
}

/* A shared block outlives a daemon crash while its holders live; a holder
 * that died while no daemon ran lets go of it at the restart, and the last
 * release frees it. */
static void test_restart_keeps_shared_blocks(void **state)
{
	struct rig *r = *state;
	struct rtmem_client *cx, *cy;
	struct rtmem_pool *px, *py;
	unsigned char *b, *by, want[64]; /* b in X's mapping, by the same block in Y's */
	uint64_t zid;
	int pfd[2], st;
	pid_t kid;

	rig_start(r, true);
	assert_int_equal(pipe(pfd), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) { /* Z: a holder that dies with the daemon down */
		struct rtmem_client *cz;
		struct rtmem_pool *pz;

		close(pfd[0]);
		if (rtmem_connect(r->sock, "holder-z", &cz) != 0 || rtmem_pool_open(cz, "life", RTMEM_POOL_NOLOCK, &pz) != 0)
			_exit(1);
		zid = rtmem_pool_client_id(pz);
		if (write(pfd[1], &zid, sizeof(zid)) != sizeof(zid))
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &zid, sizeof(zid)), (ssize_t)sizeof(zid));
	close(pfd[0]);
	assert_int_equal(rtmem_connect(r->sock, "holder-x", &cx), 0);
	assert_int_equal(rtmem_pool_open(cx, "life", RTMEM_POOL_NOLOCK, &px), 0);
	assert_int_equal(rtmem_connect(r->sock, "holder-y", &cy), 0);
	assert_int_equal(rtmem_pool_open(cy, "life", RTMEM_POOL_NOLOCK, &py), 0);
	assert_int_equal(rtmem_alloc(px, 64, (void **)&b), 0);
	by = rtmem_off_to_ptr(py, rtmem_ptr_to_off(px, b));
	assert_non_null(by);
	memset(b, 0x5a, 64);
	memset(want, 0x5a, 64);
	assert_int_equal(rtmem_share(px, b, rtmem_pool_client_id(py)), 0);
	assert_int_equal(rtmem_share(px, b, zid), 0);
	assert_int_equal(rtmem_holders(px, b), 3);

	rig_kill(r, SIGKILL);
	kill(kid, SIGKILL);
	assert_int_equal(waitpid(kid, &st, 0), kid);
	rig_start(r, true);
	/* the survey's other owner is Z, and it takes no block with it */
	assert_non_null(strstr(rig_log(r), "2 clients kept, 1 exited meanwhile, 0 records not trusted, 1 other owners; "
					   "0 blocks (0 bytes) reclaimed"));
	/* Z's hold went with Z; X's and Y's stayed, and so did the block */
	assert_int_equal(rtmem_holders(py, by), 2);
	assert_memory_equal(by, want, 64);
	assert_int_equal(rtmem_release(px, b), 0);
	assert_int_equal(rtmem_release(py, by), 1);
	assert_int_equal(rtmem_holders(py, by), 0);
	rtmem_pool_close(px);
	rtmem_disconnect(cx);
	rtmem_pool_close(py);
	rtmem_disconnect(cy);
	usleep(100000);
	assert_pool_whole(r);
}

/* Slot records are the clients' to scribble on: garbage must neither crash the daemon nor keep blocks. */
static void test_restart_garbage_records_not_trusted(void **state)
{
	struct rig *r = *state;
	struct rtmem_client *c;
	struct rtmem_pool *p;
	struct rg_region *rg;
	struct rg_slot_record rec;
	void *b[8];
	void *mem;
	size_t size;
	int fd;

	rig_start(r, true);
	assert_int_equal(rtmem_connect(r->sock, "scribbler", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "life", RTMEM_POOL_NOLOCK, &p), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(rtmem_alloc(p, 64, &b[i]), 0);
	fd = store_fd(&r->st, "pool-life");
	size = (size_t)lseek(fd, 0, SEEK_END);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(rg_region_attach(mem, size, &rg), 0);
	/* our own record: re-aimed at pid 1 (alive forever), tag left as it was */
	assert_int_equal(rg_region_slot_get(rg, 1, &rec), 0);
	assert_int_equal(rec.pid, (uint64_t)getpid());
	rec.pid = 1;
	assert_int_equal(rg_region_slot_set(rg, 1, &rec), 0);
	/* free slots: garbage of every kind */
	for (uint32_t s = 2; s <= 8; s++) {
		struct rg_slot_record g = { .owner = ~0ull / s, .pid = s == 2 ? 1 : ~0ull - s,
					       .start_time = s * 12345u, .flags = s * 0x9e3779b97f4a7c15ull };

		assert_int_equal(rg_region_slot_set(rg, s, &g), 0);
	}
	rg_region_detach(rg);
	munmap(mem, size);

	rig_kill(r, SIGKILL);
	rig_start(r, true);
	assert_non_null(strstr(rig_log(r), "0 clients kept, 0 exited meanwhile, 8 records not trusted"));
	/* our blocks went back: the daemon does not know us any more */
	assert_int_equal(rtmem_client_check(c), -ESTALE);
	assert_int_equal(rtmem_pool_daemon(p), -ESHUTDOWN);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	assert_pool_whole(r);
}

/* Without a store (a daemon started by hand): stop keeps the blocks; a new daemon's pool is another one. */
static void test_stop_without_store_keeps_blocks(void **state)
{
	struct rig *r = *state;
	struct rtmem_client *c;
	struct rtmem_pool *p;
	void *b[16], *x;

	rig_start(r, false);
	assert_int_equal(rtmem_connect(r->sock, "alone", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "life", RTMEM_POOL_NOLOCK, &p), 0);
	assert_int_equal(rtmem_pool_daemon(p), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(rtmem_alloc(p, 64, &b[i]), 0);
		memset(b[i], i, 64);
	}
	rig_kill(r, SIGTERM);
	assert_int_equal(rtmem_pool_daemon(p), -ESHUTDOWN);
	assert_int_equal(rtmem_client_check(c), -ESHUTDOWN);
	for (int i = 0; i < 100; i++) { /* the RT path does not care */
		assert_int_equal(rtmem_alloc(p, 64, &x), 0);
		assert_int_equal(rtmem_free(p, x), 0);
	}
	rig_start(r, false);
	assert_int_equal(rtmem_client_check(c), -ESTALE); /* new pool, other memory */
	for (int i = 0; i < 16; i++) {
		unsigned char want[64];

		memset(want, i, sizeof(want));
		assert_memory_equal(b[i], want, sizeof(want));
		assert_int_equal(rtmem_free(p, b[i]), 0);
	}
	rtmem_pool_close(p);
	rtmem_disconnect(c);
}

/* A changed pool is kept as it was while a client uses it, replaced once none does. */
static void test_restart_changed_config_kept_while_used(void **state)
{
	struct rig *r = *state;
	struct kid k;
	struct report rep;

	rig_start(r, true);
	k = spawn_client(r, 5);
	rig_write_conf(r, "64x512, 256x64");
	rig_kill(r, SIGTERM);
	rig_start(r, true);
	assert_non_null(strstr(rig_log(r), "the configuration changed, but 1 clients use it"));
	usleep(100000);
	rep = collect(k);
	assert_int_equal(rep.errors, 0);
	assert_int_equal(rep.corrupt, 0);
	assert_int_equal(rep.reconnects, 1);
	assert_int_equal(rep.frees_failed, 0);
	rig_kill(r, SIGTERM);
	rig_start(r, true);
	assert_non_null(strstr(rig_log(r), "no client uses it: replaced by a new pool as configured"));
	assert_int_equal(store_fd(&r->st, "pool-life") >= 0, 1);
}

/* rtmem_disconnect() closes the pools: unmapped, blocks reclaimed; rtmem_pool_close() after it is safe. */
static void test_disconnect_closes_pools(void **state)
{
	struct rig *r = *state;
	struct rtmem_client *c;
	struct rtmem_pool *p;
	void *b[32];
	char line[512];
	bool mapped = false;
	FILE *f;

	rig_start(r, false);
	assert_int_equal(rtmem_connect(r->sock, "leaver", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "life", RTMEM_POOL_NOLOCK, &p), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(rtmem_alloc(p, 64, &b[i]), 0);
	rtmem_disconnect(c);
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		mapped |= strstr(line, "rtmemd:life") != NULL;
	fclose(f);
	assert_false(mapped);
	rtmem_pool_close(p); /* frees the empty handle: ASan/valgrind would see a use after free */
	assert_true(log_waits_for(r, "reclaimed 32 blocks"));
	assert_pool_whole(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart_sigkill_sigterm_clients_undisturbed, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_restart_sigkill_sigterm_clients_undisturbed, rig_setup_striped,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_restart_sigkill_sigterm_clients_undisturbed, rig_setup_arena,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_shared_blocks, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_restart_garbage_records_not_trusted, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_stop_without_store_keeps_blocks, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_restart_changed_config_kept_while_used, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_closes_pools, rig_setup, rig_teardown),
	};
	struct passwd *pw = getpwuid(getuid());

	if (!pw) {
		fprintf(stderr, "SKIP: no user database entry for uid %u\n", (unsigned)getuid());
		return 77;
	}
	snprintf(me, sizeof(me), "%s", pw->pw_name);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
