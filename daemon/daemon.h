/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - the phases of rtmemd's main.c, one file per phase: what they
 * share is the command line (struct opts) and the daemon's state (struct
 * daemon). main.c's head comment says the order; serve() runs it.
 * Context of every function here: the main thread, during setup or
 * shutdown, unless it says otherwise.
 */
#ifndef RTMEMD_DAEMON_H
#define RTMEMD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "adopt.h"
#include "cfg.h"
#include "loop.h"
#include "memtest.h"
#include "pool.h"
#include "srv.h"

struct opts {
	const char *config;  /* NULL: CFG_DEFAULT_PATH, built-in default if missing */
	const char *socket;  /* NULL: from the config */
	const char *monitor; /* NULL: from the config; "none": no monitor socket */
	int log_level;       /* -1: from the config */
	bool check_config;
	enum loop_kind loop;
#ifdef RTMEM_FAULT_INJECT
	const char *inject;  /* POOL:OFFSET:BIT, the test build's simulated stuck cell */
#endif
};

struct daemon {
	struct cfg *cfg;
	struct pool *pools;
	unsigned npools;
	struct loop *loop;
	struct srv *srv;
	int sigfd;
	uint64_t locked;
	struct memtest *mt;  /* NULL until setup_memtest() */
	bool journal;        /* stderr is the journal: faults go there with fields */
	struct adopt_key key;  /* tags the slot records (adopt.h) */
	int nstored;           /* fds systemd's store passed us */
	int *stored_fd;        /* [nstored], -1 once taken */
	char **stored_name;    /* [nstored], strv */
	bool fdstore;          /* a store took our fds ($NOTIFY_SOCKET) */
	bool served;           /* READY=1 was sent: the state words say SERVING */
	unsigned adopted;      /* pools re-adopted */
	uint64_t adopt_us;     /* time from start to every stored pool adopted and locked */
};

/* daemon_fdstore.c: systemd's fd store and the slot-record key */
uint64_t daemon_mono_us(void);
void daemon_pool_fdname(const char *pool, char out[CFG_NAME_MAX + 8]);
int daemon_setup_key(struct daemon *d);
void daemon_store_fd(struct daemon *d, int fd, const char *name);
int daemon_stored_fd(struct daemon *d, const char *name);
int daemon_stored_index(const struct daemon *d, const char *name);
void daemon_stored_take(struct daemon *d);

/* daemon_pools.c: steps 1 and 2, the pools */
int daemon_create_pools(struct daemon *d);
int daemon_lock_pools(struct daemon *d);
void daemon_stored_leftovers(struct daemon *d);

/* daemon_tester.c: the memory tester */
int daemon_setup_memtest(struct daemon *d, const struct opts *o);
void daemon_start_memtest(struct daemon *d);

/* daemon_serve.c: step 3, serving */
void daemon_announce(struct daemon *d, const char *path);
int daemon_block_signals(struct daemon *d);
void daemon_free(struct daemon *d);
int daemon_drop_privileges(const struct daemon *d);
int daemon_listen_socket(struct daemon *d, const struct opts *o);
void daemon_raise_nofile(void);
int daemon_start_loop(struct daemon *d, const struct opts *o);

#endif /* RTMEMD_DAEMON_H */
