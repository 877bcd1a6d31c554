/* SPDX-License-Identifier: MIT */
/*
 * cfg.c - rtmemd's configuration file: the parser's lines and sections,
 * files and drop-ins, the built-in default. The keys are handled in
 * cfg_keys.c ([daemon], [memtest]) and cfg_pool.c ([pool NAME]), users and
 * groups in cfg_ids.c; cfg_int.h is what they share. (The machine's limits
 * are probe.c's, the --check-config report report.c's.)
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
 * Invariants: a struct cfg leaves the parser only complete and checked (see
 * cfg.h); on any error the partial cfg is freed and the error is in the
 * caller's struct cfg_error as "file:line[:col]: what". Nothing here logs.
 */
#include "cfg_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <dirent.h>
#include <unistd.h>

#include "fileio.h"

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
int cfg_seterr(struct cfg_error *err, const char *name, unsigned line, unsigned col,
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
int cfg_perr_lc(struct parser *p, unsigned line, unsigned col, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(p->err, p->name, line, col, fmt, ap);
	va_end(ap);
	return -e;
}

/* Error on the current line, at @at (a pointer into it) or without column. */
__attribute__((format(printf, 4, 5)))
int cfg_perr(struct parser *p, const char *at, int e, const char *fmt, ...)
{
	unsigned col = at && p->line ? (unsigned)(at - p->line) + 1 : 0;
	va_list ap;

	va_start(ap, fmt);
	verr(p->err, p->name, p->lineno, col, fmt, ap);
	va_end(ap);
	return -e;
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
int cfg_split_list(struct parser *p, char *v, char **items, unsigned max,
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
			return cfg_perr(p, v, EINVAL, "empty entry in the %s list", what);
		if (n == max)
			return cfg_perr(p, v, E2BIG, "too many entries in the %s list (at most %u)", what, max);
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
int cfg_parse_num(struct parser *p, const char *s, bool suffix, const char *what, uint64_t *ret)
{
	const char *q = s;
	uint64_t v = 0;
	unsigned shift = 0;

	if (!isdigit((unsigned char)*q))
		return cfg_perr(p, s, EINVAL, "bad %s \"%s\": expected a number", what, s);
	for (; isdigit((unsigned char)*q); q++) {
		unsigned d = (unsigned)(*q - '0');

		if (v > (UINT64_MAX - d) / 10)
			return cfg_perr(p, s, EOVERFLOW, "%s \"%s\" overflows 64 bits", what, s);
		v = v * 10 + d;
	}
	if (*q && suffix) {
		const char *k = strchr("KMGT", toupper((unsigned char)*q));

		if (!k || (*q == 'm' || *q == 'g' || *q == 't'))
			return cfg_perr(p, q, EINVAL, "bad %s \"%s\": unknown suffix \"%s\" (use K, M, G or T)",
				    what, s, q);
		shift = 10 * (unsigned)(k - "KMGT" + 1);
		q++;
		if (!strcmp(q, "iB"))
			q += 2;
	}
	if (*q)
		return cfg_perr(p, q, EINVAL, "bad %s \"%s\": unexpected \"%s\"%s", what, s, q,
			    suffix ? " (use K, M, G or T)" : "");
	if (shift && v > UINT64_MAX >> shift)
		return cfg_perr(p, s, EOVERFLOW, "%s \"%s\" overflows 64 bits", what, s);
	*ret = v << shift;
	return 0;
}

int cfg_parse_size(struct parser *p, const char *s, const char *what, uint64_t *ret)
{
	return cfg_parse_num(p, s, true, what, ret);
}

int cfg_parse_bool(struct parser *p, const char *v, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i]))
			return *ret = true, 0;
		if (!strcasecmp(v, no[i]))
			return *ret = false, 0;
	}
	return cfg_perr(p, v, EINVAL, "bad boolean \"%s\" (use yes or no)", v);
}

bool cfg_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

unsigned cfg_log2u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

/* ---- sections and lines ---- */

static int close_section(struct parser *p)
{
	int r = p->sec == SEC_POOL ? cfg_close_pool(p) : 0;

	p->sec = SEC_NONE;
	p->keys = NULL;
	p->pool = NULL;
	memset(p->seen, 0, sizeof(p->seen));
	p->nrsv = 0;
	p->buddy_min = p->buddy_max = 0;
	return r;
}

static int open_section(struct parser *p, char *name, unsigned *seen_line, enum section sec,
			const struct keydef *keys)
{
	if (*seen_line)
		return cfg_perr(p, name, EINVAL, "duplicate section [%s] (first at line %u)", name, *seen_line);
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
		return cfg_perr(p, s, EINVAL, "missing ']' in section header");
	rest = skip_ws(end + 1);
	if (*rest && *rest != '#' && *rest != ';')
		return cfg_perr(p, rest, EINVAL, "unexpected \"%s\" after the section header", rest);
	*end = '\0';
	name = skip_ws(s + 1);
	trim_end(name);
	r = close_section(p);
	if (r)
		return r;
	if (!strcmp(name, "daemon"))
		return open_section(p, name, &p->daemon_line, SEC_DAEMON, cfg_daemon_keys);
	if (!strcmp(name, "memtest"))
		return open_section(p, name, &p->memtest_line, SEC_MEMTEST, cfg_memtest_keys);
	if (!strncmp(name, "pool", 4) && (name[4] == ' ' || name[4] == '\t'))
		return cfg_open_pool(p, skip_ws(name + 4));
	if (!strcmp(name, "pool"))
		return cfg_perr(p, name, EINVAL, "pool section without a name: use [pool NAME]");
	return cfg_perr(p, name, EINVAL, "unknown section [%s] (known: [daemon], [memtest], [pool NAME])",
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
		return cfg_perr(p, s, EINVAL, "expected \"key = value\", a [section] or a # comment");
	v = skip_ws(e);
	if (*v != '=')
		return cfg_perr(p, v, EINVAL, "missing '=' after key \"%.*s\"", (int)(e - s), s);
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
		return cfg_perr(p, s, EINVAL, "key \"%s\" outside any section", s);
	for (i = 0; p->keys[i].name && strcmp(p->keys[i].name, s); i++)
		;
	if (!p->keys[i].name) {
		snprintf(sec, sizeof(sec), "%s%s", p->sec == SEC_POOL ? "pool " : "",
			 p->sec == SEC_POOL ? p->pool->name : p->sec == SEC_DAEMON ? "daemon" : "memtest");
		return cfg_perr(p, s, EINVAL, "unknown key \"%s\" in [%s]", s, sec);
	}
	if (p->seen[i])
		return cfg_perr(p, s, EINVAL, "duplicate key \"%s\" (first at line %u)", s, p->seen[i]);
	p->seen[i] = p->lineno;
	if (!*v)
		return cfg_perr(p, v, EINVAL, "key \"%s\" has no value", s);
	return p->keys[i].fn(p, v);
}

static int parse_line(struct parser *p, char *s, size_t n)
{
	size_t bad;

	if (memchr(s, '\0', n))
		return cfg_perr(p, s + strlen(s), EILSEQ, "NUL byte in the file");
	bad = utf8_check((const unsigned char *)s, n);
	if (bad < n)
		return cfg_perr(p, s + bad, EILSEQ, "invalid UTF-8 (byte 0x%02x)", (unsigned char)s[bad]);
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
			return cfg_perr(p, NULL, E2BIG, "line too long (%zu bytes, at most %u)", n, CFG_LINE_MAX);
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
		return cfg_perr_lc(p, 0, 0, EINVAL, "no pools: add at least one [pool NAME] section");
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
		return cfg_seterr(err, name, 0, 0, ENOMEM, "out of memory");
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
	char why[FILEIO_WHY_MAX];
	int r = fileio_read(path, CFG_FILE_MAX, why, sizeof(why), ret, ret_len);

	if (r == -EFBIG)
		r = -E2BIG; /* as the parser's own limit on text */
	return r ? cfg_seterr(err, path, 0, 0, -r, "%s", why) : 0;
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
		return errno == ENOENT || errno == ENOTDIR ? 0 : cfg_seterr(err, dir, 0, 0, errno, "cannot open: %s",
									 strerrordesc_np(errno));
	while (!r && (e = readdir(d))) {
		if (!dropin_name(e->d_name))
			continue;
		if (n == CFG_MAX_DROPINS)
			r = cfg_seterr(err, dir, 0, 0, E2BIG, "more than %d drop-ins", CFG_MAX_DROPINS);
		else if (!(names[n++] = strdup(e->d_name)))
			r = cfg_seterr(err, dir, 0, 0, ENOMEM, "out of memory");
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
		return cfg_seterr(err, path, 0, 0, ENOMEM, "out of memory");
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

int cfg_pool_footprint(const struct cfg_pool *pool, struct rg_footprint *ret)
{
	return rg_region_layout(&pool->desc, ret);
}
