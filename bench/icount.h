/* SPDX-License-Identifier: MIT */
/*
 * icount.h - exact user-space instruction counts of single function calls,
 * by single-stepping with ptrace. Used by the benchmark and by the test that
 * asserts the allocator's instruction bounds (tests/test_icount.c).
 *
 * icount_run() forks. The child (same address-space layout, so function
 * addresses agree) runs a driver that prepares state and, right before each
 * call to be counted, calls icount_arm(tag, fn), which publishes @fn and stops
 * the child with SIGSTOP. The parent single-steps until the child's PC is at
 * @fn, takes the return address (x86-64: [rsp]; arm64: x30), counts steps until
 * the PC is back there with the stack pointer of the caller, adds the count to
 * the tag's statistics, and lets the child run on to its next stop.
 *
 * What a count is: every instruction executed from the function's first
 * instruction up to and including its return, in any callee (libc, the vDSO,
 * PLT stubs inside the call), user space only. A system call instruction
 * counts as one. x86-64: a REP string instruction counts once, not once per
 * iteration. arm64: a load-exclusive/store-exclusive sequence (an LL/SC CAS
 * loop) cannot be single-stepped (the exception taken after each step clears
 * the exclusive monitor, so the store-exclusive would fail forever), so it is
 * run at full speed between breakpoints, as gdb does, and every instruction of
 * it that executed is counted, LDAXR and STLXR included; a failed STLXR that
 * loops back counts its retry.
 *
 * Not thread-safe: one icount_run() at a time per process; the driver must be
 * single-threaded.
 */
#ifndef RTMEM_ICOUNT_H
#define RTMEM_ICOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Statistics of the counted calls of one tag. */
struct icount_stats {
	uint64_t calls; /* counted calls */
	uint64_t sum;   /* instructions, all calls */
	uint64_t min;   /* shortest call (UINT64_MAX if none) */
	uint64_t max;   /* longest call: the longest path seen */
};

/* Runs in the child. Return: 0, or a negative value that icount_run() returns. */
typedef int (*icount_driver_fn)(void *arg);

/*
 * icount_run() - fork, run @driver(@arg) in the child under ptrace, and count
 * every call announced with icount_arm(). @ret holds @ntags entries (reset
 * here); icount_arm() tags must be below @ntags.
 * Context: setup/benchmark only; forks, blocks until the child exits; about
 * 2-5 us per instruction stepped.
 * Return: 0; the driver's negative return value; -ENOSYS/-EPERM/-EACCES if the
 * child cannot be traced (-ENOSYS also under qemu-user, see icount_emulated(),
 * whose ptrace would trace the emulator, not the guest); -ENOTSUP (arm64:
 * an atomic sequence icount cannot delimit); -E2BIG (a call ran past the step
 * limit, or a tag out of range); -ECHILD (the child died); another -errno from
 * fork/ptrace/waitpid. icount_why() then says what happened.
 */
int icount_run(icount_driver_fn driver, void *arg, struct icount_stats *ret, unsigned ntags);

/*
 * icount_arm() - in the driver: the next call of @fn is to be counted under
 * @tag. Call @fn right after this. Outside icount_run() it does nothing.
 * Context: the child of icount_run() only.
 */
void icount_arm(unsigned tag, const void *fn);

/*
 * icount_set_trace() - write the address of every counted instruction to @f,
 * one per line, and "end <fn> <count>" after each call; NULL stops it. For
 * finding where a path's instructions go (addr2line, objdump -d).
 * Context: parent side, before icount_run().
 */
void icount_set_trace(FILE *f);

/* A sentence on the last icount_run() failure (empty if none). */
const char *icount_why(void);

/*
 * icount_emulated() - does this process run under a user-mode emulator
 * (qemu-user) rather than on the CPU it was compiled for? Evidence, not a
 * guess: an arm64 process that reads an x86 /proc/cpuinfo (qemu-user passes
 * the host's through). Writes the evidence to @why.
 * Context: any; reads /proc/cpuinfo. Return: true if emulated.
 */
bool icount_emulated(char *why, size_t len);

/* Mean instructions per call of @s, 0 if no call. */
static inline double icount_mean(const struct icount_stats *s)
{
	return s->calls ? (double)s->sum / (double)s->calls : 0.0;
}

#endif /* RTMEM_ICOUNT_H */
