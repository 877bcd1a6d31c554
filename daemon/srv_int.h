/* SPDX-License-Identifier: MIT */
/*
 * srv_int.h - what the server's files share (srv.c, srv_conn.c, srv_req.c,
 * srv_reclaim.c): the server's, clients' and orphans' state, and the calls
 * one file makes into another. Not a public interface: srv.h is.
 * Context of every function here: the event loop's thread, unless it says
 * otherwise.
 */
#ifndef RTMEMD_SRV_INT_H
#define RTMEMD_SRV_INT_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>

#include "audit.h"
#include "loop.h"
#include "pool.h"
#include "proto.h"
#include "srv.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static_assert(sizeof(gid_t) == sizeof(uint32_t), "gids are passed to cfg as uint32_t");

struct srv_open {
	uint32_t slot; /* 0: pool not open by this client */
	uint32_t gen;
};

struct srv_pool {
	struct pool *pool;
	uint32_t nslots;
	uint32_t nopen;  /* slots in use */
	uint32_t *gen;   /* [nslots + 1]: last generation handed out per slot */
	uint8_t *used;   /* [nslots + 1] */
	uint64_t recovered; /* blocks given back by sweeps: left on no list by killed clients */
	_Atomic int *pids;  /* [nslots + 1]: pid of each slot's holder, 0 if free; read by any daemon thread */
	uint32_t damage;    /* AUDIT_* found since start (sticky: the data may still be wrong) */
};

static_assert(AUDIT_HEADER == RTMEM_DAMAGE_HEADER && AUDIT_HOLE == RTMEM_DAMAGE_HOLE &&
		      AUDIT_LIST == RTMEM_DAMAGE_LIST, "audit bits are the wire's");

struct srv_client {
	struct srv *s;
	struct srv_client *prev, *next;
	unsigned id;                 /* for logs before HELLO names it */
	int fd, pidfd;               /* pidfd -1 if the kernel has none */
	struct loop_watch *w_sock, *w_pid;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t *gids;              /* gid and uid's supplementary groups */
	size_t ngids;
	bool hello;
	bool monitor;                /* monitor socket or RTMEM_HELLO_MONITOR: reads only */
	bool via_monitor;            /* accepted on the monitor socket: counts against its limits */
	uint64_t since_ms;           /* CLOCK_MONOTONIC ms of the accept: the HELLO deadline counts from it */
	const char *doomed;          /* set by a handler: drop after it, for this reason */
	char name[RTMEM_NAME_MAX];   /* printable copy of HELLO's name */
	struct srv_open open[];      /* [npools] */
};

/* A slot held by a client of an earlier daemon (docs/lifecycle.md). */
struct srv_orphan {
	struct srv *s;
	struct srv_orphan *next;
	unsigned pool;
	uint32_t slot, gen;
	pid_t pid;
	uint64_t start_time; /* recorded; 0 = unknown */
	int pidfd;
	struct loop_watch *w;
};

struct srv {
	const struct cfg *cfg;
	const struct adopt_key *key;      /* tags slot records; NULL: all-zero key (tests) */
	struct srv_orphan *orphans;
	bool stopping;                    /* srv_free(): clients go, their blocks stay */
	struct loop *loop;
	struct srv_pool *pools;
	unsigned npools;
	struct srv_client *head, *tail;
	unsigned nclients, next_id;
	int lfd;
	struct loop_watch *w_listen;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *phase;
	uint64_t start_ms, locked;
	unsigned accept_errors;
	struct memtest *mt;               /* NULL: no tester */
	srv_memtest_status_fn *mt_status;
	unsigned nmonitors;               /* of nclients */
	int mfd;                          /* monitor socket, -1: none */
	struct loop_watch *w_monitor;
	char mpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct rtmem_msg_counters_reply counters; /* COUNTERS, header unused */
	struct loop_watch *w_tick;        /* SRV_TICK_MS: HELLO deadlines, audits */
	unsigned ticks, audit_next;       /* the periodic audit: one pool per SRV_AUDIT_TICKS */
	uint64_t hello_timeout_ms;        /* SRV_HELLO_TIMEOUT_MS; tests shorten it */
};

/* srv.c: replies and names */
uint64_t srv_mono_ms(void);
bool srv_name_ok(const char name[RTMEM_NAME_MAX]);
const char *srv_printable(const char *name, char out[RTMEM_NAME_MAX]);
__attribute__((format(printf, 4, 5)))
void srv_refuse(struct srv_client *c, uint32_t seq, int err, const char *fmt, ...);
void srv_reply(struct srv_client *c, union rtmem_msg *m, int fd);
void srv_violation(struct srv_client *c, uint32_t seq, const char *why);
const char *srv_who(const struct srv_client *c, char buf[96]);

/* srv_reclaim.c: slots, sweeps, audits, reclaim, orphans */
int srv_adopt_survivors(struct srv *s, unsigned i);
bool srv_buddy_owner_ok(void *arg, int tid);
void srv_client_drop(struct srv_client *c, const char *why);
uint64_t srv_client_reclaim(struct srv_client *c, unsigned i, uint64_t *ret_bytes);
int srv_nspid_depth(int pid);
struct srv_orphan *srv_orphan_find(struct srv_client *c, unsigned i, uint32_t slot, uint32_t gen);
void srv_orphan_free(struct srv_orphan *o);
void srv_pool_audit(struct srv *s, unsigned i);
uint32_t srv_slot_take(struct srv_pool *sp, uint32_t *ret_gen);

/* srv_req.c: requests */
void srv_on_recv(void *arg, const void *buf, ssize_t n);

#endif /* RTMEMD_SRV_INT_H */
