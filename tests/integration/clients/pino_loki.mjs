// pino + pino-loki (JSON push). Usage: node pino_loki.mjs URL TENANT RUN N
// Every request body pino-loki sends is captured on its way out (fetch is wrapped), and
// printed as {"pushed": [body, ...], "statuses": [...]}: the test compares what the server
// returns with exactly what the client sent.
import pino from 'pino';
import pinoLoki from 'pino-loki';

const [url, tenant, run, n] = process.argv.slice(2);
const pushed = [];
const statuses = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  pushed.push(JSON.parse(init.body));
  const res = await realFetch(input, init);
  statuses.push(res.status);
  return res;
};
const stream = pinoLoki({
  host: url,
  headers: { 'X-Scope-OrgID': tenant },
  labels: { app: 'pino-app', run },
  batching: { interval: 3600, maxBufferSize: 0 },
  silenceErrors: false,
});
const logger = pino({ level: 'debug' }, stream);
for (let i = 0; i < Number(n); i++) {
  const meta = i % 3 === 0 ? { meta: { trace_id: `t${i}`, attempt: i } } : {};
  const fn = ['info', 'warn', 'error', 'debug'][i % 4];
  logger[fn]({ i, ...meta }, `pino message ${i} with "quotes" and ünïcödé`);
}
await new Promise((resolve) => {
  stream.on('close', resolve);
  stream.end();
});
console.log(JSON.stringify({ pushed, statuses }));
