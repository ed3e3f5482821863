/* Helpers shared by the ingest unit tests (test_ingest*.c). */
#ifndef STRATA_TEST_INGEST_H
#define STRATA_TEST_INGEST_H

#include "ingest/normalize.h"

/*
 * The default limits (--limits.* defaults), except that old samples are
 * accepted so tests can use fixed timestamps. Lives until exit.
 */
const struct tenant_limits *ti_limits(void);
/* The defaults exactly as a server starts with them. */
const struct tenant_limits *ti_default_limits(void);
/* Start a batch for tenant "fake" with ti_limits() and the current time. */
void ti_begin(struct push_batch *b, struct push_result *r, struct normalizer *nz);

#endif
