// test_units.mjs - the dashboard's pure functions, run in node (no browser, no server).
import { eq, test } from './harness.mjs';
import { entriesFromStreams, levelOf, normalizeLevel, streamKey } from '../../web/src/logs.js';
import {
    addLabelMatcher,
    addPipelineFilter,
    isLogQuery,
    lineFilters,
    logqlContext,
    logsgoContext,
    logsgoValue,
    matchRanges,
    otherMatchers,
    unquoteGo,
} from '../../web/src/logql.js';
import { base64url, tailProtocols } from '../../web/src/api.js';
import { rankSuggestions } from '../../web/src/rank.js';
import { formatDuration, niceStep, parseDuration, resolveRange } from '../../web/src/time.js';

test('rank_prefix_first_then_alphabetical_at_most_10', async () => {
    eq(rankSuggestions(['rapid', 'api', 'app', 'zap', 'Apple'], 'ap'), ['api', 'app', 'Apple', 'rapid', 'zap'], 'ranking');
    eq(rankSuggestions(['Service', 'level', 'svc'], 'S'), ['Service', 'svc'], 'case-insensitive substring');
    eq(rankSuggestions(['b', 'a', 'b', 'c'], ''), ['a', 'b', 'c'], 'empty term keeps all, deduplicated');
    const many = Array.from({ length: 30 }, (_, i) => 'host-' + String(i).padStart(2, '0'));
    eq(rankSuggestions(many, 'host').length, 10, 'at most 10');
    eq(rankSuggestions(many, '1'), ['host-01', 'host-10', 'host-11', 'host-12', 'host-13', 'host-14', 'host-15', 'host-16', 'host-17', 'host-18'], 'inner matches');
});

test('logql_context_for_autocomplete', async () => {
    const at = (s) => logqlContext(s.replace('^', ''), s.indexOf('^'));
    eq(at('{^'), { kind: 'label', term: '', from: 1, to: 1 }, 'after {');
    eq(at('{ap^'), { kind: 'label', term: 'ap', from: 1, to: 3 }, 'label prefix');
    eq(at('{app="x", en^}'), { kind: 'label', term: 'en', from: 10, to: 12 }, 'after ,');
    eq(at('{app="sh^'), { kind: 'value', label: 'app', op: '=', term: 'sh', from: 6, to: 8, quoted: true }, 'value in quotes');
    eq(at('{app=~^'), { kind: 'value', label: 'app', op: '=~', term: '', from: 6, to: 6, quoted: false }, 'value after op');
    eq(at('{app="a,b", x="^"}').label, 'x', 'comma inside a string does not split');
    eq(at('{app="x"} | js^').kind, 'keyword', 'keyword after the selector');
    eq(at('{app="x"} |= "err^'), null, 'inside a line filter string');
});

test('other_matchers_restrict_suggestions', async () => {
    const at = (s) => otherMatchers(s.replace('^', ''), s.indexOf('^'));
    eq(at('{env="dev", app="^'), '{env="dev"}', 'the matchers before');
    eq(at('{^, app="shop"} |= "x"'), '{app="shop"}', 'and after the cursor');
    eq(at('{a="x,}", b=~".+", c="^"}'), '{a="x,}", b=~".+"}', 'commas and braces in strings');
    eq(at('{x=`a"b`, ^'), '{x=`a"b`}', 'raw strings');
    eq(at('sum(count_over_time({app="a", ^}[1m]))'), '{app="a"}', 'inside a metric query');
    eq(at('{^'), null, 'none');
    eq(at('{a="", b!="y", ^'), null, 'none that is selective (the server would refuse it)');
    eq(at('{app=~".*", ^'), null, 'a regex matching the empty string is not selective');
    eq(at('{app="x"} |= "^'), null, 'outside the selector');
});

test('tail_subprotocols_carry_token_and_tenant', async () => {
    eq(base64url('a'), 'YQ', 'no padding');
    eq(base64url('\u00ff\u00fe?>'), 'w7_Dvj8-', 'url alphabet over UTF-8 bytes');
    eq(tailProtocols('', ''), [], 'nothing offered without credentials');
    eq(tailProtocols('tok.en-1', ''), ['strata.v1', 'strata.bearer.dG9rLmVuLTE'], 'token');
    eq(tailProtocols('', 'team-a'), ['strata.v1', 'strata.tenant.dGVhbS1h'], 'tenant');
    eq(tailProtocols('t', 'shop|bank').length, 3, 'both');
    // Every value is an RFC 7230 token, as Sec-WebSocket-Protocol requires.
    for (const p of tailProtocols('eyJ+/=x', 'ü|x')) eq(/^[A-Za-z0-9._-]+$/.test(p), true, p);
});

test('logsgo_context_and_values', async () => {
    const at = (s) => logsgoContext(s.replace('^', ''), s.indexOf('^'));
    eq(at('serv^'), { kind: 'key', term: 'serv', from: 0, to: 4 }, 'key');
    eq(at('service=ap^'), { kind: 'value', key: 'service', term: 'ap', from: 8, to: 10, quote: null }, 'value');
    eq(at('service=api & lev^').kind, 'key', 'after &');
    eq(at('region = "us^').quote, '"', 'quoted value');
    eq(logsgoValue('api'), 'api', 'bare word');
    eq(logsgoValue('two words'), '"two words"', 'quoted');
    eq(logsgoValue('and'), '"and"', 'keyword quoted');
});

test('line_filters_and_highlight_ranges', async () => {
    const f = lineFilters('{app="x"} |= "err" != "skip" |~ "(?i)time(out)?" |= "a" or "b" | json');
    eq(f.length, 4, 'filters found');
    eq(f[0], { kind: 'text', value: 'err' }, 'substring');
    eq(matchRanges('an error: TIMEOUT err', f), [[0, 1], [3, 6], [10, 17], [18, 21]], 'ranges sorted');
    eq(matchRanges('aXb', lineFilters('{a="b"} |= "a" or "b"')), [[0, 1], [2, 3]], 'or alternatives');
    eq(lineFilters('{a="b"} |= "say \\"hi\\""')[0].value, 'say "hi"', 'escapes');
    eq(unquoteGo('\\x41\\u00e9\\101\\n'), 'A\u00e9A\n', 'Go escapes');
    eq(isLogQuery(' {a="b"}'), true, 'log query');
    eq(isLogQuery('rate({a="b"}[1m])'), false, 'metric query');
});

test('query_edits_from_log_details', async () => {
    eq(addLabelMatcher('{app="x"} |= "e"', 'env', '=', 'prod'), '{app="x", env="prod"} |= "e"', 'added');
    eq(addLabelMatcher('{}', 'a', '!=', 'q"'), '{a!="q\\""}', 'escaped into an empty selector');
    eq(addLabelMatcher('{a="}"} | json', 'b', '=', '1'), '{a="}", b="1"} | json', 'brace inside a string');
    eq(addPipelineFilter('{a="b"} ', 'trace_id', '=', 'x'), '{a="b"} | trace_id="x"', 'pipeline filter');
});

test('levels_and_streams', async () => {
    eq(['WARNING', 'err', 'Fatal', 'information', 'nope'].map(normalizeLevel), ['warn', 'error', 'critical', 'info', null], 'aliases');
    const es = entriesFromStreams([
        { stream: { app: 'x', level: 'warn' }, values: [['1700000000000000001', 'a'], ['1700000000000000003', 'c']] },
        { stream: { app: 'y' }, values: [['1700000000000000002', 'level=error b', { structuredMetadata: { t: '1' } }]] },
    ]);
    eq(es.map((e) => e.line), ['c', 'level=error b', 'a'], 'newest first across streams');
    eq(es.map(levelOf), ['warn', 'error', 'warn'], 'levels from labels and the line');
    eq(es[1].meta, { t: '1' }, 'structured metadata');
    eq(streamKey({ b: '2', a: 'q"' }), '{a="q\\"", b="2"}', 'stream key');
});

test('durations_steps_and_ranges', async () => {
    eq(parseDuration('1h30m'), 5400000, 'prom duration');
    eq(Number.isNaN(parseDuration('1.5h')), true, 'fractions are not durations');
    eq(formatDuration(5400000), '1h30m', 'format');
    eq(niceStep(3600e3, 100), 60, '1h in 100 steps');
    eq(niceStep(7 * 864e5, 100), 7200, '7d in 100 steps');
    eq(resolveRange({ from: 'now-1h', to: 'now' }, 10000000), { start: 6400000, end: 10000000 }, 'relative');
    let threw = false;
    try {
        resolveRange({ from: '200', to: '100' });
    } catch {
        threw = true;
    }
    eq(threw, true, 'end before start');
});
