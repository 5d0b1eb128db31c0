/* audit_int.h - what audit.c shares with verify.c. */
#ifndef SP_AUDIT_INT_H
#define SP_AUDIT_INT_H

#include "audit/audit.h"

/* prev_hash of the first row. */
#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * hex(SHA-256(prev_hash || canonical JSON of the row)), with row->data
 * spliced in as the exact stored text (see audit.c). prev_hash is taken
 * from the argument, not from row. Returns 0, or -1 when out of memory.
 */
int audit_row_hash(const char *prev_hash, const store_audit_row *row, char out[65]);

#endif
