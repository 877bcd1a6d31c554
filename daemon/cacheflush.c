/* SPDX-License-Identifier: MIT */
/*
 * cacheflush.c - data cache clean+invalidate to the point of coherency for the
 * memory tester. See cacheflush.h for the per-architecture instructions.
 *
 * Invariant: cf_line is 0 (not yet read) or a power of two >= 16; cf_opt is
 * only meaningful once cf_line is non-zero.
 */
#include "cacheflush.h"

#include <stdint.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static size_t cf_line; /* bytes; 0 until first use */
#if defined(__x86_64__)
static bool cf_opt; /* CLFLUSHOPT available */
#endif

static size_t cf_probe(void)
{
	size_t line = 64;

#if defined(__aarch64__)
	uint64_t ctr;

	__asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
	/* DminLine, bits [19:16]: log2 of the number of 4-byte words. */
	line = (size_t)4 << ((ctr >> 16) & 0xf);
#elif defined(__x86_64__)
	unsigned int a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) && ((b >> 8) & 0xff) != 0)
		line = (size_t)((b >> 8) & 0xff) * 8;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		__atomic_store_n(&cf_opt, (b >> 23) & 1, __ATOMIC_RELAXED);
#endif
	if (line < 16 || (line & (line - 1)) != 0)
		line = 64;
	__atomic_store_n(&cf_line, line, __ATOMIC_RELAXED);
	return line;
}

size_t cacheflush_line_size(void)
{
	size_t line = __atomic_load_n(&cf_line, __ATOMIC_RELAXED);

	return line ? line : cf_probe();
}

bool cacheflush_supported(void)
{
#if defined(__aarch64__) || defined(__x86_64__)
	return true;
#else
	return false;
#endif
}

void cacheflush_range(const void *p, size_t len)
{
	size_t line = cacheflush_line_size();
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(line - 1);
	uintptr_t end = (uintptr_t)p + len;

#if defined(__aarch64__)
	/* Order earlier stores before the maintenance (same-line ordering is
	 * architectural, but the range may alias lines written by others). */
	__asm__ volatile("dsb sy" ::: "memory");
	for (; len && a < end; a += line)
		__asm__ volatile("dc civac, %0" : : "r"(a) : "memory");
	__asm__ volatile("dsb sy" ::: "memory");
#elif defined(__x86_64__)
	if (__atomic_load_n(&cf_opt, __ATOMIC_RELAXED)) {
		for (; len && a < end; a += line)
			__asm__ volatile("clflushopt %0" : "+m"(*(volatile char *)a) : : "memory");
	} else {
		for (; len && a < end; a += line)
			__asm__ volatile("clflush %0" : "+m"(*(volatile char *)a) : : "memory");
	}
	__asm__ volatile("mfence" ::: "memory");
#else
	(void)a;
	(void)end;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
