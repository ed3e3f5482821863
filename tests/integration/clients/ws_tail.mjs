// ws_tail.mjs URL PROTOCOLS [OPTIONS_JSON] - open a WebSocket with npm `ws` (a real RFC 6455
// client: it fails the handshake when the server does not pick one of the offered
// subprotocols) and print one JSON line describing what happened:
//   {"protocol": <subprotocol the server chose>, "messages": [<parsed text frames>],
//    "status": <HTTP status of a refused handshake>, "body": <its body>,
//    "error": <client error>, "close": <close code>}
// PROTOCOLS is a comma-separated list, or "-" for none. OPTIONS: headers (object), origin,
// until (stop once a message contains this text), messages (stop after this many frames;
// default 1), timeout_ms (default 10000).
import WebSocket from 'ws';

const [url, protoArg, optsJson] = process.argv.slice(2);
const opts = optsJson ? JSON.parse(optsJson) : {};
const protocols = protoArg && protoArg !== '-' ? protoArg.split(',') : undefined;
const want = opts.messages ?? 1;
const out = { protocol: null, messages: [], status: null, body: null, error: null, close: null };
let finished = false;

function done() {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    console.log(JSON.stringify(out));
    process.exit(0);
}

const ws = new WebSocket(url, protocols, { headers: opts.headers || {}, origin: opts.origin });
const timer = setTimeout(() => {
    out.error = out.error || 'timeout';
    ws.terminate();
    done();
}, opts.timeout_ms ?? 10000);

ws.on('open', () => {
    out.protocol = ws.protocol;
    if (want === 0) ws.close(1000);
});
ws.on('message', (data) => {
    const text = data.toString();
    out.messages.push(JSON.parse(text));
    if ((opts.until && text.includes(opts.until)) || (!opts.until && out.messages.length >= want))
        ws.close(1000);
});
ws.on('unexpected-response', (req, res) => {
    out.status = res.statusCode;
    let body = '';
    res.on('data', (c) => { body += c; });
    res.on('end', () => { out.body = body; done(); });
});
ws.on('error', (e) => { out.error = e.message; });
ws.on('close', (code) => {
    out.close = code;
    done();
});
