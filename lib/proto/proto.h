/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the wire protocol between rtmemd and its clients (librtmem,
 * rtmemctl) on an AF_UNIX SOCK_SEQPACKET socket.
 *
 * Every message is one datagram of a fixed size per type, starting with
 * struct rtmem_msg_hdr. Little-endian native layout: both ends run on the
 * same machine, and the layout is asserted at compile time. A peer that
 * sends a message of the wrong size, an unknown type, a bad magic or
 * version, or a message out of order (anything before HELLO) gets one
 * RTMEM_MSG_ERROR naming the reason and is disconnected.
 *
 * Conversation:
 *   client HELLO          -> daemon HELLO_REPLY (pools this peer may open)
 *   client OPEN pool      -> daemon OPEN_REPLY + the pool's memfd (SCM_RIGHTS);
 *                            with RTMEM_OPEN_WANT_DESC: OPEN_DESC_REPLY, the same
 *                            and the daemon's pool description
 *   client CLOSE pool     -> daemon CLOSE_REPLY (blocks of that slot reclaimed)
 *   client STATUS         -> daemon STATUS_REPLY (daemon phase, counts)
 *   client POOL_INFO i    -> daemon POOL_INFO_REPLY (pool i, its stats)
 *   client CLIENT_INFO i  -> daemon CLIENT_INFO_REPLY (connected client i)
 *   client MEMTEST        -> daemon MEMTEST_REPLY (memory tester progress, recent faults)
 *   client RESUME pool slot gen -> daemon OPEN_REPLY + the pool's memfd: a client
 *                            that reconnects to a restarted daemon takes back the
 *                            slot it held (docs/lifecycle.md)
 *   client COUNTERS       -> daemon COUNTERS_REPLY (event counters since start, for metrics)
 * A HELLO with RTMEM_HELLO_MONITOR (rtmemctl) is a monitor, not a client:
 * STATUS and CLIENT_INFO leave monitors out. On the daemon's monitor socket
 * every peer is a monitor and OPEN is refused (EACCES).
 * The connection itself is the client's lease: when it closes or the
 * process dies (pidfd), every block it owns in every pool is reclaimed;
 * when the daemon stops, nothing is reclaimed (docs/lifecycle.md).
 */
#ifndef RTMEM_PROTO_H
#define RTMEM_PROTO_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* The core's structs (rg_pool_desc, rg_region_stats) are no part of the wire:
 * messages carry the wire's own copies below, converted by proto.c, so a
 * change to the core's internals cannot change a message's layout. */
struct rg_pool_desc;
struct rg_region_stats;

#define RTMEM_PROTO_MAGIC 0x504d5452u /* "RTMP" */
#define RTMEM_PROTO_VERSION 2u
#define RTMEM_NAME_MAX 32u  /* pool and client names, NUL-terminated */
#define RTMEM_MSG_MAX 8192u /* no message is larger */
#define RTMEM_HELLO_POOLS 16u
#define RTMEM_DEFAULT_SOCKET "/run/rtmemd/rtmemd.sock"
#define RTMEM_DEFAULT_MONITOR_SOCKET "/run/rtmemd/monitor.sock" /* read-only: status, metrics */

/*
 * The wire's own pool description and statistics. Same fields as the core's
 * (struct rg_pool_desc, struct rg_region_stats in lib/core/region.h), fixed
 * here for the protocol: rtmem_wire_*_from() and rtmem_wire_desc_to()
 * convert, and proto.c asserts that the limits agree.
 */
#define RTMEM_WIRE_MAX_CLASSES 32u /* slab classes in a pool */
#define RTMEM_WIRE_MAX_ORDER 40u   /* largest buddy order */

struct rtmem_wire_slab_desc {
	uint32_t size, count, align, reserve; /* bytes, blocks, bytes, blocks */
};

struct rtmem_wire_buddy_desc {
	uint64_t size; /* bytes; 0 = no buddy area */
	uint32_t min_order, max_order;
	uint64_t reserve; /* bytes */
	uint32_t arena_order; /* log2 of an arena (the pool key buddy_arena); 0: the area under one lock */
	uint32_t pad;
};

struct rtmem_wire_pool_desc {
	uint32_t nclasses, policy, nslots, cache;
	struct rtmem_wire_slab_desc classes[RTMEM_WIRE_MAX_CLASSES];
	struct rtmem_wire_buddy_desc buddy;
};

/* Per class or per order: blocks of that class/order (size in bytes). */
struct rtmem_wire_class_stats {
	uint64_t size, count, in_use, free, hwm, failed, bad, checkout;
};

struct rtmem_wire_stats {
	uint32_t nclasses;
	uint32_t min_order, max_order; /* buddy orders, 0/0 if none */
	struct rtmem_wire_class_stats cls[RTMEM_WIRE_MAX_CLASSES];
	struct rtmem_wire_class_stats order[RTMEM_WIRE_MAX_ORDER + 1];
	uint64_t buddy_size, buddy_free; /* bytes */
	uint64_t buddy_largest_free;     /* bytes: the largest free buddy block */
	uint64_t buddy_repairs;          /* free-list rebuilds after a dead lock owner */
};

static_assert(sizeof(struct rtmem_wire_pool_desc) == 560, "wire layout");
static_assert(sizeof(struct rtmem_wire_stats) == 16 + 73 * 64 + 32, "wire layout");

enum rtmem_msg_type {
	RTMEM_MSG_ERROR = 1,
	RTMEM_MSG_HELLO = 2,
	RTMEM_MSG_HELLO_REPLY = 3,
	RTMEM_MSG_OPEN = 4,
	RTMEM_MSG_OPEN_REPLY = 5,
	RTMEM_MSG_CLOSE = 6,
	RTMEM_MSG_CLOSE_REPLY = 7,
	RTMEM_MSG_STATUS = 8,
	RTMEM_MSG_STATUS_REPLY = 9,
	RTMEM_MSG_POOL_INFO = 10,
	RTMEM_MSG_POOL_INFO_REPLY = 11,
	RTMEM_MSG_CLIENT_INFO = 12,
	RTMEM_MSG_CLIENT_INFO_REPLY = 13,
	RTMEM_MSG_MEMTEST = 14,       /* request: a struct rtmem_msg_status (header only) */
	RTMEM_MSG_MEMTEST_REPLY = 15,
	RTMEM_MSG_RESUME = 16,        /* reply: OPEN_REPLY */
	RTMEM_MSG_COUNTERS = 17,      /* request: a struct rtmem_msg_status (header only) */
	RTMEM_MSG_COUNTERS_REPLY = 18,
	RTMEM_MSG_OPEN_DESC_REPLY = 19, /* OPEN with RTMEM_OPEN_WANT_DESC */
	RTMEM_MSG_TYPE_MAX
};

struct rtmem_msg_hdr {
	uint32_t magic;   /* RTMEM_PROTO_MAGIC */
	uint16_t version; /* RTMEM_PROTO_VERSION */
	uint16_t type;    /* enum rtmem_msg_type */
	uint32_t size;    /* bytes of the whole message, = the datagram length */
	uint32_t seq;     /* chosen by the client, echoed in the reply */
};

struct rtmem_msg_error {
	struct rtmem_msg_hdr h;
	int32_t err;   /* positive errno: EACCES, ENOENT, EPROTO, EBUSY, ... */
	uint32_t pad;
	char msg[120]; /* human-readable reason, NUL-terminated */
};

#define RTMEM_HELLO_MONITOR 0x1u /* a monitor (rtmemctl): reads, opens nothing, not counted */

struct rtmem_msg_hello {
	struct rtmem_msg_hdr h;
	char name[RTMEM_NAME_MAX]; /* client's name for logs and rtmemctl */
	uint32_t flags;            /* RTMEM_HELLO_* */
	uint32_t pad;
};

struct rtmem_pool_brief {
	char name[RTMEM_NAME_MAX];
	uint64_t size;      /* region bytes (the memfd size) */
	uint32_t nclasses;  /* slab classes */
	uint32_t has_buddy; /* 0/1 */
};

struct rtmem_msg_hello_reply {
	struct rtmem_msg_hdr h;
	uint32_t npools; /* entries used in pools[], only those the peer may open */
	uint32_t pad;
	struct rtmem_pool_brief pools[RTMEM_HELLO_POOLS];
};

/* Flags of struct rtmem_msg_open. */
#define RTMEM_OPEN_WANT_DESC 0x1u /* reply with OPEN_DESC_REPLY: the daemon's pool description */

struct rtmem_msg_open {
	struct rtmem_msg_hdr h;
	char pool[RTMEM_NAME_MAX];
	uint32_t flags; /* RTMEM_OPEN_WANT_DESC or 0 (librtmem before issue 12) */
	uint32_t pad;
};

#define RTMEM_OPEN_RESERVE 0x1u /* this client may take the pool's reserve */

struct rtmem_msg_open_reply {
	struct rtmem_msg_hdr h;
	uint64_t size;  /* bytes to map from the memfd */
	uint64_t quota; /* bytes this client may hold in the pool, 0 = no limit */
	uint32_t slot;  /* owner slot (1..65535) */
	uint32_t gen;   /* owner generation */
	uint32_t flags; /* RTMEM_OPEN_* */
	uint32_t pad;
};

/*
 * OPEN_REPLY and the daemon's own copy of the pool's description, which the
 * client attaches with (rg_region_attach_desc()): limits never come from
 * region memory that other clients can write (docs/trust.md).
 */
struct rtmem_msg_open_desc_reply {
	struct rtmem_msg_open_reply o; /* o.h.type is RTMEM_MSG_OPEN_DESC_REPLY */
	uint64_t layout_hash;          /* the daemon's rg_region_layout_hash() */
	struct rtmem_wire_pool_desc desc;
};

/* Take back slot @slot (generation @gen) of @pool, held before a daemon restart. */
struct rtmem_msg_resume {
	struct rtmem_msg_hdr h;
	char pool[RTMEM_NAME_MAX];
	uint32_t slot;
	uint32_t gen;
};

struct rtmem_msg_close {
	struct rtmem_msg_hdr h;
	char pool[RTMEM_NAME_MAX];
};

struct rtmem_msg_close_reply {
	struct rtmem_msg_hdr h;
	uint64_t reclaimed_blocks; /* blocks still held at close, now freed */
	uint64_t reclaimed_bytes;
};

struct rtmem_msg_status {
	struct rtmem_msg_hdr h;
};

struct rtmem_msg_status_reply {
	struct rtmem_msg_hdr h;
	char phase[16];     /* "setup", "serving", "stopping" */
	char loop[16];      /* "io_uring" or "epoll" */
	uint32_t npools;
	uint32_t nclients;
	uint64_t uptime_ms;
	uint64_t locked_bytes; /* all pools' footprints */
	uint32_t pid;
	uint32_t ndamaged;     /* pools with damage found (POOL_INFO says what) */
};

struct rtmem_msg_index {
	struct rtmem_msg_hdr h;
	uint32_t index; /* POOL_INFO / CLIENT_INFO: 0..n-1 */
	uint32_t pad;
};

struct rtmem_msg_pool_info_reply {
	struct rtmem_msg_hdr h;
	char name[RTMEM_NAME_MAX];
	uint64_t size;
	uint32_t nclients;
	uint32_t damage; /* RTMEM_DAMAGE_* found since the daemon started; 0: serving, intact */
	struct rtmem_wire_stats stats;
};

/* Damage the daemon's audit found in a pool (docs/trust.md). */
#define RTMEM_DAMAGE_HEADER 0x1u /* header/descriptor lines differed from the daemon's copy (rewritten) */
#define RTMEM_DAMAGE_HOLE 0x2u   /* memory punched out of the memfd (allocated and locked again; data lost) */
#define RTMEM_DAMAGE_LIST 0x4u   /* a corrupt slab free list (index out of range or a cycle) */

struct rtmem_msg_client_info_reply {
	struct rtmem_msg_hdr h;
	char name[RTMEM_NAME_MAX];
	uint32_t pid, uid, gid;
	uint32_t npools;
	char pools[4][RTMEM_NAME_MAX]; /* first four pools it has open */
	uint64_t blocks; /* held in all its pools */
	uint64_t bytes;
};

#define RTMEM_MEMTEST_FAULTS 16u /* most recent faults in a MEMTEST_REPLY */

/* Flags of struct rtmem_memtest_fault. */
#define RTMEM_MEMTEST_PHYS 0x1u          /* phys is the physical address of the word */
#define RTMEM_MEMTEST_PHYS_WITHHELD 0x2u /* known, but only told to uid 0 and the daemon's uid */
#define RTMEM_MEMTEST_READ_ERROR 0x4u    /* the re-read after a flush was right */

struct rtmem_memtest_fault {
	char pool[RTMEM_NAME_MAX];
	char algorithm[RTMEM_NAME_MAX];
	uint64_t offset;     /* byte offset of the faulty word in the pool */
	uint64_t phys;       /* physical address if flags & RTMEM_MEMTEST_PHYS, else 0 */
	uint64_t expected, actual, reread;
	uint64_t background; /* pattern of the data background */
	int64_t time;        /* CLOCK_REALTIME seconds */
	uint32_t element, op; /* where in the March program */
	uint32_t flags;      /* RTMEM_MEMTEST_* */
	int32_t quarantine;  /* 0 (block now bad) or the -errno of quarantining it */
};

struct rtmem_msg_memtest_reply {
	struct rtmem_msg_hdr h;
	uint32_t enabled;          /* [memtest] enabled = yes */
	uint32_t running;          /* the tester thread runs */
	uint64_t bandwidth;        /* configured budget, bytes read + written per second */
	uint64_t period_ms;        /* configured period of a full pass */
	uint64_t bytes_tested;     /* block bytes that passed every algorithm x background */
	uint64_t bytes_touched;    /* reads + writes, what the budget counts */
	uint64_t blocks_tested;
	uint64_t blocks_busy;      /* in use when their turn came (skipped) */
	uint64_t blocks_spared;    /* last free block of a class (left alone) */
	uint64_t passes;           /* full passes completed */
	uint64_t pass_ms;          /* duration of the last full pass, 0 before the first */
	uint64_t pass_estimate_ms; /* a pass's bytes / bandwidth */
	uint64_t sleep_ms;         /* time slept for the budget */
	char pool[RTMEM_NAME_MAX]; /* being tested now, or last */
	char algorithm[RTMEM_NAME_MAX];
	uint64_t background;
	uint64_t offset;           /* block being tested */
	uint64_t faults_total;     /* found since the daemon started */
	uint32_t nfaults;          /* entries used in faults[], the most recent first */
	uint32_t pad;
	struct rtmem_memtest_fault faults[RTMEM_MEMTEST_FAULTS];
};

struct rtmem_msg_counters_reply {
	struct rtmem_msg_hdr h;
	int64_t start_time;          /* CLOCK_REALTIME seconds when the daemon started serving */
	uint64_t connections_total;  /* accepted, clients and monitors */
	uint64_t refusals_total;     /* requests answered with ERROR */
	uint64_t clients_gone_total; /* clients (not monitors) that disconnected or died */
	uint64_t reclaims_total;     /* closes and departures that found blocks still held */
	uint64_t reclaimed_blocks_total;
	uint64_t reclaimed_bytes_total;
	uint32_t monitors;           /* monitors connected now */
	uint32_t pad;
};

/* Any message, for a receive buffer or a reply being built. */
union rtmem_msg {
	struct rtmem_msg_hdr h;
	struct rtmem_msg_error error;
	struct rtmem_msg_hello hello;
	struct rtmem_msg_hello_reply hello_reply;
	struct rtmem_msg_open open;
	struct rtmem_msg_open_reply open_reply;
	struct rtmem_msg_open_desc_reply open_desc_reply;
	struct rtmem_msg_close close;
	struct rtmem_msg_resume resume;
	struct rtmem_msg_close_reply close_reply;
	struct rtmem_msg_status_reply status_reply;
	struct rtmem_msg_index index;
	struct rtmem_msg_pool_info_reply pool_info_reply;
	struct rtmem_msg_client_info_reply client_info_reply;
	struct rtmem_msg_memtest_reply memtest_reply;
	struct rtmem_msg_counters_reply counters_reply;
	char raw[RTMEM_MSG_MAX];
};

static_assert(sizeof(struct rtmem_msg_hdr) == 16, "wire layout");
static_assert(sizeof(struct rtmem_msg_error) == 144, "wire layout");
static_assert(sizeof(struct rtmem_msg_hello) == 56, "wire layout");
static_assert(sizeof(struct rtmem_msg_hello_reply) == 24 + 16 * 48, "wire layout");
static_assert(sizeof(struct rtmem_msg_open) == 56, "wire layout");
static_assert(sizeof(struct rtmem_msg_open_reply) == 48, "wire layout");
static_assert(sizeof(struct rtmem_msg_close) == 48, "wire layout");
static_assert(sizeof(struct rtmem_msg_open_desc_reply) == 48 + 8 + 560, "wire layout");
static_assert(sizeof(struct rtmem_msg_resume) == 56, "wire layout");
static_assert(sizeof(struct rtmem_msg_close_reply) == 32, "wire layout");
static_assert(sizeof(struct rtmem_msg_status_reply) == 80, "wire layout");
static_assert(sizeof(struct rtmem_msg_index) == 24, "wire layout");
static_assert(sizeof(struct rtmem_msg_client_info_reply) <= RTMEM_MSG_MAX, "wire layout");
static_assert(sizeof(struct rtmem_memtest_fault) == 136, "wire layout");
static_assert(sizeof(struct rtmem_msg_memtest_reply) == 208 + 16 * 136, "wire layout");
static_assert(sizeof(struct rtmem_msg_memtest_reply) <= RTMEM_MSG_MAX, "wire layout");
static_assert(sizeof(struct rtmem_msg_pool_info_reply) <= RTMEM_MSG_MAX, "wire layout");
static_assert(sizeof(struct rtmem_msg_counters_reply) == 16 + 8 * 8, "wire layout");

/*
 * rtmem_msg_size() - the exact size of a message of @type, 0 if unknown.
 * rtmem_msg_check() - validate a received datagram of @len bytes: magic,
 * version, known type, size field = @len = the type's size. Return: 0 or
 * -EPROTO with a reason in *ret_why (a static string).
 * Context: any, pure.
 */
uint32_t rtmem_msg_size(uint32_t type);
int rtmem_msg_check(const void *buf, size_t len, const char **ret_why);
/* Fill a header for a message of @type. */
void rtmem_msg_init(struct rtmem_msg_hdr *h, uint32_t type, uint32_t seq);

/*
 * Conversions between the core's structs and the wire's: the daemon sends
 * rtmem_wire_stats_from() and rtmem_wire_desc_from() of its own figures; a
 * client attaches with rtmem_wire_desc_to() of what it received (which
 * rg_region_attach_desc() then validates like any description).
 * Context: any, pure. Return: nothing; every field is written.
 */
void rtmem_wire_stats_from(struct rtmem_wire_stats *w, const struct rg_region_stats *s);
void rtmem_wire_desc_from(struct rtmem_wire_pool_desc *w, const struct rg_pool_desc *d);
void rtmem_wire_desc_to(struct rg_pool_desc *d, const struct rtmem_wire_pool_desc *w);

/*
 * rtmem_msg_transact() - client side of one exchange: fill @req's header
 * (@type, @seq), send it, receive one reply and check it: its type must be
 * @rep_type or ERROR and its seq @seq. The reply is copied to @rep (which
 * must hold rtmem_msg_size(@rep_type) bytes); an fd passed with it goes to
 * *ret_fd (-1 if none; closed if @ret_fd is NULL).
 * Context: blocking; not RT.
 * Requests never use seq 0: an ERROR with seq 0 is the daemon refusing the
 * connection itself (EUSERS: too many connections), sent at accept before
 * the request may have been read; it is taken as the reply, also when the
 * daemon closed the socket before the request could be sent.
 * Return: 0, -(errno carried by an ERROR reply), -EPROTO (malformed or
 * unexpected reply), -ECONNRESET (daemon gone), -errno of send/recv.
 */
int rtmem_msg_transact(int sock, uint32_t seq, void *req, uint32_t type, void *rep, uint32_t rep_type, int *ret_fd);

#endif /* RTMEM_PROTO_H */
