/*
 * A small streaming JSON writer for the commands' --format json: nested
 * objects and arrays, indented two spaces, strings escaped (bytes that
 * are not valid UTF-8 become U+FFFD), integers exact.
 */
#ifndef FL_JSON_H
#define FL_JSON_H

#include <stdint.h>
#include <stdio.h>

#define FL_JSON_DEPTH 32

struct fl_json {
	FILE *f;
	int depth;
	int count[FL_JSON_DEPTH]; /* members written at each level */
	char close[FL_JSON_DEPTH]; /* '}' or ']' for each open level */
};

void fl_json_init(struct fl_json *j, FILE *f);

/* In an object, key names the member; in an array (or at the top) it is NULL. */
void fl_json_object(struct fl_json *j, const char *key);
void fl_json_array(struct fl_json *j, const char *key);
void fl_json_end(struct fl_json *j); /* closes the innermost object or array */

void fl_json_int(struct fl_json *j, const char *key, int64_t v);
void fl_json_double(struct fl_json *j, const char *key, double v); /* not finite: null */
void fl_json_str(struct fl_json *j, const char *key, const char *s); /* NULL: null */
void fl_json_strn(struct fl_json *j, const char *key, const char *s, size_t n);
void fl_json_bool(struct fl_json *j, const char *key, int v);
void fl_json_null(struct fl_json *j, const char *key);

/* Just the escaped string, quotes included. */
void fl_json_quote(FILE *f, const char *s, size_t n);

#endif
