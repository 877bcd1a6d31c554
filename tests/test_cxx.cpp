// SPDX-License-Identifier: MIT
/*
 * test_cxx.cpp - include/rtmem/rtmem.hpp with g++ against a real rtmemd:
 * pmr containers and rtmem::allocator allocate in the pool (its in-use count
 * rises, and falls back to zero when they are gone), an empty class throws
 * std::bad_alloc, setup errors throw rtmem::error with the hint, and
 * over-aligned requests get aligned blocks or bad_alloc, never a misaligned one.
 */
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <csetjmp>
#include <cstring>
#include <list>
#include <memory_resource>
#include <string>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include <rtmem/rtmem.hpp>

#include "daemon_fixture.h"

static uint64_t in_use(rtmem_pool *p)
{
	struct rtmem_pool_stats st;
	uint64_t n = 0;

	assert_int_equal(rtmem_pool_stats(p, &st), 0);
	for (uint32_t k = 0; k < st.nclasses; k++)
		n += st.cls[k].in_use;
	return n + (st.buddy_size - st.buddy_free);
}

static int start(void **state)
{
	static struct daemon d;
	char conf[256];

	snprintf(conf, sizeof(conf), "[pool cxx]\nslab = 64x64, 1Kx16\nbuddy = 256K\nbuddy_max = 64K\nusers = root, %u\n",
		 (unsigned)getuid());
	if (daemon_start(&d, conf) < 0)
		fail_msg("rtmemd did not start");
	*state = &d;
	return 0;
}

static int stop(void **state)
{
	int st = daemon_stop(static_cast<struct daemon *>(*state));

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}

static void test_cxx_pmr_and_allocator_use_the_pool(void **state)
{
	auto *d = static_cast<struct daemon *>(*state);
	rtmem::client c("cxx", d->sock);
	rtmem::pool p(c, "cxx", RTMEM_POOL_NOLOCK);
	rtmem::pool_resource res(p);
	uint64_t before = in_use(p.get());

	{
		std::pmr::vector<int> v(&res);
		std::pmr::string s("a string long enough to leave the small-string buffer", &res);
		std::list<long, rtmem::allocator<long>> l{ rtmem::allocator<long>(p) };

		v.reserve(100);
		for (int i = 0; i < 100; i++)
			v.push_back(i);
		for (long i = 0; i < 10; i++)
			l.push_back(i);
		assert_true(in_use(p.get()) > before + 10);
		assert_int_equal(v[99], 99);
		assert_int_equal(l.back(), 9);
		assert_true(rtmem_ptr_to_off(p.get(), v.data()) != UINT64_MAX); /* inside the pool */
		assert_true(rtmem_ptr_to_off(p.get(), s.data()) != UINT64_MAX);
	}
	assert_int_equal(in_use(p.get()), before);
	assert_true(res.is_equal(res));
	std::pmr::monotonic_buffer_resource other;
	assert_false(res.is_equal(other));
	assert_true(rtmem::allocator<int>(p) == rtmem::allocator<char>(p));
}

static void test_cxx_empty_pool_throws_bad_alloc(void **state)
{
	auto *d = static_cast<struct daemon *>(*state);
	rtmem::client c("cxx", d->sock);
	rtmem::pool p(c, "cxx", RTMEM_POOL_NOLOCK);
	rtmem::pool_resource res(p);
	std::vector<void *> held;
	bool threw = false;

	try {
		for (;;)
			held.push_back(res.allocate(1024, alignof(std::max_align_t)));
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	assert_true(threw);
	assert_true(held.size() >= 16);
	for (void *b : held)
		res.deallocate(b, 1024, alignof(std::max_align_t));
	/* over-aligned: an aligned block or bad_alloc, never a misaligned pointer */
	try {
		void *b = res.allocate(64, 4096);

		assert_int_equal(reinterpret_cast<uintptr_t>(b) % 4096, 0);
		res.deallocate(b, 64, 4096);
	} catch (const std::bad_alloc &) {
	}
}

static void test_cxx_setup_errors_carry_the_hint(void **state)
{
	auto *d = static_cast<struct daemon *>(*state);
	int code = 0;
	std::string what;

	try {
		rtmem::client c("cxx", "/nonexistent/rtmemd.sock");
	} catch (const rtmem::error &e) {
		code = e.code();
		what = e.what();
	}
	assert_int_equal(code, -ENOENT);
	assert_true(what.find("not running") != std::string::npos);
	rtmem::client c("cxx", d->sock);
	try {
		rtmem::pool p(c, "nosuchpool");
	} catch (const rtmem::error &e) {
		code = e.code();
		what = e.what();
	}
	assert_int_equal(code, -ENOENT);
	assert_true(what.find("no pool of that name") != std::string::npos);
	assert_true(std::strlen(rtmem::version()) > 0);
}

int main()
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cxx_pmr_and_allocator_use_the_pool, start, stop),
		cmocka_unit_test_setup_teardown(test_cxx_empty_pool_throws_bad_alloc, start, stop),
		cmocka_unit_test_setup_teardown(test_cxx_setup_errors_carry_the_hint, start, stop),
	};

	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
