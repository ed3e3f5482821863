// The OpenTelemetry JS logs SDK with one of the OTLP exporters of the 0.203.0 line.
// Usage: node otel_logs.mjs http|proto|grpc URL TENANT RUN N
// Prints {"results": [export result codes], "records": [...what was emitted...]}.
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as GrpcExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as HttpExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';

const [kind, url, tenant, run, n] = process.argv.slice(2);
const headers = { 'X-Scope-OrgID': tenant };
const exporter =
  kind === 'grpc' ? new GrpcExporter({ url })
    : kind === 'proto' ? new ProtoExporter({ url, headers })
      : new HttpExporter({ url, headers });
const results = [];
const recording = {
  export(records, done) {
    exporter.export(records, (r) => {
      results.push({ code: r.code, error: r.error ? String(r.error) : null });
      done(r);
    });
  },
  forceFlush: () => (exporter.forceFlush ? exporter.forceFlush() : Promise.resolve()),
  shutdown: () => exporter.shutdown(),
};
const provider = new LoggerProvider({
  resource: resourceFromAttributes({
    'service.name': `otel-${kind}`,
    'service.namespace': 'strata-tests',
    'deployment.environment.name': run,
    'host.name': 'builder-1',
  }),
  processors: [new BatchLogRecordProcessor(recording, { maxExportBatchSize: 64 })],
});
const logger = provider.getLogger('strata.ingest.test', '1.2.3');
const base = BigInt(Date.now() - 5000) * 1000000n;
const records = [];
const sev = [
  [SeverityNumber.INFO, 'INFO'], [SeverityNumber.WARN, 'WARN'],
  [SeverityNumber.ERROR, 'ERROR'], [SeverityNumber.DEBUG, 'DEBUG'],
];
for (let i = 0; i < Number(n); i++) {
  const ns = base + BigInt(i) * 1000n + 7n;
  const seconds = Number(ns / 1000000000n);
  const nanos = Number(ns % 1000000000n);
  const body = `otel ${kind} record ${i} ünïcödé "q"`;
  const [num, text] = sev[i % sev.length];
  logger.emit({
    timestamp: [seconds, nanos],
    severityNumber: num,
    severityText: text,
    body,
    attributes: { 'user.id': `u${i}`, 'http.status_code': 200 + i, 'retry': i % 2 === 0 },
  });
  records.push({ ns: ns.toString(), body, severity_number: String(num), severity_text: text, i });
}
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify({ results, records }));
