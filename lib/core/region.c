/* SPDX-License-Identifier: MIT */
/*
 * region.c - region layout, formatting, attaching, lookups and statistics.
 *
 * Owns: the plan (every offset of a region computed from a pool description),
 * the header, and the private handle. The same planner runs when formatting
 * and when attaching: attach rebuilds the description from the descriptors
 * found in shared memory, plans it again, and requires every stored offset to
 * equal the planned one. After that the handle's geometry is trusted and the
 * shared descriptors are never read again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fastpath.h"

struct rg_plan {
	uint64_t classes_off, buddy_off, slots_off, shares_off, data_off, data_size, total;
	uint64_t next_off[RG_MAX_CLASSES], state_off[RG_MAX_CLASSES];
	uint64_t cdata_off[RG_MAX_CLASSES], carea[RG_MAX_CLASSES];
	uint64_t link_off, bstate_off, bdata_off, nmin, arena_off;
};

static bool add_ok(uint64_t *acc, uint64_t n)
{
	return !__builtin_add_overflow(*acc, n, acc);
}

static bool align_ok(uint64_t *v, uint64_t a)
{
	if (!add_ok(v, a - 1))
		return false;
	*v &= ~(a - 1);
	return true;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint32_t default_align(uint32_t size)
{
	uint32_t a = size & -size; /* largest power of two dividing size */

	return a > RG_PAGE ? RG_PAGE : a;
}

/* S, the length of every run of equal sizes (see region.h), or 0 if the runs differ. */
static uint32_t desc_stripes(const struct rg_pool_desc *d)
{
	uint32_t s = 0, run = 0;

	for (uint32_t c = 0; c < d->nclasses; c++) {
		run = c && d->classes[c].size == d->classes[c - 1].size ? run + 1 : 1;
		if (c + 1 == d->nclasses || d->classes[c + 1].size != d->classes[c].size) {
			if (s && run != s)
				return 0;
			s = run;
		}
	}
	return s ? s : 1;
}

static int check_desc(const struct rg_pool_desc *d)
{
	uint32_t stripes;

	if (d->nclasses > RG_MAX_CLASSES || d->policy > RG_POLICY_NEXT_FIT || d->cache > RG_CACHE_MAX ||
	    d->nslots == 0 || d->nslots > 0xffffu)
		return -EINVAL;
	for (uint32_t c = 0; c < d->nclasses; c++) {
		const struct rg_slab_desc *s = &d->classes[c];
		uint32_t a = s->align ? s->align : default_align(s->size);

		if (s->size < 8 || s->size % 8 || !is_pow2(a) || a < 8 || a > RG_PAGE || s->size % a)
			return -EINVAL;
		if (c && s->size < d->classes[c - 1].size)
			return -EINVAL;
		if (s->count == 0 || s->reserve >= s->count)
			return -EINVAL;
		if (s->count > RG_MAX_BLOCKS)
			return -EOVERFLOW;
	}
	stripes = d->nclasses ? desc_stripes(d) : 1;
	if (stripes == 0 || stripes > RG_MAX_STRIPES)
		return -EINVAL;
	if (d->buddy.size) {
		const struct rg_buddy_desc *b = &d->buddy;

		if (b->min_order < RG_MIN_ORDER || b->max_order > RG_MAX_ORDER ||
		    b->min_order > b->max_order || b->max_order - b->min_order > 30 ||
		    b->size < (1ull << b->max_order) || b->reserve >= b->size)
			return -EINVAL;
		if ((b->size >> b->min_order) > RG_MAX_BLOCKS)
			return -EOVERFLOW;
		if (b->arena_order && !rg_arena_desc_ok(b))
			return -EINVAL;
	} else if (d->nclasses == 0) {
		return -EINVAL;
	}
	return 0;
}

/* Compute every offset. Return: 0, -EINVAL, -EOVERFLOW. */
static int plan(const struct rg_pool_desc *d, struct rg_plan *p)
{
	uint64_t off = sizeof(struct rg_hdr), data = 0;
	int rc = check_desc(d);

	if (rc < 0)
		return rc;
	memset(p, 0, sizeof(*p));
	p->classes_off = off;
	off += (uint64_t)d->nclasses * sizeof(struct rg_class);
	if (d->buddy.size) {
		p->buddy_off = off;
		off += (sizeof(struct rg_buddy) + RG_LINE - 1) & ~(uint64_t)(RG_LINE - 1);
	}
	p->slots_off = off;
	off += ((uint64_t)d->nslots + 1) * sizeof(struct rg_slot);
	p->shares_off = off;
	off += ((uint64_t)d->nslots + 1) * RG_SHARE_RECS * sizeof(struct rg_share);
	for (uint32_t c = 0; c < d->nclasses; c++) {
		uint64_t n = d->classes[c].count;

		p->next_off[c] = off;
		off += 4 * n;
		if (!align_ok(&off, RG_LINE))
			return -EOVERFLOW;
		p->state_off[c] = off;
		off += 8 * n;
		if (!align_ok(&off, RG_LINE))
			return -EOVERFLOW;
		p->cdata_off[c] = data;
		p->carea[c] = n * d->classes[c].size;
		if (!align_ok(&p->carea[c], RG_PAGE) || !add_ok(&data, p->carea[c]))
			return -EOVERFLOW;
	}
	if (d->buddy.size) {
		p->nmin = d->buddy.size >> d->buddy.min_order;
		p->link_off = off;
		off += sizeof(struct rg_link) * (p->nmin + RG_NSENT);
		p->bstate_off = off;
		off += 8 * p->nmin;
		if (d->buddy.arena_order) {
			if (!align_ok(&off, RG_LINE))
				return -EOVERFLOW;
			p->arena_off = off;
			off += rg_arena_meta_size(d->buddy.size >> d->buddy.arena_order, d->nslots,
						  d->buddy.arena_order - d->buddy.min_order);
		}
		p->bdata_off = data;
		uint64_t area = p->nmin << d->buddy.min_order;
		if (!align_ok(&area, RG_PAGE) || !add_ok(&data, area))
			return -EOVERFLOW;
	}
	if (!align_ok(&off, RG_PAGE))
		return -EOVERFLOW;
	p->data_off = off;
	p->data_size = data;
	p->total = off;
	if (!add_ok(&p->total, data) || p->total > SIZE_MAX)
		return -EOVERFLOW;
	for (uint32_t c = 0; c < d->nclasses; c++)
		p->cdata_off[c] += off;
	p->bdata_off += off;
	return 0;
}

int rg_region_layout(const struct rg_pool_desc *desc, struct rg_footprint *ret)
{
	struct rg_plan p;
	int rc = plan(desc, &p);

	if (rc < 0)
		return rc;
	ret->meta = p.data_off;
	ret->data = p.data_size;
	ret->total = p.total;
	return 0;
}

uint64_t rg_layout_hash(void)
{
	const uint64_t parts[] = {
		RG_VERSION, sizeof(void *), sizeof(pthread_mutex_t), sizeof(struct rg_hdr),
		sizeof(struct rg_class), sizeof(struct rg_buddy), sizeof(struct rg_link),
		offsetof(struct rg_class, size), offsetof(struct rg_buddy, min_order), offsetof(struct rg_hdr, cache),
		offsetof(struct rg_buddy, nfree), offsetof(struct rg_buddy, failed), RG_NSENT, sizeof(struct rg_slot),
		offsetof(struct rg_slot, intent), sizeof(struct rg_share), RG_SHARE_RECS,
		offsetof(struct rg_buddy, arena_off), sizeof(struct rg_arena_slot), offsetof(struct rg_arena_slot, busy), RG_ARENA_MAX,
		RG_MAX_CLASSES, RG_MAX_ORDER, 0x0102030405060708ull,
	};
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, 64 bit */

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		for (unsigned b = 0; b < 8; b++) {
			h ^= (parts[i] >> (8 * b)) & 0xff;
			h *= 0x100000001b3ull;
		}
	}
	return h;
}

static void format_class(char *base, const struct rg_slab_desc *s, const struct rg_plan *p, uint32_t c)
{
	struct rg_class *k = (struct rg_class *)(base + p->classes_off) + c;
	uint32_t *next = (uint32_t *)(base + p->next_off[c]);
	uint64_t *state = (uint64_t *)(base + p->state_off[c]);

	memset(k, 0, sizeof(*k));
	k->size = s->size;
	k->count = s->count;
	k->align = s->align ? s->align : default_align(s->size);
	k->reserve = s->reserve;
	k->data_off = p->cdata_off[c];
	k->next_off = p->next_off[c];
	k->state_off = p->state_off[c];
	k->area_size = p->carea[c];
	for (uint32_t i = 0; i < s->count; i++) {
		next[i] = i + 1 < s->count ? i + 1 : RG_NIL;
		state[i] = RG_WORD(RG_BLK_FREE, 0, 0);
	}
	atomic_init(&k->head, 0);
}

static int format_buddy(char *base, const struct rg_buddy_desc *d, const struct rg_plan *p)
{
	struct rg_buddy *b = (struct rg_buddy *)(base + p->buddy_off);
	uint64_t *state = (uint64_t *)(base + p->bstate_off);
	pthread_mutexattr_t ma;
	int e;

	memset(b, 0, sizeof(*b));
	e = pthread_mutexattr_init(&ma);
	if (e)
		return -e;
	e = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	if (!e)
		e = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	if (!e)
		e = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	if (!e)
		e = pthread_mutex_init(&b->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (e)
		return -e;
	b->min_order = d->min_order;
	b->max_order = d->max_order;
	b->nmin = p->nmin;
	b->data_off = p->bdata_off;
	b->link_off = p->link_off;
	b->state_off = p->bstate_off;
	b->reserve = d->reserve;
	b->arena_order = d->arena_order;
	b->arena_off = p->arena_off;
	/* Carve the area greedily into the largest aligned blocks; the
	 * free lists are then built by the same code that repairs them. */
	for (uint64_t i = 0; i < p->nmin;) {
		uint32_t k = d->arena_order ? d->arena_order : d->max_order; /* arena mode: whole arenas */

		while ((i & ((1ull << (k - d->min_order)) - 1)) || i + (1ull << (k - d->min_order)) > p->nmin)
			k--;
		state[i] = RG_WORD(RG_BLK_FREE, k, 0);
		for (uint64_t t = 1; t < (1ull << (k - d->min_order)); t++)
			state[i + t] = RG_WORD(RG_BLK_TAIL, 0, 0);
		i += 1ull << (k - d->min_order);
	}
	return 0;
}

static void fill_handle_buddy(struct rg_region *r, const struct rg_plan *p, const struct rg_buddy_desc *bd)
{
	r->bdy = (struct rg_buddy *)(r->base + p->buddy_off);
	r->link = (struct rg_link *)(r->base + p->link_off);
	r->bstate = (_Atomic uint64_t *)(r->base + p->bstate_off);
	r->bdata = r->base + p->bdata_off;
	r->bdata_off = p->bdata_off;
	r->nmin = p->nmin;
	r->min_order = bd->min_order;
	r->max_order = bd->max_order;
	r->bsize = r->nmin << r->min_order;
	r->bminmask = (1ull << r->min_order) - 1;
	r->bmax = 1ull << r->max_order;
	r->ntop = r->nmin & ~((1ull << (r->max_order - r->min_order)) - 1);
	r->breserve = bd->reserve;
	if (bd->arena_order)
		rg_arena_fill(r, bd, p->arena_off);
}

int rg_region_format(void *mem, size_t size, const struct rg_pool_desc *desc)
{
	char *base = mem;
	struct rg_hdr *h = mem;
	struct rg_plan p;
	int rc = plan(desc, &p);

	if (rc < 0)
		return rc;
	if ((uintptr_t)mem % RG_PAGE)
		return -EINVAL;
	if (size < p.total)
		return -ENOSPC;
	memset(h, 0, sizeof(*h));
	memset(base + p.slots_off, 0, ((uint64_t)desc->nslots + 1) * sizeof(struct rg_slot));
	memset(base + p.shares_off, 0, ((uint64_t)desc->nslots + 1) * RG_SHARE_RECS * sizeof(struct rg_share));
	for (uint32_t c = 0; c < desc->nclasses; c++)
		format_class(base, &desc->classes[c], &p, c);
	if (desc->buddy.size) {
		struct rg_region tmp = { .base = base, .nslots = desc->nslots };

		rc = format_buddy(base, &desc->buddy, &p);
		if (rc < 0)
			return rc;
		fill_handle_buddy(&tmp, &p, &desc->buddy);
		rc = tmp.arena_order ? rg_arena_format(&tmp) : rg_buddy_rebuild(&tmp);
		if (rc < 0)
			return rc;
	}
	h->version = RG_VERSION;
	h->hdr_size = sizeof(*h);
	h->layout_hash = rg_layout_hash();
	h->total_size = p.total;
	h->nclasses = desc->nclasses;
	h->policy = desc->policy;
	h->nslots = desc->nslots;
	h->cache = desc->cache;
	h->has_buddy = desc->buddy.size != 0;
	h->classes_off = p.classes_off;
	h->buddy_off = p.buddy_off;
	h->slots_off = p.slots_off;
	h->data_off = p.data_off;
	h->data_size = p.data_size;
	h->meta_size = p.data_off;
	/* The magic last: a region is valid only once everything else is. */
	__atomic_store_n(&h->magic, RG_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/* Rebuild the description from shared descriptors (bounds-checked) for re-planning. */
static int read_desc(const char *base, size_t size, const struct rg_hdr *h, struct rg_pool_desc *d)
{
	memset(d, 0, sizeof(*d));
	if (h->nclasses > RG_MAX_CLASSES || h->classes_off != sizeof(*h))
		return -EUCLEAN;
	if (h->classes_off + (uint64_t)h->nclasses * sizeof(struct rg_class) > size)
		return -EUCLEAN;
	d->nclasses = h->nclasses;
	d->policy = h->policy;
	d->nslots = h->nslots;
	d->cache = h->cache;
	for (uint32_t c = 0; c < h->nclasses; c++) {
		const struct rg_class *k = (const struct rg_class *)(base + h->classes_off) + c;

		d->classes[c] = (struct rg_slab_desc){ k->size, k->count, k->align, k->reserve };
	}
	if (h->has_buddy) {
		const struct rg_buddy *b;

		if (h->buddy_off > size || size - h->buddy_off < sizeof(*b) || h->buddy_off % RG_LINE)
			return -EUCLEAN;
		b = (const struct rg_buddy *)(base + h->buddy_off);
		if (b->min_order > RG_MAX_ORDER || b->nmin > RG_MAX_BLOCKS)
			return -EUCLEAN;
		d->buddy = (struct rg_buddy_desc){ b->nmin << b->min_order, b->min_order, b->max_order,
						      b->reserve, b->arena_order, 0 };
	}
	return 0;
}

static int validate(const char *base, size_t size, const struct rg_pool_desc *d, struct rg_plan *p)
{
	const struct rg_hdr *h = (const struct rg_hdr *)base;

	if (plan(d, p) < 0 || p->total != h->total_size || p->total > size || p->data_off != h->data_off ||
	    p->data_size != h->data_size || p->buddy_off != h->buddy_off || p->slots_off != h->slots_off)
		return -EUCLEAN;
	for (uint32_t c = 0; c < d->nclasses; c++) {
		const struct rg_class *k = (const struct rg_class *)(base + h->classes_off) + c;
		uint32_t a = d->classes[c].align ? d->classes[c].align : default_align(d->classes[c].size);

		if (k->data_off != p->cdata_off[c] || k->next_off != p->next_off[c] ||
		    k->state_off != p->state_off[c] || k->area_size != p->carea[c] || k->align != a)
			return -EUCLEAN;
	}
	if (d->buddy.size) {
		const struct rg_buddy *b = (const struct rg_buddy *)(base + h->buddy_off);

		if (b->data_off != p->bdata_off || b->link_off != p->link_off || b->state_off != p->bstate_off ||
		    b->arena_off != p->arena_off)
			return -EUCLEAN;
	}
	return 0;
}

static void fill_pagecls(struct rg_region *r, const struct rg_pool_desc *d, const struct rg_plan *p)
{
	memset(r->pagecls, RG_PAGE_NONE, p->total / RG_PAGE);
	for (uint32_t c = 0; c < d->nclasses; c++)
		memset(r->pagecls + p->cdata_off[c] / RG_PAGE, (int)c, p->carea[c] / RG_PAGE);
	if (d->buddy.size) {
		uint64_t area = ((p->nmin << d->buddy.min_order) + RG_PAGE - 1) / RG_PAGE;

		memset(r->pagecls + p->bdata_off / RG_PAGE, RG_PAGE_BUDDY, area);
	}
}

/* A handle for the region at @mem laid out by @d (plan @p), trusted: nothing is read from @mem. */
static int attach_build(void *mem, size_t size, const struct rg_pool_desc *dp, const struct rg_plan *pp,
			struct rg_region **ret)
{
	const struct rg_pool_desc d = *dp;
	const struct rg_plan p = *pp;
	struct rg_region *r;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->pagecls = malloc(p.total / RG_PAGE + 1);
	if (!r->pagecls) {
		free(r);
		return -ENOMEM;
	}
	r->base = mem;
	r->size = size;
	r->hdr = mem;
	r->slots = (struct rg_slot *)(r->base + p.slots_off);
	r->shares = (struct rg_share *)(r->base + p.shares_off);
	r->nclasses = d.nclasses;
	r->nslots = d.nslots;
	r->policy = d.policy;
	r->cache = d.cache;
	r->data_off = p.data_off;
	r->data_size = p.data_size;
	r->total = p.total;
	for (uint32_t c = 0; c < d.nclasses; c++) {
		struct rg_cls *k = &r->cls[c];

		k->ctl = (struct rg_class *)(r->base + p.classes_off) + c;
		k->next = (_Atomic uint32_t *)(r->base + p.next_off[c]);
		k->state = (_Atomic uint64_t *)(r->base + p.state_off[c]);
		k->data = r->base + p.cdata_off[c];
		k->size = d.classes[c].size;
		k->count = d.classes[c].count;
		k->reserve = d.classes[c].reserve;
		k->lim = k->reserve ? 0 : k->count;
		k->shift = (uint32_t)__builtin_ctz(k->size);
		k->inv = k->size >> k->shift;
		for (int i = 0; i < 5; i++) /* Newton: 3, 6, 12, 24, 48, 96 correct bits */
			k->inv *= 2 - (k->size >> k->shift) * k->inv;
	}
	if (d.buddy.size)
		fill_handle_buddy(r, &p, &d.buddy);
	fill_pagecls(r, &d, &p);
	for (uint32_t i = 0, c = 0; i <= RG_SIZECLS_MAX / 8; i++) {
		while (c < r->nclasses && r->cls[c].size < 8 * i)
			c++;
		r->sizecls[i] = c < r->nclasses ? (uint8_t)c : RG_SIZECLS_NONE;
	}
	r->sizecls[0] = RG_SIZECLS_NONE; /* 0 bytes: no class, and no block (rtmem_alloc() says -EINVAL) */
	r->stripes = d.nclasses ? desc_stripes(&d) : 1;
	*ret = r;
	return 0;
}

int rg_region_attach(void *mem, size_t size, struct rg_region **ret)
{
	const struct rg_hdr *h = mem;
	struct rg_pool_desc d;
	struct rg_plan p;
	int rc;

	if (size < sizeof(*h) || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != RG_MAGIC ||
	    h->version != RG_VERSION || h->hdr_size != sizeof(*h) || h->layout_hash != rg_layout_hash())
		return -EBADMSG;
	rc = read_desc(mem, size, h, &d);
	if (rc == 0)
		rc = validate(mem, size, &d, &p);
	if (rc < 0)
		return rc;
	return attach_build(mem, size, &d, &p, ret);
}

/*
 * The geometry and every limit come from @desc, the daemon's copy: a client
 * that rewrote the header or a descriptor line (a reserve of 0, a bigger
 * cache) changes nothing for the next opener (docs/trust.md).
 */
int rg_region_attach_desc(void *mem, size_t size, const struct rg_pool_desc *desc, uint64_t layout_hash,
			     struct rg_region **ret)
{
	struct rg_plan p;

	if (layout_hash != rg_layout_hash())
		return -EBADMSG;
	if (plan(desc, &p) < 0)
		return -EINVAL;
	if (p.total > size)
		return -EUCLEAN;
	return attach_build(mem, size, desc, &p, ret);
}

/* Store @v at @field if it differs; count the difference in *@n. */
#define RG_FIX(field, v, n)                                                                                        \
	do {                                                                                                       \
		if ((field) != (v)) {                                                                              \
			(field) = (v);                                                                             \
			(*(n))++;                                                                                  \
		}                                                                                                  \
	} while (0)

int rg_region_desc_repair(struct rg_region *r, const struct rg_pool_desc *desc)
{
	struct rg_hdr *h = r->hdr;
	struct rg_plan p;
	int n = 0;

	if (plan(desc, &p) < 0 || p.total > r->size)
		return -EINVAL;
	RG_FIX(h->version, RG_VERSION, &n);
	RG_FIX(h->hdr_size, (uint32_t)sizeof(*h), &n);
	RG_FIX(h->layout_hash, rg_layout_hash(), &n);
	RG_FIX(h->total_size, p.total, &n);
	RG_FIX(h->nclasses, desc->nclasses, &n);
	RG_FIX(h->policy, desc->policy, &n);
	RG_FIX(h->nslots, desc->nslots, &n);
	RG_FIX(h->cache, desc->cache, &n);
	RG_FIX(h->has_buddy, desc->buddy.size != 0, &n);
	RG_FIX(h->classes_off, p.classes_off, &n);
	RG_FIX(h->buddy_off, p.buddy_off, &n);
	RG_FIX(h->slots_off, p.slots_off, &n);
	RG_FIX(h->data_off, p.data_off, &n);
	RG_FIX(h->data_size, p.data_size, &n);
	RG_FIX(h->meta_size, p.data_off, &n);
	for (uint32_t c = 0; c < desc->nclasses; c++) {
		struct rg_class *k = (struct rg_class *)(r->base + p.classes_off) + c;
		const struct rg_slab_desc *s = &desc->classes[c];

		RG_FIX(k->size, s->size, &n);
		RG_FIX(k->count, s->count, &n);
		RG_FIX(k->align, s->align ? s->align : default_align(s->size), &n);
		RG_FIX(k->reserve, s->reserve, &n);
		RG_FIX(k->data_off, p.cdata_off[c], &n);
		RG_FIX(k->next_off, p.next_off[c], &n);
		RG_FIX(k->state_off, p.state_off[c], &n);
		RG_FIX(k->area_size, p.carea[c], &n);
	}
	if (desc->buddy.size) {
		struct rg_buddy *b = (struct rg_buddy *)(r->base + p.buddy_off);

		RG_FIX(b->min_order, desc->buddy.min_order, &n);
		RG_FIX(b->max_order, desc->buddy.max_order, &n);
		RG_FIX(b->nmin, p.nmin, &n);
		RG_FIX(b->data_off, p.bdata_off, &n);
		RG_FIX(b->link_off, p.link_off, &n);
		RG_FIX(b->state_off, p.bstate_off, &n);
		RG_FIX(b->reserve, desc->buddy.reserve, &n);
		RG_FIX(b->arena_order, desc->buddy.arena_order, &n);
		RG_FIX(b->arena_off, p.arena_off, &n);
	}
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != RG_MAGIC) { /* last, as format does */
		__atomic_store_n(&h->magic, RG_MAGIC, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

uint64_t rg_region_layout_hash(void)
{
	return rg_layout_hash();
}

void rg_region_detach(struct rg_region *r)
{
	if (!r)
		return;
	rg_arena_forget(r);
	free(r->pagecls);
	free(r);
}

void *rg_region_base(const struct rg_region *r)
{
	return r->base;
}

size_t rg_region_size(const struct rg_region *r)
{
	return r->size;
}

uint32_t rg_region_nclasses(const struct rg_region *r)
{
	return r->nclasses;
}

int rg_region_slot_set(struct rg_region *r, uint32_t slot, const struct rg_slot_record *rec)
{
	struct rg_slot *s;

	if (slot == 0 || slot > r->nslots)
		return -EINVAL;
	s = &r->slots[slot];
	atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
	atomic_store_explicit(&s->pid, rec->pid, memory_order_relaxed);
	atomic_store_explicit(&s->start_time, rec->start_time, memory_order_relaxed);
	atomic_store_explicit(&s->flags, rec->flags, memory_order_relaxed);
	atomic_store_explicit(&s->owner, rec->owner, memory_order_release);
	/* a full fence before the caller reads block words and share entries:
	 * a give or share to this slot either sees the new record or has its
	 * write seen (handoff.c, receiver_here()) */
	atomic_thread_fence(memory_order_seq_cst);
	return 0;
}

int rg_region_slot_get(const struct rg_region *r, uint32_t slot, struct rg_slot_record *ret)
{
	struct rg_slot *s;

	if (slot == 0 || slot > r->nslots)
		return -EINVAL;
	s = &r->slots[slot];
	ret->owner = atomic_load_explicit(&s->owner, memory_order_acquire);
	ret->pid = atomic_load_explicit(&s->pid, memory_order_relaxed);
	ret->start_time = atomic_load_explicit(&s->start_time, memory_order_relaxed);
	ret->flags = atomic_load_explicit(&s->flags, memory_order_relaxed);
	return 0;
}

/* Slot 0 is the daemon's: its flags word is the state, its pid word the pid. */
void rg_region_daemon_set(struct rg_region *r, uint32_t state, uint32_t pid)
{
	atomic_store_explicit(&r->slots[0].pid, pid, memory_order_relaxed);
	atomic_store_explicit(&r->slots[0].flags, state, memory_order_release);
}

uint32_t rg_region_daemon_state(const struct rg_region *r)
{
	uint64_t v = atomic_load_explicit(&r->slots[0].flags, memory_order_acquire);

	return v == RG_DAEMON_SERVING || v == RG_DAEMON_STOPPED ? (uint32_t)v : 0;
}

int rg_region_desc(const struct rg_region *r, struct rg_pool_desc *ret)
{
	return read_desc(r->base, r->total, (const struct rg_hdr *)r->base, ret);
}

uint32_t rg_region_nslots(const struct rg_region *r)
{
	return r->nslots;
}

enum rg_class_policy rg_region_policy(const struct rg_region *r)
{
	return (enum rg_class_policy)r->policy;
}

uint32_t rg_region_cache(const struct rg_region *r)
{
	return r->cache;
}

uint32_t rg_slab_class_size(const struct rg_region *r, uint32_t cls)
{
	return cls < r->nclasses ? r->cls[cls].size : 0;
}

int rg_locate(const struct rg_region *r, uint64_t off, uint32_t *ret_cls, uint64_t *ret_idx)
{
	uint32_t c;

	if (off >= r->total)
		return -EFAULT;
	c = r->pagecls[off / RG_PAGE];
	if (c < r->nclasses) {
		const struct rg_cls *k = &r->cls[c];
		uint64_t idx = rg_block_index(k, off - RG_CLS_DATA_OFF(r, k));

		if (idx >= k->count)
			return -EFAULT;
		*ret_cls = c;
		*ret_idx = idx;
		return 0;
	}
	if (c == RG_PAGE_BUDDY) {
		uint64_t rel = off - r->bdata_off;

		if (rel & ((1ull << r->min_order) - 1) || (rel >> r->min_order) >= r->nmin)
			return -EFAULT;
		*ret_idx = rel >> r->min_order;
		return 1;
	}
	return -EFAULT;
}

size_t rg_region_block_size(const struct rg_region *r, const void *p)
{
	uint64_t idx, w;
	uint32_t c;
	int kind = rg_locate(r, (uint64_t)((const char *)p - r->base), &c, &idx);

	if (kind == 0)
		return RG_ST(atomic_load_explicit(&r->cls[c].state[idx], memory_order_relaxed)) ==
				       RG_BLK_ALLOC ? r->cls[c].size : 0;
	if (kind == 1) {
		w = atomic_load_explicit(&r->bstate[idx], memory_order_relaxed);
		if (RG_ST(w) == RG_BLK_ALLOC && RG_ORD(w) >= r->min_order && RG_ORD(w) <= r->max_order)
			return (size_t)1 << RG_ORD(w);
	}
	return 0;
}

int rg_region_free(struct rg_region *r, void *p, uint64_t owner, size_t *ret_size)
{
	uint64_t off = (uint64_t)((char *)p - r->base);
	uint32_t c = off < r->total ? r->pagecls[off / RG_PAGE] : RG_PAGE_NONE;
	size_t size;
	int rc;

	if (c == RG_PAGE_BUDDY) {
		size = rg_region_block_size(r, p); /* the caller's own block: stable */
		rc = rg_buddy_free(r, p, owner);
	} else {
		size = r->cls[c].size; /* a sentinel's 0 if not slab; then the free fails */
		rc = rg_slab_free(r, p, owner);
	}
	if (rc == 0 && ret_size)
		*ret_size = size;
	return rc;
}

void rg_region_stats(const struct rg_region *r, struct rg_region_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->nclasses = r->nclasses;
	for (uint32_t c = 0; c < r->nclasses; c++) {
		const struct rg_cls *k = &r->cls[c];
		struct rg_class_stats *o = &s->cls[c];

		o->size = k->size;
		o->count = k->count;
		o->in_use = rg_in_use(k->ctl);
		o->hwm = atomic_load_explicit(&k->ctl->hwm, memory_order_relaxed);
		o->failed = atomic_load_explicit(&k->ctl->failed, memory_order_relaxed);
		o->bad = atomic_load_explicit(&k->ctl->bad, memory_order_relaxed);
		o->checkout = atomic_load_explicit(&k->ctl->checkout, memory_order_relaxed);
		uint64_t used = o->in_use + o->bad + o->checkout;

		if (o->in_use > k->count) /* a racy read of pops and pushes */
			o->in_use = k->count;
		o->free = used < k->count ? k->count - used : 0;
	}
	if (r->bdy)
		rg_buddy_stats(r, s);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int rg_populate_write(void *mem, size_t len, size_t page)
{
	char *a = mem;

	/* absent pages: one write fault each in the kernel, no SIGBUS */
	if (madvise(a, len, MADV_POPULATE_WRITE) < 0 && errno != EINVAL) /* EINVAL: before 5.14 */
		return -errno;
	/* a page already mapped clean (MAP_POPULATE, mlock, or the madvise
	 * above, whose GUP finds a software-writable PTE and leaves it clean)
	 * gets its one write fault here, in setup */
	for (size_t i = 0; i < len; i += page)
		__atomic_fetch_add(a + i, 0, __ATOMIC_RELAXED);
	return 0;
}
