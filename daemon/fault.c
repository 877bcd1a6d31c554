/* SPDX-License-Identifier: MIT */
/*
 * fault.c - render a memory fault (see fault.h). Owns nothing, no state.
 */
#include "fault.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static_assert(MEMTEST_NAME_MAX == RTMEM_NAME_MAX, "names are copied as they are");

const char *fault_phys(const struct memtest_fault *f, char buf[static FAULT_PHYS_MAX])
{
	if (f->phys_valid)
		snprintf(buf, FAULT_PHYS_MAX, "%#" PRIx64, f->phys);
	else
		snprintf(buf, FAULT_PHYS_MAX, "none");
	return buf;
}

const char *fault_kind(const struct memtest_fault *f)
{
	return f->read_error ? "read" : "stored";
}

const char *fault_quarantine_result(const struct memtest_fault *f)
{
	return f->quarantine ? strerror(-f->quarantine) : "ok";
}

bool fault_quarantined(const struct memtest_fault *f)
{
	return f->quarantine == 0 || f->quarantine == -EALREADY;
}

void fault_format_record(const struct memtest_fault *f, char *buf, size_t len)
{
	char alg[MEMTEST_NAME_MAX], phys[FAULT_PHYS_MAX];

	for (size_t i = 0; i < sizeof(alg); i++)
		alg[i] = (char)(f->algorithm[i] == ' ' ? '_' : f->algorithm[i]);
	snprintf(buf, len,
		 "%s %#" PRIx64 " phys=%s expected=0x%016" PRIx64 " actual=0x%016" PRIx64 " reread=0x%016" PRIx64
		 " xor=0x%016" PRIx64 " kind=%s alg=%s elem=%u op=%u bg=0x%016" PRIx64 " time=%" PRId64 "\n",
		 f->pool, f->offset, fault_phys(f, phys), f->expected, f->actual, f->reread, f->xor_,
		 fault_kind(f), alg, f->element, f->op, f->background, f->time);
}

/* "physical address 0x...", or that there is none. */
static const char *phys_words(const struct memtest_fault *f, char buf[static 48])
{
	if (f->phys_valid)
		snprintf(buf, 48, "physical address %#" PRIx64, f->phys);
	else
		snprintf(buf, 48, "physical address unavailable");
	return buf;
}

void fault_format_message(const struct memtest_fault *f, char *buf, size_t len)
{
	char phys[48];

	snprintf(buf, len,
		 "memory fault in pool \"%s\" at offset %#" PRIx64 " (%s): expected 0x%016" PRIx64 ", read 0x%016" PRIx64
		 " (xor %#" PRIx64 "), %s; %s element %u op %u, background %#" PRIx64 "; %s%s",
		 f->pool, f->offset, phys_words(f, phys), f->expected, f->actual, f->xor_,
		 f->read_error ? "read error (re-read correct)" : "stored fault (re-read wrong)", f->algorithm,
		 f->element, f->op, f->background, fault_quarantined(f) ? "" : "QUARANTINE FAILED: ",
		 f->quarantine == 0 ? "block quarantined" :
		 f->quarantine == -EALREADY ? "block already bad" : strerror(-f->quarantine));
}

void fault_format_status(const struct memtest_fault *f, char *buf, size_t len)
{
	char phys[FAULT_PHYS_MAX];

	snprintf(buf, len, "memory fault in pool \"%s\" at offset %#" PRIx64 " (%s); %s", f->pool, f->offset,
		 f->phys_valid ? fault_phys(f, phys) : "physical address unavailable",
		 fault_quarantined(f) ? "block quarantined" : "QUARANTINE FAILED");
}

void fault_to_wire(const struct memtest_fault *f, bool phys, struct rtmem_memtest_fault *w)
{
	memcpy(w->pool, f->pool, sizeof(w->pool));
	memcpy(w->algorithm, f->algorithm, sizeof(w->algorithm));
	w->pool[RTMEM_NAME_MAX - 1] = w->algorithm[RTMEM_NAME_MAX - 1] = '\0';
	w->offset = f->offset;
	if (f->phys_valid && phys) {
		w->phys = f->phys;
		w->flags |= RTMEM_MEMTEST_PHYS;
	} else if (f->phys_valid) {
		w->flags |= RTMEM_MEMTEST_PHYS_WITHHELD;
	}
	if (f->read_error)
		w->flags |= RTMEM_MEMTEST_READ_ERROR;
	w->expected = f->expected;
	w->actual = f->actual;
	w->reread = f->reread;
	w->background = f->background;
	w->time = f->time;
	w->element = f->element;
	w->op = f->op;
	w->quarantine = f->quarantine;
}
