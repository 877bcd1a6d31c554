/* SPDX-License-Identifier: MIT */
/*
 * cacheflush.h - clean and invalidate a range of the data cache to the point
 * of coherency (PoC), so that the next load of the range comes from DRAM and
 * every earlier store has reached DRAM.
 *
 * The memory tester needs this between March elements: a faulty DRAM cell is
 * invisible while its line sits in a cache (the Raspberry Pi 4 has a 1 MiB L2
 * shared by its four cores; a whole test slice fits in it).
 *
 *   arm64:  DC CIVAC on every line (allowed at EL0 on Linux, SCTLR_EL1.UCI),
 *           line size from CTR_EL0.DminLine, then DSB SY. A clean to the point
 *           of unification (DC CVAU, what stressapptest uses) stops at L2 and
 *           does not reach DRAM.
 *   x86-64: CLFLUSHOPT on every line when CPUID.(EAX=7,ECX=0):EBX[23] says so,
 *           else CLFLUSH; line size from CPUID.1:EBX[15:8]; then MFENCE.
 *   other:  a full compiler and hardware barrier only; cacheflush_supported()
 *           returns false so callers can report that reads may hit the cache.
 *
 * The line size and the x86 feature bit are read once, lazily, with relaxed
 * atomics (any racing initialiser computes the same values).
 */
#ifndef RTMEMD_CACHEFLUSH_H
#define RTMEMD_CACHEFLUSH_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * cacheflush_line_size() - the smallest data cache line size, in bytes.
 * Context: RT-safe after the first call (the first call executes CPUID on
 * x86, which may trap to a hypervisor); no allocation, never blocks.
 * Return: the line size, a power of two >= 16 (64 when it cannot be read).
 */
size_t cacheflush_line_size(void);

/*
 * cacheflush_supported() - whether cacheflush_range() reaches DRAM here.
 * Context: as cacheflush_line_size().
 * Return: true on arm64 and x86-64, false elsewhere.
 */
bool cacheflush_supported(void);

/*
 * cacheflush_range() - clean and invalidate [p, p + len) to the PoC, then
 * wait until the maintenance has completed (DSB SY / MFENCE).
 * @p:   start of the range (any alignment; whole lines are flushed)
 * @len: bytes; 0 only issues the barrier
 * Context: RT-safe, no allocation, no system call; takes time linear in
 * len / line size. The range must be mapped (a fault is possible otherwise).
 */
void cacheflush_range(const void *p, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RTMEMD_CACHEFLUSH_H */
