// End-to-end over HTTP and WebSocket (no browser: the page's own tests drive Chromium) against `vfab ui`
// run as a real child process on the quickstart fabric: the snapshot has the quickstart's nodes and
// links; nothing is served without the session cookie, the one-time code works once, a foreign Host or
// Origin is refused; `vfab link down esx1.vmnic0` from the CLI reaches the live stream within 1 s with
// app1's active uplink moved off vmnic0; a link taken down through the API shows in `vfab status`; a
// capture started and stopped through the API downloads as pcapng that tshark reads with nothing
// malformed; impair/clear and VM power through the API show in the snapshot; node details (MAC table
// filters, a VM's ARP cache); a bad impairment is 400 with the CLI's code and message. docs/ui.md. One `vfab ui` for the
// file: the tests run in order (the login test sets the cookie the later ones use).

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WebSocket } from '../../../daemons/common/ws.js';
import { control } from '../../../daemons/common/control-client.js';
import { MAX_UI_CLIENTS, type LiveMessage, type UiSnapshot } from '../../../lib/ui/protocol.js';
import { requirePeerTool, runTshark, TSHARK_INSTALL_HINT } from '../../helpers/peer-tools.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, REPO_ROOT, VFAB_BIN, makeTempDir, runCli, startFabric, trackPids, waitFor, type TestFabric } from '../helpers/fabric.js';

/** The bound the issue sets: a link pulled from the CLI is on the page within this (wall ms). */
const LIVE_BOUND_MS = 1000;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, method: string, urlPath: string, opts: { cookie?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const payload = opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body)) : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path: urlPath,
      headers: { ...(opts.cookie ? { cookie: opts.cookie } : {}), ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length, origin: `http://127.0.0.1:${port}` } : {}), ...opts.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const json = (r: Reply) => JSON.parse(r.body.toString('utf8'));

/** Opens /api/live; collects every message. */
function openLive(port: number, cookie: string | undefined): Promise<{ ws: WebSocket; messages: LiveMessage[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, { headers: { ...(cookie ? { cookie } : {}), origin: `http://127.0.0.1:${port}` } });
  const messages: LiveMessage[] = [];
  ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString('utf8'))));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

describe('vfab ui server (e2e, quickstart)', function () {
  let fab: TestFabric;
  let ui: ChildProcess;
  let port = 0;
  let loginPath = '';
  let cookie = '';

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric('topologies/quickstart.yaml');
    ui = spawn(process.execPath, [VFAB_BIN, 'ui', '--json'], { cwd: REPO_ROOT, env: { ...process.env, VFAB_STATE_DIR: fab.stateDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    trackPids([ui.pid!]);
    let out = '';
    let err = '';
    ui.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const printed = await new Promise<{ url: string; port: number }>((resolve, reject) => {
      ui.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        try {
          resolve(JSON.parse(out));
        } catch {
          /* not whole yet */
        }
      });
      ui.once('exit', (code) => reject(new Error(`vfab ui exited ${code}: ${err}`)));
    });
    port = printed.port;
    const url = new URL(printed.url);
    expect(url.hostname).to.equal('127.0.0.1');
    loginPath = `${url.pathname}${url.search}`;
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    if (ui?.pid !== undefined && isAlive(ui.pid)) {
      ui.kill('SIGTERM');
      await waitFor(() => ui.exitCode !== null || ui.signalCode !== null, 'vfab ui to stop', 5000).catch(() => ui.kill('SIGKILL'));
    }
    await fab?.down();
  });

  it('a second vfab ui on the same port exits 2 naming --port as typed', async function () {
    this.timeout(20_000);
    const r = await runCli(['ui', '--port', String(port)], { stateDir: fab.stateDir });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`--port ${port}: in use`);
  });

  it('refuses every route and the live stream without the session cookie', async () => {
    for (const p of ['/', '/api/snapshot', '/api/node/esx1', '/app.js']) {
      const r = await request(port, 'GET', p);
      expect(r.status, p).to.equal(401);
      expect(json(r).error.code).to.equal('VFAB_UI_AUTH');
    }
    const post = await request(port, 'POST', '/api/link', { body: { endpoint: 'esx1.vmnic0', up: false } });
    expect(post.status).to.equal(401);
    const e = await openLive(port, undefined).then(() => undefined, (x) => x);
    expect(e?.status).to.equal(401);
    const forged = await request(port, 'GET', '/api/snapshot', { cookie: 'vfab_ui=0000' });
    expect(forged.status).to.equal(401);
  });

  it('the one-time code logs in once, and sets an HttpOnly SameSite=Strict cookie', async () => {
    const wrong = await request(port, 'GET', '/login?code=deadbeef');
    expect(wrong.status).to.equal(401);
    const first = await request(port, 'GET', loginPath);
    expect(first.status).to.equal(303);
    expect(first.headers.location).to.equal('/');
    const set = String(first.headers['set-cookie']);
    expect(set).to.match(/HttpOnly/).and.match(/SameSite=Strict/);
    cookie = set.split(';')[0]!;
    const again = await request(port, 'GET', loginPath);
    expect(again.status).to.equal(401);
    expect((await request(port, 'GET', '/api/snapshot', { cookie })).status).to.equal(200);
  });

  it(`serves at most MAX_UI_CLIENTS (${MAX_UI_CLIENTS}) live streams; one more is 429`, async function () {
    this.timeout(20_000);
    const open = await Promise.all(Array.from({ length: MAX_UI_CLIENTS }, () => openLive(port, cookie)));
    try {
      const e = await openLive(port, cookie).then((x) => (x.ws.close(), undefined), (x) => x);
      expect(e?.status).to.equal(429);
    } finally {
      await Promise.all(open.map(({ ws }) => new Promise<void>((r) => (ws.once('close', () => r()), ws.close()))));
    }
    // closed streams free their places
    const again = await openLive(port, cookie);
    again.ws.close();
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin (CSRF), even with the cookie', async () => {
    const rebound = await request(port, 'GET', '/api/snapshot', { cookie, headers: { host: `evil.example:${port}` } });
    expect(rebound.status).to.equal(403);
    expect(json(rebound).error.code).to.equal('VFAB_UI_ORIGIN');
    const csrf = await request(port, 'POST', '/api/link', { cookie, body: { endpoint: 'esx2.vmnic0', up: false }, headers: { origin: 'http://evil.example' } });
    expect(csrf.status).to.equal(403);
    const st = await control(fab.daemon('esx2'), fab.state.token, 'GET', '/control/status');
    expect(st.links.find((l: any) => l.local === 'vmnic0').adminUp).to.equal(true);
  });

  it("the snapshot has the quickstart's hosts, switches, array, VMs and its five links with VLANs", async () => {
    const s: UiSnapshot = json(await request(port, 'GET', '/api/snapshot', { cookie }));
    expect(s.fabric).to.equal('quickstart');
    expect(s.hosts.map((h) => h.name)).to.deep.equal(['esx1', 'esx2']);
    expect(s.switches.map((x) => x.name)).to.deep.equal(['sw1', 'sw2']);
    expect(s.arrays.map((a) => a.name)).to.deep.equal(['array1']);
    expect(s.hosts.flatMap((h) => h.vms.map((v) => v.name)).sort()).to.deep.equal(['app1', 'db1', 'web1', 'web2']);
    expect(s.links.map((l) => l.id)).to.deep.equal([
      'esx1.vmnic0 -- sw1.Gi1/0/1', 'esx1.vmnic1 -- sw2.Gi1/0/1', 'esx2.vmnic0 -- sw1.Gi1/0/2', 'esx2.vmnic1 -- sw2.Gi1/0/2', 'sw1.Gi1/0/48 -- sw2.Gi1/0/48',
    ]);
    for (const l of s.links) {
      expect(l.state, l.id).to.equal('up');
      expect(l.vlans, l.id).to.equal('10,20');
    }
    for (const vm of s.hosts.flatMap((h) => h.vms)) expect(vm.nics[0]!.activeUplink, vm.name).to.match(/^vmnic[01]$/);
  });

  it('vfab link down esx1.vmnic0 from the CLI reaches the live stream within 1 s, with app1 moved off vmnic0', async function () {
    this.timeout(30_000);
    const { ws, messages } = await openLive(port, cookie);
    try {
      await waitFor(() => messages.some((m) => m.type === 'snapshot'), 'the first snapshot', 5000);
      const first = messages.find((m) => m.type === 'snapshot') as Extract<LiveMessage, { type: 'snapshot' }>;
      const app1 = first.snapshot.hosts.find((h) => h.name === 'esx1')!.vms.find((v) => v.name === 'app1')!;
      expect(app1.nics[0]!.activeUplink).to.equal('vmnic0');
      const cli = await runCli(['link', 'down', 'esx1.vmnic0'], { stateDir: fab.stateDir });
      const doneAt = Date.now();
      expect(cli.code, cli.stderr).to.equal(0);
      const seen = await waitFor(() => {
        const deltas = messages.filter((m): m is Extract<LiveMessage, { type: 'delta' }> => m.type === 'delta');
        const link = deltas.flatMap((d) => d.delta.links ?? []).find((l) => l.id === 'esx1.vmnic0 -- sw1.Gi1/0/1' && l.state === 'down');
        const moved = deltas.flatMap((d) => d.delta.uplinkChanges ?? []).find((c) => c.nic === 'app1.nic0' && c.from === 'vmnic0' && c.to === 'vmnic1');
        return link && moved ? Date.now() : undefined;
      }, 'link down and app1 on vmnic1 in the live stream', 5000, 10);
      expect(seen! - doneAt, 'ms from the CLI returning to the delta').to.be.at.most(LIVE_BOUND_MS);
      // the cause is in the event stream too, each batch in fabric-time order
      await waitFor(() => messages.some((m) => m.type === 'events' && m.events.some((e) => e.type === 'admin-link' && e.source === 'esx1' && e.uplink === 'vmnic0')), 'the admin-link event', 3000, 10);
      for (const m of messages) if (m.type === 'events') for (let i = 1; i < m.events.length; i++) expect(m.events[i]!.timeMs).to.be.at.least(m.events[i - 1]!.timeMs);
    } finally {
      ws.close();
      await runCli(['link', 'up', 'esx1.vmnic0'], { stateDir: fab.stateDir });
    }
  });

  it('a link taken down through the API shows in vfab status, and comes back up', async function () {
    this.timeout(30_000);
    const down = await request(port, 'POST', '/api/link', { cookie, body: { endpoint: 'esx2.vmnic1', up: false } });
    expect(down.status, down.body.toString()).to.equal(200);
    const st = await runCli(['status', 'esx2', '--json'], { stateDir: fab.stateDir });
    const link = JSON.parse(st.out).daemons[0].links.find((l: any) => l.local === 'vmnic1');
    expect(link.adminUp).to.equal(false);
    expect(link.carrier).to.equal(false);
    const up = await request(port, 'POST', '/api/link', { cookie, body: { endpoint: 'esx2.vmnic1', up: true } });
    expect(up.status).to.equal(200);
    const st2 = JSON.parse((await runCli(['status', 'esx2', '--json'], { stateDir: fab.stateDir })).out);
    expect(st2.daemons[0].links.find((l: any) => l.local === 'vmnic1').adminUp).to.equal(true);
  });

  it('impair and clear through the API turn the link impaired and back up in the snapshot', async function () {
    this.timeout(20_000);
    const id = 'esx2.vmnic0 -- sw1.Gi1/0/2';
    const snapshot = async (): Promise<UiSnapshot> => json(await request(port, 'GET', '/api/snapshot', { cookie }));
    const r = await request(port, 'POST', '/api/impair', { cookie, body: { endpoint: 'esx2.vmnic0', lossPercent: 5, direction: 'tx', seed: 7 } });
    expect(r.status, r.body.toString()).to.equal(200);
    const impaired = await waitFor(async () => (await snapshot()).links.find((l) => l.id === id && l.state === 'impaired'), 'the link impaired', 5000);
    expect(impaired!.impairment).to.deep.include({ lossPercent: 5 });
    expect((await request(port, 'POST', '/api/clear', { cookie, body: { endpoint: 'esx2.vmnic0' } })).status).to.equal(200);
    await waitFor(async () => (await snapshot()).links.find((l) => l.id === id && l.state === 'up'), 'the link up again', 5000);
  });

  it('VM power through the API: powered off, no active uplink; on again, pinned again', async function () {
    this.timeout(20_000);
    const db1 = async () => (json(await request(port, 'GET', '/api/snapshot', { cookie })) as UiSnapshot).hosts.flatMap((h) => h.vms).find((v) => v.name === 'db1')!;
    expect((await request(port, 'POST', '/api/vm/power', { cookie, body: { vm: 'db1', on: false } })).status).to.equal(200);
    const off = await waitFor(async () => ((await db1()).poweredOn ? undefined : await db1()), 'db1 off', 5000);
    expect(off!.nics[0]!.activeUplink).to.equal(null);
    expect((await request(port, 'POST', '/api/vm/power', { cookie, body: { vm: 'db1', on: true } })).status).to.equal(200);
    const on = await waitFor(async () => ((await db1()).nics[0]!.activeUplink ? await db1() : undefined), 'db1 pinned again', 5000);
    expect(on!.poweredOn).to.equal(true);
    const unknown = await request(port, 'POST', '/api/vm/power', { cookie, body: { vm: 'db9', on: true } });
    expect(unknown.status).to.equal(400);
    expect(json(unknown).error.code).to.equal('VFAB_NOT_FOUND');
  });

  it("node details: a switch's MAC table filtered by VLAN and MAC, a VM's NICs and ARP cache; unknown names 404, bad filters 400", async () => {
    await fab.ping('web1', '192.0.2.12', { count: 1 });
    const sw = json(await request(port, 'GET', '/api/node/sw1?vlan=10', { cookie }));
    expect(sw.kind).to.equal('switch');
    expect(sw.macTable.length).to.be.above(0);
    for (const row of sw.macTable) expect(row.vlan).to.equal(10);
    const one = json(await request(port, 'GET', '/api/node/sw1?mac=00:50:56:00:10:0', { cookie }));
    for (const row of one.macTable) expect(row.mac.startsWith('00:50:56:00:10:0')).to.equal(true);
    expect(one.macTable.length).to.be.above(0);
    expect((await request(port, 'GET', '/api/node/sw1?vlan=5000', { cookie })).status).to.equal(400);
    const vm = json(await request(port, 'GET', '/api/node/web1', { cookie }));
    expect(vm.kind).to.equal('vm');
    expect(vm.vm.nics[0]).to.deep.include({ id: 'web1.nic0', ip: '192.0.2.11/24' });
    expect(vm.arp.map((a: any) => a.ip)).to.include('192.0.2.12');
    const host = json(await request(port, 'GET', '/api/node/esx1', { cookie }));
    expect(host.host.vswitches[0].uplinks.map((u: any) => u.name)).to.deep.equal(['vmnic0', 'vmnic1']);
    const none = await request(port, 'GET', '/api/node/esx9', { cookie });
    expect(none.status).to.equal(404);
    expect(json(none).error.message).to.contain('esx1');
  });

  it('a bad action is 400 with the CLI\'s own code and message', async () => {
    const loss = await request(port, 'POST', '/api/impair', { cookie, body: { endpoint: 'esx1.vmnic1', lossPercent: 500 } });
    expect(loss.status).to.equal(400);
    expect(json(loss).error).to.deep.include({ code: 'VFAB_USAGE', message: '--loss 500: must be 0-100' });
    const nolink = await request(port, 'POST', '/api/link', { cookie, body: { endpoint: 'esx1.vmnic9', up: false } });
    expect(nolink.status).to.equal(400);
    expect(json(nolink).error.code).to.equal('VFAB_NOT_FOUND');
    const opt = await request(port, 'POST', '/api/link', { cookie, body: { endpoint: '--help', up: false } });
    expect(opt.status).to.equal(400);
    expect(json(opt).error.code).to.equal('VFAB_UI_BAD_REQUEST');
  });

  it('a capture started and stopped through the API downloads as pcapng that tshark reads with nothing malformed', async function () {
    this.timeout(30_000);
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    const started = await request(port, 'POST', '/api/capture', { cookie, body: { points: ['esx1.vmnic1', 'sw2.Gi1/0/48'] } });
    expect(started.status, started.body.toString()).to.equal(200);
    const { id } = json(started);
    expect((await request(port, 'GET', `/api/capture/${id}.pcapng`, { cookie })).status, 'not downloadable while running').to.equal(409);
    await fab.ping('web1', '192.0.2.12', { count: 3 });
    const stopped = await request(port, 'POST', `/api/capture/${id}/stop`, { cookie });
    const info = json(stopped);
    expect(info.state).to.equal('done');
    expect(info.frames).to.be.above(0);
    const dl = await request(port, 'GET', info.download, { cookie });
    expect(dl.status).to.equal(200);
    expect(dl.headers['content-type']).to.equal('application/vnd.tcpdump.pcap-ng');
    const file = path.join(makeTempDir('vfab-e2e-ui-'), 'ui.pcapng');
    fs.writeFileSync(file, dl.body);
    expect(runTshark(['-r', file, '-Y', '_ws.malformed']).trim()).to.equal('');
    expect(runTshark(['-r', file, '-Y', 'icmp', '-T', 'fields', '-e', 'frame.number']).trim().split('\n').length).to.be.at.least(1);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});

describe('vfab ui without a running fabric (CLI contract)', function () {
  it('exits 3 with no fabric here, and 2 for a port out of range, naming it as typed', async function () {
    this.timeout(20_000);
    const dir = makeTempDir('vfab-e2e-ui-none-');
    try {
      const none = await runCli(['ui'], { stateDir: dir });
      expect(none.code, none.stderr).to.equal(3);
      const bad = await runCli(['ui', '--port', '70000'], { stateDir: dir });
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.contain('--port 70000');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
