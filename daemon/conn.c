/*
 * The per-connection protocol state machine (conn.h).  The checks that
 * run per fault (stack and region ids known) remember the last id found,
 * because faults come in runs from the same stack and region.
 */
#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faultline/faultline.h"
#include "clock.h"

enum conn_state {
	CONN_NEW,     /* nothing received yet */
	CONN_SHIM,    /* HELLO received: a process speaks */
	CONN_CONTROL, /* EXIT received first: a launcher reports children */
	CONN_DONE,    /* GOODBYE received: nothing may follow */
};

struct fl_conn {
	struct fl_procs *procs;
	enum conn_state state;
	struct fl_proc *proc;
	uint32_t last_stack;  /* a stack id known to be defined */
	uint64_t last_region; /* a region id known to exist */
};

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int oom(char *err, size_t errlen)
{
	return bad(err, errlen, "out of memory queueing a record");
}

struct fl_conn *fl_conn_new(struct fl_procs *procs)
{
	struct fl_conn *c = calloc(1, sizeof *c);
	if (c)
		c->procs = procs;
	return c;
}

int32_t fl_conn_pid(const struct fl_conn *c)
{
	return c->proc ? c->proc->pid : 0;
}

static uint64_t region_val(const struct fl_wire_region *x, int state)
{
	return fl_procs_region_val(x->start, x->len, x->prot, x->kind, state);
}

static int hello(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		 size_t errlen)
{
	const struct fl_wire_hello *h = r->u.hello;
	int fresh = 0;
	struct fl_proc *p = fl_procs_hello(c->procs, h->pid, h->start_real_ns, h->start_mono_ns, &fresh, err, errlen);
	if (!p)
		return -1;
	if (p->goodbye)
		return bad(err, errlen, "hello for pid %d, which already said goodbye", h->pid);
	size_t tail = (size_t)h->exe_len + h->argv_len;
	struct fl_op_proc *op = fl_batch_add(out, FL_OP_PROC, p->key, 0, sizeof *op + tail);
	if (!op) {
		if (fresh) /* nobody holds it: let the collector have it */
			fl_procs_end(p, fl_clock_ns(CLOCK_MONOTONIC));
		return oom(err, errlen);
	}
	op->rowid = p->rowid;
	op->hello = *h;
	memcpy(op + 1, r->str, h->exe_len);
	memcpy((char *)(op + 1) + h->exe_len, r->bytes, h->argv_len);
	/* A process the table already had: the writer has its row; it may
	 * have been marked vanished, and is running again. */
	if (!fresh)
		((struct fl_op *)(void *)op)[-1].flags = FL_OP_PROC_RESUME;
	p->nconns++;
	p->ended = 0;
	c->proc = p;
	c->state = CONN_SHIM;
	/* Its launcher's report came first: it applies now that the row exists. */
	struct fl_procs_exit x;
	if (fresh && fl_procs_exit_take(c->procs, h->pid, h->start_real_ns, &x)) {
		struct fl_op_exit *e = fl_batch_add(out, FL_OP_EXIT, p->key, 0, sizeof *e);
		if (e) {
			e->x = (struct fl_wire_exit){.pid = x.pid, .status = x.status, .how = x.how};
			e->real_ns = x.real_ns;
			fl_procs_end(p, fl_clock_ns(CLOCK_MONOTONIC));
		}
	}
	return 0;
}

static int exit_report(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		       size_t errlen)
{
	const struct fl_wire_exit *x = r->u.exit;
	/* The launcher waited for the process, so it is over whatever its
	 * connections still hold; the newest process with the pid is the one. */
	struct fl_proc *p = fl_procs_by_pid(c->procs, x->pid);
	struct fl_op_exit *op = fl_batch_add(out, FL_OP_EXIT, p ? p->key : 0, 0, sizeof *op);
	if (!op)
		return oom(err, errlen);
	op->x = *x;
	op->real_ns = fl_clock_ns(CLOCK_REALTIME);
	if (p && !p->ended)
		fl_procs_end(p, fl_clock_ns(CLOCK_MONOTONIC));
	if (!p)
		fl_procs_exit_later(c->procs, &(struct fl_procs_exit){.pid = x->pid, .status = x->status, .how = x->how,
								      .real_ns = op->real_ns,
								      .mono_ns = fl_clock_ns(CLOCK_MONOTONIC)});
	c->state = CONN_CONTROL;
	return 0;
}

static int region(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		  size_t errlen)
{
	const struct fl_wire_region *x = r->u.region;
	struct fl_proc *p = c->proc;
	uint64_t *v = fl_idmap_get(&p->regions, x->id);
	int state = v ? (int)(*v & 3) : 0;
	uint32_t op_kind = x->op;
	switch (x->op) {
	case FL_WIRE_REGION_CREATE:
		if (v) {
			/* A shim that reconnects announces its live regions again:
			 * the same region is no news, and a live one that changed
			 * while the update was lost (no daemon) is an update. */
			if (*v == region_val(x, FL_REGION_ALIVE))
				return 0;
			if (state != FL_REGION_ALIVE)
				return bad(err, errlen, "region %llu created again (it was destroyed)",
					   (unsigned long long)x->id);
			op_kind = FL_WIRE_REGION_UPDATE;
		}
		if (!v && p->regions.count >= FL_PROCS_MAX_REGIONS)
			return bad(err, errlen, "more than %u regions", FL_PROCS_MAX_REGIONS);
		break;
	case FL_WIRE_REGION_UPDATE:
	case FL_WIRE_REGION_DESTROY:
		if (!v)
			return bad(err, errlen, "region %s of region %llu, which was never created",
				   x->op == FL_WIRE_REGION_UPDATE ? "update" : "destroy", (unsigned long long)x->id);
		if (state != FL_REGION_ALIVE)
			return bad(err, errlen, "region %s of region %llu, which was destroyed",
				   x->op == FL_WIRE_REGION_UPDATE ? "update" : "destroy", (unsigned long long)x->id);
		break;
	}
	struct fl_wire_region *op = fl_batch_add(out, FL_OP_REGION, p->key, 0, sizeof *op);
	if (!op)
		return oom(err, errlen);
	*op = *x;
	op->op = op_kind;
	int next = x->op == FL_WIRE_REGION_DESTROY ? FL_REGION_DESTROYED : FL_REGION_ALIVE;
	if (fl_idmap_put(&p->regions, x->id, region_val(x, next)) != 0) {
		fl_batch_undo(out, op);
		return oom(err, errlen);
	}
	return 0;
}

static int stack(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		 size_t errlen)
{
	const struct fl_wire_stack *x = r->u.stack;
	struct fl_proc *p = c->proc;
	uint64_t hash = fl_procs_stack_hash(r->items, r->nitems);
	uint64_t *v = fl_idmap_get(&p->stacks, x->id);
	if (v) {
		/* Sent again after a reconnect: fine if it says the same. */
		if (*v == hash)
			return 0;
		return bad(err, errlen, "stack %u redefined with different frames", x->id);
	}
	if (p->stacks.count >= FL_PROCS_MAX_STACKS)
		return bad(err, errlen, "more than %u stacks", FL_PROCS_MAX_STACKS);
	struct fl_op_stack *op = fl_batch_add(out, FL_OP_STACK, p->key, r->nitems,
					      sizeof *op + (size_t)r->nitems * 8);
	if (!op)
		return oom(err, errlen);
	op->id = x->id;
	op->nframes = r->nitems;
	op->recv_real_ns = fl_clock_ns(CLOCK_REALTIME);
	memcpy(op + 1, r->items, (size_t)r->nitems * 8);
	if (fl_procs_add_stack(p, x->id, hash) != 0) {
		fl_batch_undo(out, op);
		return oom(err, errlen);
	}
	return 0;
}

static int faults(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		  size_t errlen)
{
	struct fl_proc *p = c->proc;
	for (uint32_t i = 0; i < r->nitems; i++) {
		struct fl_wire_fault f;
		fl_wire_fault_at(r, i, &f);
		if (f.stack && f.stack != c->last_stack) {
			if (!fl_idmap_get(&p->stacks, f.stack))
				return bad(err, errlen, "fault %u of %u uses stack %u, which was never defined", i,
					   r->nitems, f.stack);
			c->last_stack = f.stack;
		}
		if (f.region && f.region != c->last_region) {
			if (!fl_idmap_get(&p->regions, f.region))
				return bad(err, errlen, "fault %u of %u names region %llu, which was never created",
					   i, r->nitems, (unsigned long long)f.region);
			c->last_region = f.region;
		}
	}
	size_t bytes = (size_t)r->nitems * sizeof(struct fl_wire_fault);
	void *op = fl_batch_add(out, FL_OP_FAULTS, p->key, r->nitems, bytes);
	if (!op)
		return oom(err, errlen);
	memcpy(op, r->items, bytes);
	return 0;
}

/* Sampled allocations: their stacks must have been defined. */
static int allocs(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		  size_t errlen)
{
	struct fl_proc *p = c->proc;
	for (uint32_t i = 0; i < r->nitems; i++) {
		struct fl_wire_alloc a;
		fl_wire_alloc_at(r, i, &a);
		if (a.stack && !fl_idmap_get(&p->stacks, a.stack))
			return bad(err, errlen, "allocation %u of %u uses stack %u, which was never defined", i,
				   r->nitems, a.stack);
	}
	size_t bytes = (size_t)r->nitems * sizeof(struct fl_wire_alloc);
	void *op = fl_batch_add(out, FL_OP_ALLOCS, p->key, r->nitems, bytes);
	if (!op)
		return oom(err, errlen);
	memcpy(op, r->items, bytes);
	return 0;
}

/* A record whose body goes to the writer as it is (with a tail of tail bytes). */
static int copy(struct fl_conn *c, const struct fl_wire_rec *r, uint16_t type, size_t fixed,
		const void *tail1, size_t len1, const void *tail2, size_t len2, struct fl_batch *out,
		char *err, size_t errlen)
{
	uint8_t *op = fl_batch_add(out, type, c->proc->key, 0, fixed + len1 + len2);
	if (!op)
		return oom(err, errlen);
	memcpy(op, r->u.body, fixed);
	if (len1)
		memcpy(op + fixed, tail1, len1);
	if (len2)
		memcpy(op + fixed + len1, tail2, len2);
	return 0;
}

int fl_conn_feed(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		 size_t errlen)
{
	const char *name = fl_wire_type_name(r->type);
	switch (c->state) {
	case CONN_NEW:
		if (r->type == FL_REC_HELLO)
			return hello(c, r, out, err, errlen);
		if (r->type == FL_REC_EXIT)
			return exit_report(c, r, out, err, errlen);
		return bad(err, errlen, "%s record before hello", name);
	case CONN_CONTROL:
		if (r->type == FL_REC_EXIT)
			return exit_report(c, r, out, err, errlen);
		return bad(err, errlen, "%s record on a control connection (exit records only)", name);
	case CONN_DONE:
		return bad(err, errlen, "%s record after goodbye", name);
	case CONN_SHIM:
		break;
	}
	switch (r->type) {
	case FL_REC_HELLO:
		return bad(err, errlen, "second hello on one connection");
	case FL_REC_EXIT:
		return bad(err, errlen, "exit record on a process's connection (launchers use their own)");
	case FL_REC_MODULE:
		return copy(c, r, FL_OP_MODULE, sizeof(struct fl_wire_module), r->bytes, r->bytes_len, r->str,
			    r->str_len, out, err, errlen);
	case FL_REC_REGION:
		return region(c, r, out, err, errlen);
	case FL_REC_STACK:
		return stack(c, r, out, err, errlen);
	case FL_REC_FAULTS:
		return faults(c, r, out, err, errlen);
	case FL_REC_ALLOCS:
		return allocs(c, r, out, err, errlen);
	case FL_REC_SAMPLE:
		return copy(c, r, FL_OP_SAMPLE, sizeof(struct fl_wire_sample), NULL, 0, NULL, 0, out, err, errlen);
	case FL_REC_SPILL:
		return copy(c, r, FL_OP_SPILL, sizeof(struct fl_wire_spill), NULL, 0, NULL, 0, out, err, errlen);
	case FL_REC_DROPS:
		return copy(c, r, FL_OP_DROPS, sizeof(struct fl_wire_drops), NULL, 0, NULL, 0, out, err, errlen);
	case FL_REC_GOODBYE:
		if (copy(c, r, FL_OP_GOODBYE, sizeof(struct fl_wire_goodbye), NULL, 0, NULL, 0, out, err, errlen))
			return -1;
		c->proc->goodbye = 1;
		fl_procs_end(c->proc, fl_clock_ns(CLOCK_MONOTONIC));
		c->state = CONN_DONE;
		return 0;
	}
	return bad(err, errlen, "unexpected %s record", name);
}

int fl_conn_end(struct fl_conn *c, int shutting_down, struct fl_batch *out)
{
	int rc = 0;
	struct fl_proc *p = c->proc;
	if (p) {
		p->nconns--;
		if (p->nconns == 0 && !p->ended && !shutting_down) {
			struct fl_op_time *op = fl_batch_add(out, FL_OP_VANISH, p->key, 0, sizeof *op);
			if (op)
				op->real_ns = fl_clock_ns(CLOCK_REALTIME);
			else
				rc = -1;
			fl_procs_end(p, fl_clock_ns(CLOCK_MONOTONIC));
		}
	}
	free(c);
	return rc;
}
