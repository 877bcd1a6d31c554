/* SPDX-License-Identifier: MIT */
/*
 * probe.h - what the daemon reads of the machine and of itself before it
 * commits memory: RLIMIT_MEMLOCK, CAP_IPC_LOCK, MemAvailable, huge pages, the
 * page size (/proc/self/status, /proc/meminfo, getrlimit, sysconf) and the
 * vm.compact_unevictable_allowed sysctl.
 *
 * Library-style: nothing here logs or keeps state; every function reads the
 * system afresh. Context of every function: setup only (reads /proc).
 */
#ifndef RTMEMD_PROBE_H
#define RTMEMD_PROBE_H

#include <stdbool.h>
#include <stdint.h>

/* The machine's limits a configuration must fit in. */
struct probe_limits {
	uint64_t memlock;        /* RLIMIT_MEMLOCK soft limit, bytes; UINT64_MAX = unlimited */
	bool cap_ipc_lock;       /* CAP_IPC_LOCK effective: RLIMIT_MEMLOCK does not apply */
	uint64_t mem_available;  /* MemAvailable, bytes; UINT64_MAX if unknown */
	uint64_t huge_free;      /* HugePages_Free x Hugepagesize, bytes */
	uint64_t huge_page;      /* Hugepagesize, bytes; 0 if none */
	uint64_t page;           /* base page size, bytes */
};

/*
 * probe_limits_read() - read the limits of this process and machine (getrlimit,
 * /proc/self/status, /proc/meminfo, sysconf).
 * Return: 0, or -errno from getrlimit; unreadable /proc fields are left "unknown".
 */
int probe_limits_read(struct probe_limits *ret);

/*
 * probe_compact_unevictable() - read /proc/sys/vm/compact_unevictable_allowed.
 * Return: 0 or 1, or -errno (file missing: kernel without compaction), -EINVAL
 * if it holds no number.
 */
int probe_compact_unevictable(void);

#endif /* RTMEMD_PROBE_H */
