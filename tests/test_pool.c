/* SPDX-License-Identifier: MIT */
/*
 * test_pool.c - daemon/pool.c: a small pool through every setup step, the
 * SIGBUS guard, and the error paths (huge pages missing, RLIMIT_MEMLOCK).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "pool.h"
#include "probe.h"
#include "size.h"

static const char small_conf[] = "[pool small]\n"
				 "slab = 64x256, 256x64\n"
				 "buddy = 256K\n"
				 "buddy_max = 64K\n"
				 "max_clients = 4\n";

static struct cfg *parse(const char *text)
{
	struct cfg_error err;
	struct cfg *cfg = NULL;
	int rc = cfg_parse(text, strlen(text), "test", CFG_NO_RESOLVE, &cfg, &err);

	if (rc < 0)
		fail_msg("cfg: %s", err.msg);
	return cfg;
}

static void test_pool_setup_small(void **state)
{
	struct cfg *cfg = parse(small_conf);
	struct pool_error err = { { 0 } };
	struct pool p;
	char msg[128];
	long page = sysconf(_SC_PAGESIZE);

	(void)state;
	assert_int_equal(pool_create(&cfg->pools[0], 0, &p, &err), 0);
	assert_true(p.memfd >= 0);
	assert_int_equal(p.size % (size_t)page, 0);
	assert_true(p.size >= p.fp.total && p.size - p.fp.total < (size_t)page);
	assert_int_equal(fcntl(p.memfd, F_GET_SEALS) & ~0x20 /* F_SEAL_EXEC, Linux 6.3+ */, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(ftruncate(p.memfd, 0), -1);
	assert_int_equal(errno, EPERM);
	if (pool_lock(&p, &err) < 0)
		print_message("mlock not possible here (%s); continuing unlocked\n", err.msg);
	assert_int_equal(pool_prefault(&p, &err), 0);
	assert_int_equal(pool_format(&p, &err), 0);
	assert_non_null(p.region);
	assert_int_equal(rg_region_check(p.region, msg, sizeof(msg)), 0);
	assert_int_equal(rg_region_nclasses(p.region), 2);
	pool_destroy(&p);
	pool_destroy(&p); /* twice is fine */
	cfg_free(cfg);
}

/* A mapping longer than its memfd: the second page raises SIGBUS, which the guard turns into -EFAULT. */
static void test_pool_touch_sigbus_is_caught(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), off = 0;
	int fd = memfd_create("short", MFD_CLOEXEC);
	void *m;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)page), 0);
	m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(pool_touch(m, page, page, &off), 0);
	assert_int_equal(pool_touch(m, 4 * page, page, &off), -EFAULT);
	assert_int_equal(off, page);
	/* the guard is gone again: a second run still reports, the handler was restored in between */
	assert_int_equal(pool_touch(m, 3 * page, page, &off), -EFAULT);
	munmap(m, 4 * page);
	close(fd);
}

static void test_pool_hugepages_missing_fails_cleanly(void **state)
{
	struct cfg *cfg = parse("[pool hp]\nslab = 4Kx64\nhugepages = yes\n");
	struct pool_error err = { { 0 } };
	struct probe_limits lim;
	struct pool p;
	int rc;

	(void)state;
	assert_int_equal(pool_create(&cfg->pools[0], 0, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "pool \"hp\": "));
	assert_int_equal(probe_limits_read(&lim), 0);
	if (!lim.huge_page || lim.huge_free >= 2 * lim.huge_page) {
		cfg_free(cfg);
		print_message("huge pages are reserved here: the failure path is not reachable\n");
		skip();
	}
	rc = pool_create(&cfg->pools[0], (size_t)lim.huge_page, &p, &err);
	print_message("%s\n", err.msg);
	assert_true(rc == -ENOSPC || rc == -ENOMEM || rc == -EINVAL);
	assert_non_null(strstr(err.msg, "pool \"hp\": "));
	cfg_free(cfg);
}

/* Without CAP_IPC_LOCK and with an RLIMIT_MEMLOCK below the pool, mlock fails and says the limit. */
static void test_pool_lock_over_rlimit_names_limit(void **state)
{
	struct cfg *cfg = parse(small_conf);
	int status;
	pid_t pid;

	(void)state;
#ifdef RTMEM_EMULATED
	print_message("under qemu-user a forked child spins: not run here\n");
	cfg_free(cfg);
	skip();
#endif
#ifdef RTMEM_SANITIZED
	print_message("sanitizer runtimes make mlock a no-op: nothing to test\n");
	cfg_free(cfg);
	skip();
#endif
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 64 * 1024, 64 * 1024 };
		struct pool_error err = { { 0 } };
		cap_t none = cap_init();
		struct pool p;
		int rc;

		if (cap_set_proc(none) < 0 || setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			_exit(77);
		if (pool_create(&cfg->pools[0], 0, &p, &err) < 0)
			_exit(2);
		rc = pool_lock(&p, &err);
		fprintf(stderr, "%s\n", err.msg);
		_exit(rc == -ENOMEM && strstr(err.msg, "pool \"small\": mlock ") &&
				      strstr(err.msg, "(RLIMIT_MEMLOCK is 64 KiB)") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	cfg_free(cfg);
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_size_fmt_iec(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(size_fmt(512, SIZE_IEC, b), "512 bytes");
	assert_string_equal(size_fmt(64 << 20, SIZE_IEC, b), "64 MiB");
	assert_string_equal(size_fmt(1536, SIZE_IEC, b), "1.5 KiB");
	assert_string_equal(size_fmt(8ull << 30, SIZE_IEC, b), "8 GiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_setup_small),
		cmocka_unit_test(test_pool_touch_sigbus_is_caught),
		cmocka_unit_test(test_pool_hugepages_missing_fails_cleanly),
		cmocka_unit_test(test_pool_lock_over_rlimit_names_limit),
		cmocka_unit_test(test_size_fmt_iec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
