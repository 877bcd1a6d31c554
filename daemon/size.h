/* SPDX-License-Identifier: MIT */
/*
 * size.h - the daemon's one size formatter: byte counts as the config writes
 * them, as log lines show them, and as the --check-config report lists them.
 */
#ifndef RTMEMD_SIZE_H
#define RTMEMD_SIZE_H

#include <stdint.h>

#define SIZE_FMT_MAX 32 /* bytes of a formatted size, with the NUL */

enum size_style {
	SIZE_CONFIG, /* the config's own syntax: "4K", "1M" when exact, else "4100" */
	SIZE_IEC,    /* log lines: "512 bytes", "64 MiB", "1.5 KiB" */
	SIZE_MIB,    /* the report's columns: "12.3 MiB"; UINT64_MAX is "unlimited" */
};

/*
 * size_fmt() - @v bytes in @style, written to @buf.
 * Context: any, pure. Return: @buf.
 */
const char *size_fmt(uint64_t v, enum size_style style, char buf[static SIZE_FMT_MAX]);

#endif /* RTMEMD_SIZE_H */
