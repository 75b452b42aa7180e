// End-to-end: no single request can kill a daemon or get a 500 for bad input. Each kind of daemon (switchd,
// hostd, the vm daemon of an external VM, stored) gets request targets the URL parser refuses
// (`GET //x:99999/`, once without and once with the token, also as a WebSocket upgrade), bad percent-
// escapes in a route parameter, a body over the size limit, a JSON body that is not an object, a broken
// request line, and a request head that never ends; each is answered (400/401/404/408/413) or the
// connection is closed, and the daemon still serves GET /control/status afterwards. Fabric:
// topologies/external-vm.yaml (sw1, esx1, esx2, vm daemons ext1 and raw1) plus a stored on --memory.
// Bounds: docs/security.md.

import { expect } from 'chai';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, startFabric, type TestFabric } from '../helpers/fabric.js';
import { expectServing, rawExchange } from '../helpers/raw-http.js';
import { TOKEN, killStored, spawnStored, type StoredProcess } from '../storage/helpers.js';
import { HEADERS_TIMEOUT_MS } from '../../../daemons/common/http-guard.js';

interface Target {
  name: string;
  /** Its --name (what the PID check looks for on the command line). */
  daemon: string;
  port: number;
  pid: number;
  token: string;
  /** A route with a parameter, for the bad-escape case (POST). */
  paramRoute: string;
}

describe('e2e: hostile requests never end a daemon (topologies/external-vm.yaml + stored)', function () {
  this.timeout(30_000);
  let fab: TestFabric;
  let stored: StoredProcess;
  const targets: Target[] = [];

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric('topologies/external-vm.yaml');
    stored = await spawnStored(['--memory', '--name', 'arr1']);
    const t = fab.state.token;
    targets.push(
      { name: 'switchd sw1', daemon: 'sw1', port: fab.daemon('sw1').port, pid: fab.daemon('sw1').pid, token: t, paramRoute: '/control/links/%E0%A4%A/impair' },
      { name: 'hostd esx1', daemon: 'esx1', port: fab.daemon('esx1').port, pid: fab.daemon('esx1').pid, token: t, paramRoute: '/control/links/%E0%A4%A/impair' },
      { name: 'vm daemon ext1', daemon: 'ext1', port: fab.daemon('ext1').port, pid: fab.daemon('ext1').pid, token: t, paramRoute: '/control/links/%E0%A4%A/impair' },
      { name: 'stored', daemon: 'arr1', port: stored.port, pid: stored.pid, token: TOKEN, paramRoute: '/control/luns/%E0%A4%A/grow' },
    );
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await killStored(stored);
    await fab?.down();
  });

  const servesStatus = (t: Target): Promise<void> => expectServing(t.name, t.pid, t.daemon, t.port, t.token);

  const CASES: Array<{ what: string; request: (t: Target) => string; allowed: number[] }> = [
    { what: 'GET //x:99999/ without the token', request: () => 'GET //x:99999/ HTTP/1.1\r\nHost: x\r\n\r\n', allowed: [401] },
    { what: 'GET //x:99999/ with the token', request: (t) => `GET //x:99999/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\n\r\n`, allowed: [400, 404] },
    { what: 'GET //x:99999/?token=... (token in the raw query)', request: (t) => `GET //x:99999/?token=${t.token} HTTP/1.1\r\nHost: x\r\n\r\n`, allowed: [400, 404] },
    {
      what: 'WebSocket upgrade of //x:99999/ without the token',
      request: () => 'GET //x:99999/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      allowed: [401, 404],
    },
    {
      what: 'WebSocket upgrade of //x:99999/ with the token',
      request: (t) => `GET //x:99999/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      allowed: [400, 404],
    },
    {
      what: 'WebSocket upgrade of /link/ with a bad escape',
      request: (t) => `GET /link/%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      allowed: [400, 404],
    },
    { what: 'a bad percent-escape in a route parameter', request: (t) => `POST ${t.paramRoute} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nContent-Length: 2\r\n\r\n{}`, allowed: [400] },
    { what: 'a declared body over the limit', request: (t) => `POST ${t.paramRoute.replace('%E0%A4%A', 'x')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nContent-Length: 2000000\r\n\r\n{`, allowed: [413] },
    { what: 'a JSON body that is not an object', request: (t) => `POST ${t.paramRoute.replace('%E0%A4%A', 'x')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nContent-Length: 7\r\n\r\n[1,2,3]`, allowed: [400, 404] },
    { what: 'a broken request line', request: () => 'GARBAGE\r\n\r\n', allowed: [400] },
    { what: 'a request target of *', request: (t) => `OPTIONS * HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\n\r\n`, allowed: [400, 404] },
  ];

  for (const c of CASES) {
    it(`${c.what}: answered, never a 500 or an exit; the daemon serves on`, async () => {
      for (const t of targets) {
        const r = await rawExchange(t.port, c.request(t));
        if (r.responses.length > 0) expect(c.allowed, `${t.name}: status ${r.responses[0]!.status} ${r.responses[0]!.body}`).to.include(r.responses[0]!.status);
        else expect(r.closed, `${t.name}: no answer, so the connection must have been closed`).to.equal(true);
        await servesStatus(t);
      }
    });
  }

  it(`a request head that never ends is dropped within HEADERS_TIMEOUT_MS (${HEADERS_TIMEOUT_MS} ms) + 5 s`, async function () {
    this.timeout(HEADERS_TIMEOUT_MS + 20_000);
    const started = Date.now();
    const results = await Promise.all(targets.map((t) => rawExchange(t.port, 'GET /control/status HTTP/1.1\r\nHost: x\r\n', 1, HEADERS_TIMEOUT_MS + 5_000)));
    results.forEach((r, i) => {
      const answered = r.responses[0]?.status;
      expect(r.closed || answered === 408, `${targets[i]!.name} closed the slow connection (or answered 408)`).to.equal(true);
    });
    expect(Date.now() - started).to.be.below(HEADERS_TIMEOUT_MS + 5_000);
    for (const t of targets) await servesStatus(t);
  });
});
