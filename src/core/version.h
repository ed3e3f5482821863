/* version.h - build identification, filled in by the Makefile. */
#ifndef STRATA_VERSION_H
#define STRATA_VERSION_H

extern const char strata_version[];    /* "0.1.0" */
extern const char strata_revision[];   /* git commit, or "unknown" */
extern const char strata_build_date[]; /* RFC 3339 */
/* The Loki version Strata's API corresponds to (reported by buildinfo). */
extern const char strata_loki_version[];

#endif
