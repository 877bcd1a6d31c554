/* SPDX-License-Identifier: MIT */
/*
 * cfg_int.h - what the parser's files share (cfg.c, cfg_ids.c, cfg_keys.c,
 * cfg_pool.c): the parser's state and the helpers each key handler uses.
 * Not a public interface: cfg.h is.
 *
 * Every cfg_perr*() and cfg_seterr() returns -@e, with the message written
 * into the caller's struct cfg_error as "file:line[:col]: what".
 */
#ifndef RTMEMD_CFG_INT_H
#define RTMEMD_CFG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"

#define KEYS_MAX 20

struct parser;
typedef int (*key_fn)(struct parser *p, char *v);

struct keydef {
	const char *name;
	key_fn fn;
};

enum section { SEC_NONE, SEC_DAEMON, SEC_MEMTEST, SEC_POOL };

/* A pending reserve_slab entry, matched against the classes at section end. */
struct rsv_ent {
	uint64_t size, count;
	unsigned col;
};

struct parser {
	const char *name;        /* file name for messages */
	unsigned flags;
	struct cfg *cfg;
	struct cfg_error *err;
	unsigned lineno;
	const char *line;        /* the current line (columns are offsets into it) */
	enum section sec;
	const struct keydef *keys; /* of the current section */
	unsigned seen[KEYS_MAX]; /* line of each key in this section, 0 = absent */
	unsigned daemon_line, memtest_line;
	struct cfg_pool *pool;   /* current [pool] */
	uint64_t buddy_min, buddy_max, buddy_arena;
	unsigned nrsv;
	struct rsv_ent rsv[RG_MAX_CLASSES];
};

/* cfg.c: errors, numbers, lists */
bool cfg_is_pow2(uint64_t v);
unsigned cfg_log2u64(uint64_t v);
int cfg_parse_bool(struct parser *p, const char *v, bool *ret);
int cfg_parse_num(struct parser *p, const char *s, bool suffix, const char *what, uint64_t *ret);
int cfg_parse_size(struct parser *p, const char *s, const char *what, uint64_t *ret);
__attribute__((format(printf, 4, 5)))
int cfg_perr(struct parser *p, const char *at, int e, const char *fmt, ...);
__attribute__((format(printf, 5, 6)))
int cfg_perr_lc(struct parser *p, unsigned line, unsigned col, int e, const char *fmt, ...);
__attribute__((format(printf, 6, 7)))
int cfg_seterr(struct cfg_error *err, const char *name, unsigned line, unsigned col,
	       int e, const char *fmt, ...);
int cfg_split_list(struct parser *p, char *v, char **items, unsigned max,
		   unsigned *ret_n, const char *what);

/* cfg_ids.c: users and groups */
int cfg_parse_id(struct parser *p, char *s, const char *what, struct cfg_id *ret);
int cfg_parse_ids(struct parser *p, char *v, const char *what, struct cfg_ids *ret);

/* cfg_keys.c: the [daemon] and [memtest] keys */
extern const struct keydef cfg_daemon_keys[];
extern const struct keydef cfg_memtest_keys[];

/* cfg_pool.c: [pool NAME] */
int cfg_close_pool(struct parser *p);
int cfg_open_pool(struct parser *p, char *name);

#endif /* RTMEMD_CFG_INT_H */
