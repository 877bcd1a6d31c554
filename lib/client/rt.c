/* SPDX-License-Identifier: MIT */
/*
 * rt.c - librtmem's helpers for the application's own "lock" step: malloc
 * tuning, mlockall, stack pre-faulting, page-fault accounting, error strings.
 */
#include <alloca.h>
#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "region.h"
#include "rtmem/rtmem.h"

#define API __attribute__((visibility("default")))

/* Touch @bytes of stack below this frame so the RT phase never faults there. */
static __attribute__((noinline)) void prefault_stack(size_t bytes)
{
	volatile char *buf = alloca(bytes);
	long page = sysconf(_SC_PAGESIZE);

	for (size_t i = 0; i < bytes; i += (size_t)page)
		buf[i] = 0;
	buf[bytes - 1] = 0;
}

API int rtmem_rt_prepare(size_t stack_bytes)
{
	/* glibc: never give memory back (trim) and never mmap a large malloc:
	 * both would turn a later malloc/free into page faults. */
	mallopt(M_TRIM_THRESHOLD, -1);
	mallopt(M_TOP_PAD, 0);
	mallopt(M_MMAP_MAX, 0);
	/* the buddy lock's per-thread lookups (two system calls) happen here, not on the RT path */
	rg_buddy_thread_prepare();
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		return -errno;
	if (stack_bytes)
		prefault_stack(stack_bytes);
	return 0;
}

API void rtmem_faults_mark(struct rtmem_faults *mark)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	mark->minor = (uint64_t)ru.ru_minflt;
	mark->major = (uint64_t)ru.ru_majflt;
}

API struct rtmem_faults rtmem_faults_since(const struct rtmem_faults *mark)
{
	struct rtmem_faults now;

	rtmem_faults_mark(&now);
	now.minor -= mark->minor;
	now.major -= mark->major;
	return now;
}

API const char *rtmem_strerror(int err)
{
	switch (-err) {
	case 0:
		return "success";
	case ENOMEM:
		return "no free block of that size in the pool";
	case EDQUOT:
		return "this client's quota in the pool would be exceeded";
	case E2BIG:
		return "larger than the largest block of the pool";
	case EUCLEAN:
		return "corrupted pool metadata detected";
	case EALREADY:
		return "block is not allocated (double free?)";
	case EPERM:
		return "block belongs to another client, or operation not permitted";
	case EFAULT:
		return "not the start of a block of this pool";
	case EACCES:
		return "permission denied by rtmemd";
	case EPROTO:
		return "protocol error talking to rtmemd";
	case ETIMEDOUT:
		return "timed out waiting for a block";
	case ESHUTDOWN:
		return "rtmemd is not running (the pool keeps working)";
	case ESTALE:
		return "a restarted rtmemd does not serve this pool";
	default:
		return strerror(-err);
	}
}
