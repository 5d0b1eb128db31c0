/*
 * audit_anchor.h - `serve --audit-anchor FILE`: signed heads of the audit
 * trail appended to a file for keeping elsewhere (audit_anchor.c).
 */
#ifndef SP_SERVE_AUDIT_ANCHOR_H
#define SP_SERVE_AUDIT_ANCHOR_H

#include "audit/audit.h"
#include "core/err.h"
#include "store/store.h"

typedef struct audit_anchor audit_anchor;

/* Opens (creates, mode 0600) path for appending and starts the thread that
 * appends a signed head every every_s seconds when the trail has grown.
 * st and key are borrowed and must outlive audit_anchor_stop. NULL with
 * err set when the file cannot be opened. */
audit_anchor *audit_anchor_start(const char *path, int every_s, store *st, const audit_key *key,
                                 sp_error *err);
/* Appends a last head if the trail grew, then stops. NULL is ignored. */
void audit_anchor_stop(audit_anchor *an);

#endif
