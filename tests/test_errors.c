/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c - lib/client/errors.c: rtmem_error_hint() tells the same errno
 * apart by the call that returned it and names the fix; rtmem_version().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rtmem/rtmem.h"

static void has(const char *text, const char *word)
{
	if (!strstr(text, word))
		fail_msg("\"%s\" does not say \"%s\"", text, word);
}

static void test_hint_enoent_daemon_vs_pool(void **state)
{
	(void)state;
	has(rtmem_error_hint(RTMEM_CALL_CONNECT, -ENOENT), "not running");
	has(rtmem_error_hint(RTMEM_CALL_POOL_OPEN, -ENOENT), "no pool of that name");
	assert_string_not_equal(rtmem_error_hint(RTMEM_CALL_CONNECT, -ENOENT),
				rtmem_error_hint(RTMEM_CALL_POOL_OPEN, -ENOENT));
}

static void test_hint_enomem_memlock_vs_empty_class(void **state)
{
	(void)state;
	has(rtmem_error_hint(RTMEM_CALL_POOL_OPEN, -ENOMEM), "RLIMIT_MEMLOCK");
	has(rtmem_error_hint(RTMEM_CALL_POOL_OPEN, -ENOMEM), "LimitMEMLOCK");
	has(rtmem_error_hint(RTMEM_CALL_POOL_OPEN, -ENOMEM), "limits.d");
	has(rtmem_error_hint(RTMEM_CALL_RT_PREPARE, -ENOMEM), "mlockall");
	has(rtmem_error_hint(RTMEM_CALL_ALLOC, -ENOMEM), "no free block");
}

static void test_hint_eacces_names_group(void **state)
{
	(void)state;
	has(rtmem_error_hint(RTMEM_CALL_CONNECT, -EACCES), "group rtmem");
	has(rtmem_error_hint(RTMEM_CALL_CONNECT, -EACCES), "usermod -aG rtmem");
	has(rtmem_error_hint(RTMEM_CALL_POOL_OPEN, -EACCES), "users/groups");
}

static void test_hint_unknown_falls_back_to_strerror(void **state)
{
	(void)state;
	assert_string_equal(rtmem_error_hint(RTMEM_CALL_FREE, -ENOSPC), rtmem_strerror(-ENOSPC));
	assert_string_equal(rtmem_error_hint(0, -EDQUOT), rtmem_strerror(-EDQUOT));
	assert_non_null(rtmem_error_hint(RTMEM_CALL_ALLOC, 0));
}

static void test_version_matches_header(void **state)
{
	char want[32];

	(void)state;
	snprintf(want, sizeof(want), "%d.%d.", RTMEM_VERSION_MAJOR, RTMEM_VERSION_MINOR);
	assert_int_equal(strncmp(rtmem_version(), want, strlen(want)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hint_enoent_daemon_vs_pool),
		cmocka_unit_test(test_hint_enomem_memlock_vs_empty_class),
		cmocka_unit_test(test_hint_eacces_names_group),
		cmocka_unit_test(test_hint_unknown_falls_back_to_strerror),
		cmocka_unit_test(test_version_matches_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
