/* SPDX-License-Identifier: MIT */
/*
 * test_cfg.c - cmocka tests of daemon/cfg.c: a full config parsed to the exact
 * descriptors, the built-in default, the installed config/rtmemd.conf (path in
 * argv[1]), sizes and their overflow, user/group resolution, the footprint
 * report, and one test per error, each checking "file:line" and the words.
 *
 * Configs are written to mkstemp() files in /tmp and removed at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "report.h"

static const char *installed_conf; /* argv[1]: config/rtmemd.conf */

/* Write @len bytes of @text to a fresh temporary file; its name in @path. */
static void write_tmp(const char *text, size_t len, char path[static 64])
{
	int fd;

	strcpy(path, "/tmp/test_cfg.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static int load_n(const char *text, size_t len, unsigned flags, struct cfg **ret,
		  struct cfg_error *err, char path[static 64])
{
	int r;

	write_tmp(text, len, path);
	r = cfg_load(path, flags, ret, err);
	unlink(path);
	return r;
}

static struct cfg *load_ok(const char *text, unsigned flags)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;
	char path[64];
	int r = load_n(text, strlen(text), flags, &cfg, &err, path);

	if (r)
		print_error("unexpected error %d: %s\n", r, err.msg);
	assert_int_equal(r, 0);
	assert_non_null(cfg);
	return cfg;
}

/* Loading @len bytes of @text fails with @e, naming file:@line and the words. */
static void expect_err_n(const char *text, size_t len, unsigned flags, int e, unsigned line,
			 const char *w1, const char *w2)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;
	char path[64], where[96];
	int r = load_n(text, len, flags, &cfg, &err, path);

	print_message("  -> %s\n", err.msg);
	assert_int_equal(r, e);
	assert_null(cfg);
	if (line)
		snprintf(where, sizeof(where), "%s:%u:", path, line);
	else
		snprintf(where, sizeof(where), "%s: ", path);
	assert_non_null(strstr(err.msg, where));
	assert_int_equal(err.line, line);
	if (w1)
		assert_non_null(strstr(err.msg, w1));
	if (w2)
		assert_non_null(strstr(err.msg, w2));
}

static void expect_err(const char *text, int e, unsigned line, const char *w1, const char *w2)
{
	expect_err_n(text, strlen(text), 0, e, line, w1, w2);
}

#define POOL "[pool p]\n"

/* ---- valid configurations ---- */

static const char full_conf[] =
	"# full config\n"
	"[daemon]\n"
	"socket = /tmp/rtmemd-test.sock\n"
	"socket_mode = 0600\n"
	"socket_group = 0\n"
	"user = 0\n"
	"group = 0\n"
	"state_dir = /tmp/rtmemd-state   # inline comment\n"
	"\n"
	"[memtest]\n"
	"enabled = yes\n"
	"algorithms = MATS+, march c-, Bit fade\n"
	"backgrounds = 0x0, 0x5555555555555555, 0xffffffffffffffff\n"
	"bandwidth = 32M\n"
	"period = 90s\n"
	"policy = batch\n"
	"cpus = 0-1, 3\n"
	"\n"
	"[pool audio]\n"
	"slab = 64x1024, 256x512@256, 4Kx64\n"
	"slab_policy = exact\n"
	"hugepages = no\n"
	"users = 0\n"
	"groups = 0\n"
	"quota = 64K\n"
	"max_clients = 8\n"
	"reserve_slab = 64x16, 4Kx2\n"
	"reserve_users = 0\n"
	"\n"
	"[pool bulk]\r\n"
	"buddy = 4M\n"
	"buddy_min = 256\n"
	"buddy_max = 1M\n"
	"hugepages = yes\n"
	"groups = 0\n"
	"reserve_buddy = 512K\n"
	"reserve_groups = 0"; /* no final newline */

static void assert_class(const struct rg_slab_desc *c, uint32_t size, uint32_t count,
			 uint32_t align, uint32_t reserve)
{
	assert_int_equal(c->size, size);
	assert_int_equal(c->count, count);
	assert_int_equal(c->align, align);
	assert_int_equal(c->reserve, reserve);
}

static void test_parse_full_config_exact(void **state)
{
	struct cfg *cfg = load_ok(full_conf, 0);
	const struct cfg_pool *a, *b;
	const struct cfg_memtest *mt = &cfg->memtest;

	(void)state;
	assert_true(cfg->resolved);
	assert_string_equal(cfg->daemon.socket, "/tmp/rtmemd-test.sock");
	assert_int_equal(cfg->daemon.socket_mode, 0600);
	assert_true(cfg->daemon.has_socket_group && cfg->daemon.has_user && cfg->daemon.has_group);
	assert_int_equal(cfg->daemon.socket_group.id, 0);
	assert_int_equal(cfg->daemon.user.id, 0);
	assert_string_equal(cfg->daemon.state_dir, "/tmp/rtmemd-state");

	assert_true(mt->enabled);
	assert_int_equal(mt->nalgos, 3);
	assert_string_equal(mt->algos[0].name, "MATS+");
	assert_string_equal(mt->algos[1].name, "march c-");
	assert_string_equal(mt->algos[2].name, "Bit fade");
	assert_int_equal(mt->algos[1].line, 12);
	assert_int_equal(mt->algos[1].col, 21);
	assert_int_equal(mt->nbackgrounds, 3);
	assert_int_equal(mt->backgrounds[1], 0x5555555555555555ull);
	assert_int_equal(mt->backgrounds[2], UINT64_MAX);
	assert_int_equal(mt->bandwidth, 32u << 20);
	assert_int_equal(mt->period_ms, 90000);
	assert_int_equal(mt->policy, SCHED_BATCH);
	assert_true(mt->cpus_set);
	assert_int_equal(CPU_COUNT(&mt->cpus), 3);
	assert_true(CPU_ISSET(0, &mt->cpus) && CPU_ISSET(1, &mt->cpus) && CPU_ISSET(3, &mt->cpus));

	assert_int_equal(cfg->npools, 2);
	a = cfg_pool_find(cfg, "audio");
	b = cfg_pool_find(cfg, "bulk");
	assert_ptr_equal(a, &cfg->pools[0]);
	assert_ptr_equal(b, &cfg->pools[1]);
	assert_null(cfg_pool_find(cfg, "nope"));
	assert_int_equal(a->line, 19);
	assert_int_equal(a->desc.nclasses, 3);
	assert_class(&a->desc.classes[0], 64, 1024, 64, 16);
	assert_class(&a->desc.classes[1], 256, 512, 256, 0);
	assert_class(&a->desc.classes[2], 4096, 64, 4096, 2);
	assert_int_equal(a->desc.policy, RG_POLICY_EXACT);
	assert_int_equal(a->desc.nslots, 8);
	assert_int_equal(a->desc.cache, CFG_DEFAULT_THREAD_CACHE);
	assert_int_equal(a->desc.buddy.size, 0);
	assert_false(a->hugepages);
	assert_int_equal(a->quota, 64 * 1024);
	assert_int_equal(a->users.n, 1);
	assert_int_equal(a->users.v[0].id, 0);
	assert_int_equal(a->reserve_users.n, 1);

	assert_int_equal(b->desc.nclasses, 0);
	assert_int_equal(b->desc.policy, RG_POLICY_NEXT_FIT);
	assert_int_equal(b->desc.nslots, CFG_DEFAULT_MAX_CLIENTS);
	assert_int_equal(b->desc.buddy.size, 4u << 20);
	assert_int_equal(b->desc.buddy.min_order, 8);
	assert_int_equal(b->desc.buddy.max_order, 20);
	assert_int_equal(b->desc.buddy.reserve, 512 * 1024);
	assert_true(b->hugepages);
	assert_int_equal(b->quota, 0);
	assert_int_equal(b->reserve_groups.n, 1);
	cfg_free(cfg);
}

static void test_default_builtin_small_pool(void **state)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;
	struct rg_footprint fp;
	const struct cfg_pool *p;

	(void)state;
	assert_int_equal(cfg_load_default(CFG_NO_RESOLVE, &cfg, &err), 0);
	assert_string_equal(cfg->source, CFG_BUILTIN_NAME);
	assert_false(cfg->resolved);
	assert_string_equal(cfg->daemon.socket, CFG_DEFAULT_SOCKET);
	assert_string_equal(cfg->daemon.state_dir, CFG_DEFAULT_STATE_DIR);
	assert_int_equal(cfg->daemon.socket_mode, 0660);
	assert_string_equal(cfg->daemon.socket_group.name, "rtmem");
	assert_false(cfg->memtest.enabled);
	assert_int_equal(cfg->memtest.nalgos, 1);
	assert_string_equal(cfg->memtest.algos[0].name, CFG_DEFAULT_ALGO);
	assert_int_equal(cfg->npools, 1);
	p = cfg_pool_find(cfg, "default");
	assert_non_null(p);
	assert_int_equal(p->desc.nclasses, 4);
	assert_class(&p->desc.classes[0], 64, 1024, 64, 0);
	assert_class(&p->desc.classes[1], 256, 512, 256, 0);
	assert_class(&p->desc.classes[2], 1024, 128, 1024, 0);
	assert_class(&p->desc.classes[3], 4096, 32, 4096, 0);
	assert_int_equal(p->desc.buddy.size, 1u << 20);
	assert_int_equal(p->desc.buddy.min_order, 6);
	assert_int_equal(p->desc.buddy.max_order, 18);
	assert_int_equal(p->desc.nslots, 16);
	assert_int_equal(p->groups.n, 1);
	assert_string_equal(p->groups.v[0].name, "rtmem");
	assert_int_equal(p->groups.v[0].id, CFG_ID_NONE);
	assert_int_equal(cfg_pool_footprint(p, &fp), 0);
	assert_true(fp.total > (1u << 20) && fp.total < (4u << 20));
	assert_int_equal(fp.total, fp.meta + fp.data);
	cfg_free(cfg);
}

static void test_default_used_when_file_missing(void **state)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;

	(void)state;
	assert_int_equal(cfg_load("/nonexistent/rtmemd.conf", CFG_NO_RESOLVE | CFG_DEFAULT_IF_MISSING,
				  &cfg, &err), 0);
	assert_string_equal(cfg->source, CFG_BUILTIN_NAME);
	cfg_free(cfg);
	cfg = NULL;
	assert_int_equal(cfg_load("/nonexistent/rtmemd.conf", CFG_NO_RESOLVE, &cfg, &err), -ENOENT);
	assert_null(cfg);
	assert_non_null(strstr(err.msg, "/nonexistent/rtmemd.conf: cannot open"));
}

static void test_installed_config_parses(void **state)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;
	struct probe_limits lim = { .memlock = UINT64_MAX, .mem_available = UINT64_MAX, .page = 4096 };
	uint64_t total = 0;
	int r;

	(void)state;
	if (!installed_conf)
		skip();
	r = cfg_load(installed_conf, CFG_NO_RESOLVE, &cfg, &err);
	if (r)
		print_error("%s\n", err.msg);
	assert_int_equal(r, 0);
	assert_true(cfg->npools >= 2);
	assert_true(cfg->memtest.enabled);
	for (unsigned i = 0; i < cfg->npools; i++) {
		struct rg_footprint fp;

		assert_int_equal(cfg_pool_footprint(&cfg->pools[i], &fp), 0);
		total += fp.total;
	}
	/* "a few tens of MiB" on a Pi 4B */
	assert_true(total >= (8u << 20) && total <= (64u << 20));
	assert_int_equal(report_limits(cfg, &lim, stdout), 0);
	cfg_free(cfg);
}

static void test_size_suffixes_exact(void **state)
{
	static const struct { const char *v; uint64_t bytes; } cases[] = {
		{ "0", 0 }, { "1", 1 }, { "4K", 4096 }, { "4k", 4096 }, { "4KiB", 4096 },
		{ "3M", 3ull << 20 }, { "2MiB", 2ull << 20 }, { "5G", 5ull << 30 }, { "7T", 7ull << 40 },
		{ "16777215T", 16777215ull << 40 }, { "18446744073709551615", UINT64_MAX },
	};
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg *cfg;

		snprintf(text, sizeof(text), POOL "slab = 64x1\nquota = %s\n", cases[i].v);
		cfg = load_ok(text, 0);
		assert_int_equal(cfg->pools[0].quota, cases[i].bytes);
		cfg_free(cfg);
	}
}

static void test_size_overflow_2_64(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x1\nquota = 18446744073709551616\n", -EOVERFLOW, 3, "overflows 64 bits",
		   "18446744073709551616");
	expect_err(POOL "slab = 64x1\nquota = 16777216T\n", -EOVERFLOW, 3, "overflows 64 bits", "16777216T");
	expect_err(POOL "slab = 64x1\nquota = 99999999999999999999999\n", -EOVERFLOW, 3,
		   "overflows", NULL);
}

static void test_size_bad_suffix(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x1\nquota = 4X\n", -EINVAL, 3, "unknown suffix", "\"X\"");
	expect_err(POOL "slab = 64x1\nquota = 4Kb\n", -EINVAL, 3, "quota", "\"b\"");
	expect_err(POOL "slab = 64x1\nquota = 4m\n", -EINVAL, 3, "unknown suffix", NULL);
	expect_err(POOL "slab = 64x1\nquota = lots\n", -EINVAL, 3, "expected a number", "quota");
	expect_err(POOL "slab = 64x1\nquota = -1\n", -EINVAL, 3, "expected a number", NULL);
}

static void test_error_column_points_at_value(void **state)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;
	char path[64];
	const char *t = POOL "slab = 64x1, 128x0\n";

	(void)state;
	assert_int_equal(load_n(t, strlen(t), 0, &cfg, &err, path), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.col, 18); /* the "0" */
}

/* ---- users and groups ---- */

static void test_users_root_resolves(void **state)
{
	struct cfg *cfg = load_ok("[daemon]\nsocket_group = root\nuser = root\n"
				  POOL "slab = 64x4\nusers = root, 0, 4242\ngroups = root\n", 0);
	const struct cfg_pool *p = &cfg->pools[0];
	uint32_t g0 = 0, g5 = 5;

	(void)state;
	assert_true(cfg->resolved);
	assert_int_equal(cfg->daemon.socket_group.id, 0);
	assert_int_equal(cfg->daemon.user.id, 0);
	assert_int_equal(cfg->daemon.group.id, 0); /* root's primary group */
	assert_int_equal(p->users.n, 3);
	assert_string_equal(p->users.v[0].name, "root");
	assert_int_equal(p->users.v[0].id, 0);
	assert_int_equal(p->users.v[2].id, 4242);
	assert_int_equal(p->groups.v[0].id, 0);
	assert_true(cfg_pool_may_open(p, 4242, NULL, 0));
	assert_true(cfg_pool_may_open(p, 1000, &g0, 1));
	assert_false(cfg_pool_may_open(p, 1000, &g5, 1));
	assert_true(cfg_pool_may_open(p, 0, NULL, 0)); /* root always */
	assert_false(cfg_pool_may_reserve(p, 0, &g0, 1)); /* ...but not the reserve */
	cfg_free(cfg);
}

static void test_reserve_grant_checks_ids(void **state)
{
	struct cfg *cfg = load_ok(POOL "slab = 64x4\ngroups = 100\nreserve_slab = 64x1\n"
				  "reserve_users = 1001\nreserve_groups = 200\n", 0);
	const struct cfg_pool *p = &cfg->pools[0];
	uint32_t gids[2] = { 100, 200 }, g100 = 100;

	(void)state;
	assert_true(cfg_pool_may_reserve(p, 1001, NULL, 0));
	assert_true(cfg_pool_may_reserve(p, 1002, gids, 2));
	assert_false(cfg_pool_may_reserve(p, 1002, &g100, 1));
	assert_true(cfg_pool_may_open(p, 1002, &g100, 1));
	assert_false(cfg_pool_may_open(p, 1001, NULL, 0));
	cfg_free(cfg);
}

static void test_user_unknown_fails(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x4\nusers = root, no-such-user-rtm\n", -ESRCH, 3, "unknown user",
		   "no-such-user-rtm");
	expect_err("[daemon]\nuser = no-such-user-rtm\n" POOL "slab = 64x4\n", -ESRCH, 2,
		   "unknown user", NULL);
}

static void test_group_unknown_fails(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x4\ngroups = no-such-group-rtm\n", -ESRCH, 3, "unknown group",
		   "no-such-group-rtm");
	expect_err("[daemon]\nsocket_group = no-such-group-rtm\n" POOL "slab = 64x4\n", -ESRCH, 2,
		   "unknown group", NULL);
}

static void test_no_resolve_then_resolve(void **state)
{
	struct cfg *cfg = load_ok(POOL "slab = 64x4\nusers = root\n", CFG_NO_RESOLVE);
	struct cfg_error err;

	(void)state;
	assert_false(cfg->resolved);
	assert_int_equal(cfg->pools[0].users.v[0].id, CFG_ID_NONE);
	assert_false(cfg_pool_may_open(&cfg->pools[0], 1000, NULL, 0));
	assert_int_equal(cfg_resolve(cfg, &err), 0);
	assert_int_equal(cfg->pools[0].users.v[0].id, 0);
	assert_true(cfg->resolved);
	cfg_free(cfg);
}

static void test_user_bad_name(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x4\nusers = ro/ot\n", -EINVAL, 3, "bad user name", "ro/ot");
	expect_err(POOL "slab = 64x4\ngroups = 4294967295\n", -EOVERFLOW, 3, "out of range", NULL);
}

/* ---- report ---- */

static char *report(const struct cfg *cfg, const struct probe_limits *lim, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*ret = report_limits(cfg, lim, f);
	fclose(f);
	return buf;
}

static void test_report_fits_and_not(void **state)
{
	struct cfg *cfg = load_ok(POOL "slab = 64x1024\nbuddy = 1M\n", 0);
	struct probe_limits lim = { .memlock = 64u << 20, .mem_available = 1u << 30, .page = 4096 };
	struct rg_footprint fp;
	char *out, num[32];
	int r;

	(void)state;
	assert_int_equal(cfg_pool_footprint(&cfg->pools[0], &fp), 0);
	snprintf(num, sizeof(num), "%" PRIu64, fp.total);
	out = report(cfg, &lim, &r);
	assert_int_equal(r, 0);
	assert_non_null(strstr(out, num));
	assert_non_null(strstr(out, "RLIMIT_MEMLOCK"));
	assert_non_null(strstr(out, "fits"));
	assert_null(strstr(out, "DOES NOT FIT"));
	free(out);

	lim.memlock = 1u << 20;
	out = report(cfg, &lim, &r);
	assert_int_equal(r, -ENOMEM);
	assert_non_null(strstr(out, "DOES NOT FIT"));
	free(out);

	lim.cap_ipc_lock = true; /* memlock no longer applies */
	out = report(cfg, &lim, &r);
	assert_int_equal(r, 0);
	assert_non_null(strstr(out, "CAP_IPC_LOCK"));
	free(out);

	lim.mem_available = 1u << 20;
	out = report(cfg, &lim, &r);
	assert_int_equal(r, -ENOMEM);
	free(out);
	cfg_free(cfg);
}

static void test_report_hugepages_need_free_huge(void **state)
{
	struct cfg *cfg = load_ok(POOL "slab = 64x1024\nhugepages = yes\n", 0);
	struct probe_limits lim = { .memlock = UINT64_MAX, .mem_available = UINT64_MAX, .page = 4096 };
	char *out;
	int r;

	(void)state;
	out = report(cfg, &lim, &r);
	assert_int_equal(r, -ENOMEM);
	assert_non_null(strstr(out, "no huge pages"));
	free(out);
	lim.huge_page = 2u << 20;
	lim.huge_free = 4u << 20;
	out = report(cfg, &lim, &r);
	assert_int_equal(r, 0);
	assert_non_null(strstr(out, "2097152")); /* rounded up to one huge page */
	free(out);
	cfg_free(cfg);
}

static void test_report_reads_system_limits(void **state)
{
	struct probe_limits lim;
	struct cfg *cfg = load_ok(POOL "slab = 64x16\n", 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	(void)state;
	assert_int_equal(probe_limits_read(&lim), 0);
	assert_true(lim.page >= 4096);
	r = report_config(cfg, f);
	fclose(f);
	assert_true(r == 0 || r == -ENOMEM);
	assert_non_null(strstr(buf, "MemAvailable"));
	free(buf);
	cfg_free(cfg);
}

static void test_error_at_formats_file_line(void **state)
{
	struct cfg *cfg = load_ok("[memtest]\nalgorithms = March Q\n" POOL "slab = 64x1\n", 0);
	const struct cfg_algo *a = &cfg->memtest.algos[0];
	struct cfg_error err;
	char want[CFG_PATH_MAX + 64];

	(void)state;
	assert_int_equal(cfg_error_at(cfg, a->line, a->col, &err, ENOENT, "unknown memory test \"%s\"",
				      a->name), -ENOENT);
	snprintf(want, sizeof(want), "%s:2:14: unknown memory test \"March Q\"", cfg->source);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.col, 14);
	cfg_free(cfg);
}

static void test_free_null(void **state)
{
	(void)state;
	cfg_free(NULL);
}

/* ---- one test per error ---- */

static void test_err_unknown_section(void **state)
{
	(void)state;
	expect_err("[daemon]\n[pools x]\n", -EINVAL, 2, "unknown section", "[pools x]");
}

static void test_err_unknown_key(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x1\nslabs = 64x1\n", -EINVAL, 3, "unknown key \"slabs\"", "[pool p]");
	expect_err("[daemon]\nsockt = /x\n", -EINVAL, 2, "unknown key \"sockt\"", "[daemon]");
}

static void test_err_key_outside_section(void **state)
{
	(void)state;
	expect_err("# c\nslab = 64x1\n", -EINVAL, 2, "outside any section", "slab");
}

static void test_err_bad_size(void **state)
{
	(void)state;
	expect_err(POOL "slab = 6.4Kx1\n", -EINVAL, 2, "slab size", "6.4K");
	expect_err(POOL "buddy = big\n", -EINVAL, 2, "buddy size", "expected a number");
}

static void test_err_classes_not_increasing(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x1, 256x1, 128x1\n", -EINVAL, 2, "strictly increasing", "128 after 256");
	expect_err(POOL "slab = 64x1, 64x1\n", -EINVAL, 2, "strictly increasing", NULL);
}

/* slab_stripes = S: each class becomes S core classes of its size, blocks and
 * reserve dealt out, the first stripes taking the remainder. */
static void test_slab_stripes_expand(void **state)
{
	struct cfg *cfg = load_ok(POOL "slab = 64x10, 256x4\nslab_stripes = 4\nreserve_slab = 64x5\n"
				  "reserve_users = 0\n", CFG_NO_RESOLVE);
	const struct rg_pool_desc *d = &cfg->pools[0].desc;
	static const uint32_t count[8] = { 3, 3, 2, 2, 1, 1, 1, 1 }, rsv[8] = { 2, 1, 1, 1 };

	(void)state;
	assert_int_equal(cfg->pools[0].stripes, 4);
	assert_int_equal(d->nclasses, 8);
	for (uint32_t c = 0; c < 8; c++) {
		assert_int_equal(d->classes[c].size, c < 4 ? 64 : 256);
		assert_int_equal(d->classes[c].count, count[c]);
		assert_int_equal(d->classes[c].reserve, rsv[c]);
	}
	cfg_free(cfg);
	cfg = load_ok(POOL "slab = 64x10\n", 0); /* the default: one stripe, caches of 8 */
	assert_int_equal(cfg->pools[0].stripes, 1);
	assert_int_equal(cfg->pools[0].desc.nclasses, 1);
	assert_int_equal(cfg->pools[0].desc.cache, 8);
	cfg_free(cfg);
}

static void test_err_slab_stripes(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x10\nslab_stripes = 0\n", -EINVAL, 3, "slab_stripes 0", "1 to 8");
	expect_err(POOL "slab = 64x10\nslab_stripes = 9\n", -EINVAL, 3, "out of range", NULL);
	expect_err(POOL "slab = 64x10\nslab_stripes = two\n", -EINVAL, 3, "slab_stripes", NULL);
	expect_err(POOL "slab = 64x10, 128x3\nslab_stripes = 4\n", -EINVAL, 3, "class 128 has 3 blocks",
		   "4 stripes");
	expect_err(POOL "slab = 8x1, 16x1, 24x1, 32x1, 40x1, 48x1, 56x1, 64x1, 72x1\nslab_stripes = 4\n", -EINVAL, 3,
		   "makes 36 stripes", "at most 32");
	expect_err(POOL "slab = 64x8\nslab_stripes = 4\nreserve_slab = 64x5\nreserve_users = 0\n", -EINVAL, 4,
		   "leave stripe 0 nothing", NULL);
	expect_err(POOL "buddy = 64K\nslab_stripes = 2\n", -EINVAL, 3, "without slab classes", NULL);
}

static void test_err_count_zero(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x1, 128x0\n", -EINVAL, 2, "count is zero", "128");
}

static void test_err_slab_class_syntax(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64\n", -EINVAL, 2, "SIZExCOUNT", NULL);
	expect_err(POOL "slab = 0x4\n", -EINVAL, 2, "slab size is zero", NULL);
	expect_err(POOL "slab = 12x4\n", -EINVAL, 2, "slab size 12 is not a multiple of 8", NULL);
	expect_err(POOL "slab = 64x4@48\n", -EINVAL, 2, "power of two", "48");
	expect_err(POOL "slab = 64x4@128\n", -EINVAL, 2, "not a multiple of its alignment 128", NULL);
	expect_err(POOL "slab = 4Gx4\n", -EOVERFLOW, 2, "too large", NULL);
	expect_err(POOL "slab = 64x2G\n", -EOVERFLOW, 2, "slab count", "too large");
}

static void test_err_too_many_classes(void **state)
{
	char text[2048] = POOL "slab = ";

	(void)state;
	for (unsigned i = 1; i <= RG_MAX_CLASSES + 1; i++) {
		char item[24];

		snprintf(item, sizeof(item), "%s%ux1", i > 1 ? ", " : "", i * 8);
		strcat(text, item);
	}
	strcat(text, "\n");
	expect_err(text, -E2BIG, 2, "too many slab classes", "32");
}

static void test_err_buddy_min_gt_max(void **state)
{
	(void)state;
	expect_err(POOL "buddy = 1M\nbuddy_min = 64K\nbuddy_max = 4K\n", -EINVAL, 4,
		   "buddy_min 64K is larger than buddy_max 4K", NULL);
}

static void test_err_buddy_smaller_than_max(void **state)
{
	(void)state;
	expect_err(POOL "buddy = 512K\nbuddy_max = 1M\n", -EINVAL, 2, "smaller than its largest block",
		   "1M");
	expect_err(POOL "buddy = 32\n", -EINVAL, 2, "smaller than buddy_min", NULL);
}

static void test_err_buddy_not_power_of_two(void **state)
{
	(void)state;
	expect_err(POOL "buddy = 1M\nbuddy_max = 96K\n", -EINVAL, 3, "buddy_max 96K", "power of two");
	expect_err(POOL "buddy = 1M\nbuddy_min = 8\n", -EINVAL, 3, "buddy_min 8", "out of range");
}

static void test_err_buddy_other(void **state)
{
	(void)state;
	expect_err(POOL "buddy = 0\n", -EINVAL, 2, "buddy size is zero", NULL);
	expect_err(POOL "buddy = 1000008\n", -EINVAL, 2, "not a multiple of buddy_min", NULL);
	expect_err(POOL "slab = 64x1\nbuddy_min = 64\n", -EINVAL, 3, "no buddy area", NULL);
	expect_err(POOL "buddy = 2T\nbuddy_min = 16\nbuddy_max = 1T\n", -EINVAL, 4, "2^30", NULL);
}

/* buddy_arena: the area in arenas that clients lease whole (lib/core/arena.c) */
static void test_buddy_arena(void **state)
{
	struct cfg *cfg = load_ok(POOL "buddy = 1M\nbuddy_min = 256\nbuddy_arena = 64K\n", 0);
	const struct cfg_pool *p = cfg_pool_find(cfg, "p");

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->desc.buddy.arena_order, 16);
	assert_int_equal(p->desc.buddy.max_order, 16); /* buddy_max defaults to the arena */
	cfg_free(cfg);
	cfg = load_ok(POOL "buddy = 1M\nbuddy_min = 256\nbuddy_max = 4K\nbuddy_arena = 16K\n", 0);
	p = cfg_pool_find(cfg, "p");
	assert_int_equal(p->desc.buddy.arena_order, 14);
	assert_int_equal(p->desc.buddy.max_order, 12);
	cfg_free(cfg);
	expect_err(POOL "buddy = 1M\nbuddy_min = 256\nbuddy_max = 64K\nbuddy_arena = 16K\n", -EINVAL, 5,
		   "buddy_arena 16K is smaller than buddy_max 64K", NULL);
	expect_err(POOL "buddy = 1M\nbuddy_min = 16\nbuddy_arena = 512K\n", -EINVAL, 4,
		   "buddy_arena 512K is more than 2^14 times buddy_min 16", NULL);
	expect_err(POOL "buddy = 1040K\nbuddy_min = 1K\nbuddy_arena = 32K\n", -EINVAL, 4,
		   "not a multiple of buddy_arena 32K", NULL);
	expect_err(POOL "buddy = 1G\nbuddy_min = 16\nbuddy_arena = 4K\n", -EINVAL, 4, "more than 4096 arenas", NULL);
	expect_err(POOL "buddy = 1M\nbuddy_arena = 48K\n", -EINVAL, 3, "buddy_arena 48K", "power of two");
	expect_err(POOL "slab = 64x1\nbuddy_arena = 64K\n", -EINVAL, 3, "no buddy area", NULL);
}

static void test_err_duplicate_pool(void **state)
{
	(void)state;
	expect_err("[pool a]\nslab = 64x1\n\n[pool a]\nslab = 64x1\n", -EINVAL, 4,
		   "duplicate pool \"a\"", "first at line 1");
}

static void test_err_duplicate_key(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x1\nquota = 1K\nslab = 128x1\n", -EINVAL, 4, "duplicate key \"slab\"",
		   "first at line 2");
}

static void test_err_duplicate_section(void **state)
{
	(void)state;
	expect_err("[daemon]\n[memtest]\n[daemon]\n", -EINVAL, 3, "duplicate section [daemon]",
		   "first at line 1");
}

static void test_err_pool_neither_slab_nor_buddy(void **state)
{
	(void)state;
	expect_err("[pool empty]\nquota = 1K\n[pool b]\nslab = 64x1\n", -EINVAL, 1,
		   "neither slab classes", "\"empty\"");
}

static void test_err_no_pools(void **state)
{
	(void)state;
	expect_err("[daemon]\nsocket = /run/x.sock\n", -EINVAL, 0, "no pools", NULL);
	expect_err("", -EINVAL, 0, "no pools", NULL);
}

static void test_err_missing_equals(void **state)
{
	(void)state;
	expect_err(POOL "slab 64x1\n", -EINVAL, 2, "missing '='", "\"slab\"");
	expect_err(POOL "= 64x1\n", -EINVAL, 2, "expected \"key = value\"", NULL);
}

static void test_err_missing_bracket(void **state)
{
	(void)state;
	expect_err("[pool p\nslab = 64x1\n", -EINVAL, 1, "missing ']'", NULL);
	expect_err("[pool p] x\n", -EINVAL, 1, "after the section header", NULL);
	expect_err("[pool]\n", -EINVAL, 1, "without a name", NULL);
}

static void test_err_empty_value(void **state)
{
	(void)state;
	expect_err(POOL "slab =   # nothing\n", -EINVAL, 2, "has no value", "slab");
	expect_err(POOL "slab = 64x1,,128x1\n", -EINVAL, 2, "empty entry", NULL);
}

static void test_err_line_too_long(void **state)
{
	char text[CFG_LINE_MAX + 64];

	(void)state;
	strcpy(text, POOL "#");
	memset(text + strlen(text), 'x', CFG_LINE_MAX);
	strcpy(text + sizeof(POOL) - 1 + 1 + CFG_LINE_MAX, "\nslab = 64x1\n");
	expect_err(text, -E2BIG, 2, "line too long", "1025 bytes");
}

static void test_err_invalid_utf8(void **state)
{
	(void)state;
	expect_err(POOL "# caf\xc3\xa9 is fine\nslab = 64x1 # \xff\n", -EILSEQ, 3, "invalid UTF-8", "0xff");
	expect_err(POOL "# overlong \xc0\xaf\nslab = 64x1\n", -EILSEQ, 2, "invalid UTF-8", NULL);
	expect_err(POOL "# surrogate \xed\xa0\x80\nslab = 64x1\n", -EILSEQ, 2, "invalid UTF-8", NULL);
}

static void test_err_nul_byte(void **state)
{
	static const char t[] = POOL "slab = 64x1\n# a\0b\n";

	(void)state;
	expect_err_n(t, sizeof(t) - 1, 0, -EILSEQ, 3, "NUL byte", NULL);
}

static void test_err_bad_pool_name(void **state)
{
	(void)state;
	expect_err("[pool bad.name]\nslab = 64x1\n", -EINVAL, 1, "bad pool name", "bad.name");
	expect_err("[pool aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nslab = 64x1\n", -EINVAL, 1, "bad pool name",
		   "31");
}

static void test_err_too_many_pools(void **state)
{
	char *text = malloc((size_t)64 * (CFG_MAX_POOLS + 1));
	size_t n = 0;

	(void)state;
	for (unsigned i = 0; i <= CFG_MAX_POOLS; i++)
		n += (size_t)sprintf(text + n, "[pool p%u]\nslab = 64x1\n", i);
	expect_err(text, -E2BIG, 2 * CFG_MAX_POOLS + 1, "too many pools", NULL);
	free(text);
}

static void test_err_reserve(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x4\nreserve_slab = 128x1\nreserve_users = 0\n", -EINVAL, 3,
		   "no slab class of size 128", NULL);
	expect_err(POOL "slab = 64x4\nreserve_slab = 64x4\nreserve_users = 0\n", -EINVAL, 3,
		   "leave nothing", NULL);
	expect_err(POOL "slab = 64x4\nreserve_slab = 64x1\n", -EINVAL, 3, "grants it to no one", NULL);
	expect_err(POOL "slab = 64x4\nreserve_groups = 0\n", -EINVAL, 3, "has no reserve", NULL);
	expect_err(POOL "buddy = 1M\nreserve_buddy = 1M\nreserve_users = 0\n", -EINVAL, 3,
		   "reserve_buddy 1M leaves nothing", NULL);
	expect_err(POOL "slab = 64x4\nreserve_buddy = 1K\nreserve_users = 0\n", -EINVAL, 3,
		   "no buddy area", NULL);
}

static void test_err_daemon_values(void **state)
{
	char text[512];

	(void)state;
	expect_err("[daemon]\nsocket = run/x\n" POOL "slab = 64x1\n", -EINVAL, 2, "not absolute", NULL);
	snprintf(text, sizeof(text), "[daemon]\nsocket = /%0120d\n", 0);
	expect_err(text, -EINVAL, 2, "socket path is too long", "107");
	expect_err("[daemon]\nsocket_mode = 0999\n", -EINVAL, 2, "bad socket_mode", NULL);
	expect_err("[daemon]\nstate_dir = var\n", -EINVAL, 2, "state_dir", "not absolute");
}

static void test_err_memtest_values(void **state)
{
	(void)state;
	expect_err("[memtest]\nalgorithms = March C-, march;z\n", -EINVAL, 2, "bad memory test name",
		   "march;z");
	expect_err("[memtest]\nenabled = maybe\n", -EINVAL, 2, "bad boolean", "maybe");
	expect_err("[memtest]\nperiod = 10\n", -EINVAL, 2, "bad period", "unit");
	expect_err("[memtest]\nperiod = 0s\n", -EINVAL, 2, "period is zero", NULL);
	expect_err("[memtest]\nbandwidth = 0\n", -EINVAL, 2, "bandwidth is zero", NULL);
	expect_err("[memtest]\nbackgrounds = 0x1, 55\n", -EINVAL, 2, "bad background", "55");
	expect_err("[memtest]\nbackgrounds = 0x10000000000000000\n", -EOVERFLOW, 2, "overflows", NULL);
	expect_err("[memtest]\npolicy = fifo\n", -EINVAL, 2, "bad policy", "fifo");
	expect_err("[memtest]\ncpus = 3-1\n", -EINVAL, 2, "backwards", NULL);
	expect_err("[memtest]\ncpus = 5000\n", -EINVAL, 2, "cpu 5000", "out of range");
}

static void test_err_max_clients_range(void **state)
{
	(void)state;
	expect_err(POOL "slab = 64x1\nmax_clients = 0\n", -EINVAL, 3, "max_clients", "1 to 65535");
	expect_err(POOL "slab = 64x1\nmax_clients = 65536\n", -EINVAL, 3, "max_clients", NULL);
}

static void test_err_layout_overflow(void **state)
{
	(void)state;
	/* each class fits 32 bits, but the buddy area's min-block count does not */
	expect_err(POOL "buddy = 1T\nbuddy_min = 16\nbuddy_max = 1G\n", -EOVERFLOW, 1, "too large", NULL);
}

static void test_err_file_too_large(void **state)
{
	size_t len = CFG_FILE_MAX + 2;
	char *text = malloc(len);

	(void)state;
	memset(text, '\n', len);
	expect_err_n(text, len, 0, -E2BIG, 0, "file too large", NULL);
	free(text);
}

static void test_err_unreadable_file(void **state)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;

	(void)state;
	assert_int_equal(cfg_load("/tmp", 0, &cfg, &err), -EISDIR);
	assert_null(cfg);
	assert_non_null(strstr(err.msg, "/tmp: cannot read"));
}

static void test_err_too_many_ids(void **state)
{
	char text[1024] = POOL "slab = 64x1\nusers = 0";

	(void)state;
	for (unsigned i = 1; i <= CFG_MAX_IDS; i++)
		sprintf(text + strlen(text), ", %u", i);
	strcat(text, "\n");
	expect_err(text, -E2BIG, 3, "too many entries in the user list", "32");
}

/* ---- [daemon] log_level, monitor socket ---- */

static void test_log_level_and_monitor_keys(void **state)
{
	struct cfg *cfg;
	int lvl = -1;

	(void)state;
	cfg = load_ok(POOL "slab = 64x1\n", CFG_NO_RESOLVE);
	assert_int_equal(cfg->daemon.log_level, LOG_INFO);
	assert_string_equal(cfg->daemon.monitor_socket, "");
	cfg_free(cfg);
	cfg = load_ok("[daemon]\nlog_level = Debug\nmonitor_socket = /tmp/m.sock\nmonitor_group = 0\n" POOL
		      "slab = 64x1\n", 0);
	assert_int_equal(cfg->daemon.log_level, LOG_DEBUG);
	assert_string_equal(cfg->daemon.monitor_socket, "/tmp/m.sock");
	assert_true(cfg->daemon.has_monitor_group);
	assert_int_equal(cfg->daemon.monitor_group.id, 0);
	cfg_free(cfg);
	assert_int_equal(cfg_log_level_parse("warn", &lvl), 0);
	assert_int_equal(lvl, LOG_WARNING);
	assert_int_equal(cfg_log_level_parse("3", &lvl), 0);
	assert_int_equal(lvl, LOG_ERR);
	assert_int_equal(cfg_log_level_parse("emerg", &lvl), -EINVAL);
	assert_int_equal(cfg_log_level_parse("loud", &lvl), -EINVAL);
	expect_err("[daemon]\nlog_level = loud\n" POOL "slab = 64x1\n", -EINVAL, 2, "bad log_level", "debug");
	expect_err("[daemon]\nmonitor_socket = rel.sock\n" POOL "slab = 64x1\n", -EINVAL, 2, "monitor_socket",
		   "not absolute");
	expect_err("[daemon]\nmonitor_group = no-such-group-rtm\n" POOL "slab = 64x1\n", -ESRCH, 2,
		   "unknown group", NULL);
}

static void test_max_connections_per_uid_key_bounds(void **state)
{
	struct cfg *cfg;

	(void)state;
	cfg = load_ok(POOL "slab = 64x1\n", CFG_NO_RESOLVE);
	assert_int_equal(cfg->daemon.max_connections_per_uid, CFG_CONNECTIONS_PER_UID);
	cfg_free(cfg);
	cfg = load_ok("[daemon]\nmax_connections_per_uid = 5\n" POOL "slab = 64x1\n", CFG_NO_RESOLVE);
	assert_int_equal(cfg->daemon.max_connections_per_uid, 5);
	cfg_free(cfg);
	expect_err("[daemon]\nmax_connections_per_uid = 0\n" POOL "slab = 64x1\n", -EINVAL, 2,
		   "max_connections_per_uid", "1..1024");
	expect_err("[daemon]\nmax_connections_per_uid = 1025\n" POOL "slab = 64x1\n", -EINVAL, 2,
		   "max_connections_per_uid", NULL);
}

/* Escape bytes in a bad value come back as '?', never raw (a terminal would act on them). */
static void test_error_escape_bytes_sanitized(void **state)
{
	struct cfg *cfg = NULL;
	struct cfg_error err;
	char path[64];
	static const char text[] = "[daemon]\nlog_level = \x1b]0;pwned\x07\xc2\x9b" "2J\n" POOL "slab = 64x1\n";
	int r;

	(void)state;
	r = load_n(text, strlen(text), 0, &cfg, &err, path);
	print_message("  -> %s\n", err.msg);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err.msg, "bad log_level"));
	assert_null(strchr(err.msg, 0x1b));
	assert_null(strchr(err.msg, 0x07));
	assert_null(strstr(err.msg, "\xc2\x9b"));
	assert_non_null(strstr(err.msg, "?]0;pwned???2J"));
}

/* ---- conf.d drop-ins ---- */

struct dropdir {
	char dir[64], main[96], sub[96];
};

static void dropdir_make(struct dropdir *d, const char *main_text)
{
	int fd;

	strcpy(d->dir, "/tmp/test_cfg.d.XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->main, sizeof(d->main), "%s/rtmemd.conf", d->dir);
	snprintf(d->sub, sizeof(d->sub), "%s/conf.d", d->dir);
	assert_int_equal(mkdir(d->sub, 0700), 0);
	fd = open(d->main, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, main_text, strlen(main_text)), (ssize_t)strlen(main_text));
	close(fd);
}

static void dropdir_add(const struct dropdir *d, const char *name, const char *text)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", d->sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void dropdir_free(const struct dropdir *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	assert_int_equal(system(cmd), 0);
}

static void test_dropins_merge_in_name_order(void **state)
{
	struct dropdir d;
	struct cfg *cfg = NULL;
	struct cfg_error err;

	(void)state;
	dropdir_make(&d, "[daemon]\nsocket_mode = 0600\nstate_dir = /tmp/a\n[pool main]\nslab = 64x1\n");
	dropdir_add(&d, "50-late.conf", "[daemon]\nstate_dir = /tmp/late\n[pool extra]\nslab = 128x2\n");
	dropdir_add(&d, "10-early.conf", "[daemon]\nstate_dir = /tmp/early\nsocket_mode = 0640\n"
					 "[memtest]\nenabled = yes\n");
	dropdir_add(&d, "20-ignored.conf~", "this is not a config\n");
	dropdir_add(&d, ".hidden.conf", "nor this\n");
	assert_int_equal(cfg_load(d.main, CFG_NO_RESOLVE, &cfg, &err), 0);
	assert_int_equal(cfg->ndropins, 2);
	assert_string_equal(cfg->daemon.state_dir, "/tmp/late"); /* the last file wins */
	assert_int_equal(cfg->daemon.socket_mode, 0640);         /* a key not given again stays */
	assert_true(cfg->memtest.enabled);
	assert_int_equal(cfg->npools, 2);
	assert_string_equal(cfg->pools[1].name, "extra");
	assert_non_null(strstr(cfg->pools[1].file, "conf.d/50-late.conf"));
	assert_int_equal(cfg->pools[1].line, 3);
	cfg_free(cfg);
	dropdir_free(&d);
}

static void test_dropins_pool_twice_names_both_files(void **state)
{
	struct dropdir d;
	struct cfg *cfg = NULL;
	struct cfg_error err;

	(void)state;
	dropdir_make(&d, "[pool main]\nslab = 64x1\n");
	dropdir_add(&d, "10-a.conf", "# redefine\n[pool main]\nslab = 64x2\n");
	assert_int_equal(cfg_load(d.main, CFG_NO_RESOLVE, &cfg, &err), -EINVAL);
	print_message("  -> %s\n", err.msg);
	assert_null(cfg);
	assert_non_null(strstr(err.msg, "conf.d/10-a.conf:2:"));
	assert_non_null(strstr(err.msg, "rtmemd.conf:1"));
	dropdir_free(&d);
}

static void test_dropins_error_names_dropin_line(void **state)
{
	struct dropdir d;
	struct cfg *cfg = NULL;
	struct cfg_error err;

	(void)state;
	dropdir_make(&d, "[pool main]\nslab = 64x1\n");
	dropdir_add(&d, "10-a.conf", "[daemon]\n\nbogus = 1\n");
	assert_int_equal(cfg_load(d.main, CFG_NO_RESOLVE, &cfg, &err), -EINVAL);
	print_message("  -> %s\n", err.msg);
	assert_non_null(strstr(err.msg, "conf.d/10-a.conf:3:"));
	assert_int_equal(err.line, 3);
	dropdir_free(&d);
}

static void test_dropins_apply_to_builtin_default(void **state)
{
	struct dropdir d;
	struct cfg *cfg = NULL;
	struct cfg_error err;

	(void)state;
	dropdir_make(&d, "");
	unlink(d.main);
	dropdir_add(&d, "10-a.conf", "[pool extra]\nslab = 64x1\n");
	assert_int_equal(cfg_load(d.main, CFG_NO_RESOLVE | CFG_DEFAULT_IF_MISSING, &cfg, &err), 0);
	assert_int_equal(cfg->npools, 2);
	assert_string_equal(cfg->pools[0].name, "default");
	assert_string_equal(cfg->pools[1].name, "extra");
	cfg_free(cfg);
	/* a drop-in alone is no configuration without the default */
	assert_int_equal(cfg_load(d.main, CFG_NO_RESOLVE, &cfg, &err), -ENOENT);
	dropdir_free(&d);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full_config_exact),
		cmocka_unit_test(test_default_builtin_small_pool),
		cmocka_unit_test(test_default_used_when_file_missing),
		cmocka_unit_test(test_installed_config_parses),
		cmocka_unit_test(test_size_suffixes_exact),
		cmocka_unit_test(test_size_overflow_2_64),
		cmocka_unit_test(test_size_bad_suffix),
		cmocka_unit_test(test_error_column_points_at_value),
		cmocka_unit_test(test_users_root_resolves),
		cmocka_unit_test(test_reserve_grant_checks_ids),
		cmocka_unit_test(test_user_unknown_fails),
		cmocka_unit_test(test_group_unknown_fails),
		cmocka_unit_test(test_no_resolve_then_resolve),
		cmocka_unit_test(test_user_bad_name),
		cmocka_unit_test(test_report_fits_and_not),
		cmocka_unit_test(test_report_hugepages_need_free_huge),
		cmocka_unit_test(test_report_reads_system_limits),
		cmocka_unit_test(test_error_at_formats_file_line),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_err_unknown_section),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_key_outside_section),
		cmocka_unit_test(test_err_bad_size),
		cmocka_unit_test(test_err_classes_not_increasing),
		cmocka_unit_test(test_slab_stripes_expand),
		cmocka_unit_test(test_err_slab_stripes),
		cmocka_unit_test(test_err_count_zero),
		cmocka_unit_test(test_err_slab_class_syntax),
		cmocka_unit_test(test_err_too_many_classes),
		cmocka_unit_test(test_err_buddy_min_gt_max),
		cmocka_unit_test(test_err_buddy_smaller_than_max),
		cmocka_unit_test(test_err_buddy_not_power_of_two),
		cmocka_unit_test(test_err_buddy_other),
		cmocka_unit_test(test_buddy_arena),
		cmocka_unit_test(test_err_duplicate_pool),
		cmocka_unit_test(test_err_duplicate_key),
		cmocka_unit_test(test_err_duplicate_section),
		cmocka_unit_test(test_err_pool_neither_slab_nor_buddy),
		cmocka_unit_test(test_err_no_pools),
		cmocka_unit_test(test_err_missing_equals),
		cmocka_unit_test(test_err_missing_bracket),
		cmocka_unit_test(test_err_empty_value),
		cmocka_unit_test(test_err_line_too_long),
		cmocka_unit_test(test_err_invalid_utf8),
		cmocka_unit_test(test_err_nul_byte),
		cmocka_unit_test(test_err_bad_pool_name),
		cmocka_unit_test(test_err_too_many_pools),
		cmocka_unit_test(test_err_reserve),
		cmocka_unit_test(test_err_daemon_values),
		cmocka_unit_test(test_err_memtest_values),
		cmocka_unit_test(test_err_max_clients_range),
		cmocka_unit_test(test_err_layout_overflow),
		cmocka_unit_test(test_err_file_too_large),
		cmocka_unit_test(test_err_unreadable_file),
		cmocka_unit_test(test_err_too_many_ids),
		cmocka_unit_test(test_log_level_and_monitor_keys),
		cmocka_unit_test(test_dropins_merge_in_name_order),
		cmocka_unit_test(test_dropins_pool_twice_names_both_files),
		cmocka_unit_test(test_dropins_error_names_dropin_line),
		cmocka_unit_test(test_dropins_apply_to_builtin_default),
		cmocka_unit_test(test_max_connections_per_uid_key_bounds),
		cmocka_unit_test(test_error_escape_bytes_sanitized),
	};

	if (argc > 1)
		installed_conf = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
