/*
 * otlp.h - OpenTelemetry OTLP logs: ExportLogsServiceRequest in protobuf and JSON.
 *
 * Both encodings are read into one small model (resource logs -> scope logs
 * -> log records, with AnyValue trees) allocated in the batch arena; one
 * mapper then turns the model into streams and entries the way Loki does
 * (pkg/loghttp/push/otlp.go):
 *
 * - stream labels: the resource attributes in Loki's default index list
 *   (service.name, service.namespace, service.instance.id,
 *   deployment.environment.name, cloud.region, cloud.availability_zone,
 *   k8s.cluster.name, k8s.namespace.name, k8s.pod.name, k8s.container.name,
 *   container.name, k8s.replicaset.name, k8s.deployment.name,
 *   k8s.statefulset.name, k8s.daemonset.name, k8s.cronjob.name,
 *   k8s.job.name), names normalised (service.name -> service_name); without
 *   service.name, service_name comes from the discovery list
 *   (--limits.discover-service-name) among those labels, else
 *   unknown_service;
 * - line: the body as a string (AnyValue AsString: maps and arrays as JSON,
 *   bytes as base64);
 * - timestamp: time_unix_nano, else observed_time_unix_nano, else now;
 * - structured metadata: the log attributes, observed_timestamp (when both
 *   times are set), severity_number, severity_text,
 *   dropped_attributes_count, flags, trace_id, span_id (lowercase hex),
 *   event_name, then the other resource attributes, then the scope's
 *   attributes, scope_name, scope_version and scope_dropped_attributes_count.
 *   Nested maps are flattened with '_' ("http": {"method": "GET"} ->
 *   http_method).
 *
 * JSON follows the OTLP/JSON rules: lowerCamelCase keys (snake_case is
 * accepted too), trace and span ids as hex, enums as integers, 64-bit
 * integers as strings or numbers, bytes as base64, unknown fields ignored.
 *
 * Returns 0 (records refused by the limits are counted in res->n_invalid for
 * the partial-success reply); STRATA_EPARSE with a message when the request
 * is malformed; STRATA_ETOOLARGE past the batch's memory budget.
 */
#ifndef STRATA_OTLP_H
#define STRATA_OTLP_H

#include "ingest/normalize.h"

int otlp_proto_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen);
int otlp_json_decode(struct slice body, struct normalizer *nz, char *err, size_t errlen);

/*
 * Format a double as Go's pdata AsString (and encoding/json) do: the
 * shortest decimal that reads back exactly, in plain notation unless the
 * magnitude is < 1e-6 or >= 1e21 ("1e+21", "1.5e-7"). out needs 32 bytes;
 * returns the length.
 */
size_t otlp_format_double(double d, char *out);

#endif
