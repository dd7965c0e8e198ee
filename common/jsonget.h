/*
 * Typed reads of a json-c object's members, for everything the daemons read
 * as JSON: state files they wrote themselves and may find damaged, lines
 * from tray helpers, the broker's status document.  A member that is
 * missing, null or of another type reads as absent, never as an error and
 * never as a NULL the caller could trip on.  o itself may be NULL or not an
 * object: every member then reads as absent.
 */
#ifndef PRINTREDIR_JSONGET_H
#define PRINTREDIR_JSONGET_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/*
 * Parses buf (len bytes, need not be NUL-terminated) as one JSON value of
 * type t (json_type_object, json_type_array...), nothing but white space
 * after it.  Returns a new reference (json_object_put), or NULL with why in
 * err ("it is empty", "it is not JSON: ... at byte N", "it holds only null",
 * "it is not a JSON object"...).  err may be NULL when errlen is 0.
 */
json_object *jget_parse(const char *buf, size_t len, json_type t, char *err,
    size_t errlen);

/* The string value of o[key], owned by o; NULL when absent. */
const char *jget_str(json_object *o, const char *key);

/* o[key] when it is an integer: 1 and *out set, or 0 (absent) and *out
 * untouched.  jget_u64 refuses negative values. */
int jget_i64(json_object *o, const char *key, int64_t *out);
int jget_u64(json_object *o, const char *key, uint64_t *out);

/* The integer value of o[key], or dflt when absent. */
int64_t jget_int(json_object *o, const char *key, int64_t dflt);

/* The boolean value of o[key] (true or false only), or dflt when absent. */
int jget_bool(json_object *o, const char *key, int dflt);

/* o[key] when it is an object (or an array), owned by o; NULL when absent. */
json_object *jget_obj(json_object *o, const char *key);
json_object *jget_arr(json_object *o, const char *key);

#endif
