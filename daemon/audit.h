/* SPDX-License-Identifier: MIT */
/*
 * audit.h - rtmemd's audit of a pool's region against the daemon's own
 * copy of it (docs/trust.md): what a client of the pool can damage, found
 * and, where it can be, repaired.
 *
 * One step checks one pool: the header and descriptor lines against the
 * pool's description (rewritten where they differ), and the memfd's
 * allocated extents (SEEK_DATA/SEEK_HOLE): a range punched out with
 * FALLOC_FL_PUNCH_HOLE, which the seals do not stop, is allocated again,
 * re-faulted and re-locked. Its data (zeroes now) is not restored: the pool
 * is marked damaged. Lists are checked by rg_region_sweep() (srv.c).
 */
#ifndef RTMEMD_AUDIT_H
#define RTMEMD_AUDIT_H

#include <stdint.h>

#include "pool.h"

/* What an audit found (bits; the same values as RTMEM_DAMAGE_* of lib/proto/proto.h). */
#define AUDIT_HEADER 0x1u /* header or descriptor lines differed from the daemon's copy: rewritten */
#define AUDIT_HOLE 0x2u   /* a hole punched in the memfd: memory allocated, faulted and locked again */
#define AUDIT_LIST 0x4u   /* a corrupt slab free list (index out of range or a cycle) */

struct audit_found {
	uint32_t found;      /* AUDIT_* */
	int header_fields;   /* fields rewritten */
	uint64_t hole_bytes; /* bytes that were holes */
	uint64_t hole_first; /* offset of the first hole */
	int refault_err;     /* 0, or -errno of re-allocating / re-locking a hole */
};

/*
 * audit_pool() - one audit step of @p (formatted or adopted, mapped).
 * Context: daemon loop thread, not RT; O(classes + extents of the memfd).
 * Return: 0 (found in *ret, zeroed first).
 */
int audit_pool(struct pool *p, struct audit_found *ret);

/*
 * audit_report() - one journal entry for what @f found in pool @name, with
 * fields RTMEMD_POOL, RTMEMD_DAMAGE (words), RTMEMD_HOLE_BYTES,
 * RTMEMD_HEADER_FIELDS when stderr is the journal; one log line otherwise.
 * @list_err: the sweep's -EUCLEAN if AUDIT_LIST.
 * Context: daemon.
 */
void audit_report(const char *name, const struct audit_found *f);

/* audit_words() - "header rewritten, hole re-faulted, free list corrupt" for @bits into @buf. */
const char *audit_words(uint32_t bits, char *buf, unsigned len);

#endif /* RTMEMD_AUDIT_H */
