/* SPDX-License-Identifier: MIT */
/*
 * report.h - the report of `rtmemd --check-config`: each pool's exact
 * footprint, and the totals against the machine's limits (probe.h).
 *
 * Library-style: writes only to the FILE it is given; nothing here logs.
 */
#ifndef RTMEMD_REPORT_H
#define RTMEMD_REPORT_H

#include <stdio.h>

#include "cfg.h"
#include "probe.h"

/*
 * report_limits() - print each pool's footprint (metadata, data, total,
 * mapped size after page rounding) and the totals against @lim to @out.
 * Context: setup only; writes to @out.
 * Return: 0 if everything fits, -ENOMEM if it does not fit (memlock, MemAvailable
 * or free huge pages), -EINVAL if a pool's layout fails (cannot happen for a
 * cfg from cfg_load()), -EIO if writing @out failed.
 */
int report_limits(const struct cfg *cfg, const struct probe_limits *lim, FILE *out);

/* report_config() - probe_limits_read() then report_limits(). Context/Return: as those. */
int report_config(const struct cfg *cfg, FILE *out);

#endif /* RTMEMD_REPORT_H */
