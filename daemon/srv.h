/* SPDX-License-Identifier: MIT */
/*
 * srv.h - rtmemd's socket server: the listening socket, one struct per
 * connected client, the protocol of lib/proto/proto.h, pool ACLs, owner slots and
 * reclaim of dead clients' blocks.
 *
 * Who may ask what: any peer that can connect (the socket's mode and group
 * decide that) may say HELLO and then ask STATUS, POOL_INFO and CLIENT_INFO
 * (names, pids, uids and figures; nothing secret). HELLO_REPLY lists only
 * the pools the peer may open, and OPEN checks the pool's users/groups
 * against the peer's SO_PEERCRED uid and gid and the uid's supplementary
 * groups (getgrouplist). uid 0 may open every pool.
 *
 * Owner slots: each pool has slots 1..nslots (max_clients). An OPEN takes
 * the lowest free slot and a generation one above the slot's last one, so an
 * owner word (rg_owner(slot, gen)) of a client that is gone never matches
 * a later client's. A slot is freed by CLOSE or when the client goes, after
 * its blocks were reclaimed.
 *
 * Liveness: a client goes when its socket hangs up or its pidfd
 * (SO_PEERPIDFD, else pidfd_open of the SO_PEERCRED pid) becomes readable.
 *
 * Restarts (docs/lifecycle.md): each granted slot is recorded in the region
 * (adopt.h), and the record is cleared when the slot is given back. When the
 * daemon stops (srv_free()), clients are disconnected but keep their slots,
 * records and blocks. A re-adopted pool's survivors (pool_survey()) become
 * orphans: slots held with a pidfd watched; an orphan that exits is
 * reclaimed, one that reconnects takes its slot back with RESUME (same pid
 * and start time as recorded), and generations continue above the highest
 * the region held.
 *
 * Errors: a refusal (no such pool, access denied, pool full...) is one
 * RTMEM_MSG_ERROR and the connection stays. A protocol violation (anything
 * rtmem_msg_check() rejects, an oversized datagram, a reply type sent to
 * the daemon, anything before HELLO, a second HELLO, a name not
 * NUL-terminated in its array) is one RTMEM_MSG_ERROR with err EPROTO and
 * the reason, then the client is disconnected and reclaimed.
 *
 * MEMTEST reports the memory tester (srv_set_memtest()); physical addresses
 * of faults go only to uid 0 and the daemon's own uid (they help an attacker
 * aim Rowhammer), other peers get the flag RTMEM_MEMTEST_PHYS_WITHHELD.
 *
 * Connections (docs/trust.md): a peer must say HELLO within
 * SRV_HELLO_TIMEOUT_MS or is dropped. Each socket has its own limits
 * (SRV_MAX_CLIENTS, SRV_MAX_MONITORS, and max_connections_per_uid per uid);
 * at a limit the oldest connection that has not said HELLO (of the same uid
 * first) is dropped to make room, and only if there is none is the new one
 * refused with EUSERS. So idle peers never lock out a client or rtmemctl.
 *
 * Monitors: a peer of the monitor socket (srv_listen_monitor()), or one whose
 * HELLO carries RTMEM_HELLO_MONITOR (rtmemctl), may ask everything but OPEN
 * (EACCES); STATUS and CLIENT_INFO do not count it as a client. The monitor
 * socket's own group (monitor_group) is the read-only role: status and
 * metrics, never a pool.
 *
 * Everything runs on the event loop's thread; srv logs each event (one line,
 * with client and pool) through notify_log(): pools opened, closed and
 * reclaimed at info, connections, HELLOs and monitors at debug.
 */
#ifndef RTMEMD_SRV_H
#define RTMEMD_SRV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "loop.h"
#include "pool.h"

#define SRV_MAX_CLIENTS CFG_MAX_CONNECTIONS /* on the client socket at once; more are refused (EUSERS) */
#define SRV_MAX_MONITORS 64u       /* on the monitor socket at once, apart from the clients' */
#define SRV_HELLO_TIMEOUT_MS 3000u /* a peer that has not said HELLO by then is dropped */
#define SRV_TICK_MS 250u           /* period of the server's timer (HELLO deadlines, audits) */
#define SRV_AUDIT_TICKS 2u         /* one pool audited every this many ticks (audit.h) */
#define SRV_ERR_MAX 256

struct srv;
struct memtest;
struct memtest_status;

/* How srv reads the tester's progress: memtest_status() (daemon/memtest.h). */
typedef void srv_memtest_status_fn(struct memtest *mt, struct memtest_status *ret);

/*
 * srv_new() - a server for @npools formatted or re-adopted @pools (of @cfg)
 * on @loop, taking over the survivors of re-adopted ones (their pidfds).
 * All three must outlive it.
 * Context: setup; allocates. Return: 0 and *ret, -ENOMEM.
 */
int srv_new(const struct cfg *cfg, struct pool *pools, unsigned npools, struct loop *loop, struct srv **ret);

/*
 * srv_listen() - create the SOCK_SEQPACKET socket at @path with mode @mode
 * and group @group ((gid_t)-1: leave it), and serve it. A stale socket file
 * (nobody accepts on it) is removed; a live one means another daemon runs.
 * The parent directory is created (0755) if it is missing.
 * Context: setup. Return: 0; -ENAMETOOLONG, -EADDRINUSE (another daemon),
 * -EEXIST (@path is not a socket), or -errno of mkdir/socket/bind/chmod/
 * chown/listen; @err says which, with the path.
 */
int srv_listen(struct srv *s, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX]);

/*
 * srv_listen_monitor() - as srv_listen(), for the read-only monitor socket.
 * Context: setup. Return: as srv_listen().
 */
int srv_listen_monitor(struct srv *s, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX]);

/*
 * srv_adopt() - serve an already connected socket @fd (taken over: closed by
 * srv on error too). What accept() does; tests use it with a socketpair.
 * Context: loop thread. Return: 0, -EUSERS (too many clients), -ENOMEM,
 * -errno of getsockopt(SO_PEERCRED) or of arming the loop.
 */
int srv_adopt(struct srv *s, int fd);

/* srv_adopt_monitor() - as srv_adopt(), for a connection of the monitor socket. */
int srv_adopt_monitor(struct srv *s, int fd);

/*
 * srv_set_memtest() - answer MEMTEST with @status(@mt). Without it (or @mt
 * NULL) MEMTEST says the tester is not running. @mt must outlive the server.
 * srv does not link the tester: the daemon passes memtest_status.
 * Context: setup.
 */
void srv_set_memtest(struct srv *s, struct memtest *mt, srv_memtest_status_fn *status);

/*
 * srv_set_key() - the key that tags slot records (adopt.h); @key must
 * outlive the server. Without it records are tagged with a zero key.
 * Context: setup.
 */
struct adopt_key;
void srv_set_key(struct srv *s, const struct adopt_key *key);

/*
 * srv_set_hello_timeout() - drop peers that say no HELLO within @ms (default
 * SRV_HELLO_TIMEOUT_MS), checked every SRV_TICK_MS. Context: loop thread.
 */
void srv_set_hello_timeout(struct srv *s, uint64_t ms);

/* srv_set_phase() - the phase STATUS reports: "serving", "stopping". @phase is not copied. */
void srv_set_phase(struct srv *s, const char *phase);

/* srv_nclients() - connected clients. Context: loop thread. */
unsigned srv_nclients(const struct srv *s);

/*
 * srv_free() - disconnect every client, leaving its slot, slot record and
 * blocks in the pools (stopping never reclaims a live client's blocks), stop
 * listening and unlink the socket file. Accepts NULL.
 * Context: loop thread, shutdown.
 */
void srv_free(struct srv *s);

#endif /* RTMEMD_SRV_H */
