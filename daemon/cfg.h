/* SPDX-License-Identifier: MIT */
/*
 * cfg.h - rtmemd's configuration: parse /etc/rtmemd/rtmemd.conf (or the
 * built-in default) into a struct cfg and check it; each pool's exact
 * footprint (cfg_pool_footprint()) is what report.h lists for --check-config.
 *
 * Owns: struct cfg and everything in it (one heap object, freed by cfg_free()).
 * Syntax and every key: config/rtmemd.conf, documented inline.
 *
 * Invariants of a struct cfg returned by cfg_load*():
 *  - at least one pool; pool names unique, [A-Za-z0-9_-], 1..CFG_NAME_MAX-1 chars;
 *  - every pool's desc passed rg_region_layout(); it has slab classes or a
 *    buddy area or both; slab sizes strictly increasing; reserves within counts;
 *  - unless CFG_NO_RESOLVE, every user/group name is resolved (cfg_id.id valid).
 *
 * Library-style: nothing here logs, exits or keeps global state. Errors are
 * returned as -errno, with "file:line[:col]: what" written into a struct cfg_error.
 */
#ifndef RTMEMD_CFG_H
#define RTMEMD_CFG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "region.h"

#define CFG_DEFAULT_PATH "/etc/rtmemd/rtmemd.conf"
#define CFG_DROPIN_DIR "conf.d"     /* beside the main file: /etc/rtmemd/conf.d/NAME.conf */
#define CFG_MAX_DROPINS 64
#define CFG_DEFAULT_SOCKET "/run/rtmemd/rtmemd.sock"
#define CFG_DEFAULT_STATE_DIR "/var/lib/rtmemd"
#define CFG_BUILTIN_NAME "<built-in default>"

#define CFG_NAME_MAX 32       /* pool name, with the NUL */
#define CFG_IDNAME_MAX 33     /* user or group name, with the NUL */
#define CFG_MAX_IDS 32        /* entries per users/groups list */
#define CFG_MAX_POOLS 64
#define CFG_LINE_MAX 1024     /* bytes per line, without the newline */
#define CFG_FILE_MAX (1u << 20) /* bytes per file */
#define CFG_SOCKET_MAX 108    /* sizeof(sockaddr_un.sun_path), with the NUL */
#define CFG_PATH_MAX 256      /* state directory, with the NUL */
#define CFG_ERR_MAX 512
#define CFG_MAX_ALGOS 16
#define CFG_ALGO_NAME_MAX 32  /* memory test name, with the NUL */
#define CFG_DEFAULT_ALGO "March C-"
#define CFG_MAX_BACKGROUNDS 16
#define CFG_ID_NONE UINT32_MAX /* cfg_id.id when not (yet) resolved or not set */

/* Defaults applied when a key is absent. */
#define CFG_DEFAULT_SOCKET_MODE 0660u
#define CFG_DEFAULT_MAX_CLIENTS 64u
#define CFG_DEFAULT_THREAD_CACHE 8u /* slab blocks per class and client thread */
#define CFG_DEFAULT_BUDDY_MIN 64u
#define CFG_BUDDY_MAX_SPAN 30u /* buddy_max / buddy_min at most 2^30 (the core's limit) */
#define CFG_DEFAULT_MEMTEST_BANDWIDTH (16ull << 20) /* bytes per second */
#define CFG_DEFAULT_MEMTEST_PERIOD_MS (3600ull * 1000) /* one full pass per hour */

/* Flags of cfg_load*(). */
enum {
	CFG_NO_RESOLVE = 0x1,         /* keep user/group names unresolved (cfg_resolve() later) */
	CFG_DEFAULT_IF_MISSING = 0x2, /* cfg_load(): a missing file means the built-in default */
};

/* What went wrong, for the caller to print. */
struct cfg_error {
	unsigned line;          /* 1-based, 0 if not tied to a line */
	unsigned col;           /* 1-based byte column, 0 if not known */
	char msg[CFG_ERR_MAX];  /* "file:line:col: what is wrong", NUL-terminated */
};

/* A user or group, by name or number. */
struct cfg_id {
	uint32_t id;                /* uid/gid; CFG_ID_NONE until resolved */
	unsigned line, col;         /* where it was written, for errors */
	char name[CFG_IDNAME_MAX];  /* as written ("" if given as a number) */
};

struct cfg_ids {
	unsigned n;
	struct cfg_id v[CFG_MAX_IDS];
};

/*
 * A memory test by name, as written. The names are those of the tester's
 * built-in table (daemon/march.h: "March C-", "MATS+", "GALPAT", "Bit fade"...,
 * matched ignoring case, spaces and '_'); cfg only checks their characters, the
 * daemon looks them up and reports an unknown one with cfg_error_at().
 */
struct cfg_algo {
	char name[CFG_ALGO_NAME_MAX];
	unsigned line, col;
};

struct cfg_memtest {
	bool enabled;
	unsigned nalgos;                        /* run in this order */
	struct cfg_algo algos[CFG_MAX_ALGOS];
	unsigned nbackgrounds;                  /* 0 = "auto": the tester picks log2(w)+1 */
	uint64_t backgrounds[CFG_MAX_BACKGROUNDS];
	uint64_t bandwidth;                     /* bytes per second, > 0 */
	uint64_t period_ms;                     /* start a full pass at most this often */
	int policy;                             /* SCHED_IDLE, SCHED_BATCH or SCHED_OTHER */
	bool cpus_set;                          /* false: tester chooses (housekeeping CPUs) */
	cpu_set_t cpus;
};

struct cfg_daemon {
	char socket[CFG_SOCKET_MAX];     /* AF_UNIX path */
	uint32_t socket_mode;            /* permission bits, <= 0777 */
	bool has_socket_group;
	struct cfg_id socket_group;      /* group owning the socket */
	bool has_user, has_group;
	struct cfg_id user;              /* run as this user (after setup) */
	struct cfg_id group;             /* and group (default: the user's primary group) */
	char state_dir[CFG_PATH_MAX];    /* bad-block list lives here */
	int log_level;                   /* LOG_ERR .. LOG_DEBUG (syslog.h); default LOG_INFO */
	char monitor_socket[CFG_SOCKET_MAX]; /* read-only socket, "" = none */
	bool has_monitor_group;
	struct cfg_id monitor_group;     /* group owning the monitor socket */
	uint32_t max_connections_per_uid; /* per socket, 1..CFG_MAX_CONNECTIONS; default CFG_CONNECTIONS_PER_UID */
};

#define CFG_MAX_CONNECTIONS 1024u    /* the server's limit of connections on the client socket */
#define CFG_CONNECTIONS_PER_UID 64u  /* default of max_connections_per_uid */

struct cfg_pool {
	char name[CFG_NAME_MAX];
	unsigned line;                   /* of its [pool NAME] header */
	char file[CFG_PATH_MAX];         /* the file it is in */
	struct rg_pool_desc desc;     /* what the allocator core formats */
	bool hugepages;                  /* memfd with MFD_HUGETLB */
	uint64_t quota;                  /* bytes per client, 0 = no quota */
	struct cfg_ids users, groups;    /* who may open it (uid 0 always may) */
	struct cfg_ids reserve_users, reserve_groups; /* who may take the reserve */
	uint32_t stripes;                /* slab_stripes: desc has each slab class this many times */
};

struct cfg {
	char source[CFG_PATH_MAX];       /* file name or CFG_BUILTIN_NAME */
	unsigned ndropins;               /* conf.d files read after it */
	bool resolved;                   /* every cfg_id resolved */
	struct cfg_daemon daemon;
	struct cfg_memtest memtest;
	unsigned npools;
	struct cfg_pool *pools;          /* [npools] */
};

/*
 * cfg_sanitize() - replace in @msg (NUL-terminated) every byte a terminal
 * takes as a control (C0, DEL, UTF-8 C1) by '?'. Every cfg_error message has
 * had it applied; the daemon applies it to other text it echoes from input.
 * Context: any, pure.
 */
void cfg_sanitize(char *msg);

/*
 * cfg_load() - read and check the configuration file @path, then the
 * drop-ins CFG_DROPIN_DIR/NAME.conf in @path's directory (none is fine).
 * Merge rules: drop-ins are read in byte order of their names (use
 * 10-foo.conf, 50-bar.conf), after the main file, as if appended to it, with
 * two differences: a file may have its own [daemon] and [memtest] sections,
 * where a key given again replaces the value read before it (the last file
 * wins); and a [pool NAME] must be written whole in one file (a pool defined
 * twice, in one file or in two, is an error naming both places). Errors name
 * the drop-in's own file and line. Other names in conf.d (*.conf~, *.dpkg-old,
 * hidden files) are ignored.
 * Context: setup only; allocates; reads the file and the user/group databases.
 * Return: 0 and *ret set; -ENOENT (no such file, unless CFG_DEFAULT_IF_MISSING),
 * -EINVAL (syntax or semantic error), -EOVERFLOW (a size overflows), -E2BIG
 * (line, list or file too long), -EILSEQ (NUL or invalid UTF-8), -ESRCH
 * (unknown user or group), -ENOMEM, or another -errno from open/read (-EACCES,
 * -EISDIR...) or getpwnam_r. @err (may be NULL) always describes a failure;
 * *ret untouched on error.
 */
int cfg_load(const char *path, unsigned flags, struct cfg **ret, struct cfg_error *err);

/*
 * cfg_parse() - as cfg_load(), from @len bytes of @text; @name is used in messages.
 * Context/Return: as cfg_load(), without the file errors.
 */
int cfg_parse(const char *text, size_t len, const char *name, unsigned flags,
	      struct cfg **ret, struct cfg_error *err);

/*
 * cfg_load_default() - the built-in default: one pool "default" of a few MiB,
 * open to group "rtmem". Context/Return: as cfg_parse().
 */
int cfg_load_default(unsigned flags, struct cfg **ret, struct cfg_error *err);

/* The text of the built-in default (a valid config file). Context: any. */
const char *cfg_default_text(void);

/*
 * cfg_resolve() - resolve every user/group name still unresolved.
 * Context: setup only; getpwnam_r/getgrnam_r may read files or ask NSS.
 * Return: 0; -ESRCH (unknown user or group, named with file:line in @err),
 * -ENOMEM, or -errno from the lookup. On error @cfg is partly resolved.
 */
int cfg_resolve(struct cfg *cfg, struct cfg_error *err);

/*
 * cfg_log_level_parse() - "err", "warning", "notice", "info", "debug" (also
 * "error", "warn", or the syslog digit 3..7) to LOG_*. Context: any, pure.
 * Return: 0 and *ret, -EINVAL.
 */
int cfg_log_level_parse(const char *s, int *ret);

/* cfg_free() - free @cfg; accepts NULL. Context: setup/shutdown. */
void cfg_free(struct cfg *cfg);

/* cfg_pool_find() - the pool named @name, or NULL. Context: any, no allocation. */
const struct cfg_pool *cfg_pool_find(const struct cfg *cfg, const char *name);

/*
 * cfg_pool_may_open() / cfg_pool_may_reserve() - may a peer with @uid and the
 * groups @gids[@ngids] (primary and supplementary) open @pool / take its reserve?
 * uid 0 may always open, and takes the reserve only if granted. Needs a resolved cfg.
 * Context: any, no allocation, O(ids x gids).
 */
bool cfg_pool_may_open(const struct cfg_pool *pool, uint32_t uid, const uint32_t *gids, size_t ngids);
bool cfg_pool_may_reserve(const struct cfg_pool *pool, uint32_t uid, const uint32_t *gids, size_t ngids);

/*
 * cfg_error_at() - format an error about @cfg's line @line (0: none) and column
 * @col (0: none) as "file:line:col: ...", for checks made outside this module
 * (an unknown memory test name, say).
 * Context: any, no allocation. Return: -@e.
 */
__attribute__((format(printf, 6, 7)))
int cfg_error_at(const struct cfg *cfg, unsigned line, unsigned col, struct cfg_error *err,
		 int e, const char *fmt, ...);

/*
 * cfg_pool_footprint() - the exact footprint of @pool's region.
 * Context: any, pure. Return: as rg_region_layout().
 */
int cfg_pool_footprint(const struct cfg_pool *pool, struct rg_footprint *ret);

#endif /* RTMEMD_CFG_H */
