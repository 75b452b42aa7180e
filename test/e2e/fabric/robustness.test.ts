// End-to-end robustness across real processes: bad input never crashes a daemon. Malformed link messages
// (truncated records, a FRAME record under 14 bytes, a text message, garbage bytes) and an oversize
// WebSocket message sent straight to a switchd / hostd link endpoint are dropped and counted (link
// counters in GET /control/status) and the fabric keeps forwarding; a wrong token is refused (HTTP 401 on
// control and on the WebSocket upgrade); a broken topology file gets file:line and exit 2 from `vfab up`
// and leaves no process behind. Follows docs/link-protocol.md. Fabric: topologies/native-vlan-trap.yaml
// (3 daemons; `fixed` -> `peer` is a working path through sw1 Gi1/0/1 and Gi1/0/10).

import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import { MAX_LINK_MESSAGE_BYTES } from '../../../lib/link/codec.js';
import { killDaemon, restartDaemon } from '../../../daemons/fabric/faults.js';
import { alivePids, makeTempDir, runCli, trackPids, waitFor, type TestFabric, useFabric } from '../helpers/fabric.js';

/** The bad messages, in order; each is one WebSocket message (text where noted). */
const BAD_MESSAGES: Array<{ what: string; data: Buffer | string }> = [
  { what: 'record header cut short (2 of 3 bytes)', data: Buffer.from([0x01, 0x00]) },
  { what: 'FRAME record whose length runs past the message', data: Buffer.from([0x01, 0x00, 0x40, 0xde, 0xad]) },
  { what: 'FRAME record of 5 bytes (under the 14-byte Ethernet header)', data: Buffer.from([0x01, 0x00, 0x05, 1, 2, 3, 4, 5]) },
  { what: 'text message', data: 'hello, I am not a link peer' },
  { what: 'garbage bytes', data: Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 73 + 0xe5) & 0xff)) },
  { what: 'CARRIER record of the wrong length', data: Buffer.from([0x02, 0x00, 0x05, 1, 0, 0, 0, 0]) },
];
const MALFORMED_COUNTED = 6;

/** Opens a link connection; resolves once open (or rejects with the HTTP status of a refusal). */
function openLink(port: number, iface: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/link/${encodeURIComponent(iface)}`, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** Sends every bad message, then one oversize message; resolves when the daemon has closed the socket. */
function sendBadInput(ws: WebSocket): Promise<number> {
  ws.on('error', () => {}); // the daemon may close first; that is the point
  for (const m of BAD_MESSAGES) ws.send(m.data, { binary: typeof m.data !== 'string' });
  ws.send(Buffer.alloc(MAX_LINK_MESSAGE_BYTES + 1024, 0x01), { binary: true });
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(0);
    ws.once('close', (code) => resolve(code));
    setTimeout(() => {
      ws.terminate();
      resolve(-1);
    }, 5000).unref();
  });
}

describe('e2e fabric: bad input never crashes a daemon (topologies/native-vlan-trap.yaml)', function () {
  this.timeout(30_000);
  let fab: TestFabric;

  useFabric('topologies/native-vlan-trap.yaml', (f) => (fab = f));

  it('switchd: malformed and oversize link messages on a port are dropped and counted; forwarding goes on', async () => {
    const sw1 = fab.daemon('sw1');
    const linkOf = async () => (await fab.status('sw1')).links.find((l: any) => l.local === 'Gi1/0/10');
    // Gi1/0/10 belongs to esx2's vmnic0, and the newest connection to an endpoint wins (docs/link-protocol.md).
    // A running esx2 would dial back within 50-100 ms, take the port from this test's socket (closing it
    // before the oversize message is read) and send its link-up RARPs into the counters. So esx2 is off
    // while the test holds the port, and the counters are read once the port has gone quiet.
    await killDaemon(fab.state, 'esx2');
    const before = (await waitFor(async () => {
      const l = await linkOf();
      return l.carrier ? undefined : l;
    }, 'sw1 Gi1/0/10 to lose carrier once esx2 is gone')).counters;
    const ws = await openLink(sw1.port, 'Gi1/0/10', fab.state.token);
    const closeCode = await sendBadInput(ws);
    expect(closeCode, 'the oversize message makes the daemon close with 1009 (message too big)').to.equal(1009);
    const after = await waitFor(async () => {
      const c = (await linkOf()).counters;
      return c.rxDropsOversizeMessage > before.rxDropsOversizeMessage ? c : undefined;
    }, 'the oversize message to be counted');
    expect(after.rxDropsMalformed - before.rxDropsMalformed, 'each malformed message counted').to.be.at.least(MALFORMED_COUNTED);
    expect(after.rxDropsOversizeMessage - before.rxDropsOversizeMessage).to.equal(1);
    expect(after.rxFrames, 'nothing of it was taken for a frame').to.equal(before.rxFrames);
    expect(alivePids([sw1.pid])).to.deep.equal([sw1.pid]);

    // esx2 back on its port: the fabric forwards again
    const restarted = await restartDaemon(fab.state, 'esx2', { stateDir: fab.stateDir, detached: false, linksTimeoutMs: 15_000 });
    trackPids([restarted.pid]);
    expect((await fab.ping('fixed', '192.0.2.20', { count: 2 })).received).to.equal(2);
  });

  it('hostd: the same input on its link endpoints (a dialling uplink and an unknown name) does not crash it', async () => {
    const esx1 = fab.daemon('esx1');
    for (const iface of ['vmnic0', 'vmnic9']) {
      let ws: WebSocket;
      try {
        ws = await openLink(esx1.port, iface, fab.state.token);
      } catch (e) {
        expect((e as { statusCode?: number }).statusCode, `${iface} refused only with a clean HTTP status`).to.be.oneOf([400, 404]);
        continue;
      }
      await sendBadInput(ws);
    }
    expect(alivePids([esx1.pid])).to.deep.equal([esx1.pid]);
    const status = await fab.status('esx1');
    expect(status.links.find((l: any) => l.local === 'vmnic0').carrier, 'the real uplink is untouched').to.equal(true);
    expect((await fab.ping('fixed', '192.0.2.20', { count: 2 })).received).to.equal(2);
  });

  it('a wrong token is refused: HTTP 401 on the control API and on WebSocket upgrades (links, capture)', async () => {
    for (const d of fab.state.daemons) {
      const res = await fetch(`http://127.0.0.1:${d.port}/control/status`, { headers: { authorization: 'Bearer not-the-token' } });
      expect(res.status, `${d.name} control`).to.equal(401);
      expect(((await res.json()) as any).error.code).to.equal('VFAB_AUTH');
      const none = await fetch(`http://127.0.0.1:${d.port}/control/status`);
      expect(none.status, `${d.name} control without a token`).to.equal(401);
    }
    const sw1 = fab.daemon('sw1');
    const esx1 = fab.daemon('esx1');
    for (const [port, iface] of [[sw1.port, 'Gi1/0/1'], [esx1.port, 'vmnic0']] as const) {
      const err = await openLink(port, iface, 'x'.repeat(fab.state.token.length)).then(
        () => undefined,
        (e: { statusCode?: number }) => e,
      );
      expect(err?.statusCode, `link upgrade on ${iface}`).to.equal(401);
    }
    const capture = new WebSocket(`ws://127.0.0.1:${esx1.port}/capture?point=esx1.vmnic0`, { headers: { authorization: 'Bearer wrong' } });
    const status = await new Promise<number | undefined>((resolve) => {
      capture.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      capture.once('open', () => resolve(undefined));
      capture.once('error', () => resolve(undefined));
    });
    capture.terminate();
    expect(status, 'capture upgrade').to.equal(401);
    // and the real links never noticed
    const links = (await fab.status('sw1')).links;
    expect(links.every((l: any) => l.carrier)).to.equal(true);
  });

  it('vfab ping to an unknown VM gives a clear error and exit 2 (bad input)', async () => {
    const r = await runCli(['ping', 'ghost', '192.0.2.20'], { stateDir: fab.stateDir });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/vfab ping: no VM named "ghost" .*\(VMs: .*fixed/);
  });
});

describe('e2e fabric: vfab up with a broken topology file', function () {
  this.timeout(30_000);
  const dir = makeTempDir('vfab-e2e-broken-');

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Daemon processes whose command line mentions `dir` (their --config lives under it). */
  function processesUnder(d: string): string[] {
    const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
    return ps.split('\n').filter((l) => l.includes(d) && /(hostd|switchd|stored)\.ts/.test(l));
  }

  const cases = [
    {
      what: 'a schema mistake (mode: acess)',
      line: 6,
      text: ['name: broken', 'switches:', '  - name: sw1', '    ports:', '      - name: Gi1/0/1', '        mode: acess', 'hosts: []', 'links: []', ''].join('\n'),
      message: /mode/,
    },
    {
      what: 'a YAML syntax error (bad indentation)',
      line: 4,
      text: ['name: broken', 'switches:', '  - name: sw1', '   ports: [', ''].join('\n'),
      message: /./,
    },
    {
      what: 'a dangling link (unknown node)',
      line: 11,
      text: ['name: broken', 'switches:', '  - name: sw1', '    ports:', '      - { name: Gi1/0/1, mode: trunk }', 'hosts:', '  - name: esx1', '    vswitches:', '      - { name: vSwitch0, uplinks: [vmnic0] }', 'links:', '  - [esx1.vmnic0, sw9.Gi1/0/1]', ''].join('\n'),
      message: /sw9/,
    },
  ];

  for (const c of cases) {
    it(`${c.what}: error names file:line, exit 2, no state and no process left`, async () => {
      const stateDir = path.join(dir, `state-${cases.indexOf(c)}`);
      const file = path.join(dir, `broken-${cases.indexOf(c)}.yaml`);
      fs.writeFileSync(file, c.text);
      const r = await runCli(['up', file, '--detach'], { stateDir });
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include(`${file}:${c.line}:`);
      expect(r.stderr).to.match(c.message);
      expect(r.stderr).not.to.match(/internal error|at .*\.ts:\d+/);
      expect(fs.existsSync(path.join(stateDir, 'state.json'))).to.equal(false);
      expect(processesUnder(stateDir)).to.deep.equal([]);
    });
  }
});
