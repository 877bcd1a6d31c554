/* SPDX-License-Identifier: MIT */
/*
 * fault.h - the one renderer of a memory fault the tester found (struct
 * memtest_fault, memtest.h): the line of the bad-block list, the log message,
 * the journal's fields, the sd_notify STATUS text, and the STATUS reply's
 * wire record (lib/proto/proto.h). Every form takes its field texts from here, so
 * a fault reads the same wherever it is shown.
 *
 * Library-style: nothing here logs or allocates. Context of every function:
 * any thread, pure.
 */
#ifndef RTMEMD_FAULT_H
#define RTMEMD_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "memtest.h"
#include "proto.h"

#define FAULT_PHYS_MAX 24 /* "0x" and 16 hex digits, with the NUL */
#define FAULT_LINE_MAX 512 /* room for any line this module writes */

/* fault_phys() - the physical address as "0x1f000", or "none". Return: @buf. */
const char *fault_phys(const struct memtest_fault *f, char buf[static FAULT_PHYS_MAX]);

/* fault_kind() - "read" (the re-read after a flush was right) or "stored". */
const char *fault_kind(const struct memtest_fault *f);

/* fault_quarantine_result() - "ok", or why quarantining the block failed. */
const char *fault_quarantine_result(const struct memtest_fault *f);

/* fault_quarantined() - is the block out of service (quarantined now or before)? */
bool fault_quarantined(const struct memtest_fault *f);

/*
 * fault_format_record() - the bad-block list's line for @f, with its newline:
 * "POOL OFFSET phys=... expected=... kind=... alg=... time=...". The
 * algorithm's spaces become '_' so that every value is one token.
 */
void fault_format_record(const struct memtest_fault *f, char *buf, size_t len);

/*
 * fault_format_message() - the one-line log message for @f: where, what was
 * read, which test, and whether the block is quarantined. No newline.
 */
void fault_format_message(const struct memtest_fault *f, char *buf, size_t len);

/* fault_format_status() - the short text of sd_notify's STATUS= line. No newline. */
void fault_format_status(const struct memtest_fault *f, char *buf, size_t len);

/*
 * fault_to_wire() - @f as the STATUS reply's record. The physical address is
 * sent only if @phys (the peer is root or the daemon's user); otherwise the
 * record says it was withheld.
 */
void fault_to_wire(const struct memtest_fault *f, bool phys, struct rtmem_memtest_fault *w);

#endif /* RTMEMD_FAULT_H */
