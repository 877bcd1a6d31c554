/* SPDX-License-Identifier: MIT */
/*
 * probe.c - read the machine's limits (see probe.h). Owns nothing past a call.
 */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fileio.h"

#define PROC_FILE_MAX (64u << 10) /* bytes of /proc/self/status or /proc/meminfo */
#define COMPACT_UNEVICTABLE "/proc/sys/vm/compact_unevictable_allowed"

/* The value of "@key: N [kB]" in /proc/meminfo, in bytes (or a plain count). */
static bool meminfo_get(const char *text, const char *key, uint64_t *ret)
{
	size_t klen = strlen(key);

	for (const char *l = text; *l; l++) {
		unsigned long long v;
		char unit[4] = "";

		if (strncmp(l, key, klen) || l[klen] != ':') {
			l = strchr(l, '\n');
			if (!l)
				return false;
			continue;
		}
		if (sscanf(l + klen + 1, "%llu %3s", &v, unit) < 1)
			return false;
		*ret = !strcmp(unit, "kB") ? (uint64_t)v * 1024 : (uint64_t)v;
		return true;
	}
	return false;
}

/* All of @path (a /proc file: small), NUL-terminated; NULL if unreadable. */
static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len;

	return fileio_read(path, PROC_FILE_MAX, NULL, 0, &text, &len) ? NULL : text;
}

int probe_limits_read(struct probe_limits *ret)
{
	struct probe_limits lim = { .memlock = UINT64_MAX, .mem_available = UINT64_MAX };
	struct rlimit rl;
	char *text;
	const char *cap;
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t hfree = 0;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return errno ? -errno : -EINVAL;
	if (rl.rlim_cur != RLIM_INFINITY)
		lim.memlock = rl.rlim_cur;
	lim.page = pg > 0 ? (uint64_t)pg : 4096;
	text = slurp("/proc/self/status");
	cap = text ? strstr(text, "\nCapEff:") : NULL;
	if (cap) {
		unsigned long long eff = strtoull(cap + 8, NULL, 16);

		lim.cap_ipc_lock = (eff >> 14) & 1; /* CAP_IPC_LOCK */
	}
	free(text);
	text = slurp("/proc/meminfo");
	if (text) {
		meminfo_get(text, "MemAvailable", &lim.mem_available);
		if (meminfo_get(text, "Hugepagesize", &lim.huge_page) && meminfo_get(text, "HugePages_Free", &hfree))
			lim.huge_free = hfree * lim.huge_page;
		free(text);
	}
	*ret = lim;
	return 0;
}

int probe_compact_unevictable(void)
{
	FILE *f = fopen(COMPACT_UNEVICTABLE, "re");
	int v = -1, rc;

	if (!f)
		return -errno;
	rc = fscanf(f, "%d", &v);
	fclose(f);
	if (rc != 1 || v < 0)
		return -EINVAL;
	return v ? 1 : 0;
}
