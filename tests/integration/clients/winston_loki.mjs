// winston + winston-loki with json: false (snappy-compressed protobuf), as an application
// would use it. Usage: node winston_loki.mjs URL TENANT RUN N
// Prints {"protobuf": bool, "labels": {...}, "entries": [[ns, line], ...]} once everything
// was sent (or a non-zero exit on a send error).
import winston from 'winston';
import LokiTransport from 'winston-loki';

const [url, tenant, run, n] = process.argv.slice(2);
const errors = [];
const transport = new LokiTransport({
  host: url,
  json: false,
  batching: true,
  interval: 3600,
  replaceTimestamp: false,
  headers: { 'X-Scope-OrgID': tenant },
  labels: { app: 'winston-app', run },
  format: winston.format.printf((info) => info.message),
  onConnectionError: (err) => errors.push(String(err)),
});
const logger = winston.createLogger({ level: 'debug', transports: [transport] });
const base = Date.now() - 5000;
const entries = [];
const levels = ['info', 'warn', 'error', 'debug'];
for (let i = 0; i < Number(n); i++) {
  const line = `winston line ${i} "quoted" \\ tab\t ünïcödé ${'x'.repeat(i % 7)}`;
  const ts = base + i; // winston-loki sends milliseconds
  logger.log({ level: levels[i % levels.length], message: line, timestamp: ts });
  entries.push({ level: levels[i % levels.length], ns: String(ts) + '000000', line });
}
await new Promise((r) => setTimeout(r, 50));
await transport.close();
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
console.log(JSON.stringify({
  protobuf: transport.batcher.options.json === false &&
    transport.batcher.contentType === 'application/x-protobuf',
  labels: { app: 'winston-app', run },
  entries,
}));
