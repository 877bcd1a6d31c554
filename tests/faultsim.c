/* SPDX-License-Identifier: MIT */
/*
 * faultsim.c - fault simulator of a small word-oriented memory; the fault
 * models and their semantics are described in faultsim.h.
 *
 * Invariant: after every write, every CFst holds (the victim bits equal the
 * forced value whenever the aggressor bit is in the coupling state).
 */
#include "faultsim.h"

#include <errno.h>
#include <string.h>

const char *const faultsim_class_name[FSC_COUNT] = {
	[FSC_SAF] = "SAF",
	[FSC_TF] = "TF",
	[FSC_CFIN] = "CFin",
	[FSC_CFID] = "CFid",
	[FSC_CFST] = "CFst",
	[FSC_AF] = "AF",
	[FSC_DRF] = "DRF",
	[FSC_CFST_WORD] = "CFst-w",
	[FSC_TF_CFID] = "TF+CFid",
	[FSC_CFID_CFID] = "CFid+CFid",
};

int faultsim_init(struct faultsim *s, size_t n)
{
	if (!s || n == 0 || n > FAULTSIM_MAX_WORDS)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->n = n;
	return 0;
}

static uint64_t force(uint64_t w, uint64_t mask, unsigned v)
{
	return v ? w | mask : w & ~mask;
}

static void enforce_cfst(struct faultsim *s)
{
	for (unsigned k = 0; k < s->nf; k++) {
		const struct faultsim_fault *f = &s->f[k];

		if (f->type == FS_CFST && ((s->cell[f->aggr] >> f->abit) & 1) == f->t)
			s->cell[f->cell] = force(s->cell[f->cell], f->mask, f->v);
	}
}

int faultsim_add(struct faultsim *s, const struct faultsim_fault *f)
{
	if (!s || !f || f->cell >= s->n || f->type < FS_SAF || f->type > FS_DRF)
		return -EINVAL;
	if ((f->type >= FS_CFIN && f->type <= FS_AF) && f->aggr >= s->n)
		return -EINVAL;
	if (f->type == FS_AF && (f->t < 1 || f->t > 4 || f->aggr == f->cell))
		return -EINVAL;
	if (s->nf == FAULTSIM_MAX_FAULTS)
		return -ENOSPC;
	s->f[s->nf++] = *f;
	enforce_cfst(s);
	return 0;
}

/* The cells address @a reaches; returns how many (0..2). */
static unsigned decode(const struct faultsim *s, size_t a, size_t out[2], const struct faultsim_fault **af)
{
	*af = NULL;
	out[0] = a;
	for (unsigned k = 0; k < s->nf; k++) {
		const struct faultsim_fault *f = &s->f[k];
		size_t x = f->cell, y = f->aggr;

		if (f->type != FS_AF || (a != x && a != y))
			continue;
		*af = f;
		switch (f->t) {
		case 1:
			return a == x ? 0 : 1;
		case 2:
			out[0] = y;
			return 1;
		case 3:
			if (a == y)
				return 0;
			out[1] = y;
			return 2;
		default: /* 4 */
			if (a == y)
				return 1;
			out[1] = y;
			return 2;
		}
	}
	return 1;
}

static void decay(struct faultsim *s, size_t c)
{
	for (unsigned k = 0; k < s->nf; k++) {
		const struct faultsim_fault *f = &s->f[k];
		uint64_t holding;

		if (f->type != FS_DRF || f->cell != c || s->now_ms - s->written_at[c] < f->retention_ms)
			continue;
		holding = (f->v ? s->cell[c] : ~s->cell[c]) & f->mask;
		s->cell[c] ^= holding;
	}
}

uint64_t faultsim_read(void *ctx, size_t addr)
{
	struct faultsim *s = ctx;
	const struct faultsim_fault *af;
	size_t c[2] = { 0, 0 }; /* decode() fills c[1] only when it returns 2 */
	unsigned nc = decode(s, addr, c, &af);
	uint64_t v;

	s->reads++;
	if (nc == 0)
		return af && af->v ? ~0ull : 0;
	decay(s, c[0]);
	v = s->cell[c[0]];
	if (nc == 2) {
		decay(s, c[1]);
		v = af->v ? v | s->cell[c[1]] : v & s->cell[c[1]];
	}
	return v;
}

static void write_cell(struct faultsim *s, size_t c, uint64_t v)
{
	uint64_t old = s->cell[c], nw = v;

	for (unsigned k = 0; k < s->nf; k++) {
		const struct faultsim_fault *f = &s->f[k];

		if (f->cell != c)
			continue;
		if (f->type == FS_SAF)
			nw = force(nw, f->mask, f->v);
		else if (f->type == FS_TF && f->v) /* cannot rise: 0 bits stay 0 */
			nw &= ~(f->mask & ~old);
		else if (f->type == FS_TF) /* cannot fall: 1 bits stay 1 */
			nw |= f->mask & old;
	}
	s->cell[c] = nw;
	s->written_at[c] = s->now_ms;
	for (unsigned k = 0; k < s->nf; k++) {
		const struct faultsim_fault *f = &s->f[k];
		unsigned ob = (unsigned)(old >> f->abit) & 1, nb = (unsigned)(nw >> f->abit) & 1;

		if (f->aggr != c || (f->type != FS_CFIN && f->type != FS_CFID))
			continue;
		if (ob == nb || nb != f->t)
			continue;
		if (f->type == FS_CFIN)
			s->cell[f->cell] ^= f->mask;
		else
			s->cell[f->cell] = force(s->cell[f->cell], f->mask, f->v);
	}
}

void faultsim_write(void *ctx, size_t addr, uint64_t v)
{
	struct faultsim *s = ctx;
	const struct faultsim_fault *af;
	size_t c[2];
	unsigned nc = decode(s, addr, c, &af);

	s->writes++;
	for (unsigned i = 0; i < nc; i++)
		write_cell(s, c[i], v);
	enforce_cfst(s);
}

void faultsim_delay(void *arg, uint32_t ms)
{
	struct faultsim *s = arg;

	s->now_ms += ms;
}

static const struct march_mem_ops faultsim_ops = {
	.read = faultsim_read,
	.write = faultsim_write,
	.flush = NULL,
};

void faultsim_mem(struct faultsim *s, struct march_mem *ret_mem)
{
	*ret_mem = (struct march_mem){ .words = NULL, .n = s->n, .ops = &faultsim_ops, .ctx = s };
}

/* ------------------------------------------------------------ placements */

/* Bit positions differ between cells, so inter-word faults are not all in bit 0. */
static unsigned vbit(size_t v)
{
	return (unsigned)((v * 5 + 1) & 63);
}

static unsigned abit_of(size_t a)
{
	return (unsigned)((a * 11 + 3) & 63);
}

/* Bits used for intra-word coupling: both ends, and neighbours across every
 * power-of-two boundary of the standard backgrounds. */
static const uint8_t word_bits[] = { 0, 1, 2, 4, 7, 8, 15, 16, 31, 32, 48, 63 };

struct emit {
	struct faultsim_case *out;
	size_t max, count;
};

static void put(struct emit *e, const struct faultsim_fault *f1, const struct faultsim_fault *f2)
{
	if (e->out && e->count < e->max) {
		struct faultsim_case *c = &e->out[e->count];

		memset(c, 0, sizeof(*c));
		c->f[0] = *f1;
		c->nf = 1;
		if (f2) {
			c->f[1] = *f2;
			c->nf = 2;
		}
	}
	e->count++;
}

static struct faultsim_fault cf(uint8_t type, size_t a, size_t v, unsigned t, unsigned val)
{
	return (struct faultsim_fault){ .type = type, .t = (uint8_t)t, .v = (uint8_t)val,
					.abit = (uint8_t)abit_of(a), .cell = v, .aggr = a,
					.mask = 1ull << vbit(v) };
}

static void pairs(struct emit *e, size_t n, uint8_t type, unsigned nt, unsigned nv)
{
	for (size_t a = 0; a < n; a++)
		for (size_t v = 0; v < n; v++)
			for (unsigned t = 0; t < nt && a != v; t++)
				for (unsigned val = 0; val < nv; val++) {
					struct faultsim_fault f = cf(type, a, v, t, val);

					put(e, &f, NULL);
				}
}

static void linked_cfid(struct emit *e, size_t n)
{
	for (size_t v = 0; v < n; v++)
		for (size_t a1 = 0; a1 < n; a1++)
			for (size_t a2 = a1 + 1; a2 < n; a2++) {
				if (a1 == v || a2 == v)
					continue;
				for (unsigned k = 0; k < 8; k++) {
					/* k: t1 (bit 0), t2 (bit 1), f1 (bit 2); f2 = !f1 */
					unsigned f1 = (k >> 2) & 1;
					struct faultsim_fault x = cf(FS_CFID, a1, v, k & 1, f1);
					struct faultsim_fault y = cf(FS_CFID, a2, v, (k >> 1) & 1, !f1);

					put(e, &x, &y);
				}
			}
}

size_t faultsim_cases(enum faultsim_class c, size_t n, uint64_t retention_ms,
		      struct faultsim_case *out, size_t max)
{
	struct emit e = { .out = out, .max = max, .count = 0 };
	struct faultsim_fault f;

	switch (c) {
	case FSC_SAF:
	case FSC_TF:
	case FSC_DRF:
		for (size_t v = 0; v < n; v++)
			for (unsigned val = 0; val < 2; val++)
				for (unsigned whole = 0; whole < (c == FSC_SAF ? 2u : 1u); whole++) {
					f = cf(c == FSC_SAF ? FS_SAF : c == FSC_TF ? FS_TF : FS_DRF, v, v, 0, val);
					if (whole)
						f.mask = ~0ull;
					f.retention_ms = retention_ms;
					put(&e, &f, NULL);
				}
		break;
	case FSC_CFIN:
		pairs(&e, n, FS_CFIN, 2, 1);
		break;
	case FSC_CFID:
		pairs(&e, n, FS_CFID, 2, 2);
		break;
	case FSC_CFST:
		pairs(&e, n, FS_CFST, 2, 2);
		break;
	case FSC_AF:
		for (size_t x = 0; x < n; x++)
			for (size_t y = 0; y < n; y++)
				for (unsigned t = 1; t <= 4 && x != y; t++)
					for (unsigned val = 0; val < 2; val++) {
						f = (struct faultsim_fault){ .type = FS_AF, .t = (uint8_t)t,
									     .v = (uint8_t)val, .cell = x, .aggr = y };
						put(&e, &f, NULL);
					}
		break;
	case FSC_CFST_WORD: {
		size_t w = n / 2;

		for (unsigned i = 0; i < sizeof(word_bits); i++)
			for (unsigned j = 0; j < sizeof(word_bits); j++)
				for (unsigned k = 0; k < 4 && i != j; k++) {
					f = (struct faultsim_fault){ .type = FS_CFST, .t = (uint8_t)(k & 1),
								     .v = (uint8_t)(k >> 1), .abit = word_bits[i],
								     .cell = w, .aggr = w,
								     .mask = 1ull << word_bits[j] };
					put(&e, &f, NULL);
				}
		break;
	}
	case FSC_TF_CFID:
		for (size_t a = 0; a < n; a++)
			for (size_t v = 0; v < n; v++)
				for (unsigned k = 0; k < 8 && a != v; k++) {
					struct faultsim_fault tf = cf(FS_TF, v, v, 0, k & 1);
					struct faultsim_fault id = cf(FS_CFID, a, v, (k >> 1) & 1, k >> 2);

					put(&e, &tf, &id);
				}
		break;
	case FSC_CFID_CFID:
		linked_cfid(&e, n);
		break;
	default:
		break;
	}
	return e.count;
}
