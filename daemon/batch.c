/*
 * Batches of writer ops (batch.h).  A batch grows by doubling; the network
 * thread hands it off at about a megabyte, so a batch is usually one
 * allocation that is never copied.
 */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct fl_op) == 16, "op header is 16 bytes");
_Static_assert(sizeof(struct fl_op_proc) % 8 == 0, "op payloads keep 8-byte alignment");
_Static_assert(sizeof(struct fl_op_symbols) % 8 == 0, "op payloads keep 8-byte alignment");

struct fl_batch *fl_batch_new(size_t cap)
{
	struct fl_batch *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->cap = cap < 4096 ? 4096 : cap;
	b->buf = malloc(b->cap);
	if (!b->buf) {
		free(b);
		return NULL;
	}
	return b;
}

void fl_batch_free(struct fl_batch *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b);
}

void *fl_batch_add(struct fl_batch *b, uint16_t type, uint32_t proc, uint32_t n, size_t payload)
{
	size_t len = (sizeof(struct fl_op) + payload + 7) & ~(size_t)7;
	if (len > UINT32_MAX)
		return NULL;
	if (b->len + len > b->cap) {
		size_t cap = b->cap;
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *buf = realloc(b->buf, cap);
		if (!buf)
			return NULL;
		b->buf = buf;
		b->cap = cap;
	}
	struct fl_op *op = (struct fl_op *)(void *)(b->buf + b->len);
	op->len = (uint32_t)len;
	op->type = type;
	op->flags = 0;
	op->proc = proc;
	op->n = n;
	uint8_t *body = (uint8_t *)(op + 1);
	memset(body + payload, 0, len - sizeof *op - payload);
	b->len += len;
	if (type == FL_OP_FAULTS)
		b->faults += n;
	else
		b->records++;
	return body;
}

void fl_batch_undo(struct fl_batch *b, void *payload)
{
	struct fl_op *op = (struct fl_op *)payload - 1;
	if (op->type == FL_OP_FAULTS)
		b->faults -= op->n;
	else
		b->records--;
	b->len = (size_t)((uint8_t *)op - b->buf);
}
