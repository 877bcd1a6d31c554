/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the message table of the wire protocol and the decoder's checks,
 * shared by the daemon and the client library. Everything a peer sends is
 * checked here before any field is used.
 */
#include <errno.h>
#include <string.h>

#include "proto.h"

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
