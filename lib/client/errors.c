/* SPDX-License-Identifier: MIT */
/*
 * errors.c - rtmem_error_hint(): what an error of one particular call means
 * and what to do about it, and rtmem_version(). The same -errno means
 * different things from different calls (-ENOENT from rtmem_connect is "no
 * daemon", from rtmem_pool_open "no such pool"; -ENOMEM from
 * rtmem_pool_open is the memlock limit, from rtmem_alloc an empty class),
 * so the hint takes the call. Static strings only: nothing allocates.
 */
#include <errno.h>
#include <stddef.h>

#include "rtmem/rtmem.h"

#define API __attribute__((visibility("default")))

#ifndef RTMEM_LIB_VERSION
#define RTMEM_LIB_VERSION "unknown"
#endif

struct hint {
	int call, err;
	const char *text;
};

static const struct hint hints[] = {
	{ RTMEM_CALL_CONNECT, ENOENT,
	  "rtmemd is not running, or listens elsewhere: systemctl status rtmemd; set RTMEM_SOCKET if it uses "
	  "another socket" },
	{ RTMEM_CALL_CONNECT, ECONNREFUSED,
	  "nothing accepts on rtmemd's socket (a stale socket file): systemctl restart rtmemd" },
	{ RTMEM_CALL_CONNECT, EACCES,
	  "no permission on rtmemd's socket: add this user to the group rtmem (sudo usermod -aG rtmem USER), "
	  "then log in again" },
	{ RTMEM_CALL_CONNECT, EPROTO,
	  "rtmemd speaks another protocol version: install librtmem0 and rtmemd of the same version" },
	{ RTMEM_CALL_POOL_OPEN, ENOENT,
	  "rtmemd has no pool of that name: rtmemctl pools lists them; pools are defined in "
	  "/etc/rtmemd/rtmemd.conf and conf.d/" },
	{ RTMEM_CALL_POOL_OPEN, EACCES,
	  "this user may not open that pool: add the user or one of its groups to the pool's users/groups in "
	  "/etc/rtmemd/rtmemd.conf (or it is a read-only monitor connection)" },
	{ RTMEM_CALL_POOL_OPEN, ENOMEM,
	  "locking the pool's memory failed: RLIMIT_MEMLOCK is smaller than the pool; raise it "
	  "(LimitMEMLOCK=infinity in the service, or /etc/security/limits.d/rtmem.conf for the group rtmem), or "
	  "pass RTMEM_POOL_NOLOCK" },
	{ RTMEM_CALL_POOL_OPEN, EPERM,
	  "locking the pool's memory was refused: raise RLIMIT_MEMLOCK (LimitMEMLOCK= or limits.d) or grant "
	  "CAP_IPC_LOCK" },
	{ RTMEM_CALL_POOL_OPEN, EUSERS,
	  "every client slot of the pool is taken: raise max_clients of the pool in /etc/rtmemd/rtmemd.conf" },
	{ RTMEM_CALL_POOL_OPEN, EBUSY, "the pool is already open on this connection" },
	{ RTMEM_CALL_POOL_OPEN, EXDEV,
	  "the pool has a locked buddy area, and this process is in another PID namespace than rtmemd (a container): "
	  "the buddy's lock cannot work across them; open a slab-only pool or one with buddy_arena from here" },
	{ RTMEM_CALL_ALLOC, EINVAL, "a size of 0 bytes: ask for at least 1" },
	{ RTMEM_CALL_POOL_OPEN, ECONNRESET, "rtmemd went away: it restarts; connect again" },
	{ RTMEM_CALL_ALLOC, ENOMEM,
	  "no free block of that size in the pool: enlarge the class (count) or the buddy area in "
	  "/etc/rtmemd/rtmemd.conf; rtmemctl pools shows what is in use" },
	{ RTMEM_CALL_ALLOC, EDQUOT, "this client's quota in the pool would be exceeded: raise quota of the pool" },
	{ RTMEM_CALL_ALLOC, E2BIG, "larger than the largest block of the pool: add a larger slab class or raise "
				   "buddy_max" },
	{ RTMEM_CALL_ALLOC, EUCLEAN, "the pool's shared metadata is corrupted (a client wrote past its block?)" },
	{ RTMEM_CALL_FREE, EFAULT, "not the start of a block of this pool" },
	{ RTMEM_CALL_FREE, EALREADY, "the block is not allocated: a double free" },
	{ RTMEM_CALL_FREE, EPERM, "another client's block: only its owner may free it" },
	{ RTMEM_CALL_RT_PREPARE, ENOMEM,
	  "mlockall failed: RLIMIT_MEMLOCK is too small for this process; raise it (LimitMEMLOCK= in the service, "
	  "or /etc/security/limits.d/rtmem.conf for the group rtmem)" },
	{ RTMEM_CALL_RT_PREPARE, EPERM,
	  "mlockall was refused: raise RLIMIT_MEMLOCK (limits.d, LimitMEMLOCK=) or grant CAP_IPC_LOCK" },
};

API const char *rtmem_error_hint(int call, int err)
{
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (hints[i].call == call && hints[i].err == -err)
			return hints[i].text;
	if (call == RTMEM_CALL_ALLOC && err == -ETIMEDOUT)
		return "no block of that class was freed in time";
	return rtmem_strerror(err);
}

API const char *rtmem_version(void)
{
	return RTMEM_LIB_VERSION;
}
