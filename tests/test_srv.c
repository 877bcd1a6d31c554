/* SPDX-License-Identifier: MIT */
/*
 * test_srv.c - daemon/srv.c on both event loops (daemon/loop.c): the
 * conversation of lib/proto/proto.h over socketpairs and a real listening socket,
 * protocol violations, owner slots and generations, ACLs for another uid,
 * and reclaim on hang-up and on process death (pidfd).
 *
 * Each test runs twice: on io_uring (skipped if this kernel refuses it) and
 * on epoll. The server and the test's client sides share one thread: the
 * test sends, then pumps the loop until the reply is there.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "loop.h"
#include "pool.h"
#include "proto.h"
#include "srv.h"

#define NOBODY 65534u

static const char conf[] = "[pool public]\n"
			   "slab = 64x64\n"
			   "buddy = 64K\n"
			   "buddy_max = 16K\n"
			   "max_clients = 2\n"
			   "users = nobody\n"
			   "reserve_slab = 64x8\n"
			   "reserve_users = nobody\n"
			   "[pool secret]\n"
			   "slab = 64x16\n"
			   "users = root\n"
			   "[pool bygroup]\n"
			   "slab = 128x16\n"
			   "groups = nogroup\n";

struct fx {
	enum loop_kind kind;
	struct cfg *cfg;
	struct pool pools[3];
	unsigned npools;
	struct loop *loop;
	struct srv *srv;
	char dir[64], sock[128];
	uint32_t seq;
};

static int fx_setup(void **state)
{
	enum loop_kind kind = (enum loop_kind)(uintptr_t)*state;
	struct fx *f = calloc(1, sizeof(*f));
	struct cfg_error cerr;
	struct pool_error perr;
	int rc;

	assert_non_null(f);
	f->kind = kind;
	rc = cfg_parse(conf, strlen(conf), "test", 0, &f->cfg, &cerr);
	if (rc < 0)
		fail_msg("%s", cerr.msg);
	for (unsigned i = 0; i < f->cfg->npools; i++) {
		assert_int_equal(pool_create(&f->cfg->pools[i], 0, &f->pools[i], &perr), 0);
		assert_int_equal(pool_format(&f->pools[i], &perr), 0);
		f->npools++;
	}
	rc = loop_new(kind, &f->loop, NULL);
	if (rc < 0 && kind == LOOP_URING) {
		print_message("io_uring unavailable here (%s): skipping its run\n", strerror(-rc));
		f->loop = NULL;
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(srv_new(f->cfg, f->pools, f->npools, f->loop, &f->srv), 0);
	}
	strcpy(f->dir, "/tmp/test_srv.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chmod(f->dir, 0755), 0); /* the other-uid client must reach the socket */
	snprintf(f->sock, sizeof(f->sock), "%s/s/rtmemd.sock", f->dir);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char sub[128];

	srv_free(f->srv);
	loop_free(f->loop);
	for (unsigned i = 0; i < f->npools; i++)
		pool_destroy(&f->pools[i]);
	cfg_free(f->cfg);
	snprintf(sub, sizeof(sub), "%s/s", f->dir);
	rmdir(sub);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct fx *fx_get(void **state)
{
	struct fx *f = *state;

	if (!f->loop)
		skip();
	return f;
}

/* A connected pair; the server end is adopted. Return: the client end. */
static int connect_pair(struct fx *f)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(srv_adopt(f->srv, sv[1]), 0);
	return sv[0];
}

/* Pump the loop until @fd has something (or is closed). Return: bytes, 0 on EOF; fd passed in *ret_fd. */
static ssize_t pump_recv(struct fx *f, int fd, void *buf, size_t len, int *ret_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };

	if (ret_fd)
		*ret_fd = -1;
	for (int i = 0; i < 500; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 0) == 1) {
			n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm))
				if (cm->cmsg_type == SCM_RIGHTS && ret_fd)
					memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
			return n < 0 ? -errno : n;
		}
		assert_true(loop_run_once(f->loop, 10) >= 0);
	}
	fail_msg("no reply from the server");
	return -1;
}


/* Send @m of @type; receive the reply in @rep. Return: the reply's type, 0 on EOF. */
static int ask(struct fx *f, int fd, union rtmem_msg *m, uint32_t type, union rtmem_msg *rep, int *ret_fd)
{
	ssize_t n;

	rtmem_msg_init(&m->h, type, ++f->seq);
	assert_int_equal(send(fd, m, m->h.size, 0), (ssize_t)m->h.size);
	n = pump_recv(f, fd, rep, sizeof(*rep), ret_fd);
	if (n == 0)
		return 0;
	assert_true(n >= (ssize_t)sizeof(rep->h));
	assert_int_equal(rep->h.seq, f->seq);
	return rep->h.type;
}

static void hello(struct fx *f, int fd, const char *name, union rtmem_msg *rep)
{
	union rtmem_msg m = { 0 };

	strcpy(m.hello.name, name);
	assert_int_equal(ask(f, fd, &m, RTMEM_MSG_HELLO, rep, NULL), RTMEM_MSG_HELLO_REPLY);
}

static int open_pool(struct fx *f, int fd, const char *pool, union rtmem_msg *rep, int *ret_fd)
{
	union rtmem_msg m = { 0 };

	strcpy(m.open.pool, pool);
	return ask(f, fd, &m, RTMEM_MSG_OPEN, rep, ret_fd);
}

static void test_srv_hello_status_info(void **state)
{
	struct fx *f = fx_get(state);
	union rtmem_msg m = { 0 }, rep;
	int fd = connect_pair(f);

	hello(f, fd, "tester", &rep);
	if (getuid() == 0) /* root may open every pool */
		assert_int_equal(rep.hello_reply.npools, 3);
	assert_int_equal(ask(f, fd, &m, RTMEM_MSG_STATUS, &rep, NULL), RTMEM_MSG_STATUS_REPLY);
	assert_string_equal(rep.status_reply.phase, "serving");
	assert_string_equal(rep.status_reply.loop, f->kind == LOOP_URING ? "io_uring" : "epoll");
	assert_int_equal(rep.status_reply.npools, 3);
	assert_int_equal(rep.status_reply.nclients, 1);
	assert_int_equal(rep.status_reply.pid, getpid());
	m.index.index = 1;
	assert_int_equal(ask(f, fd, &m, RTMEM_MSG_POOL_INFO, &rep, NULL), RTMEM_MSG_POOL_INFO_REPLY);
	assert_string_equal(rep.pool_info_reply.name, "secret");
	assert_int_equal(rep.pool_info_reply.stats.cls[0].count, 16);
	m.index.index = 3;
	assert_int_equal(ask(f, fd, &m, RTMEM_MSG_POOL_INFO, &rep, NULL), RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, ENOENT);
	m.index.index = 0;
	assert_int_equal(ask(f, fd, &m, RTMEM_MSG_CLIENT_INFO, &rep, NULL), RTMEM_MSG_CLIENT_INFO_REPLY);
	assert_string_equal(rep.client_info_reply.name, "tester");
	assert_int_equal(rep.client_info_reply.pid, getpid());
	m.index.index = 1;
	assert_int_equal(ask(f, fd, &m, RTMEM_MSG_CLIENT_INFO, &rep, NULL), RTMEM_MSG_ERROR);
	close(fd);
}

/* Send @len raw bytes; expect one ERROR EPROTO, then the end of the connection. */
static void expect_violation(struct fx *f, int fd, const void *buf, size_t len, const char *why)
{
	union rtmem_msg rep;

	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
	assert_true(pump_recv(f, fd, &rep, sizeof(rep), NULL) == (ssize_t)sizeof(rep.error));
	assert_int_equal(rep.h.type, RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, EPROTO);
	if (!strstr(rep.error.msg, why))
		fail_msg("\"%s\" does not say \"%s\"", rep.error.msg, why);
	assert_int_equal(pump_recv(f, fd, &rep, sizeof(rep), NULL), 0);
	close(fd);
}

static void test_srv_protocol_violations_disconnect(void **state)
{
	struct fx *f = fx_get(state);
	union rtmem_msg m = { 0 }, rep, good_rep;
	static char big[RTMEM_MSG_MAX + 100];
	int good = connect_pair(f);

	hello(f, good, "good", &good_rep);
	expect_violation(f, connect_pair(f), "abc", 3, "shorter than a header");
	rtmem_msg_init(&m.h, RTMEM_MSG_HELLO, 1);
	m.h.magic = 0x12345678;
	expect_violation(f, connect_pair(f), &m, m.h.size, "bad magic");
	rtmem_msg_init(&m.h, RTMEM_MSG_HELLO, 1);
	m.h.version = 99;
	expect_violation(f, connect_pair(f), &m, m.h.size, "version");
	rtmem_msg_init(&m.h, RTMEM_MSG_HELLO, 1);
	m.h.type = 200;
	expect_violation(f, connect_pair(f), &m, m.h.size, "unknown message type");
	rtmem_msg_init(&m.h, RTMEM_MSG_HELLO, 1);
	expect_violation(f, connect_pair(f), &m, m.h.size + 1u, "size");
	expect_violation(f, connect_pair(f), big, sizeof(big), "larger than any message");
	rtmem_msg_init(&m.h, RTMEM_MSG_STATUS, 1);
	expect_violation(f, connect_pair(f), &m, m.h.size, "before HELLO");
	memset(&m, 0, sizeof(m));
	rtmem_msg_init(&m.h, RTMEM_MSG_HELLO, 1);
	memset(m.hello.name, 'x', sizeof(m.hello.name));
	expect_violation(f, connect_pair(f), &m, m.h.size, "not NUL-terminated");

	/* after HELLO: a second HELLO, a reply type, an unterminated pool name */
	for (int k = 0; k < 3; k++) {
		int fd = connect_pair(f);

		hello(f, fd, "bad", &rep);
		memset(&m, 0, sizeof(m));
		rtmem_msg_init(&m.h, k == 0 ? RTMEM_MSG_HELLO : k == 1 ? RTMEM_MSG_CLOSE_REPLY : RTMEM_MSG_OPEN, 2);
		if (k == 2)
			memset(m.open.pool, 'p', sizeof(m.open.pool));
		expect_violation(f, fd, &m, m.h.size, k == 0 ? "second HELLO" : k == 1 ? "not a request" : "NUL");
	}
	/* the daemon and the good client carry on */
	memset(&m, 0, sizeof(m));
	assert_int_equal(ask(f, good, &m, RTMEM_MSG_STATUS, &rep, NULL), RTMEM_MSG_STATUS_REPLY);
	assert_int_equal(rep.status_reply.nclients, 1);
	close(good);
}

static void test_srv_open_slots_generations(void **state)
{
	struct fx *f = fx_get(state);
	union rtmem_msg m = { 0 }, rep;
	int a = connect_pair(f), b = connect_pair(f), c = connect_pair(f), mfd;
	struct stat st;

	hello(f, a, "a", &rep);
	hello(f, b, "b", &rep);
	hello(f, c, "c", &rep);
	assert_int_equal(open_pool(f, a, "public", &rep, &mfd), RTMEM_MSG_OPEN_REPLY);
	assert_int_equal(rep.open_reply.slot, 1);
	assert_int_equal(rep.open_reply.gen, 1);
	assert_int_equal(rep.open_reply.size, f->pools[0].size);
	assert_int_equal(rep.open_reply.flags & RTMEM_OPEN_RESERVE, 0); /* root is not granted the reserve */
	assert_true(mfd >= 0);
	assert_int_equal(fstat(mfd, &st), 0);
	assert_int_equal(st.st_size, (off_t)f->pools[0].size);
	/* and F_SEAL_EXEC (0x20) where the kernel has MFD_NOEXEC_SEAL (6.3+) */
	assert_int_equal(fcntl(mfd, F_GET_SEALS) & ~0x20, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(st.st_mode & 0111, 0); /* never executable: sealed, or mode 0600 */
	close(mfd);
	assert_int_equal(open_pool(f, a, "public", &rep, NULL), RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, EBUSY);
	assert_int_equal(open_pool(f, a, "nope", &rep, NULL), RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, ENOENT);
	strcpy(m.open.pool, "public");
	m.open.flags = 0x80;
	assert_int_equal(ask(f, a, &m, RTMEM_MSG_OPEN, &rep, NULL), RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, EINVAL);
	assert_int_equal(open_pool(f, b, "public", &rep, NULL), RTMEM_MSG_OPEN_REPLY);
	assert_int_equal(rep.open_reply.slot, 2);
	assert_int_equal(open_pool(f, c, "public", &rep, NULL), RTMEM_MSG_ERROR); /* max_clients = 2 */
	assert_int_equal(rep.error.err, EUSERS);
	memset(&m, 0, sizeof(m));
	strcpy(m.close.pool, "public");
	assert_int_equal(ask(f, a, &m, RTMEM_MSG_CLOSE, &rep, NULL), RTMEM_MSG_CLOSE_REPLY);
	assert_int_equal(ask(f, a, &m, RTMEM_MSG_CLOSE, &rep, NULL), RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, ENOENT);
	assert_int_equal(open_pool(f, c, "public", &rep, NULL), RTMEM_MSG_OPEN_REPLY);
	assert_int_equal(rep.open_reply.slot, 1);
	assert_int_equal(rep.open_reply.gen, 2); /* a reused slot never repeats an owner word */
	close(a);
	close(b);
	close(c);
}

/* Map the pool from @mfd and allocate @n slab blocks and one buddy block as @owner. */
static void alloc_some(int mfd, size_t size, uint64_t owner, int n)
{
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0), *p;
	struct rg_region *r;

	assert_true(mem != MAP_FAILED);
	assert_int_equal(rg_region_attach(mem, size, &r), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(rg_slab_alloc(r, 0, owner, 0, &p), 0);
	assert_int_equal(rg_buddy_alloc(r, 1000, owner, 0, &p), 0);
	rg_region_detach(r);
	munmap(mem, size);
}

static void assert_pool_empty(struct fx *f, unsigned i)
{
	struct rg_region_stats st;
	char msg[128];

	rg_region_stats(f->pools[i].region, &st);
	assert_int_equal(st.cls[0].in_use, 0);
	assert_int_equal(st.buddy_free, st.buddy_size);
	assert_int_equal(rg_region_check(f->pools[i].region, msg, sizeof(msg)), 0);
}

static void test_srv_reclaim_on_hangup(void **state)
{
	struct fx *f = fx_get(state);
	union rtmem_msg rep;
	int a = connect_pair(f), b = connect_pair(f), mfd;
	struct rg_region_stats st;

	hello(f, a, "a", &rep);
	hello(f, b, "b", &rep);
	assert_int_equal(open_pool(f, a, "public", &rep, &mfd), RTMEM_MSG_OPEN_REPLY);
	alloc_some(mfd, f->pools[0].size, rg_owner(rep.open_reply.slot, rep.open_reply.gen), 5);
	close(mfd);
	assert_int_equal(open_pool(f, b, "public", &rep, &mfd), RTMEM_MSG_OPEN_REPLY);
	alloc_some(mfd, f->pools[0].size, rg_owner(rep.open_reply.slot, rep.open_reply.gen), 3);
	close(mfd);
	close(a);
	while (srv_nclients(f->srv) > 1)
		assert_true(loop_run_once(f->loop, 100) >= 0);
	rg_region_stats(f->pools[0].region, &st);
	assert_int_equal(st.cls[0].in_use, 3); /* exactly a's blocks went, b's stay */
	close(b);
	while (srv_nclients(f->srv) > 0)
		assert_true(loop_run_once(f->loop, 100) >= 0);
	assert_pool_empty(f, 0);
}

/* Child: connect to @path as @uid (if not -1), open @pool, allocate, report on @out. */
static int child_client(const char *path, uid_t uid, int out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rtmem_msg_hello h = { 0 };
	union rtmem_msg rep, m = { 0 };
	int fd, mfd, rc;

	/* raw system calls: this process is single-threaded, and glibc's all-threads
	 * broadcast of set*id spins forever under qemu-user (the arm64 test run) */
	if (uid != (uid_t)-1 && (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, uid, uid, uid) < 0 ||
				 syscall(SYS_setresuid, uid, uid, uid) < 0))
		return 10;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 11;
	strcpy(h.name, "child");
	if (rtmem_msg_transact(fd, 1, &h, RTMEM_MSG_HELLO, &rep, RTMEM_MSG_HELLO_REPLY, NULL) < 0)
		return 12;
	if (write(out, &rep.hello_reply.npools, sizeof(uint32_t)) != sizeof(uint32_t))
		return 13;
	strcpy(m.open.pool, "secret");
	rc = rtmem_msg_transact(fd, 2, &m, RTMEM_MSG_OPEN, &rep, RTMEM_MSG_OPEN_REPLY, &mfd);
	if (write(out, &rc, sizeof(rc)) != sizeof(rc))
		return 14;
	strcpy(m.open.pool, "public");
	if (rtmem_msg_transact(fd, 3, &m, RTMEM_MSG_OPEN, &rep, RTMEM_MSG_OPEN_REPLY, &mfd) < 0)
		return 15;
	if (write(out, &rep.open_reply.flags, sizeof(uint32_t)) != sizeof(uint32_t))
		return 16;
	alloc_some(mfd, rep.open_reply.size, rg_owner(rep.open_reply.slot, rep.open_reply.gen), 4);
	if (fork() == 0) { /* keeps the socket open: only the pidfd can tell its parent died */
		char b;

		alarm(30);
		while (recv(fd, &b, 1, 0) > 0) /* until the daemon shuts the connection */
			;
		_exit(0);
	}
	return 0;
}

static void test_srv_other_uid_acl_and_pidfd_reclaim(void **state)
{
	struct fx *f = fx_get(state);
	char err[SRV_ERR_MAX];
	uint32_t npools = 0, flags = 0;
	int p[2], rc = 0, status;
	uid_t uid = getuid() == 0 ? NOBODY : (uid_t)-1;
	pid_t pid;

#ifdef RTMEM_EMULATED
	print_message("under qemu-user the forked client spins before it connects: not run here\n");
	skip();
#endif
	assert_int_equal(srv_listen(f->srv, f->sock, 0666, (gid_t)-1, err), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(child_client(f->sock, uid, p[1]));
	}
	close(p[1]);
	while (waitpid(pid, &status, WNOHANG) == 0)
		assert_true(loop_run_once(f->loop, 10) >= 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(p[0], &npools, sizeof(npools)), sizeof(npools));
	assert_int_equal(read(p[0], &rc, sizeof(rc)), sizeof(rc));
	assert_int_equal(read(p[0], &flags, sizeof(flags)), sizeof(flags));
	close(p[0]);
	if (uid == NOBODY) {
		assert_int_equal(npools, 2);      /* public (user) and bygroup (primary group), not secret */
		assert_int_equal(rc, -EACCES);
		assert_int_equal(flags, RTMEM_OPEN_RESERVE);
	} else {
		print_message("not root: the other-uid half of this test did not run\n");
	}
	while (srv_nclients(f->srv) > 0) /* the grandchild still holds the socket: the pidfd tells */
		assert_true(loop_run_once(f->loop, 100) >= 0);
	assert_pool_empty(f, 0);
}

static void test_srv_listen_stale_live_and_not_socket(void **state)
{
	struct fx *f = fx_get(state);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char err[SRV_ERR_MAX], sub[128];
	struct srv *other;
	struct stat st;
	int fd;

	snprintf(sub, sizeof(sub), "%s/s", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	/* a stale socket: bound, then its owner gone */
	strcpy(sa.sun_path, f->sock);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(srv_listen(f->srv, f->sock, 0660, getgid(), err), 0);
	assert_int_equal(stat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	/* a live one */
	assert_int_equal(srv_new(f->cfg, f->pools, f->npools, f->loop, &other), 0);
	assert_int_equal(srv_listen(other, f->sock, 0660, (gid_t)-1, err), -EADDRINUSE);
	print_message("%s\n", err);
	srv_free(other);
	assert_int_equal(stat(f->sock, &st), 0); /* the failed one did not unlink ours */
	/* not a socket */
	srv_free(f->srv);
	f->srv = NULL;
	assert_int_equal(stat(f->sock, &st), -1); /* srv_free unlinked it */
	fd = open(f->sock, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(srv_new(f->cfg, f->pools, f->npools, f->loop, &f->srv), 0);
	assert_int_equal(srv_listen(f->srv, f->sock, 0660, (gid_t)-1, err), -EEXIST);
	assert_non_null(strstr(err, "not a socket"));
	unlink(f->sock);
}

/* A monitor (monitor socket, or HELLO with RTMEM_HELLO_MONITOR) reads, opens nothing, is not counted. */
static void test_srv_monitor_reads_but_cannot_open(void **state)
{
	struct fx *f = fx_get(state);
	union rtmem_msg m = { 0 }, rep;
	int sv[2], mon, flagged = connect_pair(f), cl = connect_pair(f), mfd = -1;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(srv_adopt_monitor(f->srv, sv[1]), 0);
	mon = sv[0];
	hello(f, cl, "rt-app", &rep);
	hello(f, mon, "prometheus", &rep);
	assert_int_equal(rep.hello_reply.npools, 0); /* even for root: a monitor may open none */
	strcpy(m.hello.name, "rtmemctl");
	m.hello.flags = RTMEM_HELLO_MONITOR;
	assert_int_equal(ask(f, flagged, &m, RTMEM_MSG_HELLO, &rep, NULL), RTMEM_MSG_HELLO_REPLY);
	assert_int_equal(rep.hello_reply.npools, 0);
	memset(&m, 0, sizeof(m));
	assert_int_equal(ask(f, mon, &m, RTMEM_MSG_STATUS, &rep, NULL), RTMEM_MSG_STATUS_REPLY);
	assert_int_equal(rep.status_reply.nclients, 1); /* the RT client only */
	m.index.index = 0;
	assert_int_equal(ask(f, mon, &m, RTMEM_MSG_CLIENT_INFO, &rep, NULL), RTMEM_MSG_CLIENT_INFO_REPLY);
	assert_string_equal(rep.client_info_reply.name, "rt-app");
	m.index.index = 1;
	assert_int_equal(ask(f, mon, &m, RTMEM_MSG_CLIENT_INFO, &rep, NULL), RTMEM_MSG_ERROR);
	assert_int_equal(open_pool(f, mon, "public", &rep, &mfd), RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, EACCES);
	assert_int_equal(mfd, -1);
	assert_non_null(strstr(rep.error.msg, "monitor"));
	assert_int_equal(open_pool(f, flagged, "secret", &rep, &mfd), RTMEM_MSG_ERROR);
	assert_int_equal(rep.error.err, EACCES);
	memset(&m, 0, sizeof(m));
	assert_int_equal(ask(f, mon, &m, RTMEM_MSG_COUNTERS, &rep, NULL), RTMEM_MSG_COUNTERS_REPLY);
	assert_int_equal(rep.counters_reply.monitors, 2);
	assert_int_equal(rep.counters_reply.connections_total, 3);
	assert_int_equal(rep.counters_reply.refusals_total, 3);
	close(mon);
	close(flagged);
	close(cl);
	while (srv_nclients(f->srv) > 0)
		assert_true(loop_run_once(f->loop, 100) >= 0);
}

/* COUNTERS: a client that goes holding blocks is one reclaim of exactly its blocks. */
static void test_srv_counters_count_reclaims(void **state)
{
	struct fx *f = fx_get(state);
	union rtmem_msg m = { 0 }, rep;
	int a = connect_pair(f), mon = connect_pair(f), mfd;

	if (getuid() != 0)
		skip(); /* "public" is open to nobody and root only */
	hello(f, a, "a", &rep);
	assert_int_equal(open_pool(f, a, "public", &rep, &mfd), RTMEM_MSG_OPEN_REPLY);
	alloc_some(mfd, f->pools[0].size, rg_owner(rep.open_reply.slot, rep.open_reply.gen), 5);
	close(mfd);
	close(a);
	while (srv_nclients(f->srv) > 1)
		assert_true(loop_run_once(f->loop, 100) >= 0);
	hello(f, mon, "mon", &rep);
	assert_int_equal(ask(f, mon, &m, RTMEM_MSG_COUNTERS, &rep, NULL), RTMEM_MSG_COUNTERS_REPLY);
	assert_int_equal(rep.counters_reply.reclaims_total, 1);
	assert_int_equal(rep.counters_reply.reclaimed_blocks_total, 5 + 1);      /* alloc_some: 5 slab + 1 buddy */
	assert_int_equal(rep.counters_reply.reclaimed_bytes_total, 5 * 64 + 1024);
	assert_int_equal(rep.counters_reply.clients_gone_total, 1);
	assert_true(rep.counters_reply.start_time > 1600000000);
	close(mon);
}

#define BOTH(fn)                                                                                        \
	cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, (void *)(uintptr_t)LOOP_URING), \
		cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, (void *)(uintptr_t)LOOP_EPOLL)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_srv_hello_status_info),
		BOTH(test_srv_protocol_violations_disconnect),
		BOTH(test_srv_open_slots_generations),
		BOTH(test_srv_reclaim_on_hangup),
		BOTH(test_srv_other_uid_acl_and_pidfd_reclaim),
		BOTH(test_srv_listen_stale_live_and_not_socket),
		BOTH(test_srv_monitor_reads_but_cannot_open),
		BOTH(test_srv_counters_count_reclaims),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
