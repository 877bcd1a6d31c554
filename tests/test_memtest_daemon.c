/* SPDX-License-Identifier: MIT */
/*
 * test_memtest_daemon.c - the memory tester inside the real daemon, end to
 * end, with a simulated stuck bit:
 *
 *   detection   rtmemd-inject (the test build: same main.c, linked with the
 *               tester built with RTMEM_FAULT_INJECT) runs with
 *               --inject-fault=POOL:OFFSET:BIT; its tester finds the bit;
 *   quarantine  POOL_INFO (and rtmemctl pools) shows bad = 1, and a client
 *               allocating the whole class gets every block but that one;
 *   report      rtmemctl memtest --json lists the fault at that offset, the
 *               daemon's log has the fault line;
 *   persisted   state_dir/badblocks has the entry;
 *   restart     the normal rtmemd (no injection) on the same state keeps the
 *               block out from the start: bad = 1, never allocated, also with
 *               [memtest] enabled = no (then no tester runs at all).
 *
 * And the release daemon has no trace of the injection: no option, no
 * string, no memtest_inject symbol; it refuses --inject-fault as bad usage.
 *
 * The block offsets come from formatting the same pool description here
 * (cfg_parse + rg_region_format): the layout is a pure function of it, and
 * the restarted daemon's allocations check that this agrees.
 *
 * RTMEMD_PATH, RTMEMD_INJECT_PATH and RTMEMCTL_PATH are compile definitions;
 * in the arm64 cross build RTMEM_EMULATOR/RTMEM_SYSROOT run them under qemu.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "proto.h"
#include "region.h"
#include "rtmem/rtmem.h"

#define NBLOCKS 16u     /* the pool: one slab class of 16 blocks of 4 KiB */
#define BAD_BLOCK 3u    /* the injected word is in this block */
#define BAD_WORD 5u     /* ... at this word */
#define BAD_BIT 17

struct fx {
	char me[64];
	char dir[64];
	char conf[96], sock[96], state[96], out[96];
	char log[3][96];      /* one per daemon start */
	unsigned run;         /* starts so far */
	pid_t pid;
	uint64_t blocks[NBLOCKS]; /* block offsets in the pool */
	uint64_t bad_off;     /* the injected word */
};

static void config(const struct fx *f, bool memtest, char *buf, size_t len)
{
	snprintf(buf, len,
		 "[daemon]\nstate_dir = %s\n\n"
		 "[memtest]\nenabled = %s\nalgorithms = March C-\n"
		 "backgrounds = 0x0000000000000000, 0x5555555555555555\n"
		 "bandwidth = 256M\nperiod = 100ms\npolicy = other\n\n"
		 "[pool p]\nslab = 4Kx%u\nusers = %s\n",
		 f->state, memtest ? "yes" : "no", NBLOCKS, f->me);
}

/* The block offsets of the pool, from its description: what the daemon formats. */
static void layout(struct fx *f)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;
	struct rg_footprint fp;
	struct rg_region *r;
	char text[1024];
	void *mem = NULL;
	uint64_t off = 0, len;

	config(f, true, text, sizeof(text));
	assert_int_equal(cfg_parse(text, strlen(text), "test", CFG_NO_RESOLVE, &cfg, &err), 0);
	assert_int_equal(rg_region_layout(&cfg->pools[0].desc, &fp), 0);
	assert_int_equal(posix_memalign(&mem, 4096, fp.total), 0);
	assert_int_equal(rg_region_format(mem, fp.total, &cfg->pools[0].desc), 0);
	assert_int_equal(rg_region_attach(mem, fp.total, &r), 0);
	for (unsigned i = 0; i < NBLOCKS; i++) {
		assert_int_equal(rg_region_next_block(r, off, &f->blocks[i], &len), 0);
		assert_int_equal(len, 4096);
		off = f->blocks[i] + len;
	}
	f->bad_off = f->blocks[BAD_BLOCK] + BAD_WORD * 8u;
	rg_region_detach(r);
	free(mem);
	cfg_free(cfg);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct passwd *pw = getpwuid(getuid());

	if (!f || !pw)
		return -1;
	snprintf(f->me, sizeof(f->me), "%s", pw->pw_name);
	strcpy(f->dir, "/tmp/rtmemd-memtest.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	chmod(f->dir, 0755);
	snprintf(f->conf, sizeof(f->conf), "%s/rtmemd.conf", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/rtmemd.sock", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/rtmemctl.out", f->dir);
	for (unsigned i = 0; i < 3; i++)
		snprintf(f->log[i], sizeof(f->log[i]), "%s/rtmemd-%u.log", f->dir, i);
	layout(f);
	*state = f;
	return 0;
}

/* Print a file to stderr (a failing test shows the daemon's log). */
static void dump(const char *path)
{
	FILE *in = fopen(path, "r");

	fprintf(stderr, "--- %s:\n", path);
	for (int ch; in && (ch = fgetc(in)) != EOF;)
		fputc(ch, stderr);
	if (in)
		fclose(in);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char path[160];

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	for (unsigned i = 0; i < 3; i++)
		unlink(f->log[i]);
	snprintf(path, sizeof(path), "%s/badblocks", f->state);
	unlink(path);
	rmdir(f->state);
	unlink(f->conf);
	unlink(f->sock);
	unlink(f->out);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* exec @bin with @argv (NULL-terminated, argv[0] ignored), under the emulator in a cross build. */
static void exec_prog(const char *bin, char **argv)
{
	char *args[16];
	unsigned n = 0;

#ifdef RTMEM_EMULATOR
	args[n++] = (char *)RTMEM_EMULATOR;
	args[n++] = (char *)"-L";
	args[n++] = (char *)RTMEM_SYSROOT;
#endif
	args[n++] = (char *)bin;
	for (unsigned i = 1; argv[i] && n < 15; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(args[0], args);
	_exit(127);
}

/* Does the daemon accept on its socket? (It binds before it listens: the file alone is not enough.) */
static bool serving(const struct fx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool ok;

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->sock);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Start @bin on the config (tester on or off), with @inject or none; wait for its socket. */
static void start(struct fx *f, const char *bin, bool memtest, const char *inject)
{
	char text[1024], *argv[8] = { "rtmemd", "-c", f->conf, "-s", f->sock, "--event-loop=epoll", NULL, NULL };
	const char *log = f->log[f->run++];
	FILE *c = fopen(f->conf, "w");

	assert_non_null(c);
	config(f, memtest, text, sizeof(text));
	fputs(text, c);
	fclose(c);
	argv[6] = (char *)inject;
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		if (!freopen(log, "w", stderr))
			_exit(126);
		exec_prog(bin, argv);
	}
	for (int i = 0; i < 400; i++) {
		int status;

		if (serving(f))
			return;
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			break;
		}
		usleep(25000);
	}
	dump(log);
	fail_msg("%s did not come up", bin);
}

/* SIGTERM, reap, expect a clean exit. */
static void stop(struct fx *f)
{
	int st = -1;

	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &st, 0), f->pid);
	f->pid = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		dump(f->log[f->run - 1]);
		fail_msg("rtmemd did not stop cleanly (status %#x)", st);
	}
}

/* The whole of a small text file, NUL-terminated, in a static buffer. */
static const char *slurp(const char *path)
{
	static char buf[65536];
	FILE *in = fopen(path, "r");
	size_t n = in ? fread(buf, 1, sizeof(buf) - 1, in) : 0;

	if (in)
		fclose(in);
	buf[n] = '\0';
	return buf;
}

/* Run rtmemctl with @args; its stdout. */
static const char *rtmemctl(struct fx *f, const char *a1, const char *a2)
{
	char *argv[] = { "rtmemctl", "-s", f->sock, (char *)a1, (char *)a2, NULL };
	pid_t pid = fork();
	int st = -1;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen(f->out, "w", stdout))
			_exit(126);
		exec_prog(RTMEMCTL_PATH, argv);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return slurp(f->out);
}

/* A protocol connection (HELLO done). */
static int ctl_open(const struct fx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rtmem_msg_hello hello = { 0 };
	struct rtmem_msg_hello_reply rep;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	strcpy(hello.name, "test");
	assert_int_equal(rtmem_msg_transact(fd, 1, &hello, RTMEM_MSG_HELLO, &rep, RTMEM_MSG_HELLO_REPLY, NULL), 0);
	return fd;
}

static void ask_memtest(int fd, struct rtmem_msg_memtest_reply *rep)
{
	struct rtmem_msg_status req = { 0 };

	assert_int_equal(rtmem_msg_transact(fd, 2, &req, RTMEM_MSG_MEMTEST, rep, RTMEM_MSG_MEMTEST_REPLY, NULL), 0);
}

static uint64_t bad_blocks(int fd)
{
	struct rtmem_msg_index req = { .index = 0 };
	struct rtmem_msg_pool_info_reply rep;

	assert_int_equal(rtmem_msg_transact(fd, 3, &req, RTMEM_MSG_POOL_INFO, &rep, RTMEM_MSG_POOL_INFO_REPLY, NULL), 0);
	assert_int_equal(rep.stats.nclasses, 1);
	return rep.stats.cls[0].bad;
}

/* Wait until @pred(reply) holds (the tester runs on its own time). */
static void wait_memtest(int fd, bool (*pred)(const struct rtmem_msg_memtest_reply *), struct rtmem_msg_memtest_reply *rep)
{
	for (int i = 0; i < 1000; i++) { /* 20 s: qemu-user is slow */
		ask_memtest(fd, rep);
		if (pred(rep))
			return;
		usleep(20000);
	}
	fail_msg("the tester never got there: %" PRIu64 " passes, %" PRIu64 " faults", rep->passes, rep->faults_total);
}

static bool found_fault(const struct rtmem_msg_memtest_reply *r)
{
	return r->faults_total > 0;
}

static bool two_passes(const struct rtmem_msg_memtest_reply *r)
{
	return r->passes >= 2;
}

/*
 * A client takes every block of the class: all but the bad one, never the
 * bad one. The tester may hold a block for a moment (an allocation then
 * takes the next one), so an early -ENOMEM is retried for a while.
 */
static void alloc_whole_class(const struct fx *f)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	void *got[NBLOCKS];
	unsigned n = 0;

	assert_int_equal(rtmem_connect(f->sock, "allocator", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "p", RTMEM_POOL_NOLOCK, &p), 0);
	for (int tries = 0; n < NBLOCKS - 1 && tries < 200; tries++) {
		while (n < NBLOCKS && rtmem_alloc(p, 4096, &got[n]) == 0)
			n++;
		if (n < NBLOCKS - 1)
			usleep(10000);
	}
	assert_int_equal(n, NBLOCKS - 1);
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = rtmem_ptr_to_off(p, got[i]);
		bool known = false;

		assert_true(off != f->blocks[BAD_BLOCK]);
		for (unsigned k = 0; k < NBLOCKS; k++)
			known |= off == f->blocks[k];
		assert_true(known); /* our layout is the daemon's */
	}
	assert_int_equal(rtmem_alloc(p, 4096, &got[0]), -ENOMEM);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
}

/* The file's text contains @needle; else print the file and fail. */
static void assert_file_has(const char *path, const char *needle)
{
	if (!strstr(slurp(path), needle)) {
		dump(path);
		fail_msg("%s does not contain \"%s\"", path, needle);
	}
}

static void test_memtest_daemon_injected_fault_detected_quarantined_reported_persisted(void **state)
{
	struct fx *f = *state;
	struct rtmem_msg_memtest_reply rep;
	const struct rtmem_memtest_fault *ft = &rep.faults[0];
	char inject[96], want[160], path[160];
	const char *json;
	int fd;

	snprintf(inject, sizeof(inject), "--inject-fault=p:%#" PRIx64 ":%d", f->bad_off, BAD_BIT);
	start(f, RTMEMD_INJECT_PATH, true, inject);
	fd = ctl_open(f);

	/* detection */
	wait_memtest(fd, found_fault, &rep);
	assert_true(rep.enabled && rep.running);
	assert_int_equal(rep.faults_total, 1);
	assert_int_equal(rep.nfaults, 1);
	assert_string_equal(ft->pool, "p");
	assert_int_equal(ft->offset, f->bad_off);
	assert_int_equal(ft->expected ^ ft->actual, 1ull << BAD_BIT);
	assert_string_equal(ft->algorithm, "March C-");
	assert_false(ft->flags & RTMEM_MEMTEST_READ_ERROR);     /* a stuck cell reads wrong again */
	assert_false(ft->flags & (RTMEM_MEMTEST_PHYS | RTMEM_MEMTEST_PHYS_WITHHELD)); /* injected: by offset */
	assert_int_equal(ft->quarantine, 0);
	assert_true(ft->time > 0);

	/* quarantine */
	assert_int_equal(bad_blocks(fd), 1);
	assert_non_null(strstr(rtmemctl(f, "--json", "pools"), "\"bad\":1"));
	alloc_whole_class(f);

	/* report */
	json = rtmemctl(f, "--json", "memtest");
	snprintf(want, sizeof(want), "\"pool\":\"p\",\"offset\":%" PRIu64 ",\"phys\":null", f->bad_off);
	assert_non_null(strstr(json, want));
	assert_non_null(strstr(json, "\"faults_total\":1,"));
	assert_non_null(strstr(json, "\"bad_blocks\":1,"));
	assert_non_null(strstr(json, "\"kind\":\"stored\""));
	assert_non_null(strstr(rtmemctl(f, "memtest", NULL), "block quarantined"));
	snprintf(want, sizeof(want), "rtmemd: memory fault in pool \"p\" at offset %#" PRIx64
		 " (physical address unavailable)", f->bad_off);
	assert_file_has(f->log[0], want);
	close(fd);
	stop(f);

	/* persisted */
	snprintf(path, sizeof(path), "%s/badblocks", f->state);
	snprintf(want, sizeof(want), "p %#" PRIx64 " phys=none expected=", f->bad_off);
	assert_file_has(path, want);
	snprintf(want, sizeof(want), " xor=0x%016llx kind=stored alg=March_C- ", 1ull << BAD_BIT);
	assert_file_has(path, want);

	/* restart: the release daemon, no injection, the tester running */
	start(f, RTMEMD_PATH, true, NULL);
	fd = ctl_open(f);
	assert_int_equal(bad_blocks(fd), 1); /* already before any client could allocate */
	alloc_whole_class(f);
	wait_memtest(fd, two_passes, &rep);  /* it tests the pool again ... */
	assert_int_equal(rep.faults_total, 0); /* ... and the cell, now good, is not found */
	assert_int_equal(bad_blocks(fd), 1);
	assert_non_null(strstr(rtmemctl(f, "--json", "memtest"), "\"bad_blocks\":1,\"faults_total\":0,\"faults\":[]"));
	assert_file_has(f->log[1], "memory tester enabled: 1 bad blocks quarantined from");
	close(fd);
	stop(f);

	/* restart with the tester off: no thread, the block still out */
	start(f, RTMEMD_PATH, false, NULL);
	fd = ctl_open(f);
	ask_memtest(fd, &rep);
	assert_false(rep.enabled);
	assert_false(rep.running);
	assert_int_equal(bad_blocks(fd), 1);
	alloc_whole_class(f);
	usleep(200000); /* two periods: a tester would have finished passes by now */
	ask_memtest(fd, &rep);
	assert_int_equal(rep.passes, 0);
	assert_int_equal(rep.bytes_touched, 0);
	assert_file_has(f->log[2], "memory tester disabled: 1 bad blocks quarantined from");
	assert_null(strstr(slurp(f->log[2]), "memory test pass"));
	close(fd);
	stop(f);
}

/* Does the file contain @needle (bytes, like strings(1) | grep)? */
static bool binary_has(const char *path, const char *needle)
{
	size_t len = strlen(needle), cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	FILE *in = fopen(path, "rb");
	bool found = false;

	assert_non_null(buf);
	assert_non_null(in);
	for (size_t got; (got = fread(buf + n, 1, cap - n, in)) > 0;) {
		n += got;
		if (n == cap) {
			char *more = realloc(buf, cap *= 2);

			assert_non_null(more);
			buf = more;
		}
	}
	fclose(in);
	found = memmem(buf, n, needle, len) != NULL;
	free(buf);
	return found;
}

static void test_memtest_daemon_release_build_cannot_inject(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "rtmemd", "-c", f->conf, "--inject-fault=p:0:0", NULL };
	int st = -1;
	pid_t pid;

	/* the test build has both, so the search would see them */
	assert_true(binary_has(RTMEMD_INJECT_PATH, "inject-fault"));
	assert_true(binary_has(RTMEMD_INJECT_PATH, "memtest_inject"));
	assert_false(binary_has(RTMEMD_PATH, "inject-fault"));
	assert_false(binary_has(RTMEMD_PATH, "memtest_inject"));
	assert_false(binary_has(RTMEMD_PATH, "TEST BUILD"));

	pid = fork(); /* and it refuses the option as bad usage, before any setup */
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(126);
		exec_prog(RTMEMD_PATH, argv);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memtest_daemon_injected_fault_detected_quarantined_reported_persisted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_daemon_release_build_cannot_inject, setup, teardown),
	};

#ifdef RTMEM_EMULATOR
	/* As in test_integration: a child forked by a guest under qemu-user
	 * cannot start the emulated daemon here (it hung until the timeout). */
	printf("# under qemu-user: skipped, a forked guest cannot start the daemon; tests/vm covers arm64\n");
	return 77;
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
