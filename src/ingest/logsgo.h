/*
 * logsgo.h - decoder for LogsGO's protobuf entries (proto/logapi.proto).
 *
 * LogEntry{service, level, message, timestamp (unix seconds), labels} arrives
 * alone (gRPC logapi.LogIngestor/UploadLog) or in a LogBatch (UploadLogs, and
 * the bodies of RabbitMQ messages). Each entry becomes a stream entry with
 * LogsGO's key rules:
 *
 * - labels `service` and `level`, plus the custom labels, whose keys are
 *   trimmed, dropped when empty or reserved (`service`, `level`, `message`,
 *   any case), then normalised into label names like every free-form key;
 * - line = message; timestamp seconds -> ns, 0 meaning now (whole seconds);
 * - an entry without service, level or message is refused with the LogsGO
 *   client's message ("log entry must contain Service, Level, and Message
 *   fields"), the others are kept.
 *
 * Strings point into msg. Returns 0; STRATA_EPARSE with a message when msg is
 * not a valid LogEntry/LogBatch; STRATA_ETOOLARGE past the memory budget.
 */
#ifndef STRATA_LOGSGO_H
#define STRATA_LOGSGO_H

#include "ingest/normalize.h"

int logsgo_entry_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen);
int logsgo_batch_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen);

#endif
