// A stand-in for the `vfab ui` server, for page-level browser tests and the bench: builds a UiSnapshot
// (lib/ui/protocol.ts) from a topology file as a freshly started fabric would show it (every link up,
// each vNIC on the first active uplink of its teaming order, srcPortId-style), serves the built page
// from dist/ui/ with the same login/cookie rule, /api/snapshot, /api/node/:name, the live WebSocket
// (hello, snapshot, then whatever the test sends) and records every POST action. Listens on 127.0.0.1,
// port 0. Leaves out the fabric itself: nothing here talks to a daemon; tests that need the real thing
// run `vfab ui` (test/e2e/ui/ui.test.ts).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadTopologyFile } from '../../../lib/topology/load.js';
import type { Topology } from '../../../lib/topology/model.js';
import {
  SESSION_COOKIE, UI_PROTOCOL_VERSION, type LiveMessage, type UiEvent, type UiHost, type UiLink, type UiNodeDetails, type UiSnapshot, type UiSwitch,
} from '../../../lib/ui/protocol.js';
import { REPO_ROOT } from './fabric.js';

const vlanText = (ranges: ReadonlyArray<readonly [number, number]>) => ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');

/** The snapshot of a fabric just up on `t`: every cable up, each vNIC on its first active uplink. */
export function snapshotOf(t: Topology): UiSnapshot {
  const hosts: UiHost[] = t.hosts.map((h) => {
    let portId = 0;
    const vswitches = h.vswitches.map((vs) => {
      const active = vs.teaming.active.length > 0 ? vs.teaming.active : vs.uplinks;
      const pick = (i: number) => active[i % active.length] ?? null;
      const vmPorts = h.vms.flatMap((vm) => vm.nics.filter((n) => n.vswitch === vs.name).map((n) => ({ vm, n })));
      const ports = vmPorts.map(({ vm, n }, i) => {
        const pg = vs.portGroups.find((p) => p.name === n.portGroup)!;
        return { portId: portId++, name: `${vm.name}.${n.name}`, portGroup: n.portGroup, vlan: pg.vlan, mac: n.macText, uplink: pick(i), uplinkReason: `srcPortId: port ${i} on active uplink ${pick(i)}`, drops: 0 };
      });
      const vmkPorts = h.vmkernels.filter((k) => k.vswitch === vs.name).map((k, i) => ({ portId: portId++, name: `${h.name}.${k.name}`, portGroup: k.portGroup, vlan: vs.portGroups.find((p) => p.name === k.portGroup)!.vlan, mac: k.macText, uplink: pick(i + ports.length), uplinkReason: 'srcPortId', drops: 0 }));
      return {
        id: `${h.name}/${vs.name}`, name: vs.name, mtu: vs.mtu,
        teaming: `${vs.teaming.loadBalancing}, active ${vs.teaming.active.join(',') || '-'}, standby ${vs.teaming.standby.join(',') || '-'}, failback ${vs.teaming.failback ? 'on' : 'off'}, notify ${vs.teaming.notifySwitches ? 'on' : 'off'}, ${vs.teaming.failureDetection}`,
        uplinks: vs.uplinks.map((u) => ({ id: `${h.name}.${u}`, name: u, up: true, role: vs.teaming.standby.includes(u) ? 'standby' : 'active', inUse: ports.some((p) => p.uplink === u), drops: 0 })),
        portGroups: vs.portGroups.map((p) => ({ name: p.name, vlan: p.vlan })),
        ports: [...ports, ...vmkPorts],
      };
    });
    const vms = h.vms.map((vm) => ({
      name: vm.name, host: h.name, poweredOn: true,
      nics: vm.nics.map((n) => {
        const vs = vswitches.find((v) => v.name === n.vswitch)!;
        const port = vs.ports.find((p) => p.name === `${vm.name}.${n.name}`)!;
        return { id: port.name, name: n.name, mac: n.macText, ip: n.ip?.address ?? null, portGroup: n.portGroup, vswitch: n.vswitch, vlan: port.vlan, activeUplink: port.uplink, uplinkReason: port.uplinkReason };
      }),
      disks: vm.disks.map((d) => ({ name: d.name, datastore: null, lun: null, lockHolder: null })),
    }));
    return { name: h.name, reachable: true, vswitches, vms, vmkernels: h.vmkernels.map((k) => ({ name: k.name, ip: k.ip.text, mac: k.macText, portGroup: k.portGroup, uplink: null, services: [...k.services] })), drops: 0 };
  });
  const switches: UiSwitch[] = t.switches.map((s) => ({
    name: s.name, reachable: true, macEntries: 0, macMoves: 0, macFlaps: 0, drops: 0,
    ports: s.ports.map((p) => ({ id: `${s.name}.${p.name}`, name: p.name, description: p.description, mode: p.mode, vlans: p.mode === 'trunk' ? vlanText(p.allowedVlans) : String(p.accessVlan), nativeVlan: p.mode === 'trunk' ? p.nativeVlan : null, up: true, shutdown: p.shutdown, drops: 0 })),
  }));
  const links: UiLink[] = t.links.map((l) => {
    const [a, b] = l.a < l.b ? [l.a, l.b] : [l.b, l.a];
    const end = (ep: string) => ({ endpoint: ep, node: ep.slice(0, ep.indexOf('.')), iface: ep.slice(ep.indexOf('.') + 1), carrier: true, adminUp: true });
    const sw = [a, b].map((ep) => switches.flatMap((s) => s.ports).find((p) => p.id === ep)).find((p) => p);
    return { id: `${a} -- ${b}`, a: end(a), b: end(b), state: 'up', vlans: sw?.vlans ?? null, nativeVlan: sw?.nativeVlan ?? null, rate: { ab: { fps: 0, bps: 0 }, ba: { fps: 0, bps: 0 } }, drops: 0, macMoves: 0, impairment: null, flap: null };
  });
  return {
    version: UI_PROTOCOL_VERSION, fabric: t.name, clockMs: 0, timeScale: 1,
    daemons: [...t.hosts.map((h) => ({ name: h.name, kind: 'host' as const, reachable: true })), ...t.switches.map((s) => ({ name: s.name, kind: 'switch' as const, reachable: true }))],
    hosts, switches, arrays: [], links, datastores: [], ha: null, scenario: null,
  };
}

export async function snapshotOfFile(file: string): Promise<UiSnapshot> {
  return snapshotOf(await loadTopologyFile(path.resolve(REPO_ROOT, file)));
}

export interface FixtureServer {
  url: string;
  /** The one-time login URL (as `vfab ui` prints it). */
  loginUrl: string;
  snapshot: UiSnapshot;
  /** POST bodies the page sent, in order. */
  posts: Array<{ path: string; body: any }>;
  /** GET /api/node requests (path with query). */
  nodeRequests: string[];
  /** Sends a live message (seq and clockMs filled in) to every connected page. */
  send(m: Record<string, unknown> & { type: LiveMessage['type'] }): void;
  /** Sends events in one `events` message. */
  sendEvents(events: UiEvent[]): void;
  clients(): number;
  close(): Promise<void>;
}

const MIME: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8' };

/** Starts the fixture server on `snapshot`; every page that connects gets it. */
export async function startFixtureServer(snapshot: UiSnapshot, opts: { node?: (name: string, query: URLSearchParams) => UiNodeDetails | null } = {}): Promise<FixtureServer> {
  const code = crypto.randomBytes(16).toString('hex');
  const session = crypto.randomBytes(16).toString('hex');
  let codeUsed = false;
  const posts: FixtureServer['posts'] = [];
  const nodeRequests: string[] = [];
  const sockets = new Set<WebSocket>();
  let seq = 0;
  const authed = (req: http.IncomingMessage) => (req.headers.cookie ?? '').split(/;\s*/).includes(`${SESSION_COOKIE}=${session}`);
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/login') {
      if (codeUsed || url.searchParams.get('code') !== code) return json(res, 401, { error: { code: 'VFAB_UI_AUTH', message: 'bad login code' } });
      codeUsed = true;
      res.writeHead(303, { location: '/', 'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/` });
      return res.end();
    }
    if (!authed(req)) return json(res, 401, { error: { code: 'VFAB_UI_AUTH', message: 'no session' } });
    const file = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    if (['index.html', 'app.js', 'app.css'].includes(file)) {
      res.writeHead(200, { 'content-type': MIME[path.extname(file)]! });
      return res.end(fs.readFileSync(path.join(REPO_ROOT, 'dist', 'ui', file)));
    }
    if (url.pathname === '/api/snapshot') return json(res, 200, snapshot);
    const node = /^\/api\/node\/(.+)$/.exec(url.pathname);
    if (node) {
      nodeRequests.push(url.pathname + url.search);
      const d = opts.node?.(decodeURIComponent(node[1]!), url.searchParams) ?? defaultDetails(snapshot, decodeURIComponent(node[1]!));
      return d ? json(res, 200, d) : json(res, 404, { error: { code: 'VFAB_NOT_FOUND', message: `no node ${node[1]}` } });
    }
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        let parsed: unknown = null;
        try {
          parsed = body ? JSON.parse(body) : null;
        } catch {
          return json(res, 400, { error: { code: 'VFAB_USAGE', message: 'body is not JSON' } });
        }
        posts.push({ path: url.pathname, body: parsed });
        json(res, 200, { ok: true, message: `fixture: ${url.pathname} done`, result: null });
      });
      return;
    }
    json(res, 404, { error: { code: 'VFAB_NOT_FOUND', message: url.pathname } });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (!authed(req) || !req.url?.startsWith('/api/live')) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.send(JSON.stringify({ type: 'hello', seq: ++seq, clockMs: snapshot.clockMs, version: UI_PROTOCOL_VERSION, fabric: snapshot.fabric, limits: { maxEventsPerBatch: 500, batchMs: 100 } }));
      ws.send(JSON.stringify({ type: 'snapshot', seq: ++seq, clockMs: snapshot.clockMs, snapshot, recentEvents: [], resync: false }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const fx: FixtureServer = {
    url,
    loginUrl: `${url}/login?code=${code}`,
    snapshot,
    posts,
    nodeRequests,
    send(m) {
      const text = JSON.stringify({ seq: ++seq, clockMs: snapshot.clockMs, ...m });
      for (const ws of sockets) ws.send(text);
    },
    sendEvents(events) {
      fx.send({ type: 'events', events, omitted: {} });
    },
    clients: () => sockets.size,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fx;
}

function defaultDetails(s: UiSnapshot, name: string): UiNodeDetails | null {
  const host = s.hosts.find((h) => h.name === name);
  if (host) return { kind: 'host', name, host, counters: {}, uplinkDrops: {}, portDrops: {}, storage: null };
  const sw = s.switches.find((x) => x.name === name);
  if (sw) return { kind: 'switch', name, switch: sw, macTable: [], truncated: false, counters: {}, portDrops: {} };
  const vm = s.hosts.flatMap((h) => h.vms).find((v) => v.name === name);
  if (vm) return { kind: 'vm', name, vm, counters: {}, arp: [], guest: null };
  return null;
}
