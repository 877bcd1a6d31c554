/* SPDX-License-Identifier: MIT */
/*
 * test_example.c - rtmem-example (examples/rt_cyclic.c) against a real
 * rtmemd: a line per thread, the histogram, --json, the key=value lines; the
 * default pool found in a config that has only "control"; SCHED_FIFO refused
 * is exit 1 unless --accept-other; --help/--version 0, bad usage 2.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon_fixture.h"

static int start(void **state)
{
	static struct daemon d;
	char conf[256];

	/* the installed config's pool name, not the built-in "default" */
	snprintf(conf, sizeof(conf), "[pool control]\nslab = 64x64, 256x64, 1Kx64, 4Kx32\nbuddy = 1M\nusers = root, %u\n",
		 (unsigned)getuid());
	if (daemon_start(&d, conf) < 0)
		fail_msg("rtmemd did not start");
	*state = &d;
	return 0;
}

static int stop(void **state)
{
	int st = daemon_stop(*state);

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}

/* Run "[@wrap] rtmem-example -s SOCK @args"; stdout and stderr in a static buffer. */
static const char *run(const struct daemon *d, const char *wrap, const char *args, int *ret_rc)
{
	static char out[1 << 16];
	char cmd[768];

	snprintf(cmd, sizeof(cmd), "%s %s -s %s %s 2>&1", wrap ? wrap : "", RTMEM_EXAMPLE_PATH, d ? d->sock : "/none",
		 args);
	return fixture_run(cmd, out, sizeof(out), ret_rc);
}

/* SCHED_FIFO for this test's processes? (root, or RLIMIT_RTPRIO) */
static bool fifo_ok(void)
{
	struct sched_param sp = { .sched_priority = 10 }, old = { 0 };
	int pol = sched_getscheduler(0);

	sched_getparam(0, &old);
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		return false;
	sched_setscheduler(0, pol, &old);
	return true;
}

static void test_example_lines_histogram_default_pool(void **state)
{
	const char *out;
	int rc;

	if (!fifo_ok()) {
		print_message("skipped: SCHED_FIFO not allowed here (no RLIMIT_RTPRIO, no CAP_SYS_NICE)\n");
		skip();
	}
#if defined(__SANITIZE_THREAD__)
	print_message("skipped: under TSan the example takes page faults in its RT phase (TSan's shadow memory) and says so with exit 1\n");
	skip();
#endif
	out = run(*state, NULL, "-t 2 -l 50 -i 200 -h 20", &rc);
	if (rc != 0)
		fail_msg("exit %d: %s", rc, out);
	assert_non_null(strstr(out, "pool \"control\", SCHED_FIFO"));
	assert_non_null(strstr(out, "T: 0 ("));
	assert_non_null(strstr(out, "T: 1 ("));
	assert_non_null(strstr(out, "C:     50 Min:"));
	assert_non_null(strstr(out, "# Histogram"));
	assert_non_null(strstr(out, "\n000019 "));
	assert_null(strstr(out, "\n000020 "));
	assert_non_null(strstr(out, "# Histogram Overflows:"));
	assert_non_null(strstr(out, "rt_phase_page_faults=0\n"));
	out = run(*state, NULL, "-l 20 -i 200 -h 10 --json", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(strncmp(out, "{\"tool\":\"rtmem-example\"", 23), 0);
	assert_non_null(strstr(out, "\"policy\":\"fifo\""));
	assert_non_null(strstr(out, "\"histogram\":{"));
	assert_non_null(strstr(out, "\"page_faults\":0"));
	assert_null(strstr(out, "rt_phase_page_faults")); /* one JSON object, nothing else */
	out = run(*state, NULL, "-l 5 -P nosuchpool", &rc);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "no pool of that name"));
}

static void test_example_fifo_refused_exits_1(void **state)
{
	const char *wrap = getuid() == 0 ? "prlimit --rtprio=0:0 -- setpriv --bounding-set=-all --inh-caps=-all --"
					 : "prlimit --rtprio=0:0 --";
	const char *out;
	int rc;

	if (system("command -v prlimit >/dev/null && command -v setpriv >/dev/null") != 0) {
		print_message("skipped: prlimit or setpriv (util-linux) missing\n");
		skip();
	}
	out = run(*state, wrap, "-l 5 -i 200", &rc);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "SCHED_FIFO priority 80 refused"));
	assert_non_null(strstr(out, "--accept-other"));
	assert_null(strstr(out, "T: 0")); /* nothing measured */
	out = run(*state, wrap, "-l 5 -i 200 --accept-other -q", &rc);
	assert_non_null(strstr(out, "SCHED_OTHER (accepted with --accept-other"));
	assert_non_null(strstr(out, "T: 0"));
}

/* rtmem-pipeline: two processes hand 20000 buffers over through the pool. */
static void test_pipeline_hands_buffers_over(void **state)
{
	const struct daemon *d = *state;
	static char out[4096];
	char cmd[512];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s -s %s -n 20000 -b 200 2>&1", RTMEM_PIPELINE_PATH, d->sock);
	fixture_run(cmd, out, sizeof(out), &rc);
	if (rc != 0)
		fail_msg("rtmem-pipeline failed: %s", out);
	printf("# %s", out);
	assert_non_null(strstr(out, "20000 buffers of 200 B handed over"));
	assert_non_null(strstr(out, "errors 0\n"));
	/* every buffer went back: nothing held once both processes left */
	assert_null(strstr(daemon_log(d), "reclaimed 1")); /* no reclaim of a dead pipeline end */
}

/* rtmem-pipeline -r 3: each buffer shared with three reader processes; the
 * last reader to let go frees it, whichever that is. */
static void test_pipeline_shares_buffers_with_readers(void **state)
{
	const struct daemon *d = *state;
	static char out[4096];
	char cmd[512];
	unsigned long freed = 0, n;
	const char *at = out;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s -s %s -n 20000 -b 200 -r 3 2>&1", RTMEM_PIPELINE_PATH, d->sock);
	fixture_run(cmd, out, sizeof(out), &rc);
	if (rc != 0)
		fail_msg("rtmem-pipeline -r 3 failed: %s", out);
	printf("%s", out);
	for (int k = 0; k < 3; k++) {
		char want[96];

		snprintf(want, sizeof(want), "reader %d: 20000 buffers of 200 B shared with 3 readers", k);
		assert_non_null(strstr(out, want));
	}
	/* each buffer freed exactly once, by one of the readers */
	while ((at = strstr(at, "freed by this reader ")) && sscanf(at, "freed by this reader %lu", &n) == 1) {
		freed += n;
		at++;
	}
	assert_int_equal(freed, 20000);
	assert_null(strstr(out, "errors 1"));
	assert_null(strstr(daemon_log(d), "reclaimed 1"));
}

static void test_example_help_version_usage(void **state)
{
	int rc;

	(void)state;
	assert_non_null(strstr(run(NULL, NULL, "--help", &rc), "--histogram"));
	assert_int_equal(rc, 0);
	assert_non_null(strstr(run(NULL, NULL, "--version", &rc), "librtmem 0."));
	assert_int_equal(rc, 0);
	run(NULL, NULL, "-p 0", &rc);
	assert_int_equal(rc, 2);
	run(NULL, NULL, "--bogus", &rc);
	assert_int_equal(rc, 2);
	run(NULL, NULL, "extra", &rc);
	assert_int_equal(rc, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_example_lines_histogram_default_pool, start, stop),
		cmocka_unit_test_setup_teardown(test_example_fifo_refused_exits_1, start, stop),
		cmocka_unit_test(test_example_help_version_usage),
		cmocka_unit_test_setup_teardown(test_pipeline_shares_buffers_with_readers, start, stop),
		cmocka_unit_test_setup_teardown(test_pipeline_hands_buffers_over, start, stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
