/* SPDX-License-Identifier: MIT */
/*
 * fuzz_srv.c - fuzz the daemon's protocol decoder and handlers (daemon/srv.c)
 * through a real connection: one srv with two small pools on the epoll loop,
 * a socketpair adopted as a client, and each input cut into datagrams
 * (a 2-byte little-endian length before each, so inputs can hold a valid HELLO
 * followed by garbage). After every input the same connection, or a new one if
 * the daemon hung up, must still get a correct HELLO_REPLY: the daemon keeps
 * serving whatever a client sends.
 *
 * Built two ways: with clang -fsanitize=fuzzer (the "fuzz" preset: libFuzzer
 * drives it), and everywhere else with fuzz_main.c, which replays the seeds
 * and a fixed number of deterministic mutations of them, so every preset
 * (ASan, valgrind, qemu) runs the decoder on hostile input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "loop.h"
#include "pool.h"
#include "proto.h"
#include "srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] = "[pool a]\nslab = 64x16\nbuddy = 16K\nbuddy_max = 4K\nusers = root, nobody\n"
			   "[pool b]\nslab = 32x8\nusers = root\n";

static struct {
	struct cfg *cfg;
	struct pool pools[2];
	struct loop *loop;
	struct srv *srv;
	int peer; /* our end of the current connection, -1 if none */
} F = { .peer = -1 };

static void die(const char *what)
{
	fprintf(stderr, "fuzz_srv: setup: %s\n", what);
	abort();
}

static void setup(void)
{
	struct cfg_error cerr;
	struct pool_error perr;

	if (cfg_parse(conf, strlen(conf), "fuzz", 0, &F.cfg, &cerr) < 0)
		die(cerr.msg);
	for (unsigned i = 0; i < 2; i++)
		if (pool_create(&F.cfg->pools[i], 0, &F.pools[i], &perr) < 0 || pool_format(&F.pools[i], &perr) < 0)
			die("pool");
	if (loop_new(LOOP_EPOLL, &F.loop, NULL) < 0 || srv_new(F.cfg, F.pools, 2, F.loop, &F.srv) < 0)
		die("loop/srv");
}

/* Let the daemon handle whatever is queued. */
static void pump(void)
{
	for (int i = 0; i < 8; i++)
		if (loop_run_once(F.loop, 0) <= 0)
			break;
}

static void connect_new(void)
{
	int sv[2];

	if (F.peer >= 0)
		close(F.peer);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || srv_adopt(F.srv, sv[1]) < 0)
		die("socketpair/adopt");
	F.peer = sv[0];
}

/* Read every reply queued for us (closing any passed fd). Return: false if
 * the daemon hung up. */
static bool drain(void)
{
	char buf[RTMEM_MSG_MAX], cbuf[CMSG_SPACE(sizeof(int))] = { 0 };

	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(F.peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;

		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
			close(fd);
		}
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN;
	}
}

/* The daemon must still serve: a fresh HELLO gets a well-formed reply. */
static void check_serving(void)
{
	struct rtmem_msg_hello h = { 0 };
	struct rtmem_msg_hello_reply rep;
	char buf[RTMEM_MSG_MAX];
	const char *why;
	ssize_t n;

	connect_new();
	rtmem_msg_init(&h.h, RTMEM_MSG_HELLO, 7);
	strcpy(h.name, "check");
	if (send(F.peer, &h, sizeof(h), 0) != sizeof(h))
		die("send hello");
	pump();
	n = recv(F.peer, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != sizeof(rep) || rtmem_msg_check(buf, (size_t)n, &why) < 0) {
		fprintf(stderr, "fuzz_srv: the daemon stopped answering HELLO (%zd bytes)\n", n);
		abort();
	}
	memcpy(&rep, buf, sizeof(rep));
	if (rep.h.type != RTMEM_MSG_HELLO_REPLY || rep.h.seq != 7 || rep.npools > RTMEM_HELLO_POOLS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!F.srv)
		setup();
	connect_new();
	while (size >= 2) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (send(F.peer, data, len, MSG_DONTWAIT) < 0 && errno != EAGAIN)
			break;
		data += len;
		size -= len;
		pump();
		if (!drain())
			break; /* hung up on us: a protocol violation, as it should */
	}
	check_serving();
	close(F.peer);
	F.peer = -1;
	pump(); /* let the daemon see the hang-up and reclaim */
	return 0;
}
