/* SPDX-License-Identifier: MIT */
/*
 * cfg.c - rtmemd's configuration file: parser, checks, built-in default, and
 * the footprint report of `rtmemd --check-config`.
 *
 * Owns: struct cfg (one heap object plus its pools array). No global state.
 *
 * Algorithm: the text is checked and parsed one line at a time (a line is at
 * most CFG_LINE_MAX bytes, UTF-8, no NUL) into a fresh struct cfg that starts
 * with every default. A key is handled as soon as it is read; what depends on
 * several keys of a pool (buddy orders, reserves, the layout itself) is checked
 * when the pool's section ends, with the line of the key concerned. Names of
 * users and groups are resolved last, unless CFG_NO_RESOLVE.
 *
 * Invariants: a struct cfg leaves this file only complete and checked (see
 * cfg.h); on any error the partial cfg is freed and the error is in the
 * caller's struct cfg_error as "file:line[:col]: what". Nothing here logs.
 */
#include "cfg.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <dirent.h>
#include <unistd.h>

#define KEYS_MAX 16

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
	uint64_t buddy_min, buddy_max;
	unsigned nrsv;
	struct rsv_ent rsv[RG_MAX_CLASSES];
};

/* ---- errors ---- */

/*
 * Make @msg safe to print on a terminal: bytes from the file (names, values)
 * are echoed in messages, and a control byte (C0, DEL, or a UTF-8-encoded C1
 * such as U+009B CSI) could move the cursor, retitle the window or hide the
 * rest of the line. Each becomes '?'; other UTF-8 stays as it is.
 */
void cfg_sanitize(char *msg)
{
	for (unsigned char *b = (unsigned char *)msg; *b; b++) {
		if (*b < 0x20 || *b == 0x7f)
			*b = '?';
		else if (*b == 0xc2 && b[1] >= 0x80 && b[1] <= 0x9f)
			b[0] = b[1] = '?';
	}
}

__attribute__((format(printf, 5, 0)))
static int verr(struct cfg_error *err, const char *name, unsigned line, unsigned col,
		const char *fmt, va_list ap)
{
	size_t n;
	int k;

	if (!err)
		return 0;
	err->line = line;
	err->col = col;
	if (line && col)
		k = snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: ", name, line, col);
	else if (line)
		k = snprintf(err->msg, sizeof(err->msg), "%s:%u: ", name, line);
	else
		k = snprintf(err->msg, sizeof(err->msg), "%s: ", name);
	n = k < 0 ? 0 : (size_t)k < sizeof(err->msg) ? (size_t)k : sizeof(err->msg) - 1;
	vsnprintf(err->msg + n, sizeof(err->msg) - n, fmt, ap);
	cfg_sanitize(err->msg);
	return 0;
}

__attribute__((format(printf, 6, 7)))
static int seterr(struct cfg_error *err, const char *name, unsigned line, unsigned col,
		  int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(err, name, line, col, fmt, ap);
	va_end(ap);
	return -e;
}

/* Error at @line/@col of the file being parsed. */
__attribute__((format(printf, 5, 6)))
static int perr_lc(struct parser *p, unsigned line, unsigned col, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(p->err, p->name, line, col, fmt, ap);
	va_end(ap);
	return -e;
}

/* Error on the current line, at @at (a pointer into it) or without column. */
__attribute__((format(printf, 4, 5)))
static int perr(struct parser *p, const char *at, int e, const char *fmt, ...)
{
	unsigned col = at && p->line ? (unsigned)(at - p->line) + 1 : 0;
	va_list ap;

	va_start(ap, fmt);
	verr(p->err, p->name, p->lineno, col, fmt, ap);
	va_end(ap);
	return -e;
}

/* "4K", "1M"... when exact, else the byte count. */
static const char *fmt_size(uint64_t v, char buf[static 24])
{
	static const char sfx[] = "KMGT";
	int i = -1;

	while (i < 3 && v && !(v & 1023)) {
		v >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, 24, "%" PRIu64, v);
	else
		snprintf(buf, 24, "%" PRIu64 "%c", v, sfx[i]);
	return buf;
}

/* ---- lexical helpers ---- */

static char *skip_ws(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static void trim_end(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* Byte offset of the first invalid UTF-8 sequence in s[0..n), or n if valid. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t c = s[i], cp, min;
		size_t k, j;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			k = 1, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			k = 2, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			k = 3, cp = c & 0x07, min = 0x10000;
		else
			return i;
		if (n - i <= k)
			return i;
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + j] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += k + 1;
	}
	return n;
}

/* Split @v at commas into trimmed, non-empty items. */
static int split_list(struct parser *p, char *v, char **items, unsigned max,
		      unsigned *ret_n, const char *what)
{
	unsigned n = 0;

	for (;;) {
		char *c = strchr(v, ',');

		if (c)
			*c = '\0';
		v = skip_ws(v);
		trim_end(v);
		if (!*v)
			return perr(p, v, EINVAL, "empty entry in the %s list", what);
		if (n == max)
			return perr(p, v, E2BIG, "too many entries in the %s list (at most %u)", what, max);
		items[n++] = v;
		if (!c)
			break;
		v = c + 1;
	}
	*ret_n = n;
	return 0;
}

/*
 * Decimal number, with a binary suffix K, M, G or T (optionally followed by
 * "iB") when @suffix. Errors name @what and the text.
 */
static int parse_num(struct parser *p, const char *s, bool suffix, const char *what, uint64_t *ret)
{
	const char *q = s;
	uint64_t v = 0;
	unsigned shift = 0;

	if (!isdigit((unsigned char)*q))
		return perr(p, s, EINVAL, "bad %s \"%s\": expected a number", what, s);
	for (; isdigit((unsigned char)*q); q++) {
		unsigned d = (unsigned)(*q - '0');

		if (v > (UINT64_MAX - d) / 10)
			return perr(p, s, EOVERFLOW, "%s \"%s\" overflows 64 bits", what, s);
		v = v * 10 + d;
	}
	if (*q && suffix) {
		const char *k = strchr("KMGT", toupper((unsigned char)*q));

		if (!k || (*q == 'm' || *q == 'g' || *q == 't'))
			return perr(p, q, EINVAL, "bad %s \"%s\": unknown suffix \"%s\" (use K, M, G or T)",
				    what, s, q);
		shift = 10 * (unsigned)(k - "KMGT" + 1);
		q++;
		if (!strcmp(q, "iB"))
			q += 2;
	}
	if (*q)
		return perr(p, q, EINVAL, "bad %s \"%s\": unexpected \"%s\"%s", what, s, q,
			    suffix ? " (use K, M, G or T)" : "");
	if (shift && v > UINT64_MAX >> shift)
		return perr(p, s, EOVERFLOW, "%s \"%s\" overflows 64 bits", what, s);
	*ret = v << shift;
	return 0;
}

static int parse_size(struct parser *p, const char *s, const char *what, uint64_t *ret)
{
	return parse_num(p, s, true, what, ret);
}

static int parse_bool(struct parser *p, const char *v, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i]))
			return *ret = true, 0;
		if (!strcasecmp(v, no[i]))
			return *ret = false, 0;
	}
	return perr(p, v, EINVAL, "bad boolean \"%s\" (use yes or no)", v);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned log2u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

/* ---- users and groups ---- */

static bool valid_idname(const char *s)
{
	if (!*s || *s == '-' || strlen(s) >= CFG_IDNAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-$", *s))
			return false;
	return true;
}

/* One user or group: a name, or a decimal id. */
static int parse_id(struct parser *p, char *s, const char *what, struct cfg_id *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->line = p->lineno;
	ret->col = (unsigned)(s - p->line) + 1;
	ret->id = CFG_ID_NONE;
	if (isdigit((unsigned char)*s)) {
		uint64_t v = 0;
		int r = parse_num(p, s, false, what, &v);

		if (r)
			return r;
		if (v >= CFG_ID_NONE)
			return perr(p, s, EOVERFLOW, "%s id %s is out of range", what, s);
		ret->id = (uint32_t)v;
		return 0;
	}
	if (!valid_idname(s))
		return perr(p, s, EINVAL, "bad %s name \"%s\"", what, s);
	strcpy(ret->name, s);
	return 0;
}

static int parse_ids(struct parser *p, char *v, const char *what, struct cfg_ids *ret)
{
	char *items[CFG_MAX_IDS];
	unsigned n = 0;
	int r = split_list(p, v, items, CFG_MAX_IDS, &n, what);

	for (unsigned i = 0; !r && i < n; i++)
		r = parse_id(p, items[i], what, &ret->v[i]);
	if (!r)
		ret->n = n;
	return r;
}

/*
 * Look up a user (@user) or group by name. Return 0 with *ret_id (and the
 * user's primary group in *ret_gid), -ESRCH if unknown, -ENOMEM, -errno.
 */
static int lookup(const char *name, bool user, uint32_t *ret_id, uint32_t *ret_gid)
{
	long sz = sysconf(user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
	size_t len = sz < 1024 ? 16384 : (size_t)sz;

	for (;;) {
		char *buf = malloc(len);
		struct passwd pw, *pwr = NULL;
		struct group gr, *grr = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		if (user)
			r = getpwnam_r(name, &pw, buf, len, &pwr);
		else
			r = getgrnam_r(name, &gr, buf, len, &grr);
		free(buf);
		if (r == ERANGE && len < (1u << 20)) {
			len *= 2;
			continue;
		}
		if (!r && pwr) {
			*ret_id = pwr->pw_uid;
			*ret_gid = pwr->pw_gid;
			return 0;
		}
		if (!r && grr) {
			*ret_id = grr->gr_gid;
			return 0;
		}
		if (!r || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			return -ESRCH;
		return -r;
	}
}

static int resolve_one(struct cfg *cfg, struct cfg_id *id, bool user, uint32_t *ret_gid,
		       struct cfg_error *err)
{
	uint32_t gid = CFG_ID_NONE;
	int r;

	if (!id->name[0] || id->id != CFG_ID_NONE)
		return 0;
	r = lookup(id->name, user, &id->id, &gid);
	if (r == -ESRCH)
		return seterr(err, cfg->source, id->line, id->col, ESRCH, "unknown %s \"%s\"",
			      user ? "user" : "group", id->name);
	if (r)
		return seterr(err, cfg->source, id->line, id->col, -r, "cannot look up %s \"%s\": %s",
			      user ? "user" : "group", id->name, strerrordesc_np(-r));
	if (ret_gid)
		*ret_gid = gid;
	return 0;
}

static int resolve_list(struct cfg *cfg, struct cfg_ids *ids, bool user, struct cfg_error *err)
{
	int r = 0;

	for (unsigned i = 0; !r && i < ids->n; i++)
		r = resolve_one(cfg, &ids->v[i], user, NULL, err);
	return r;
}

int cfg_resolve(struct cfg *cfg, struct cfg_error *err)
{
	struct cfg_daemon *d = &cfg->daemon;
	uint32_t gid = CFG_ID_NONE;
	int r = 0;

	if (d->has_socket_group)
		r = resolve_one(cfg, &d->socket_group, false, NULL, err);
	if (!r && d->has_monitor_group)
		r = resolve_one(cfg, &d->monitor_group, false, NULL, err);
	if (!r && d->has_user)
		r = resolve_one(cfg, &d->user, true, &gid, err);
	if (!r && d->has_group)
		r = resolve_one(cfg, &d->group, false, NULL, err);
	else if (!r && d->has_user && d->group.id == CFG_ID_NONE)
		d->group.id = gid; /* the user's primary group (CFG_ID_NONE if numeric uid) */
	for (unsigned i = 0; !r && i < cfg->npools; i++) {
		struct cfg_pool *pl = &cfg->pools[i];

		r = resolve_list(cfg, &pl->users, true, err);
		if (!r)
			r = resolve_list(cfg, &pl->groups, false, err);
		if (!r)
			r = resolve_list(cfg, &pl->reserve_users, true, err);
		if (!r)
			r = resolve_list(cfg, &pl->reserve_groups, false, err);
	}
	if (!r)
		cfg->resolved = true;
	return r;
}

/* ---- [daemon] ---- */

static int key_socket(struct parser *p, char *v)
{
	if (*v != '/')
		return perr(p, v, EINVAL, "socket path \"%s\" is not absolute", v);
	if (strlen(v) >= CFG_SOCKET_MAX)
		return perr(p, v, EINVAL, "socket path is too long (%zu bytes, AF_UNIX allows %d)",
			    strlen(v), CFG_SOCKET_MAX - 1);
	strcpy(p->cfg->daemon.socket, v);
	return 0;
}

static int key_socket_mode(struct parser *p, char *v)
{
	char *end;
	unsigned long m;

	errno = 0;
	m = strtoul(v, &end, 8);
	if (!isdigit((unsigned char)*v) || *end || errno || m > 0777)
		return perr(p, v, EINVAL, "bad socket_mode \"%s\" (octal, at most 0777)", v);
	p->cfg->daemon.socket_mode = (uint32_t)m;
	return 0;
}

static int key_socket_group(struct parser *p, char *v)
{
	p->cfg->daemon.has_socket_group = true;
	return parse_id(p, v, "group", &p->cfg->daemon.socket_group);
}

static int key_user(struct parser *p, char *v)
{
	p->cfg->daemon.has_user = true;
	return parse_id(p, v, "user", &p->cfg->daemon.user);
}

static int key_group(struct parser *p, char *v)
{
	p->cfg->daemon.has_group = true;
	return parse_id(p, v, "group", &p->cfg->daemon.group);
}

static int key_state_dir(struct parser *p, char *v)
{
	if (*v != '/')
		return perr(p, v, EINVAL, "state_dir \"%s\" is not absolute", v);
	if (strlen(v) >= CFG_PATH_MAX)
		return perr(p, v, EINVAL, "state_dir is too long (at most %d bytes)", CFG_PATH_MAX - 1);
	strcpy(p->cfg->daemon.state_dir, v);
	return 0;
}

int cfg_log_level_parse(const char *s, int *ret)
{
	static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };

	for (int i = LOG_ERR; i <= LOG_DEBUG; i++) {
		if (!strcasecmp(s, names[i]) || (s[0] == '0' + i && !s[1]) ||
		    (i == LOG_ERR && !strcasecmp(s, "error")) || (i == LOG_WARNING && !strcasecmp(s, "warn"))) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

static int key_log_level(struct parser *p, char *v)
{
	if (cfg_log_level_parse(v, &p->cfg->daemon.log_level) < 0)
		return perr(p, v, EINVAL, "bad log_level \"%s\" (err, warning, notice, info or debug)", v);
	return 0;
}

static int key_monitor_socket(struct parser *p, char *v)
{
	if (!strcasecmp(v, "none")) {
		p->cfg->daemon.monitor_socket[0] = '\0';
		return 0;
	}
	if (*v != '/')
		return perr(p, v, EINVAL, "monitor_socket \"%s\" is not absolute (or \"none\")", v);
	if (strlen(v) >= CFG_SOCKET_MAX)
		return perr(p, v, EINVAL, "monitor_socket path is too long (%zu bytes, AF_UNIX allows %d)",
			    strlen(v), CFG_SOCKET_MAX - 1);
	strcpy(p->cfg->daemon.monitor_socket, v);
	return 0;
}

static int key_monitor_group(struct parser *p, char *v)
{
	p->cfg->daemon.has_monitor_group = true;
	return parse_id(p, v, "group", &p->cfg->daemon.monitor_group);
}

static int key_max_conn_uid(struct parser *p, char *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || n < 1 || n > CFG_MAX_CONNECTIONS)
		return perr(p, v, EINVAL, "bad max_connections_per_uid \"%s\" (1..%u)", v, CFG_MAX_CONNECTIONS);
	p->cfg->daemon.max_connections_per_uid = (uint32_t)n;
	return 0;
}

static const struct keydef daemon_keys[] = {
	{ "socket", key_socket },
	{ "socket_mode", key_socket_mode },
	{ "socket_group", key_socket_group },
	{ "user", key_user },
	{ "group", key_group },
	{ "state_dir", key_state_dir },
	{ "log_level", key_log_level },
	{ "monitor_socket", key_monitor_socket },
	{ "monitor_group", key_monitor_group },
	{ "max_connections_per_uid", key_max_conn_uid },
	{ NULL, NULL },
};

/* ---- [memtest] ---- */

static int key_mt_enabled(struct parser *p, char *v)
{
	return parse_bool(p, v, &p->cfg->memtest.enabled);
}

static bool valid_algo(const char *s)
{
	if (strlen(s) >= CFG_ALGO_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(" _+-/", *s))
			return false;
	return true;
}

/* Names only: the tester's table decides which exist (see struct cfg_algo). */
static int key_mt_algorithms(struct parser *p, char *v)
{
	struct cfg_memtest *mt = &p->cfg->memtest;
	char *items[CFG_MAX_ALGOS];
	unsigned n = 0;
	int r = split_list(p, v, items, CFG_MAX_ALGOS, &n, "algorithms");

	for (unsigned i = 0; !r && i < n; i++) {
		if (!valid_algo(items[i]))
			return perr(p, items[i], EINVAL, "bad memory test name \"%s\" (at most %d of "
				    "A-Z a-z 0-9 space _ + - /)", items[i], CFG_ALGO_NAME_MAX - 1);
		strcpy(mt->algos[i].name, items[i]);
		mt->algos[i].line = p->lineno;
		mt->algos[i].col = (unsigned)(items[i] - p->line) + 1;
	}
	if (!r)
		mt->nalgos = n;
	return r;
}

static int key_mt_backgrounds(struct parser *p, char *v)
{
	struct cfg_memtest *mt = &p->cfg->memtest;
	char *items[CFG_MAX_BACKGROUNDS];
	unsigned n = 0;
	int r;

	if (!strcasecmp(v, "auto"))
		return mt->nbackgrounds = 0, 0;
	r = split_list(p, v, items, CFG_MAX_BACKGROUNDS, &n, "backgrounds");
	for (unsigned i = 0; !r && i < n; i++) {
		char *s = items[i], *end;

		errno = 0;
		if (strncasecmp(s, "0x", 2) || !isxdigit((unsigned char)s[2]))
			return perr(p, s, EINVAL, "bad background \"%s\" (a 64-bit hex pattern like "
				    "0x5555555555555555, or auto)", s);
		mt->backgrounds[i] = strtoull(s, &end, 16);
		if (errno == ERANGE)
			return perr(p, s, EOVERFLOW, "background \"%s\" overflows 64 bits", s);
		if (*end)
			return perr(p, end, EINVAL, "bad background \"%s\": unexpected \"%s\"", s, end);
	}
	if (!r)
		mt->nbackgrounds = n;
	return r;
}

static int key_mt_bandwidth(struct parser *p, char *v)
{
	int r = parse_size(p, v, "bandwidth", &p->cfg->memtest.bandwidth);

	if (!r && !p->cfg->memtest.bandwidth)
		return perr(p, v, EINVAL, "bandwidth is zero (set enabled = no to stop the tester)");
	return r;
}

/* A duration with a unit: ms, s, min, h or d. */
static int key_mt_period(struct parser *p, char *v)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "min", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	char *u = v;
	uint64_t n = 0;
	int r;

	while (isdigit((unsigned char)*u))
		u++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char c = *u;

		if (u == v || strcmp(u, units[i].unit))
			continue;
		*u = '\0';
		r = parse_num(p, v, false, "period", &n);
		*u = c;
		if (r)
			return r;
		if (!n)
			return perr(p, v, EINVAL, "period is zero");
		if (n > UINT64_MAX / units[i].ms)
			return perr(p, v, EOVERFLOW, "period \"%s\" overflows", v);
		p->cfg->memtest.period_ms = n * units[i].ms;
		return 0;
	}
	return perr(p, v, EINVAL, "bad period \"%s\" (a number and a unit: ms, s, min, h or d)", v);
}

static int key_mt_policy(struct parser *p, char *v)
{
	int *pol = &p->cfg->memtest.policy;

	if (!strcasecmp(v, "idle"))
		*pol = SCHED_IDLE;
	else if (!strcasecmp(v, "batch"))
		*pol = SCHED_BATCH;
	else if (!strcasecmp(v, "other"))
		*pol = SCHED_OTHER;
	else
		return perr(p, v, EINVAL, "bad policy \"%s\" (use idle, batch or other)", v);
	return 0;
}

static int parse_cpu(struct parser *p, const char *s, uint64_t *ret)
{
	int r = parse_num(p, s, false, "cpu", ret);

	if (!r && *ret >= CPU_SETSIZE)
		return perr(p, s, EINVAL, "cpu %s is out of range (at most %d)", s, CPU_SETSIZE - 1);
	return r;
}

/* "0-1,3": CPU numbers and ranges. */
static int key_mt_cpus(struct parser *p, char *v)
{
	struct cfg_memtest *mt = &p->cfg->memtest;
	char *items[64];
	unsigned n = 0;
	int r = split_list(p, v, items, 64, &n, "cpus");

	CPU_ZERO(&mt->cpus);
	for (unsigned i = 0; !r && i < n; i++) {
		char *dash = strchr(items[i], '-');
		uint64_t a = 0, b = 0;

		if (dash)
			*dash = '\0';
		r = parse_cpu(p, items[i], &a);
		b = a;
		if (!r && dash)
			r = parse_cpu(p, dash + 1, &b);
		if (!r && b < a)
			return perr(p, items[i], EINVAL, "cpu range %" PRIu64 "-%" PRIu64
				    " goes backwards", a, b);
		for (uint64_t c = a; !r && c <= b; c++)
			CPU_SET((size_t)c, &mt->cpus);
	}
	mt->cpus_set = !r;
	return r;
}

static const struct keydef memtest_keys[] = {
	{ "enabled", key_mt_enabled },
	{ "algorithms", key_mt_algorithms },
	{ "backgrounds", key_mt_backgrounds },
	{ "bandwidth", key_mt_bandwidth },
	{ "period", key_mt_period },
	{ "policy", key_mt_policy },
	{ "cpus", key_mt_cpus },
	{ NULL, NULL },
};

/* ---- [pool NAME] ---- */

/* SIZExCOUNT[@ALIGN] */
static int parse_class(struct parser *p, char *s, struct rg_slab_desc *c)
{
	char *x = strchr(s, 'x'), *at;
	uint64_t size = 0, count = 0, align;
	int r;

	if (!x)
		return perr(p, s, EINVAL, "slab class \"%s\" is not SIZExCOUNT[@ALIGN]", s);
	*x = '\0';
	at = strchr(x + 1, '@');
	if (at)
		*at++ = '\0';
	r = parse_size(p, s, "slab size", &size);
	if (!r)
		r = parse_num(p, x + 1, true, "slab count", &count);
	if (r)
		return r;
	if (!size)
		return perr(p, s, EINVAL, "slab size is zero");
	if (size > UINT32_MAX)
		return perr(p, s, EOVERFLOW, "slab size %s is too large (at most 4294967295 bytes; "
			    "use the buddy area)", s);
	if (!count)
		return perr(p, x + 1, EINVAL, "slab count is zero in class %s", s);
	if (count > RG_MAX_BLOCKS)
		return perr(p, x + 1, EOVERFLOW, "slab count %s is too large (at most %u)", x + 1,
			    RG_MAX_BLOCKS);
	align = size & -size; /* natural alignment, at most a page (as the core's default) */
	if (align > 4096)
		align = 4096;
	if (at) {
		r = parse_size(p, at, "slab alignment", &align);
		if (r)
			return r;
		if (!is_pow2(align) || align < 8 || align > 4096)
			return perr(p, at, EINVAL, "slab alignment %s is not a power of two from 8 to 4096", at);
	}
	if (size % 8)
		return perr(p, s, EINVAL, "slab size %s is not a multiple of 8", s);
	if (size % align)
		return perr(p, s, EINVAL, "slab size %s is not a multiple of its alignment %" PRIu64,
			    s, align);
	c->size = (uint32_t)size;
	c->count = (uint32_t)count;
	c->align = (uint32_t)align;
	c->reserve = 0;
	return 0;
}

static int key_slab(struct parser *p, char *v)
{
	struct rg_pool_desc *d = &p->pool->desc;
	char *items[RG_MAX_CLASSES];
	unsigned n = 0;
	int r = split_list(p, v, items, RG_MAX_CLASSES, &n, "slab classes");

	if (r == -E2BIG)
		return perr(p, v, E2BIG, "too many slab classes (at most %u)", RG_MAX_CLASSES);
	for (unsigned i = 0; !r && i < n; i++) {
		r = parse_class(p, items[i], &d->classes[i]);
		if (!r && i && d->classes[i].size <= d->classes[i - 1].size)
			return perr(p, items[i], EINVAL, "slab class sizes are not strictly increasing: "
				    "%" PRIu32 " after %" PRIu32, d->classes[i].size, d->classes[i - 1].size);
	}
	if (!r)
		d->nclasses = n;
	return r;
}

static int key_slab_policy(struct parser *p, char *v)
{
	if (!strcasecmp(v, "exact"))
		p->pool->desc.policy = RG_POLICY_EXACT;
	else if (!strcasecmp(v, "next-fit"))
		p->pool->desc.policy = RG_POLICY_NEXT_FIT;
	else
		return perr(p, v, EINVAL, "bad slab_policy \"%s\" (use exact or next-fit)", v);
	return 0;
}

static int key_buddy(struct parser *p, char *v)
{
	int r = parse_size(p, v, "buddy size", &p->pool->desc.buddy.size);

	if (!r && !p->pool->desc.buddy.size)
		return perr(p, v, EINVAL, "buddy size is zero (leave the key out for no buddy area)");
	return r;
}

static int parse_order(struct parser *p, char *v, const char *what, uint64_t *ret)
{
	char a[24], b[24];
	int r = parse_size(p, v, what, ret);

	if (r)
		return r;
	if (!is_pow2(*ret))
		return perr(p, v, EINVAL, "%s %s is not a power of two", what, v);
	if (*ret < (1ull << RG_MIN_ORDER) || *ret > (1ull << RG_MAX_ORDER))
		return perr(p, v, EINVAL, "%s %s is out of range (%s to %s)", what, v,
			    fmt_size(1ull << RG_MIN_ORDER, a), fmt_size(1ull << RG_MAX_ORDER, b));
	return 0;
}

static int key_buddy_min(struct parser *p, char *v)
{
	return parse_order(p, v, "buddy_min", &p->buddy_min);
}

static int key_buddy_max(struct parser *p, char *v)
{
	return parse_order(p, v, "buddy_max", &p->buddy_max);
}

static int key_hugepages(struct parser *p, char *v)
{
	return parse_bool(p, v, &p->pool->hugepages);
}

static int key_users(struct parser *p, char *v)
{
	return parse_ids(p, v, "user", &p->pool->users);
}

static int key_groups(struct parser *p, char *v)
{
	return parse_ids(p, v, "group", &p->pool->groups);
}

static int key_quota(struct parser *p, char *v)
{
	return parse_size(p, v, "quota", &p->pool->quota);
}

static int key_max_clients(struct parser *p, char *v)
{
	uint64_t n = 0;
	int r = parse_num(p, v, false, "max_clients", &n);

	if (!r && (n < 1 || n > 65535))
		return perr(p, v, EINVAL, "max_clients %s is out of range (1 to 65535)", v);
	if (!r)
		p->pool->desc.nslots = (uint32_t)n;
	return r;
}

static int key_thread_cache(struct parser *p, char *v)
{
	uint64_t n = 0;
	int r = parse_num(p, v, false, "thread_cache", &n);

	if (!r && n > RG_CACHE_MAX)
		return perr(p, v, EINVAL, "thread_cache %s is out of range (0 to %u)", v, RG_CACHE_MAX);
	if (!r)
		p->pool->desc.cache = (uint32_t)n;
	return r;
}

/* SIZExBLOCKS entries, matched to the classes when the section ends. */
static int key_reserve_slab(struct parser *p, char *v)
{
	char *items[RG_MAX_CLASSES];
	unsigned n = 0;
	int r = split_list(p, v, items, RG_MAX_CLASSES, &n, "reserve_slab");

	for (unsigned i = 0; !r && i < n; i++) {
		char *x = strchr(items[i], 'x');

		if (!x)
			return perr(p, items[i], EINVAL, "reserve_slab entry \"%s\" is not SIZExBLOCKS", items[i]);
		*x = '\0';
		p->rsv[i].col = (unsigned)(items[i] - p->line) + 1;
		r = parse_size(p, items[i], "reserve_slab size", &p->rsv[i].size);
		if (!r)
			r = parse_num(p, x + 1, true, "reserve_slab blocks", &p->rsv[i].count);
	}
	if (!r)
		p->nrsv = n;
	return r;
}

static int key_reserve_buddy(struct parser *p, char *v)
{
	return parse_size(p, v, "reserve_buddy", &p->pool->desc.buddy.reserve);
}

static int key_reserve_users(struct parser *p, char *v)
{
	return parse_ids(p, v, "user", &p->pool->reserve_users);
}

static int key_reserve_groups(struct parser *p, char *v)
{
	return parse_ids(p, v, "group", &p->pool->reserve_groups);
}

enum {
	K_SLAB, K_SLAB_POLICY, K_BUDDY, K_BUDDY_MIN, K_BUDDY_MAX, K_HUGEPAGES, K_USERS,
	K_GROUPS, K_QUOTA, K_MAX_CLIENTS, K_RSV_SLAB, K_RSV_BUDDY, K_RSV_USERS, K_RSV_GROUPS,
	K_THREAD_CACHE,
};

static const struct keydef pool_keys[] = {
	[K_SLAB] = { "slab", key_slab },
	[K_SLAB_POLICY] = { "slab_policy", key_slab_policy },
	[K_BUDDY] = { "buddy", key_buddy },
	[K_BUDDY_MIN] = { "buddy_min", key_buddy_min },
	[K_BUDDY_MAX] = { "buddy_max", key_buddy_max },
	[K_HUGEPAGES] = { "hugepages", key_hugepages },
	[K_USERS] = { "users", key_users },
	[K_GROUPS] = { "groups", key_groups },
	[K_QUOTA] = { "quota", key_quota },
	[K_MAX_CLIENTS] = { "max_clients", key_max_clients },
	[K_RSV_SLAB] = { "reserve_slab", key_reserve_slab },
	[K_RSV_BUDDY] = { "reserve_buddy", key_reserve_buddy },
	[K_RSV_USERS] = { "reserve_users", key_reserve_users },
	[K_RSV_GROUPS] = { "reserve_groups", key_reserve_groups },
	[K_THREAD_CACHE] = { "thread_cache", key_thread_cache },
	{ NULL, NULL },
};
static_assert(sizeof(pool_keys) / sizeof(pool_keys[0]) <= KEYS_MAX, "seen[] too small");

static int pool_buddy_check(struct parser *p)
{
	struct rg_buddy_desc *b = &p->pool->desc.buddy;
	const unsigned *seen = p->seen;
	uint64_t min, max;
	char s1[24], s2[24];

	if (!b->size) {
		if (seen[K_BUDDY_MIN] || seen[K_BUDDY_MAX])
			return perr_lc(p, seen[K_BUDDY_MIN] ? seen[K_BUDDY_MIN] : seen[K_BUDDY_MAX], 0,
				       EINVAL, "buddy_min/buddy_max given but the pool has no buddy area "
				       "(buddy = SIZE)");
		if (seen[K_RSV_BUDDY])
			return perr_lc(p, seen[K_RSV_BUDDY], 0, EINVAL,
				       "reserve_buddy given but the pool has no buddy area");
		return 0;
	}
	min = seen[K_BUDDY_MIN] ? p->buddy_min : CFG_DEFAULT_BUDDY_MIN;
	max = seen[K_BUDDY_MAX] ? p->buddy_max : 1ull << log2u64(b->size);
	if (!seen[K_BUDDY_MAX] && b->size >= min && max > min << CFG_BUDDY_MAX_SPAN)
		max = min << CFG_BUDDY_MAX_SPAN;
	if (b->size < min)
		return perr_lc(p, seen[K_BUDDY], 0, EINVAL, "buddy size %s is smaller than buddy_min %s",
			       fmt_size(b->size, s1), fmt_size(min, s2));
	if (min > max)
		return perr_lc(p, seen[K_BUDDY_MAX], 0, EINVAL, "buddy_min %s is larger than buddy_max %s",
			       fmt_size(min, s1), fmt_size(max, s2));
	if (b->size < max)
		return perr_lc(p, seen[K_BUDDY], 0, EINVAL, "buddy size %s is smaller than its largest "
			       "block (buddy_max %s)", fmt_size(b->size, s1), fmt_size(max, s2));
	if (b->size % min)
		return perr_lc(p, seen[K_BUDDY], 0, EINVAL, "buddy size %s is not a multiple of "
			       "buddy_min %s", fmt_size(b->size, s1), fmt_size(min, s2));
	if (log2u64(max) - log2u64(min) > CFG_BUDDY_MAX_SPAN)
		return perr_lc(p, seen[K_BUDDY_MAX] ? seen[K_BUDDY_MAX] : seen[K_BUDDY], 0, EINVAL,
			       "buddy_max %s is more than 2^%u times buddy_min %s", fmt_size(max, s1),
			       CFG_BUDDY_MAX_SPAN, fmt_size(min, s2));
	if (b->reserve >= b->size)
		return perr_lc(p, seen[K_RSV_BUDDY], 0, EINVAL, "reserve_buddy %s leaves nothing of "
			       "the buddy area (%s) for other clients", fmt_size(b->reserve, s1),
			       fmt_size(b->size, s2));
	b->min_order = log2u64(min);
	b->max_order = log2u64(max);
	return 0;
}

static int pool_reserve_check(struct parser *p)
{
	struct cfg_pool *pl = p->pool;
	struct rg_pool_desc *d = &pl->desc;
	unsigned rline = p->seen[K_RSV_SLAB], gline;
	bool reserve = d->buddy.reserve != 0;
	char s1[24];

	for (unsigned i = 0; i < p->nrsv; i++) {
		const struct rsv_ent *e = &p->rsv[i];
		unsigned c;

		for (c = 0; c < d->nclasses && d->classes[c].size != e->size; c++)
			;
		if (c == d->nclasses)
			return perr_lc(p, rline, e->col, EINVAL, "reserve_slab: the pool has no slab "
				       "class of size %s", fmt_size(e->size, s1));
		for (unsigned j = 0; j < i; j++)
			if (p->rsv[j].size == e->size)
				return perr_lc(p, rline, e->col, EINVAL, "reserve_slab names class %s twice",
					       fmt_size(e->size, s1));
		if (e->count >= d->classes[c].count)
			return perr_lc(p, rline, e->col, EINVAL, "reserve_slab: %" PRIu64 " blocks leave "
				       "nothing of the %" PRIu32 " blocks of class %s for other clients",
				       e->count, d->classes[c].count, fmt_size(e->size, s1));
		d->classes[c].reserve = (uint32_t)e->count;
		reserve |= e->count != 0;
	}
	gline = p->seen[K_RSV_USERS] ? p->seen[K_RSV_USERS] : p->seen[K_RSV_GROUPS];
	if (reserve && !gline)
		return perr_lc(p, rline ? rline : p->seen[K_RSV_BUDDY], 0, EINVAL, "pool \"%s\" has a "
			       "reserve but grants it to no one (reserve_users, reserve_groups)", pl->name);
	if (!reserve && gline)
		return perr_lc(p, gline, 0, EINVAL, "reserve_users/reserve_groups given but pool \"%s\" "
			       "has no reserve (reserve_slab, reserve_buddy)", pl->name);
	return 0;
}

static int close_pool(struct parser *p)
{
	struct cfg_pool *pl = p->pool;
	struct rg_footprint fp;
	int r;

	if (!pl->desc.nclasses && !p->seen[K_BUDDY])
		return perr_lc(p, pl->line, 0, EINVAL, "pool \"%s\" has neither slab classes (slab = ...) "
			       "nor a buddy area (buddy = ...)", pl->name);
	r = pool_buddy_check(p);
	if (!r)
		r = pool_reserve_check(p);
	if (r)
		return r;
	r = rg_region_layout(&pl->desc, &fp);
	if (r == -EOVERFLOW)
		return perr_lc(p, pl->line, 0, EOVERFLOW, "pool \"%s\" is too large: its footprint "
			       "overflows 64 bits or a class has too many blocks", pl->name);
	if (r)
		return perr_lc(p, pl->line, 0, EINVAL, "pool \"%s\": the allocator rejects this layout (%s)",
			       pl->name, strerrordesc_np(-r));
	return 0;
}

/* ---- sections and lines ---- */

static int close_section(struct parser *p)
{
	int r = p->sec == SEC_POOL ? close_pool(p) : 0;

	p->sec = SEC_NONE;
	p->keys = NULL;
	p->pool = NULL;
	memset(p->seen, 0, sizeof(p->seen));
	p->nrsv = 0;
	p->buddy_min = p->buddy_max = 0;
	return r;
}

static bool valid_pool_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= CFG_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static int open_pool(struct parser *p, char *name)
{
	struct cfg *cfg = p->cfg;
	struct cfg_pool *pl;

	if (!valid_pool_name(name))
		return perr(p, name, EINVAL, "bad pool name \"%s\" (1 to %d characters of A-Z a-z 0-9 _ -)",
			    name, CFG_NAME_MAX - 1);
	for (unsigned i = 0; i < cfg->npools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return strcmp(cfg->pools[i].file, p->name)
				       ? perr(p, name, EINVAL, "duplicate pool \"%s\" (first at %s:%u; a pool is "
					      "written whole in one file)", name, cfg->pools[i].file, cfg->pools[i].line)
				       : perr(p, name, EINVAL, "duplicate pool \"%s\" (first at line %u)", name,
					      cfg->pools[i].line);
	if (cfg->npools == CFG_MAX_POOLS)
		return perr(p, name, E2BIG, "too many pools (at most %d)", CFG_MAX_POOLS);
	if (!(cfg->npools & (cfg->npools - 1))) { /* 0, 1, 2, 4...: grow to double */
		size_t n = cfg->npools ? 2u * cfg->npools : 1u;
		struct cfg_pool *np = realloc(cfg->pools, n * sizeof(*np));

		if (!np)
			return perr(p, NULL, ENOMEM, "out of memory");
		cfg->pools = np;
	}
	pl = &cfg->pools[cfg->npools++];
	memset(pl, 0, sizeof(*pl));
	strcpy(pl->name, name);
	pl->line = p->lineno;
	snprintf(pl->file, sizeof(pl->file), "%s", p->name);
	pl->desc.policy = RG_POLICY_NEXT_FIT;
	pl->desc.nslots = CFG_DEFAULT_MAX_CLIENTS;
	pl->desc.cache = CFG_DEFAULT_THREAD_CACHE;
	p->pool = pl;
	p->sec = SEC_POOL;
	p->keys = pool_keys;
	return 0;
}

static int open_section(struct parser *p, char *name, unsigned *seen_line, enum section sec,
			const struct keydef *keys)
{
	if (*seen_line)
		return perr(p, name, EINVAL, "duplicate section [%s] (first at line %u)", name, *seen_line);
	*seen_line = p->lineno;
	p->sec = sec;
	p->keys = keys;
	return 0;
}

static int parse_section(struct parser *p, char *s)
{
	char *end = strchr(s, ']'), *rest, *name;
	int r;

	if (!end)
		return perr(p, s, EINVAL, "missing ']' in section header");
	rest = skip_ws(end + 1);
	if (*rest && *rest != '#' && *rest != ';')
		return perr(p, rest, EINVAL, "unexpected \"%s\" after the section header", rest);
	*end = '\0';
	name = skip_ws(s + 1);
	trim_end(name);
	r = close_section(p);
	if (r)
		return r;
	if (!strcmp(name, "daemon"))
		return open_section(p, name, &p->daemon_line, SEC_DAEMON, daemon_keys);
	if (!strcmp(name, "memtest"))
		return open_section(p, name, &p->memtest_line, SEC_MEMTEST, memtest_keys);
	if (!strncmp(name, "pool", 4) && (name[4] == ' ' || name[4] == '\t'))
		return open_pool(p, skip_ws(name + 4));
	if (!strcmp(name, "pool"))
		return perr(p, name, EINVAL, "pool section without a name: use [pool NAME]");
	return perr(p, name, EINVAL, "unknown section [%s] (known: [daemon], [memtest], [pool NAME])",
		    name);
}

static int parse_kv(struct parser *p, char *s)
{
	char *e = s, *v, *c;
	char sec[CFG_NAME_MAX + 8];
	unsigned i;

	while (isalnum((unsigned char)*e) || *e == '_')
		e++;
	if (e == s)
		return perr(p, s, EINVAL, "expected \"key = value\", a [section] or a # comment");
	v = skip_ws(e);
	if (*v != '=')
		return perr(p, v, EINVAL, "missing '=' after key \"%.*s\"", (int)(e - s), s);
	*e = '\0';
	v = skip_ws(v + 1);
	for (c = v; *c; c++) {
		if (*c == '#' && (c == v || c[-1] == ' ' || c[-1] == '\t')) {
			*c = '\0';
			break;
		}
	}
	trim_end(v);
	if (p->sec == SEC_NONE)
		return perr(p, s, EINVAL, "key \"%s\" outside any section", s);
	for (i = 0; p->keys[i].name && strcmp(p->keys[i].name, s); i++)
		;
	if (!p->keys[i].name) {
		snprintf(sec, sizeof(sec), "%s%s", p->sec == SEC_POOL ? "pool " : "",
			 p->sec == SEC_POOL ? p->pool->name : p->sec == SEC_DAEMON ? "daemon" : "memtest");
		return perr(p, s, EINVAL, "unknown key \"%s\" in [%s]", s, sec);
	}
	if (p->seen[i])
		return perr(p, s, EINVAL, "duplicate key \"%s\" (first at line %u)", s, p->seen[i]);
	p->seen[i] = p->lineno;
	if (!*v)
		return perr(p, v, EINVAL, "key \"%s\" has no value", s);
	return p->keys[i].fn(p, v);
}

static int parse_line(struct parser *p, char *s, size_t n)
{
	size_t bad;

	if (memchr(s, '\0', n))
		return perr(p, s + strlen(s), EILSEQ, "NUL byte in the file");
	bad = utf8_check((const unsigned char *)s, n);
	if (bad < n)
		return perr(p, s + bad, EILSEQ, "invalid UTF-8 (byte 0x%02x)", (unsigned char)s[bad]);
	s = skip_ws(s);
	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return parse_section(p, s);
	return parse_kv(p, s);
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	char buf[CFG_LINE_MAX + 1];
	size_t pos = 0;
	int r;

	p->line = buf;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text) - pos : len - pos;

		p->lineno++;
		if (n && text[pos + n - 1] == '\r')
			n--;
		if (n > CFG_LINE_MAX)
			return perr(p, NULL, E2BIG, "line too long (%zu bytes, at most %u)", n, CFG_LINE_MAX);
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		r = parse_line(p, buf, n);
		if (r)
			return r;
		pos = nl ? (size_t)(nl - text) + 1 : len;
	}
	p->line = NULL; /* buf goes out of scope; errors from here on have no column */
	return close_section(p);
}

/* Start the next file (main or drop-in) @name: its own line numbers and sections. */
static void parser_file(struct parser *p, const char *name)
{
	p->name = name;
	p->lineno = 0;
	p->daemon_line = p->memtest_line = 0;
}

static int parse_done(struct parser *p)
{
	if (!p->cfg->npools)
		return perr_lc(p, 0, 0, EINVAL, "no pools: add at least one [pool NAME] section");
	return 0;
}

/* ---- public ---- */

static struct cfg *cfg_new(const char *name)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	snprintf(cfg->source, sizeof(cfg->source), "%s", name);
	strcpy(cfg->daemon.socket, CFG_DEFAULT_SOCKET);
	strcpy(cfg->daemon.state_dir, CFG_DEFAULT_STATE_DIR);
	cfg->daemon.socket_mode = CFG_DEFAULT_SOCKET_MODE;
	cfg->daemon.socket_group.id = CFG_ID_NONE;
	cfg->daemon.monitor_group.id = CFG_ID_NONE;
	cfg->daemon.log_level = LOG_INFO;
	cfg->daemon.max_connections_per_uid = CFG_CONNECTIONS_PER_UID;
	cfg->daemon.user.id = CFG_ID_NONE;
	cfg->daemon.group.id = CFG_ID_NONE;
	cfg->memtest.enabled = false;
	strcpy(cfg->memtest.algos[0].name, CFG_DEFAULT_ALGO);
	cfg->memtest.nalgos = 1;
	cfg->memtest.bandwidth = CFG_DEFAULT_MEMTEST_BANDWIDTH;
	cfg->memtest.period_ms = CFG_DEFAULT_MEMTEST_PERIOD_MS;
	cfg->memtest.policy = SCHED_IDLE;
	return cfg;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->pools);
	free(cfg);
}

int cfg_parse(const char *text, size_t len, const char *name, unsigned flags,
	      struct cfg **ret, struct cfg_error *err)
{
	struct parser p = { .name = name, .flags = flags, .err = err };
	int r;

	if (err)
		memset(err, 0, sizeof(*err));
	p.cfg = cfg_new(name);
	if (!p.cfg)
		return seterr(err, name, 0, 0, ENOMEM, "out of memory");
	r = parse_text(&p, text, len);
	if (!r)
		r = parse_done(&p);
	if (!r && !(flags & CFG_NO_RESOLVE))
		r = cfg_resolve(p.cfg, err);
	if (r) {
		cfg_free(p.cfg);
		return r;
	}
	*ret = p.cfg;
	return 0;
}

/* Read all of @path (at most CFG_FILE_MAX bytes) into a malloc'd buffer. */
static int read_file(const char *path, char **ret, size_t *ret_len, struct cfg_error *err)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nb;
	ssize_t n = 1;
	int fd, e = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		return seterr(err, path, 0, 0, e, "cannot open: %s", strerrordesc_np(e));
	}
	while (!e && n) {
		if (len == cap && cap > CFG_FILE_MAX) {
			e = E2BIG;
			break;
		}
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			nb = realloc(buf, cap);
			if (!nb) {
				e = ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno != EINTR)
			e = errno;
		else if (n > 0)
			len += (size_t)n;
	}
	close(fd);
	if (!e && len > CFG_FILE_MAX)
		e = E2BIG;
	if (e) {
		free(buf);
		if (e == E2BIG)
			return seterr(err, path, 0, 0, E2BIG, "file too large (at most %u bytes)",
				      CFG_FILE_MAX);
		return seterr(err, path, 0, 0, e, "cannot read: %s", strerrordesc_np(e));
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static const char default_text[] =
	"# rtmemd built-in default: used when " CFG_DEFAULT_PATH " does not exist.\n"
	"# One small pool (about 1.7 MiB) for members of the group rtmem.\n"
	"[daemon]\n"
	"socket_group = rtmem\n"
	"\n"
	"[pool default]\n"
	"slab = 64x1024, 256x512, 1Kx128, 4Kx32\n"
	"slab_policy = next-fit\n"
	"buddy = 1M\n"
	"buddy_min = 64\n"
	"buddy_max = 256K\n"
	"groups = rtmem\n"
	"max_clients = 16\n";

const char *cfg_default_text(void)
{
	return default_text;
}

int cfg_load_default(unsigned flags, struct cfg **ret, struct cfg_error *err)
{
	return cfg_parse(default_text, sizeof(default_text) - 1, CFG_BUILTIN_NAME, flags, ret, err);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool dropin_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && !strcmp(n + l - 5, ".conf");
}

/* The *.conf names in @dir, sorted; none (or no @dir) is 0 names. */
static int list_dropins(const char *dir, char *names[CFG_MAX_DROPINS], unsigned *ret_n, struct cfg_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;
	int r = 0;

	*ret_n = 0;
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : seterr(err, dir, 0, 0, errno, "cannot open: %s",
									 strerrordesc_np(errno));
	while (!r && (e = readdir(d))) {
		if (!dropin_name(e->d_name))
			continue;
		if (n == CFG_MAX_DROPINS)
			r = seterr(err, dir, 0, 0, E2BIG, "more than %d drop-ins", CFG_MAX_DROPINS);
		else if (!(names[n++] = strdup(e->d_name)))
			r = seterr(err, dir, 0, 0, ENOMEM, "out of memory");
	}
	closedir(d);
	if (r) {
		while (n)
			free(names[--n]);
		return r;
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	*ret_n = n;
	return 0;
}

/* Parse the drop-ins of @dir into @p, in name order. */
static int parse_dropins(struct parser *p, const char *dir)
{
	char *names[CFG_MAX_DROPINS], path[CFG_PATH_MAX + 64];
	unsigned n;
	int r = list_dropins(dir, names, &n, p->err);

	for (unsigned i = 0; i < n; i++) {
		char *text = NULL;
		size_t len = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!r)
			r = read_file(path, &text, &len, p->err);
		if (!r) {
			parser_file(p, path);
			r = parse_text(p, text, len);
			p->cfg->ndropins++;
		}
		free(text);
		free(names[i]);
	}
	return r;
}

int cfg_load(const char *path, unsigned flags, struct cfg **ret, struct cfg_error *err)
{
	struct parser p = { .flags = flags, .err = err };
	char dir[CFG_PATH_MAX];
	const char *slash = strrchr(path, '/');
	char *text = NULL;
	size_t len = 0;
	int r;

	if (err)
		memset(err, 0, sizeof(*err));
	r = read_file(path, &text, &len, err);
	if (r == -ENOENT && (flags & CFG_DEFAULT_IF_MISSING)) {
		p.cfg = cfg_new(CFG_BUILTIN_NAME);
		parser_file(&p, CFG_BUILTIN_NAME);
		r = p.cfg ? parse_text(&p, default_text, sizeof(default_text) - 1) : -ENOMEM;
	} else if (!r) {
		p.cfg = cfg_new(path);
		parser_file(&p, path);
		r = p.cfg ? parse_text(&p, text, len) : -ENOMEM;
	}
	free(text);
	if (r == -ENOMEM && !p.cfg)
		return seterr(err, path, 0, 0, ENOMEM, "out of memory");
	if (!r) {
		snprintf(dir, sizeof(dir), "%.*s/" CFG_DROPIN_DIR, slash ? (int)(slash - path) : 1, slash ? path : ".");
		r = parse_dropins(&p, dir);
	}
	if (!r)
		r = parse_done(&p);
	if (!r && !(flags & CFG_NO_RESOLVE))
		r = cfg_resolve(p.cfg, err);
	if (r) {
		cfg_free(p.cfg);
		return r;
	}
	*ret = p.cfg;
	return 0;
}

int cfg_error_at(const struct cfg *cfg, unsigned line, unsigned col, struct cfg_error *err,
		 int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(err, cfg->source, line, col, fmt, ap);
	va_end(ap);
	return -e;
}

const struct cfg_pool *cfg_pool_find(const struct cfg *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->npools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return &cfg->pools[i];
	return NULL;
}

static bool ids_match(const struct cfg_ids *users, const struct cfg_ids *groups, uint32_t uid,
		      const uint32_t *gids, size_t ngids)
{
	for (unsigned i = 0; i < users->n; i++)
		if (users->v[i].id == uid && uid != CFG_ID_NONE)
			return true;
	for (unsigned i = 0; i < groups->n; i++)
		for (size_t j = 0; j < ngids; j++)
			if (groups->v[i].id == gids[j] && gids[j] != CFG_ID_NONE)
				return true;
	return false;
}

bool cfg_pool_may_open(const struct cfg_pool *pool, uint32_t uid, const uint32_t *gids, size_t ngids)
{
	return uid == 0 || ids_match(&pool->users, &pool->groups, uid, gids, ngids);
}

bool cfg_pool_may_reserve(const struct cfg_pool *pool, uint32_t uid, const uint32_t *gids, size_t ngids)
{
	return ids_match(&pool->reserve_users, &pool->reserve_groups, uid, gids, ngids);
}

int cfg_pool_footprint(const struct cfg_pool *pool, struct rg_footprint *ret)
{
	return rg_region_layout(&pool->desc, ret);
}

/* ---- footprint report ---- */

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

static size_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd >= 0) {
		ssize_t k;

		while (n < len - 1 && (k = read(fd, buf + n, len - 1 - n)) > 0)
			n += (size_t)k;
		close(fd);
	}
	buf[n] = '\0';
	return n;
}

int cfg_limits_read(struct cfg_limits *ret)
{
	struct cfg_limits lim = { .memlock = UINT64_MAX, .mem_available = UINT64_MAX };
	struct rlimit rl;
	char buf[8192];
	const char *cap;
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t hfree = 0;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return errno ? -errno : -EINVAL;
	if (rl.rlim_cur != RLIM_INFINITY)
		lim.memlock = rl.rlim_cur;
	lim.page = pg > 0 ? (uint64_t)pg : 4096;
	slurp("/proc/self/status", buf, sizeof(buf));
	cap = strstr(buf, "\nCapEff:");
	if (cap) {
		unsigned long long eff = strtoull(cap + 8, NULL, 16);

		lim.cap_ipc_lock = (eff >> 14) & 1; /* CAP_IPC_LOCK */
	}
	slurp("/proc/meminfo", buf, sizeof(buf));
	meminfo_get(buf, "MemAvailable", &lim.mem_available);
	if (meminfo_get(buf, "Hugepagesize", &lim.huge_page) && meminfo_get(buf, "HugePages_Free", &hfree))
		lim.huge_free = hfree * lim.huge_page;
	*ret = lim;
	return 0;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return a ? (v + a - 1) / a * a : v;
}

static const char *mib(uint64_t v, char buf[static 32])
{
	if (v == UINT64_MAX)
		snprintf(buf, 32, "unlimited");
	else
		snprintf(buf, 32, "%.1f MiB", (double)v / (1024.0 * 1024.0));
	return buf;
}

/* One line per pool; sums of mapped bytes into *sum_all and *sum_huge. */
static int report_pools(const struct cfg *cfg, const struct cfg_limits *lim, FILE *out,
			uint64_t *sum_all, uint64_t *sum_huge)
{
	fprintf(out, "%-31s %12s %12s %12s %12s  %s\n", "pool", "metadata", "data", "total",
		"mapped", "pages");
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct cfg_pool *pl = &cfg->pools[i];
		struct rg_footprint fp;
		uint64_t mapped;
		int r = cfg_pool_footprint(pl, &fp);

		if (r) {
			fprintf(out, "%-31s layout failed: %s\n", pl->name, strerrordesc_np(-r));
			return -EINVAL;
		}
		mapped = round_up(fp.total, pl->hugepages ? lim->huge_page : lim->page);
		fprintf(out, "%-31s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "  %s\n",
			pl->name, fp.meta, fp.data, fp.total, mapped, pl->hugepages ? "huge" : "base");
		*sum_all += mapped;
		if (pl->hugepages)
			*sum_huge += mapped;
	}
	return 0;
}

static bool report_check(FILE *out, const char *what, uint64_t need, uint64_t have, const char *note)
{
	char a[32], b[32];
	bool fits = have == UINT64_MAX || need <= have;

	fprintf(out, "%-15s %s needed, %s available%s: %s\n", what, mib(need, a), mib(have, b),
		note, fits ? "fits" : "DOES NOT FIT");
	return fits;
}

int cfg_report_limits(const struct cfg *cfg, const struct cfg_limits *lim, FILE *out)
{
	uint64_t all = 0, huge = 0;
	bool fits = true;
	char a[32];
	int r = report_pools(cfg, lim, out, &all, &huge);

	if (r)
		return r;
	fprintf(out, "%-31s %12s %12s %12s %12" PRIu64 "  (%s, plus the daemon's own memory)\n",
		"total", "", "", "", all, mib(all, a));
	if (lim->cap_ipc_lock)
		fprintf(out, "%-15s not enforced (CAP_IPC_LOCK)\n", "RLIMIT_MEMLOCK");
	else
		fits &= report_check(out, "RLIMIT_MEMLOCK", all, lim->memlock, "");
	fits &= report_check(out, "MemAvailable", all - huge, lim->mem_available, "");
	if (huge)
		fits &= report_check(out, "HugePages_Free", huge, lim->huge_page ? lim->huge_free : 0,
				     lim->huge_page ? "" : " (no huge pages)");
	if (fflush(out) || ferror(out))
		return -EIO;
	return fits ? 0 : -ENOMEM;
}

int cfg_report(const struct cfg *cfg, FILE *out)
{
	struct cfg_limits lim = { 0 };
	int r = cfg_limits_read(&lim);

	if (r)
		return r;
	return cfg_report_limits(cfg, &lim, out);
}
