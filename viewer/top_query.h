/*
 * faultline top's data source: the fault log database, the shim's state
 * file, /proc.  See top_query.c for how each figure is found.
 */
#ifndef FL_VIEWER_TOP_QUERY_H
#define FL_VIEWER_TOP_QUERY_H

#include "top.h"

struct fl_top_src;

/*
 * Open a source over the database at db_path (NULL: no database, only
 * --pid).  The database is opened read-only and must be faultline's of a
 * schema version this build reads.  Returns 0, or -1 with a one-line
 * reason in err naming the file.
 */
int fl_top_src_open(struct fl_top_src **out, const char *db_path, char *err, size_t errlen);
void fl_top_src_close(struct fl_top_src *s);
int fl_top_src_has_db(const struct fl_top_src *s);

/* The newest processes row of pid, or 0. */
long long fl_top_src_find_pid(struct fl_top_src *s, int pid);

/* The process the detail screens show: a processes row (id), or a pid
 * the database does not know (id 0).  0, 0: none. */
void fl_top_src_open_proc(struct fl_top_src *s, long long id, int pid);

/*
 * Replay mode, its time cursor stepping through the samples of process
 * proc (keeping the time it was at when proc changes; at the last sample
 * the first time).  Returns how many samples proc has.
 */
int fl_top_src_replay(struct fl_top_src *s, long long proc);
/* Move the replay cursor by delta samples (clamped). */
void fl_top_src_step(struct fl_top_src *s, int delta);

/*
 * Fill d for one frame: the process list always, the open process's
 * summary and graph history, and the regions (screen REGIONS or PAGEMAP)
 * or top stacks (FAULTS) it needs.  d's arrays are reused; free them with
 * fl_top_data_free.  Returns 0.
 */
int fl_top_src_refresh(struct fl_top_src *s, enum fl_top_screen_id screen, struct fl_top_data *d);
/* The faults screen lists allocation sites (on) or fault stacks (off). */
void fl_top_src_by_alloc(struct fl_top_src *s, int on);
void fl_top_data_free(struct fl_top_data *d);

#endif
