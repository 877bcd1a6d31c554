/* SPDX-License-Identifier: MIT */
/*
 * march.c - March-test engine: notation parser, built-in tests, data
 * backgrounds and the run loop. See march.h for the notation and run model.
 *
 * Parser: recursive descent over the UTF-8 text, one token of look-ahead.
 * Errors name the 1-based character column and what was expected there. While
 * parsing, the value every cell holds is tracked (unknown before the first
 * write; all cells hold the same value after each element, because every
 * element visits every cell), so a read that a good memory would fail is an
 * error in the text, not a memory fault found later.
 *
 * Engine: elem_run() is one always-inline body instantiated twice, for real
 * memory (volatile loads/stores, no indirect calls) and for the callback
 * memory, so the fast path pays nothing for the simulator. The run visits
 * the words of one element in order, applies the element's operations to a
 * word, and stops at the first read that differs from what was written.
 */
#include "march.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cacheflush.h"

/* ---------------------------------------------------------------- parser */

struct pcur {
	const char *s; /* start of the text */
	const char *p; /* cursor */
	char *err;
	size_t errlen;
};

/* 1-based column of @at, counting UTF-8 characters, not bytes. */
static unsigned p_col(const struct pcur *c, const char *at)
{
	unsigned col = 1;

	for (const char *q = c->s; q < at; q++)
		if (((unsigned char)*q & 0xc0) != 0x80)
			col++;
	return col;
}

/* "column N: @msg, found 'x'" into the caller's buffer. */
static int p_fail_at(const struct pcur *c, const char *at, const char *msg)
{
	char found[16];
	size_t len = 1;

	if (!c->err || !c->errlen)
		return -EINVAL;
	if (!*at) {
		snprintf(found, sizeof(found), "end of text");
	} else {
		while (len < 4 && ((unsigned char)at[len] & 0xc0) == 0x80)
			len++;
		snprintf(found, sizeof(found), "'%.*s'", (int)len, at);
	}
	snprintf(c->err, c->errlen, "column %u: %s, found %s", p_col(c, at), msg, found);
	return -EINVAL;
}

static void p_ws(struct pcur *c)
{
	while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
		c->p++;
}

static bool is_alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || ch == '_';
}

/* An ASCII keyword, case-insensitive, not followed by a letter or digit. */
static bool p_kw(struct pcur *c, const char *kw)
{
	size_t n = strlen(kw);

	for (size_t i = 0; i < n; i++)
		if ((c->p[i] | 0x20) != kw[i])
			return false;
	if (is_alnum(c->p[n]))
		return false;
	c->p += n;
	return true;
}

static bool p_bytes(struct pcur *c, const char *b)
{
	size_t n = strlen(b);

	if (strncmp(c->p, b, n) != 0)
		return false;
	c->p += n;
	return true;
}

static int p_order(struct pcur *c)
{
	if (p_kw(c, "up") || p_bytes(c, "\u21d1") || p_bytes(c, "\u2191"))
		return MARCH_UP;
	if (p_kw(c, "down") || p_bytes(c, "\u21d3") || p_bytes(c, "\u2193"))
		return MARCH_DOWN;
	if (p_kw(c, "any") || p_bytes(c, "\u21d5") || p_bytes(c, "\u2195"))
		return MARCH_ANY;
	return -1;
}

/* del | del(N) | del(N ms); the keyword is already consumed. */
static int p_delay(struct pcur *c, struct march_elem *e)
{
	uint64_t ms = 0;
	const char *num;

	e->nops = 0;
	e->order = MARCH_ANY;
	e->delay_ms = MARCH_DELAY_DEFAULT;
	p_ws(c);
	if (*c->p != '(')
		return 0;
	c->p++;
	p_ws(c);
	num = c->p;
	if (*c->p < '0' || *c->p > '9')
		return p_fail_at(c, c->p, "expected a delay in milliseconds");
	while (*c->p >= '0' && *c->p <= '9') {
		ms = ms * 10 + (uint64_t)(*c->p - '0');
		if (ms > MARCH_MAX_DELAY_MS)
			return p_fail_at(c, num, "expected a delay of 1..86400000 ms");
		c->p++;
	}
	if (ms == 0)
		return p_fail_at(c, num, "expected a delay of 1..86400000 ms");
	p_ws(c);
	p_kw(c, "ms");
	p_ws(c);
	if (*c->p != ')')
		return p_fail_at(c, c->p, "expected ')' after the delay");
	c->p++;
	e->delay_ms = (uint32_t)ms;
	return 0;
}

/*
 * One element. @state: the value all cells hold before it (-1 unknown),
 * updated to the value they hold after it.
 */
static int p_elem(struct pcur *c, struct march_elem *e, int *state)
{
	int order;

	memset(e, 0, sizeof(*e));
	if (p_kw(c, "del"))
		return p_delay(c, e);
	order = p_order(c);
	if (order < 0)
		return p_fail_at(c, c->p, "expected an address order (up, down, any, \u21d1, \u21d3, \u21d5) or del");
	e->order = (uint8_t)order;
	p_ws(c);
	if (*c->p != '(')
		return p_fail_at(c, c->p, "expected '(' after the address order");
	c->p++;
	for (;;) {
		const char *at;
		char rw;
		int v;

		p_ws(c);
		at = c->p;
		rw = (char)(*c->p | 0x20);
		if ((rw != 'r' && rw != 'w') || (c->p[1] != '0' && c->p[1] != '1') || is_alnum(c->p[2]))
			return p_fail_at(c, c->p, "expected an operation (r0, r1, w0, w1)");
		if (e->nops == MARCH_MAX_OPS)
			return p_fail_at(c, at, "expected ')': an element has at most 8 operations");
		v = c->p[1] - '0';
		c->p += 2;
		if (rw == 'r') {
			if (*state < 0)
				return p_fail_at(c, at, "expected a write before the first read");
			if (*state != v)
				return p_fail_at(c, at, *state ? "expected r1 (the last write left 1)"
							       : "expected r0 (the last write left 0)");
		} else {
			*state = v;
		}
		e->ops[e->nops++] = (uint8_t)((rw == 'r' ? 2 : 0) | v);
		p_ws(c);
		if (*c->p == ')')
			break;
		if (*c->p != ',')
			return p_fail_at(c, c->p, "expected ',' or ')'");
		c->p++;
	}
	c->p++;
	return 0;
}

int march_parse(const char *text, struct march_prog *ret_prog, char *err, size_t errlen)
{
	struct pcur c = { .s = text, .p = text, .err = err, .errlen = errlen };
	struct march_prog prog;
	int state = -1;
	bool braced;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!text || !ret_prog)
		return -EINVAL;
	memset(&prog, 0, sizeof(prog));
	p_ws(&c);
	braced = *c.p == '{';
	if (braced)
		c.p++;
	for (;;) {
		p_ws(&c);
		if (prog.nelem == MARCH_MAX_ELEMS)
			return p_fail_at(&c, c.p, braced ? "expected '}': at most 16 elements"
							  : "expected end of text: at most 16 elements");
		rc = p_elem(&c, &prog.elem[prog.nelem], &state);
		if (rc)
			return rc;
		prog.nelem++;
		p_ws(&c);
		if (*c.p == ';') {
			c.p++;
			p_ws(&c);
			if (braced ? *c.p != '}' : *c.p != '\0')
				continue;
		}
		if (braced && *c.p == '}') {
			c.p++;
			break;
		}
		if (!braced && !*c.p)
			break;
		return p_fail_at(&c, c.p, braced ? "expected ';' or '}'" : "expected ';' or end of text");
	}
	p_ws(&c);
	if (*c.p)
		return p_fail_at(&c, c.p, "expected end of text after '}'");
	prog.kind = MARCH_KIND_MARCH;
	*ret_prog = prog;
	return 0;
}

int march_format(const struct march_prog *p, char *buf, size_t len)
{
	static const char *const order[] = { "any", "up", "down" };
	size_t o = 0;
	int n;

	if (!p || !buf || !len)
		return -EINVAL;
	buf[0] = '\0';
#define PUT(...)                                                          \
	do {                                                              \
		n = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__); \
		if (n < 0)                                                \
			return -EINVAL;                                   \
		o += (size_t)n;                                           \
	} while (0)
	if (p->kind == MARCH_KIND_GALPAT) {
		PUT("GALPAT");
	} else if (p->kind == MARCH_KIND_WALK) {
		PUT("walking 1/0");
	} else {
		PUT("{");
		for (unsigned i = 0; i < p->nelem && i < MARCH_MAX_ELEMS; i++) {
			const struct march_elem *e = &p->elem[i];

			PUT("%s", i ? "; " : "");
			if (!e->nops) {
				if (e->delay_ms)
					PUT("del(%u)", (unsigned)e->delay_ms);
				else
					PUT("del");
				continue;
			}
			PUT("%s(", order[e->order % 3]);
			for (unsigned k = 0; k < e->nops && k < MARCH_MAX_OPS; k++)
				PUT("%s%c%c", k ? "," : "", (e->ops[k] & 2) ? 'r' : 'w',
				    (e->ops[k] & 1) ? '1' : '0');
			PUT(")");
		}
		PUT("}");
	}
#undef PUT
	if (o >= len)
		return -ENOSPC;
	return (int)o;
}

unsigned march_ops_per_word(const struct march_prog *p, size_t window)
{
	unsigned w = (unsigned)(window ? window : MARCH_WINDOW_DEFAULT);
	unsigned k = 0;

	if (!p)
		return 0;
	if (p->kind == MARCH_KIND_GALPAT)
		return 4 * w + 6;
	if (p->kind == MARCH_KIND_WALK)
		return 2 * w + 10;
	for (unsigned i = 0; i < p->nelem && i < MARCH_MAX_ELEMS; i++)
		k += p->elem[i].nops;
	return k;
}

/* ------------------------------------------------------------- built-ins */

static const struct march_builtin builtins[] = {
	{ "MSCAN", "{any(w0); any(r0); any(w1); any(r1)}", "4n", 4, MARCH_KIND_MARCH, -1,
	  "SAF (with a fault-free decoder); not all AF, TF, CF" },
	{ "MATS+", "{any(w0); up(r0,w1); down(r1,w0)}", "5n", 5, MARCH_KIND_MARCH, -1,
	  "SAF, AF" },
	{ "March X", "{any(w0); up(r0,w1); down(r1,w0); any(r0)}", "6n", 6, MARCH_KIND_MARCH, -1,
	  "SAF, AF, TF, CFin" },
	{ "March Y", "{any(w0); up(r0,w1,r1); down(r1,w0,r0); any(r0)}", "8n", 8,
	  MARCH_KIND_MARCH, -1, "SAF, AF, TF, CFin, TF linked with CFin" },
	{ "March C-",
	  "{any(w0); up(r0,w1); up(r1,w0); down(r0,w1); down(r1,w0); any(r0)}", "10n", 10,
	  MARCH_KIND_MARCH, -1, "SAF, AF, TF, CFin, CFid, CFst (unlinked)" },
	{ "March A",
	  "{any(w0); up(r0,w1,w0,w1); up(r1,w0,w1); down(r1,w0,w1,w0); down(r0,w1,w0)}",
	  "15n", 15, MARCH_KIND_MARCH, -1, "SAF, AF, TF, CFin, CFid, linked CFid" },
	{ "March B",
	  "{any(w0); up(r0,w1,r1,w0,r0,w1); up(r1,w0,w1); down(r1,w0,w1,w0); down(r0,w1,w0)}",
	  "17n", 17, MARCH_KIND_MARCH, -1,
	  "SAF, AF, TF, CFin, CFid, TF linked with CFid or CFin" },
	{ "March LR",
	  "{any(w0); down(r0,w1); up(r1,w0,r0,w1); up(r1,w0); up(r0,w1,r1,w0); any(r0)}",
	  "14n", 14, MARCH_KIND_MARCH, -1, "simple static faults and realistic linked faults" },
	{ "March SS",
	  "{any(w0); up(r0,r0,w0,r0,w1); up(r1,r1,w1,r1,w0); down(r0,r0,w0,r0,w1); "
	  "down(r1,r1,w1,r1,w0); any(r0)}",
	  "22n", 22, MARCH_KIND_MARCH, -1, "all simple static faults (single and two-cell)" },
	{ "Checkerboard", "{any(w0); any(r0); any(w1); any(r1)}", "4n", 4, MARCH_KIND_MARCH,
	  MARCH_BG_CHECKER, "SAF, shorts between neighbours, half of the TF; not AF" },
	{ "Walking 1/0", NULL, "(2w+10)n", 0, MARCH_KIND_WALK, -1,
	  "SAF, TF, AF, CF inside a window of w words" },
	{ "GALPAT", NULL, "(4w+6)n", 0, MARCH_KIND_GALPAT, -1,
	  "SAF, TF, AF, CF inside a window of w words" },
	{ "Address in address", "{any(w0); any(r0); any(w1); any(r1)}", "4n", 4,
	  MARCH_KIND_MARCH, MARCH_BG_ADDRESS, "AF (each word holds its own index)" },
	{ "Bit fade", "{any(w0); del; any(r0); any(w1); del; any(r1)}", "4n + 2 delays", 4,
	  MARCH_KIND_MARCH, -1, "data retention faults, SAF" },
};

unsigned march_builtin_count(void)
{
	return sizeof(builtins) / sizeof(builtins[0]);
}

const struct march_builtin *march_builtin_get(unsigned i)
{
	return i < march_builtin_count() ? &builtins[i] : NULL;
}

/* Compare names ignoring ASCII case, spaces and '_'. */
static bool name_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == ' ' || *a == '_')
			a++;
		while (*b == ' ' || *b == '_')
			b++;
		if ((*a | 0x20) != (*b | 0x20))
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

const struct march_builtin *march_builtin_find(const char *name)
{
	if (!name)
		return NULL;
	for (unsigned i = 0; i < march_builtin_count(); i++)
		if (name_eq(name, builtins[i].name))
			return &builtins[i];
	return NULL;
}

int march_builtin_compile(const char *name, struct march_prog *ret_prog)
{
	const struct march_builtin *b;
	struct march_prog prog;
	int rc;

	if (!name || !ret_prog)
		return -EINVAL;
	b = march_builtin_find(name);
	if (!b)
		return -ENOENT;
	memset(&prog, 0, sizeof(prog));
	if (b->notation) {
		rc = march_parse(b->notation, &prog, NULL, 0);
		if (rc)
			return rc; /* a broken table: the unit test catches it */
	}
	prog.kind = b->kind;
	if (b->bg_kind >= 0) {
		prog.has_bg = true;
		prog.bg.kind = (uint32_t)b->bg_kind;
		prog.bg.pattern = b->bg_kind == MARCH_BG_CHECKER ? 0x5555555555555555ull : 0;
	}
	*ret_prog = prog;
	return 0;
}

/* ----------------------------------------------------------- backgrounds */

int march_bg_standard(struct march_bg *out, unsigned max, unsigned width)
{
	unsigned n = 1;

	if (!out || width == 0 || width > 64 || (width & (width - 1)))
		return -EINVAL;
	for (unsigned w = width; w > 1; w >>= 1)
		n++;
	if (max < n)
		return -ENOSPC;
	out[0] = (struct march_bg){ .pattern = 0, .kind = MARCH_BG_SOLID };
	for (unsigned k = 1; k < n; k++) {
		unsigned run = 1u << (k - 1); /* runs of @run ones, then @run zeros */
		uint64_t pat = 0;

		for (unsigned bit = 0; bit < 64; bit++)
			if (!((bit / run) & 1))
				pat |= 1ull << bit;
		out[k] = (struct march_bg){ .pattern = pat, .kind = MARCH_BG_SOLID };
	}
	return (int)n;
}

/* ---------------------------------------------------------------- engine */

struct run {
	const struct march_mem *m;
	size_t start, end;
	const struct march_bg *bg;
	struct march_fault f; /* filled by run_hit() */
};

static inline __attribute__((always_inline)) uint64_t mem_rd(const struct march_mem *m, size_t i,
							      bool cb)
{
	return cb ? m->ops->read(m->ctx, i) : m->words[i];
}

static inline __attribute__((always_inline)) void mem_wr(const struct march_mem *m, size_t i,
							  uint64_t v, bool cb)
{
	if (cb)
		m->ops->write(m->ctx, i, v);
	else
		m->words[i] = v;
}

static void run_flush(const struct run *r, size_t from, size_t to)
{
	if (r->m->words)
		cacheflush_range((const void *)&r->m->words[from], (to - from) * sizeof(uint64_t));
	else if (r->m->ops->flush)
		r->m->ops->flush(r->m->ctx);
}

static __attribute__((noinline, cold)) int run_hit(struct run *r, size_t i, uint64_t exp,
						   uint64_t act, unsigned elem, unsigned op)
{
	r->f.index = i;
	r->f.expected = exp;
	r->f.actual = act;
	r->f.elem = elem;
	r->f.op = op;
	return MARCH_DETECTED;
}

static inline __attribute__((always_inline)) int elem_run(struct run *r,
							   const struct march_elem *e,
							   unsigned ei, bool cb)
{
	const struct march_mem *m = r->m;
	const bool down = e->order == MARCH_DOWN;
	const size_t cnt = r->end - r->start;
	const unsigned nops = e->nops;

	for (size_t k = 0; k < cnt; k++) {
		size_t i = down ? r->end - 1 - k : r->start + k;
		uint64_t b = march_bg_value(r->bg, i);

		for (unsigned o = 0; o < nops; o++) {
			unsigned op = e->ops[o];
			uint64_t d = (op & 1) ? ~b : b;

			if (op & 2) {
				uint64_t v = mem_rd(m, i, cb);

				if (__builtin_expect(v != d, 0))
					return run_hit(r, i, d, v, ei, o);
			} else {
				mem_wr(m, i, d, cb);
			}
		}
	}
	return 0;
}

static int elem_run_mem(struct run *r, const struct march_elem *e, unsigned ei)
{
	return elem_run(r, e, ei, false);
}

static int elem_run_cb(struct run *r, const struct march_elem *e, unsigned ei)
{
	return elem_run(r, e, ei, true);
}

/* One read of the windowed tests; @d: 0 background, 1 complement. */
static inline int win_check(struct run *r, size_t i, unsigned d, unsigned elem, unsigned op)
{
	uint64_t exp = march_bg_value(r->bg, i) ^ (d ? ~0ull : 0);
	uint64_t v = mem_rd(r->m, i, !r->m->words);

	return v == exp ? 0 : run_hit(r, i, exp, v, elem, op);
}

/*
 * GALPAT (@walk false) or walking 1/0 (@walk true) over [ws, we): for the
 * background and then its complement d, fill the window with d; then for
 * each base cell read it, complement it, read the others (GALPAT: alternating
 * with the base cell; walk: all others, then the base cell once) and restore
 * it; finally read the whole window.
 */
static int win_run(struct run *r, size_t ws, size_t we, bool walk, bool flush)
{
	const bool cb = !r->m->words;

	for (unsigned d = 0; d < 2; d++) {
		unsigned elem = 2 * d + 1;
		uint64_t inv = d ? ~0ull : 0;

		for (size_t i = ws; i < we; i++)
			mem_wr(r->m, i, march_bg_value(r->bg, i) ^ inv, cb);
		for (size_t bc = ws; bc < we; bc++) {
			/* Read before complementing: restoring the previous base
			 * cell may have coupled into this one. */
			if (win_check(r, bc, d, elem, 0))
				return MARCH_DETECTED;
			mem_wr(r->m, bc, ~(march_bg_value(r->bg, bc) ^ inv), cb);
			if (flush)
				run_flush(r, ws, we);
			for (size_t oc = ws; oc < we; oc++) {
				if (oc == bc)
					continue;
				if (!walk && win_check(r, bc, !d, elem, 0))
					return MARCH_DETECTED;
				if (win_check(r, oc, d, elem, 1))
					return MARCH_DETECTED;
			}
			if ((walk || we - ws == 1) && win_check(r, bc, !d, elem, 0))
				return MARCH_DETECTED;
			mem_wr(r->m, bc, march_bg_value(r->bg, bc) ^ inv, cb);
		}
		/* Verify: a coupling fault sensitised by restoring the last base
		 * cell is read nowhere else. */
		if (flush)
			run_flush(r, ws, we);
		for (size_t i = ws; i < we; i++)
			if (win_check(r, i, d, elem, 2))
				return MARCH_DETECTED;
	}
	return 0;
}

static int prog_check(const struct march_prog *p, const struct march_opts *o)
{
	if (p->kind == MARCH_KIND_GALPAT || p->kind == MARCH_KIND_WALK)
		return 0;
	if (p->kind != MARCH_KIND_MARCH || p->nelem == 0 || p->nelem > MARCH_MAX_ELEMS)
		return -EINVAL;
	for (unsigned i = 0; i < p->nelem; i++) {
		const struct march_elem *e = &p->elem[i];

		if (e->nops > MARCH_MAX_OPS || e->order > MARCH_DOWN)
			return -EINVAL;
		if (!e->nops && (!o || !o->delay))
			return -EINVAL;
		for (unsigned k = 0; k < e->nops; k++)
			if (e->ops[k] > MARCH_R1)
				return -EINVAL;
	}
	return 0;
}

/* The whole program with one background. */
static int prog_run(struct run *r, const struct march_prog *p, const struct march_opts *o)
{
	const bool flush = !(o && o->no_flush);
	const bool cb = !r->m->words;

	if (p->kind != MARCH_KIND_MARCH) {
		size_t w = o && o->window ? o->window : MARCH_WINDOW_DEFAULT;

		for (size_t ws = r->start; ws < r->end; ws += w) {
			size_t we = r->end - ws < w ? r->end : ws + w;
			int rc = win_run(r, ws, we, p->kind == MARCH_KIND_WALK, flush);

			if (rc)
				return rc;
		}
		return 0;
	}
	for (unsigned i = 0; i < p->nelem; i++) {
		const struct march_elem *e = &p->elem[i];
		int rc;

		if (i && flush)
			run_flush(r, r->start, r->end);
		if (!e->nops) {
			o->delay(o->delay_arg, e->delay_ms ? e->delay_ms : o->delay_default_ms);
			continue;
		}
		rc = cb ? elem_run_cb(r, e, i) : elem_run_mem(r, e, i);
		if (rc)
			return rc;
	}
	return 0;
}

int march_run(const struct march_prog *p, const struct march_mem *m, size_t start, size_t end,
	      const struct march_opts *o, struct march_fault *ret_fault)
{
	static const struct march_bg solid0 = { .pattern = 0, .kind = MARCH_BG_SOLID };
	const struct march_bg *bgs = &solid0;
	unsigned nbg = 1;
	struct run r;
	int rc;

	if (!p || !m || !ret_fault || start >= end || end > m->n)
		return -EINVAL;
	if (!m->words && (!m->ops || !m->ops->read || !m->ops->write))
		return -EINVAL;
	rc = prog_check(p, o);
	if (rc)
		return rc;
	if (p->has_bg) {
		bgs = &p->bg;
	} else if (o && o->bgs) {
		if (!o->nbg)
			return -EINVAL;
		bgs = o->bgs;
		nbg = o->nbg;
	}
	memset(&r, 0, sizeof(r));
	r.m = m;
	r.start = start;
	r.end = end;
	for (unsigned b = 0; b < nbg; b++) {
		r.bg = &bgs[b];
		rc = prog_run(&r, p, o);
		if (rc) {
			r.f.bg = b;
			r.f.reread = march_reread(m, r.f.index);
			r.f.read_error = r.f.reread == r.f.expected;
			*ret_fault = r.f;
			return MARCH_DETECTED;
		}
	}
	return 0;
}

uint64_t march_reread(const struct march_mem *m, size_t i)
{
	if (m->words) {
		cacheflush_range((const void *)&m->words[i], sizeof(uint64_t));
		return m->words[i];
	}
	if (m->ops->flush)
		m->ops->flush(m->ctx);
	return m->ops->read(m->ctx, i);
}
