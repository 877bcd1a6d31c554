/* SPDX-License-Identifier: MIT */
/*
 * size.c - format byte counts (see size.h). Owns nothing, no state.
 */
#include "size.h"

#include <inttypes.h>
#include <stdio.h>

/* "4K", "1M"... when exact, else the byte count: what the config parser reads back. */
static void fmt_config(uint64_t v, char buf[static SIZE_FMT_MAX])
{
	static const char sfx[] = "KMGT";
	int i = -1;

	while (i < 3 && v && !(v & 1023)) {
		v >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, SIZE_FMT_MAX, "%" PRIu64, v);
	else
		snprintf(buf, SIZE_FMT_MAX, "%" PRIu64 "%c", v, sfx[i]);
}

/* "512 bytes", then the largest binary unit with one decimal unless exact. */
static void fmt_iec(uint64_t v, char buf[static SIZE_FMT_MAX])
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(buf, SIZE_FMT_MAX, "%" PRIu64 " bytes", v);
		return;
	}
	while (d >= 1024.0 && u < 3) {
		d /= 1024.0;
		u++;
	}
	if (d == (double)(uint64_t)d)
		snprintf(buf, SIZE_FMT_MAX, "%" PRIu64 " %s", (uint64_t)d, unit[u]);
	else
		snprintf(buf, SIZE_FMT_MAX, "%.1f %s", d, unit[u]);
}

const char *size_fmt(uint64_t v, enum size_style style, char buf[static SIZE_FMT_MAX])
{
	switch (style) {
	case SIZE_CONFIG:
		fmt_config(v, buf);
		break;
	case SIZE_IEC:
		fmt_iec(v, buf);
		break;
	case SIZE_MIB:
		if (v == UINT64_MAX)
			snprintf(buf, SIZE_FMT_MAX, "unlimited");
		else
			snprintf(buf, SIZE_FMT_MAX, "%.1f MiB", (double)v / (1024.0 * 1024.0));
		break;
	}
	return buf;
}
