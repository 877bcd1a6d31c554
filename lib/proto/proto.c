/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the message table of the wire protocol and the decoder's checks,
 * shared by the daemon and the client library. Everything a peer sends is
 * checked here before any field is used.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "region.h"

static_assert(RTMEM_WIRE_MAX_CLASSES == RG_MAX_CLASSES && RTMEM_WIRE_MAX_ORDER == RG_MAX_ORDER,
	      "the wire carries every class and order of a region");

static const uint32_t sizes[RTMEM_MSG_TYPE_MAX] = {
	[RTMEM_MSG_ERROR] = sizeof(struct rtmem_msg_error),
	[RTMEM_MSG_HELLO] = sizeof(struct rtmem_msg_hello),
	[RTMEM_MSG_HELLO_REPLY] = sizeof(struct rtmem_msg_hello_reply),
	[RTMEM_MSG_OPEN] = sizeof(struct rtmem_msg_open),
	[RTMEM_MSG_OPEN_REPLY] = sizeof(struct rtmem_msg_open_reply),
	[RTMEM_MSG_CLOSE] = sizeof(struct rtmem_msg_close),
	[RTMEM_MSG_CLOSE_REPLY] = sizeof(struct rtmem_msg_close_reply),
	[RTMEM_MSG_STATUS] = sizeof(struct rtmem_msg_status),
	[RTMEM_MSG_STATUS_REPLY] = sizeof(struct rtmem_msg_status_reply),
	[RTMEM_MSG_POOL_INFO] = sizeof(struct rtmem_msg_index),
	[RTMEM_MSG_POOL_INFO_REPLY] = sizeof(struct rtmem_msg_pool_info_reply),
	[RTMEM_MSG_CLIENT_INFO] = sizeof(struct rtmem_msg_index),
	[RTMEM_MSG_CLIENT_INFO_REPLY] = sizeof(struct rtmem_msg_client_info_reply),
	[RTMEM_MSG_MEMTEST] = sizeof(struct rtmem_msg_status),
	[RTMEM_MSG_MEMTEST_REPLY] = sizeof(struct rtmem_msg_memtest_reply),
	[RTMEM_MSG_RESUME] = sizeof(struct rtmem_msg_resume),
	[RTMEM_MSG_COUNTERS] = sizeof(struct rtmem_msg_status),
	[RTMEM_MSG_COUNTERS_REPLY] = sizeof(struct rtmem_msg_counters_reply),
	[RTMEM_MSG_OPEN_DESC_REPLY] = sizeof(struct rtmem_msg_open_desc_reply),
};

uint32_t rtmem_msg_size(uint32_t type)
{
	return type < RTMEM_MSG_TYPE_MAX ? sizes[type] : 0;
}

int rtmem_msg_check(const void *buf, size_t len, const char **ret_why)
{
	struct rtmem_msg_hdr h;
	uint32_t want;

	if (len < sizeof(h)) {
		*ret_why = "message shorter than a header";
		return -EPROTO;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.magic != RTMEM_PROTO_MAGIC) {
		*ret_why = "bad magic";
		return -EPROTO;
	}
	if (h.version != RTMEM_PROTO_VERSION) {
		*ret_why = "unsupported protocol version";
		return -EPROTO;
	}
	want = rtmem_msg_size(h.type);
	if (!want) {
		*ret_why = "unknown message type";
		return -EPROTO;
	}
	if (h.size != len || len != want) {
		*ret_why = "message size does not match its type";
		return -EPROTO;
	}
	return 0;
}

void rtmem_msg_init(struct rtmem_msg_hdr *h, uint32_t type, uint32_t seq)
{
	h->magic = RTMEM_PROTO_MAGIC;
	h->version = RTMEM_PROTO_VERSION;
	h->type = (uint16_t)type;
	h->size = rtmem_msg_size(type);
	h->seq = seq;
}

/* Receive one datagram, and an fd passed with it. Return: bytes, or -errno. */
static ssize_t recv_one(int fd, void *buf, size_t len, int *ret_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	*ret_fd = -1;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	/* A peer that closes with our request unread makes the first receive
	 * fail with ECONNRESET, once: what it sent before is still queued. */
	if (n < 0 && errno == ECONNRESET)
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? -ECONNRESET : -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

/* A datagram already queued, without waiting. Return: bytes, or -errno. */
static ssize_t recv_one_nowait(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

	if (n < 0 && errno == ECONNRESET) /* reported once, before the queued datagrams */
		n = recv(fd, buf, len, MSG_DONTWAIT);
	return n < 0 ? -errno : n;
}

int rtmem_msg_transact(int sock, uint32_t seq, void *req, uint32_t type, void *rep, uint32_t rep_type, int *ret_fd)
{
	union rtmem_msg in;
	struct rtmem_msg_hdr *h = req;
	const char *why;
	ssize_t n;
	int fd, rc = 0;

	rtmem_msg_init(h, type, seq);
	if (send(sock, req, h->size, MSG_NOSIGNAL) != (ssize_t)h->size) {
		rc = errno == EPIPE ? -ECONNRESET : -errno;
		/* refused at accept and closed before our request went out:
		 * the refusal may still wait to be read */
		if (rc != -ECONNRESET && rc != -ECONNREFUSED)
			return rc;
		n = recv_one_nowait(sock, in.raw, sizeof(in.raw));
		if (n > 0 && rtmem_msg_check(in.raw, (size_t)n, &why) == 0 && in.h.type == RTMEM_MSG_ERROR &&
		    in.h.seq == 0 && in.error.err > 0 && in.error.err < 4096)
			return -in.error.err;
		return rc;
	}
	n = recv_one(sock, in.raw, sizeof(in.raw), &fd);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	/* seq 0 is never a request's: an ERROR with it refuses the connection */
	if (rtmem_msg_check(in.raw, (size_t)n, &why) < 0 ||
	    (in.h.seq != seq && !(in.h.seq == 0 && in.h.type == RTMEM_MSG_ERROR)) ||
	    (in.h.type != rep_type && in.h.type != RTMEM_MSG_ERROR))
		rc = -EPROTO;
	else if (in.h.type == RTMEM_MSG_ERROR)
		rc = in.error.err > 0 && in.error.err < 4096 ? -in.error.err : -EPROTO;
	if (rc == 0) {
		memcpy(rep, in.raw, (size_t)n);
		if (ret_fd) {
			*ret_fd = fd;
			fd = -1;
		}
	} else if (rc != -EPROTO && rep_type == RTMEM_MSG_ERROR) {
		memcpy(rep, in.raw, (size_t)n);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static void wire_class_from(struct rtmem_wire_class_stats *w, const struct rg_class_stats *c)
{
	*w = (struct rtmem_wire_class_stats){
		.size = c->size,
		.count = c->count,
		.in_use = c->in_use,
		.free = c->free,
		.hwm = c->hwm,
		.failed = c->failed,
		.bad = c->bad,
		.checkout = c->checkout,
	};
}

void rtmem_wire_stats_from(struct rtmem_wire_stats *w, const struct rg_region_stats *s)
{
	memset(w, 0, sizeof(*w));
	w->nclasses = s->nclasses;
	w->min_order = s->min_order;
	w->max_order = s->max_order;
	for (uint32_t c = 0; c < RTMEM_WIRE_MAX_CLASSES; c++)
		wire_class_from(&w->cls[c], &s->cls[c]);
	for (uint32_t k = 0; k <= RTMEM_WIRE_MAX_ORDER; k++)
		wire_class_from(&w->order[k], &s->order[k]);
	w->buddy_size = s->buddy_size;
	w->buddy_free = s->buddy_free;
	w->buddy_largest_free = s->buddy_largest_free;
	w->buddy_repairs = s->buddy_repairs;
}

void rtmem_wire_desc_from(struct rtmem_wire_pool_desc *w, const struct rg_pool_desc *d)
{
	memset(w, 0, sizeof(*w));
	w->nclasses = d->nclasses;
	w->policy = d->policy;
	w->nslots = d->nslots;
	w->cache = d->cache;
	for (uint32_t c = 0; c < RTMEM_WIRE_MAX_CLASSES; c++)
		w->classes[c] = (struct rtmem_wire_slab_desc){ d->classes[c].size, d->classes[c].count,
							       d->classes[c].align, d->classes[c].reserve };
	w->buddy = (struct rtmem_wire_buddy_desc){ .size = d->buddy.size,
						   .min_order = d->buddy.min_order,
						   .max_order = d->buddy.max_order,
						   .reserve = d->buddy.reserve,
						   .arena_order = d->buddy.arena_order };
}

void rtmem_wire_desc_to(struct rg_pool_desc *d, const struct rtmem_wire_pool_desc *w)
{
	memset(d, 0, sizeof(*d));
	d->nclasses = w->nclasses;
	d->policy = w->policy;
	d->nslots = w->nslots;
	d->cache = w->cache;
	for (uint32_t c = 0; c < RG_MAX_CLASSES; c++)
		d->classes[c] = (struct rg_slab_desc){ w->classes[c].size, w->classes[c].count, w->classes[c].align,
						       w->classes[c].reserve };
	d->buddy = (struct rg_buddy_desc){ .size = w->buddy.size,
					   .min_order = w->buddy.min_order,
					   .max_order = w->buddy.max_order,
					   .reserve = w->buddy.reserve,
					   .arena_order = w->buddy.arena_order };
}
