/* SPDX-License-Identifier: MIT */
/*
 * rtmemctl.h - what rtmemctl.c and rtmemctl_metrics.c share: the connection
 * and a snapshot of everything the daemon reports, taken in one go.
 */
#ifndef RTMEMD_RTMEMCTL_H
#define RTMEMD_RTMEMCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

struct ctl {
	int fd;
	uint32_t seq;
	bool json;
};

/* A name from the wire, printable whatever the daemon sent (no quotes, no backslashes). */
const char *ctl_wire_name(const char name[RTMEM_NAME_MAX], char out[RTMEM_NAME_MAX]);

/*
 * ctl_merge_stripes() - sum each run of slab classes of one size (the stripes
 * of a pool with slab_stripes, docs/many-clients.md) into one class, so that
 * every view shows one row, and metrics one series, per configured size.
 * hwm becomes the sum of the stripes' marks: an upper bound of the size's.
 * Return: the longest run (1: no stripes).
 */
uint32_t ctl_merge_stripes(struct rtmem_wire_stats *s);

/* Everything one `rtmemctl metrics` or one `top` frame shows. */
struct ctl_snap {
	struct rtmem_msg_status_reply status;
	struct rtmem_msg_counters_reply counters;
	struct rtmem_msg_memtest_reply memtest;
	uint32_t npools, nclients;
	struct rtmem_msg_pool_info_reply *pools;     /* [npools] */
	struct rtmem_msg_client_info_reply *clients; /* [nclients] */
	double taken;                                /* CLOCK_REALTIME seconds */
};

/*
 * ctl_snap_take() - ask STATUS, COUNTERS, MEMTEST, every POOL_INFO and
 * CLIENT_INFO. Context: blocking, allocates. Return: 0, -errno of the
 * exchange, -ENOMEM. ctl_snap_free() accepts a zeroed snapshot.
 */
int ctl_snap_take(struct ctl *c, struct ctl_snap *ret);
void ctl_snap_free(struct ctl_snap *s);

/* ctl_metrics_print() - @s (NULL: the daemon is not reachable, rtmemd_up 0)
 * in the Prometheus text exposition format. */
void ctl_metrics_print(const struct ctl_snap *s, FILE *out);

/*
 * ctl_metrics_write() - as ctl_metrics_print(), into @path atomically: a
 * temporary file in the same directory, fsync, rename (what node_exporter's
 * textfile collector needs: it never reads half a file).
 * Return: 0, -errno of the file operations.
 */
int ctl_metrics_write(const struct ctl_snap *s, const char *path);

/* ctl_top() - redraw pools, classes, clients and rates every @interval_s,
 * @count times (0: until interrupted). Return: 0, -errno of an exchange. */
int ctl_top(struct ctl *c, double interval_s, unsigned count);

#endif /* RTMEMD_RTMEMCTL_H */
