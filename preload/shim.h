/*
 * State the shim's interposition shares with its life cycle (shim.c).
 */
#ifndef FL_SHIM_H
#define FL_SHIM_H

/* Set once the pager runs in this process: interposed calls may use it. */
extern int fl__shim_ready;

#define FL_EXPORT __attribute__((visibility("default")))

#endif
