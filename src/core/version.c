#include "core/version.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "0.0.0"
#endif
#ifndef STRATA_REVISION
#define STRATA_REVISION "unknown"
#endif
#ifndef STRATA_BUILD_DATE
#define STRATA_BUILD_DATE "unknown"
#endif

const char strata_version[] = STRATA_VERSION;
const char strata_revision[] = STRATA_REVISION;
const char strata_build_date[] = STRATA_BUILD_DATE;
const char strata_loki_version[] = "3.4.0";
