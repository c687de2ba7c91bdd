/*
 * The names of faultline's enumerations as users read them (fault kinds,
 * pressure levels, engines, range kinds, page states): one table each, for the shim's
 * summary and fault log, the daemon and the CLI alike.  Declared in the
 * public header include/faultline/faultline.h.
 */
#include "faultline/faultline.h"
#include "faultline/state.h"

const char *fl_range_kind_name(enum fl_range_kind k)
{
	switch (k) {
	case FL_RANGE_PLAIN: return "managed";
	case FL_RANGE_ALLOCATOR: return "jemalloc";
	case FL_RANGE_PROGRAM: return "program mmap";
	case FL_RANGE_SHIM: return "faultline";
	case FL_RANGE_COMMITTED: return "resv->commit";
	case FL_RANGE__COUNT: break;
	}
	return "unknown";
}

const char *fl_pressure_name(enum fl_pressure p)
{
	switch (p) {
	case FL_PRESSURE_NORMAL: return "NORMAL";
	case FL_PRESSURE_WARN: return "WARN";
	case FL_PRESSURE_CRITICAL: return "CRITICAL";
	}
	return "?";
}

const char *fl_fault_kind_name(enum fl_fault_kind k)
{
	switch (k) {
	case FL_FAULT_FIRST_TOUCH: return "first-touch";
	case FL_FAULT_SOFT: return "soft";
	case FL_FAULT_DECOMPRESS: return "decompress";
	case FL_FAULT_SAME_FILLED: return "same-filled";
	case FL_FAULT_SPILL: return "spill";
	case FL_FAULT_WP: return "write-protect";
	default: return "?";
	}
}

const char *fl_engine_name(enum fl_engine_kind e)
{
	switch (e) {
	case FL_ENGINE_OFF: return "off";
	case FL_ENGINE_UFFD: return "uffd";
	case FL_ENGINE_UFFD_USER: return "uffd-user";
	case FL_ENGINE_SIGNAL: return "signal";
	case FL_ENGINE_UFFD_SIGBUS: return "uffd-sigbus";
	}
	return "?";
}

const char *fl_state_page_name(unsigned state)
{
	switch (state) {
	case FL_STATE_UNTOUCHED: return "untouched";
	case FL_STATE_RESIDENT: return "resident";
	case FL_STATE_INACTIVE: return "inactive";
	case FL_STATE_COMPRESSED: return "compressed";
	case FL_STATE_SAME_FILLED: return "same-filled";
	}
	return "?";
}
