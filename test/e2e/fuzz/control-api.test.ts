// Seeded fuzz of the HTTP control API of real daemons (switchd sw1 and hostd esx1 of
// topologies/native-vlan-trap.yaml): PIPELINED_INPUTS requests pipelined in batches over raw TCP
// (methods, request targets mutated from the real routes and from `//x:99999/`-style targets, random
// headers, JSON bodies mutated from real ones; with the right token, a wrong one or none), then
// RAW_INPUTS byte-level mutants of whole requests, each on its own connection (broken request lines,
// control characters, bad lengths). Every answer must be one of ALLOWED_STATUS (never a 500: bad input
// is 4xx), each daemon must stay alive and serve GET /control/status, and its RSS must stay under
// RSS_BOUND_BYTES. Bounded in count and time (FUZZ_TIME_MS). Seed: FUZZ_SEED (VFAB_FUZZ_SEED replays).

import { expect } from 'chai';
import { type TestFabric, useFabric } from '../helpers/fabric.js';
import { rawExchange } from '../helpers/raw-http.js';
import { FUZZ_SEED, Fuzz, RssSampler, expectServing } from './fuzz-helpers.js';

const PIPELINED_INPUTS = 100_000;
const RAW_INPUTS = 2_000;
const BATCH = 250;
const CONNECTIONS = 4;
const RAW_CONCURRENCY = 16;
/** Hard stop for the whole fuzz (it normally needs a fraction of this). */
const FUZZ_TIME_MS = 40_000;
const RSS_BOUND_BYTES = 300 * 1024 * 1024;
const ALLOWED_STATUS = [200, 201, 400, 401, 404, 405, 408, 409, 413];

const ROUTES = [
  '/control/status',
  '/control/mac-table',
  '/control/mac-table/clear',
  '/control/events?since=0',
  '/control/peers',
  '/control/links/vmnic0',
  '/control/links/Gi1%2F0%2F1/impair',
  '/control/links/Gi1%2F0%2F1/flap',
  '/control/ports/Gi1%2F0%2F1/shutdown',
  '/control/vms/fixed/ping',
  '/control/vms/fixed/power',
  '/control/streams/fixed',
  '/control/storage',
  '//x:99999/',
  '//x:99999/?token=abc',
  '/link/Gi1%2F0%2F10',
  '/capture?point=Gi1/0/1',
  '/%E0%A4%A',
];
const BODIES = [
  '{}',
  '{"up":false}',
  '{"up":true}',
  '{"lossPercent":5,"direction":"tx","seed":1}',
  '{"delayMs":1,"jitterMs":1}',
  '{"schedule":[{"atMs":5000,"up":true}]}',
  '{"periodMs":1000,"downMs":10,"count":1}',
  '{"shutdown":false}',
  '{"peers":{}}',
  '{"vlan":10,"port":"Gi1/0/1"}',
  '{"target":"192.0.2.1","count":1,"timeoutMs":10}',
  '[]',
  'null',
  '"x"',
  '{"a":',
];
/** Methods the HTTP parser accepts (others, like `GeT`, end the connection: the raw inputs cover them). */
const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'];
const URL_CHARS = "abcxyz019/%?&=#:@._-~!$'()*+,;[]EF";
const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-';
const VALUE_CHARS = ' !#$%&()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~';

function request(f: Fuzz, token: string, url: string, method: string, body: string, extra: string[]): string {
  const auth = f.chance(0.55) ? [`Authorization: Bearer ${token}`] : f.chance(0.3) ? [`Authorization: Bearer ${token.slice(0, -1)}x`] : f.chance(0.5) ? [] : [`Authorization: ${f.text(f.int(20), VALUE_CHARS)}`];
  const lines = [`${method} ${url} HTTP/1.1`, 'Host: fuzz', ...auth, ...extra];
  if (body.length > 0 || method !== 'GET') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A request that stays well-framed (so a batch keeps going): mutated target, headers and body. */
function pipelinedRequest(f: Fuzz, token: string): string {
  let url = f.pick(ROUTES);
  if (f.chance(0.7)) {
    const mutated = f.mutate(Buffer.from(url), 3).toString('latin1');
    // keep the request line parseable: the target is visible ASCII without spaces
    url = mutated.replace(/[^\x21-\x7e]/g, () => f.pick([...URL_CHARS]));
    // origin-form, absolute-form or `*` (anything else ends the connection: the raw inputs cover it)
    if (!url.startsWith('/')) url = f.chance(0.9) ? `/${url}` : f.pick(['*', `http://h${url.startsWith('/') ? '' : '/'}${url}`]);
  }
  if (f.chance(0.1)) url += f.text(f.int(40), URL_CHARS);
  const method = f.chance(0.5) ? 'POST' : f.pick(METHODS);
  let body = '';
  if (method !== 'GET' || f.chance(0.05)) {
    body = f.pick(BODIES);
    if (f.chance(0.6)) body = f.mutate(Buffer.from(body), 3).toString('utf8');
  }
  const extra: string[] = [];
  for (let i = f.int(3); i > 0; i--) extra.push(`X-${f.text(1 + f.int(10), TOKEN_CHARS)}: ${f.text(f.int(30), VALUE_CHARS)}`);
  return request(f, token, url, method, body, extra);
}

/** A whole request mutated at the byte level (often not HTTP at all): sent alone on its connection. */
function rawRequest(f: Fuzz, token: string): Buffer {
  const base = Buffer.from(pipelinedRequest(f, token), 'latin1');
  if (f.chance(0.05)) return f.bytes(1 + f.int(200));
  if (f.chance(0.05)) return Buffer.from(`POST /control/peers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${f.pick([2_000_000, -1, 1e20, 5])}\r\n\r\n{}`);
  if (f.chance(0.05)) return Buffer.from(`HEAD ${f.pick(ROUTES)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return f.mutate(base, 6);
}

describe('fuzz: the HTTP control API of switchd and hostd (seeded, bounded)', function () {
  this.timeout(FUZZ_TIME_MS + 30_000);
  let fab: TestFabric;

  useFabric('topologies/native-vlan-trap.yaml', (f) => (fab = f));

  it(`${PIPELINED_INPUTS} pipelined + ${RAW_INPUTS} raw inputs (seed ${FUZZ_SEED}): only 4xx/2xx answers, daemons alive, RSS under ${RSS_BOUND_BYTES / 2 ** 20} MiB`, async () => {
    const f = new Fuzz(FUZZ_SEED);
    const token = fab.state.token;
    const targets = [fab.daemon('sw1'), fab.daemon('esx1')];
    const samplers = targets.map((d) => new RssSampler(d.pid));
    const deadline = Date.now() + FUZZ_TIME_MS;
    const bad: string[] = [];
    let answered = 0;
    let closedEarly = 0;
    try {
      let n = 0;
      while (answered < PIPELINED_INPUTS && Date.now() < deadline && bad.length === 0) {
        await Promise.all(
          Array.from({ length: CONNECTIONS }, async () => {
            const d = targets[n++ % targets.length]!;
            const reqs = Array.from({ length: BATCH }, () => pipelinedRequest(f, token));
            const r = await rawExchange(d.port, reqs.join(''), BATCH, 20_000);
            r.responses.forEach((res, i) => {
              if (!ALLOWED_STATUS.includes(res.status)) bad.push(`${d.name}: ${res.status} ${res.body.slice(0, 300)} for ${JSON.stringify(reqs[i]!.slice(0, 400))}`);
            });
            answered += r.responses.length;
            if (r.responses.length < BATCH) closedEarly++;
          }),
        );
      }
      if (process.env.VFAB_FUZZ_VERBOSE) console.log(`pipelined: ${answered} answered in ${Date.now() - deadline + FUZZ_TIME_MS} ms`);
      let raw = 0;
      while (raw < RAW_INPUTS && Date.now() < deadline && bad.length === 0) {
        await Promise.all(
          Array.from({ length: RAW_CONCURRENCY }, async () => {
            const d = targets[raw++ % targets.length]!;
            const req = rawRequest(f, token);
            const r = await rawExchange(d.port, req, 1, 5_000, true);
            const res = r.responses[0];
            if (res !== undefined && !ALLOWED_STATUS.includes(res.status)) bad.push(`${d.name}: ${res.status} ${res.body.slice(0, 300)} for raw ${JSON.stringify(req.toString('latin1').slice(0, 400))}`);
          }),
        );
      }
      expect(bad, 'answers outside ALLOWED_STATUS (first few)').to.deep.equal([]);
      expect(answered, `pipelined requests answered (batches cut short by a close: ${closedEarly})`).to.be.at.least(PIPELINED_INPUTS);
      expect(raw).to.be.at.least(RAW_INPUTS);
    } finally {
      samplers.forEach((s, i) => {
        const peak = s.stop();
        if (process.env.VFAB_FUZZ_VERBOSE) console.log(`${targets[i]!.name} RSS peak ${Math.round(peak / 2 ** 20)} MiB`);
        expect(peak, `${targets[i]!.name} RSS peak`).to.be.below(RSS_BOUND_BYTES);
      });
    }
    for (const d of targets) await expectServing(d.name, d.pid, d.name, d.port, token);
  });
});
