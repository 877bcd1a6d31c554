/* SPDX-License-Identifier: MIT */
/*
 * test_rtmemctl.c - rtmemctl against a real rtmemd: metrics in the
 * Prometheus text format (every sample has its HELP and TYPE, counters end
 * in _total, pools and classes labelled), the atomic textfile write and
 * rtmemd_up 0 without a daemon, top, the read-only monitor socket, the
 * daemon's quiet logging, --help/--version and usage errors (exit 2); a
 * striped pool shown as one class per configured size.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon_fixture.h"
#include "rtmem/rtmem.h"

struct fx {
	struct daemon d;
	char monitor[96];
};

static int start(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char conf[640];

	snprintf(f->monitor, sizeof(f->monitor), "/tmp/rtmemctl-test-%d.monitor.sock", (int)getpid());
	snprintf(conf, sizeof(conf),
		 "[daemon]\nmonitor_socket = %s\n"
		 "[pool ctl]\nslab = 64x32, 256x8\nbuddy = 64K\nbuddy_max = 16K\nusers = root, %u\n"
		 "[pool striped]\nslab = 64x30, 128x8\nslab_stripes = 4\nthread_cache = 0\nusers = root, %u\n",
		 f->monitor, (unsigned)getuid(), (unsigned)getuid());
	if (daemon_start(&f->d, conf) < 0)
		fail_msg("rtmemd did not start");
	*state = f;
	return 0;
}

static int stop(void **state)
{
	struct fx *f = *state;
	int st = daemon_stop(&f->d);

	free(f);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}

/* Run rtmemctl with @args (a shell word list); its stdout in a static buffer, exit status in *ret_rc. */
static const char *ctl(const char *sock, const char *args, int *ret_rc)
{
	static char out[1 << 17];
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s%s%s %s 2>/dev/null", RTMEMCTL_PATH, sock ? " -s " : "", sock ? sock : "", args);
	return fixture_run(cmd, out, sizeof(out), ret_rc);
}

/* Every sample line's family was introduced by HELP and TYPE; counters end in _total. */
static void check_exposition(const char *text)
{
	char fam[128] = "", type[16] = "";
	const char *line = text;
	unsigned samples = 0;

	while (*line) {
		const char *nl = strchr(line, '\n');
		char name[128];

		assert_non_null(nl);
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(sscanf(line, "# HELP %127s", fam), 1);
		} else if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(sscanf(line, "# TYPE %127s %15s", name, type), 2);
			assert_string_equal(name, fam);
			assert_true(!strcmp(type, "gauge") || !strcmp(type, "counter"));
			if (!strcmp(type, "counter"))
				assert_non_null(strstr(fam, "_total"));
		} else {
			size_t k = strcspn(line, "{ ");

			assert_true(k < sizeof(name));
			memcpy(name, line, k);
			name[k] = '\0';
			if (strcmp(name, fam))
				fail_msg("sample %s outside its family (%s)", name, fam);
			assert_int_equal(strncmp(name, "rtmemd_", 7), 0);
			samples++;
		}
		line = nl + 1;
	}
	assert_true(samples > 20);
}

static void test_metrics_prometheus_format(void **state)
{
	struct fx *f = *state;
	struct rtmem_client *c;
	struct rtmem_pool *p;
	void *b[3];
	const char *out;
	int rc;

	assert_int_equal(rtmem_connect(f->d.sock, "motor", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "ctl", RTMEM_POOL_NOLOCK, &p), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rtmem_alloc(p, 200, &b[i]), 0);
	out = ctl(f->d.sock, "metrics", &rc);
	assert_int_equal(rc, 0);
	check_exposition(out);
	assert_non_null(strstr(out, "\nrtmemd_up 1\n"));
	assert_non_null(strstr(out, "rtmemd_class_blocks_in_use{pool=\"ctl\",kind=\"slab\",block_size=\"256\"} 3\n"));
	assert_non_null(strstr(out, "rtmemd_class_blocks{pool=\"ctl\",kind=\"slab\",block_size=\"64\"} 32\n"));
	assert_non_null(strstr(out, "rtmemd_client_held_bytes{client=\"motor\"} 768\n"));
	assert_non_null(strstr(out, "\nrtmemd_clients 1\n")); /* rtmemctl itself is a monitor, not a client */
	assert_non_null(strstr(out, "rtmemd_pool_size_bytes{pool=\"ctl\"} "));
	rtmem_disconnect(c);
	rtmem_pool_close(p); /* the shell rtmem_disconnect() left */
	out = ctl(f->d.sock, "metrics", &rc);
	assert_non_null(strstr(out, "\nrtmemd_reclaims_total 1\n"));
	assert_non_null(strstr(out, "\nrtmemd_reclaimed_blocks_total 3\n"));
}

static void test_metrics_output_atomic_and_down(void **state)
{
	struct fx *f = *state;
	char path[160], args[200], buf[8192];
	struct stat st;
	FILE *in;
	size_t n;
	int rc;

	snprintf(path, sizeof(path), "%s/rtmemd.prom", f->d.dir);
	snprintf(args, sizeof(args), "metrics -o %s", path);
	assert_string_equal(ctl(f->d.sock, args, &rc), "");
	assert_int_equal(rc, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	in = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, in);
	fclose(in);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\nrtmemd_up 1\n"));
	/* no daemon on that socket: the file says so, and the exit status too */
	ctl("/nonexistent/rtmemd.sock", args, &rc);
	assert_int_equal(rc, 1);
	in = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, in);
	fclose(in);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\nrtmemd_up 0\n"));
	assert_null(strstr(buf, "rtmemd_pool_size_bytes"));
	unlink(path);
}

static void test_monitor_socket_reads_not_opens(void **state)
{
	struct fx *f = *state;
	struct rtmem_client *c;
	struct rtmem_pool *p = NULL;
	struct stat st;
	const char *out;
	int rc;

	assert_int_equal(stat(f->monitor, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	out = ctl(f->monitor, "status", &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "clients: 0"));
	assert_int_equal(rtmem_connect(f->monitor, "sneaky", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "ctl", RTMEM_POOL_NOLOCK, &p), -EACCES);
	assert_null(p);
	rtmem_disconnect(c);
}

static void test_top_frames(void **state)
{
	struct fx *f = *state;
	const char *out;
	int rc;

	out = ctl(f->d.sock, "top -n 2 -d 0.1", &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "ctl"));
	assert_non_null(strstr(out, "failed/s"));
	assert_null(strstr(out, "\033[")); /* not a terminal: no screen control */
	assert_non_null(strstr(strstr(out, "rtmemd pid") + 1, "rtmemd pid")); /* two frames */
	ctl(f->d.sock, "top -d 0", &rc);
	assert_int_equal(rc, 2);
}

static void test_daemon_quiet_about_monitors(void **state)
{
	struct fx *f = *state;
	int rc;

	for (int i = 0; i < 3; i++)
		ctl(f->d.sock, "status", &rc);
	usleep(100000);
	assert_null(strstr(daemon_log(&f->d), "rtmemctl"));
	assert_null(strstr(daemon_log(&f->d), "connected"));
}

/* Stripes are core classes of one size; metrics may not repeat a label set
 * (Prometheus refuses the scrape) and the tables show one row per size. */
static void test_striped_pool_one_class_per_size(void **state)
{
	struct fx *f = *state;
	struct rtmem_client *c;
	struct rtmem_pool *p;
	void *b[3];
	const char *out, *at;
	unsigned n = 0;
	int rc;

	assert_int_equal(rtmem_connect(f->d.sock, "striper", &c), 0);
	assert_int_equal(rtmem_pool_open(c, "striped", RTMEM_POOL_NOLOCK, &p), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rtmem_alloc(p, 64, &b[i]), 0);
	out = ctl(f->d.sock, "metrics", &rc);
	assert_int_equal(rc, 0);
	check_exposition(out);
	for (at = out; (at = strstr(at, "rtmemd_class_blocks{pool=\"striped\",kind=\"slab\"")) != NULL; at++)
		n++;
	assert_int_equal(n, 2); /* 64 and 128, not 4 x 2 */
	assert_non_null(strstr(out, "rtmemd_class_blocks{pool=\"striped\",kind=\"slab\",block_size=\"64\"} 30\n"));
	assert_non_null(strstr(out, "rtmemd_class_blocks_in_use{pool=\"striped\",kind=\"slab\",block_size=\"64\"} 3\n"));
	out = ctl(f->d.sock, "--json pools", &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "\"kind\":\"slab\",\"size\":64,\"count\":30,\"in_use\":3,\"free\":27,"));
	assert_non_null(strstr(out, "\"kind\":\"slab\",\"size\":128,\"count\":8,\"in_use\":0,\"free\":8,"));
	assert_non_null(strstr(out, "\"name\":\"striped\",\"state\":\"serving\",\"damage\":0,"));
	assert_non_null(strstr(out, "\"clients\":1,\"slab_stripes\":4,"));
	assert_non_null(strstr(out, "\"name\":\"ctl\""));
	assert_non_null(strstr(out, "\"slab_stripes\":1,"));
	for (int i = 0; i < 3; i++)
		assert_int_equal(rtmem_free(p, b[i]), 0);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
}

static void test_help_version_usage(void **state)
{
	int rc;

	(void)state;
	assert_non_null(strstr(ctl(NULL, "--version", &rc), "rtmemctl "));
	assert_int_equal(rc, 0);
	assert_non_null(strstr(ctl(NULL, "--help", &rc), "metrics"));
	assert_int_equal(rc, 0);
	ctl(NULL, "frobnicate", &rc);
	assert_int_equal(rc, 2);
	ctl(NULL, "", &rc);
	assert_int_equal(rc, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_prometheus_format, start, stop),
		cmocka_unit_test_setup_teardown(test_metrics_output_atomic_and_down, start, stop),
		cmocka_unit_test_setup_teardown(test_monitor_socket_reads_not_opens, start, stop),
		cmocka_unit_test_setup_teardown(test_top_frames, start, stop),
		cmocka_unit_test_setup_teardown(test_daemon_quiet_about_monitors, start, stop),
		cmocka_unit_test_setup_teardown(test_striped_pool_one_class_per_size, start, stop),
		cmocka_unit_test(test_help_version_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
