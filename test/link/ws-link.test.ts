// Runs the EthernetLink conformance suite over a real WebSocket pair on 127.0.0.1 (port 0), plus the
// WebSocket specifics: reconnection after the server drops the connection, token checks (header and
// query), path routing, oversize and text messages, and the jittered exponential backoff.

import { expect } from 'chai';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../lib/clock.js';
import { MAX_LINK_MESSAGE_BYTES } from '../../lib/link/codec.js';
import type { EthernetLink } from '../../lib/link/link.js';
import { WsClientLink, WsLinkServer, WsServerLink, connectWsLink } from '../../daemons/link/ws-link.js';
import { runLinkConformance, seqFrame, settle, waitFor } from './conformance.js';

const TOKEN = 's3cret-token';

interface Harness {
  http: Server;
  server: WsLinkServer;
  port: number;
  links: Array<[string, EthernetLink]>;
  close(): Promise<void>;
}

async function startServer(options: { queueBytes?: number } = {}): Promise<Harness> {
  const links: Array<[string, EthernetLink]> = [];
  const server = new WsLinkServer({ token: TOKEN, onLink: (name, link) => links.push([name, link]), ...options });
  const http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => {
    if (!server.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    http,
    server,
    port,
    links,
    close: async () => {
      server.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

function client(h: Harness, extra: Partial<Parameters<typeof connectWsLink>[0]> = {}): WsClientLink {
  return connectWsLink({
    url: `ws://127.0.0.1:${h.port}/link/esx1%2Fvmnic0`,
    token: TOKEN,
    name: 'sw1/gi0/1',
    backoff: { initialMs: 5, maxMs: 50 },
    random: seededRandom(7),
    ...extra,
  });
}

runLinkConformance('WebSocket pair on 127.0.0.1', async ({ queueBytes }) => {
  const h = await startServer(queueBytes !== undefined ? { queueBytes } : {});
  const a = client(h, queueBytes !== undefined ? { queueBytes } : {});
  await waitFor(() => h.links.length === 1 && a.carrier && h.links[0]![1].carrier, 'carrier up on both ends');
  const b = h.links[0]![1] as WsServerLink;
  return {
    a,
    b,
    teardown: async () => {
      a.close();
      await h.close();
    },
  };
});

describe('WebSocket link specifics', () => {
  let h: Harness | undefined;
  let a: WsClientLink | undefined;
  afterEach(async () => {
    a?.close();
    if (h) await h.close();
    a = undefined;
    h = undefined;
  });

  it('names the server-side link after the URL path (percent-decoded) and keeps one link per name', async () => {
    h = await startServer();
    a = client(h);
    await waitFor(() => a!.carrier, 'carrier');
    expect(h.links.map(([name]) => name)).to.deep.equal(['esx1/vmnic0']);
    expect(h.server.endpoints.has('esx1/vmnic0')).to.equal(true);
  });

  it('reconnects after the server drops the connection: carrier down at both ends, then up on the same link objects', async () => {
    h = await startServer();
    a = client(h);
    await waitFor(() => h!.links.length === 1 && a!.carrier && h!.links[0]![1].carrier, 'first carrier');
    const b = h.links[0]![1] as WsServerLink;
    const eventsA: Array<[boolean, string]> = [];
    const eventsB: Array<[boolean, string]> = [];
    a.onCarrier((up, reason) => eventsA.push([up, reason]));
    b.onCarrier((up, reason) => eventsB.push([up, reason]));
    b.dropTransport();
    await waitFor(() => eventsA.length >= 2 && eventsB.length >= 2, () => `carrier down and up again ${JSON.stringify([eventsA, eventsB, a!.counters.connects, b.connected])}`);
    expect(eventsA.slice(0, 2)).to.deep.equal([[false, 'peer-gone'], [true, 'connected']]);
    expect(eventsB.slice(0, 2)).to.deep.equal([[false, 'peer-gone'], [true, 'connected']]);
    expect(h.links).to.have.length(1); // onLink was not called again
    expect(a.counters.connects).to.equal(2);
    const got: number[] = [];
    b.onFrame((f) => got.push(f.readUInt32BE(14)));
    a.send(seqFrame(42));
    await waitFor(() => got.length === 1, 'frame after reconnect');
    expect(got).to.deep.equal([42]);
  });

  it('keeps admin-down across a reconnection (the peer still sees carrier down)', async () => {
    h = await startServer();
    a = client(h);
    await waitFor(() => h!.links.length === 1 && a!.carrier && h!.links[0]![1].carrier, 'first carrier');
    const b = h.links[0]![1] as WsServerLink;
    a.setAdminUp(false);
    await waitFor(() => !b.carrier, 'carrier down at b');
    b.dropTransport();
    await waitFor(() => a!.counters.connects === 2 && b.connected && a!.connected, 'reconnected');
    await settle();
    expect(a.carrier).to.equal(false);
    expect(b.carrier).to.equal(false);
    a.setAdminUp(true);
    await waitFor(() => a!.carrier && b.carrier, 'carrier up');
  });

  it('refuses a wrong token: the client reports VFAB_LINK_UNAUTHORIZED, carrier never comes up, onLink is not called', async () => {
    h = await startServer();
    a = client(h, { token: 'wrong' });
    const errors: string[] = [];
    a.onError((e) => errors.push(e.code));
    await waitFor(() => errors.length >= 2, 'two refused attempts');
    expect(errors.every((c) => c === 'VFAB_LINK_UNAUTHORIZED')).to.equal(true);
    expect(a.lastConnectError?.code).to.equal('VFAB_LINK_UNAUTHORIZED');
    expect(a.carrier).to.equal(false);
    expect(h.links).to.have.length(0);
  });

  it('answers HTTP 401 to an upgrade with no token and accepts ?token= in the query', async () => {
    h = await startServer();
    const status = await upgradeStatus(h.port, '/link/vm-a');
    expect(status).to.equal(401);
    expect(await upgradeStatus(h.port, '/link/vm-a', { Authorization: 'Bearer nope' })).to.equal(401);
    expect(await upgradeStatus(h.port, `/link/vm-a?token=${TOKEN}`)).to.equal(101);
    expect(await upgradeStatus(h.port, `/link/${encodeURIComponent('bad name!')}?token=${TOKEN}`)).to.equal(400);
  });

  it('returns false from handleUpgrade for paths outside /link/ so the caller can route them', async () => {
    const server = new WsLinkServer({ token: TOKEN, onLink: () => {} });
    const fakeSocket = { write: () => true, destroy: () => {} } as never;
    expect(server.handleUpgrade({ url: '/block/lun0', headers: {} } as never, fakeSocket, Buffer.alloc(0))).to.equal(false);
    server.close();
  });

  it('counts an oversize message, which closes the connection; the client reconnects', async () => {
    h = await startServer();
    a = client(h);
    await waitFor(() => h!.links.length === 1 && a!.carrier && h!.links[0]![1].carrier, 'carrier');
    const b = h.links[0]![1] as WsServerLink;
    a.sendRaw(Buffer.alloc(MAX_LINK_MESSAGE_BYTES + 1));
    await waitFor(() => b.counters.rxDropsOversizeMessage === 1, 'oversize message counted');
    await waitFor(() => a!.counters.connects === 2 && a!.carrier && b.carrier, 'reconnected');
    expect(b.counters.rxFrames).to.equal(0);
  });

  it('counts a text message as malformed without dropping the link', async () => {
    h = await startServer();
    a = client(h);
    await waitFor(() => h!.links.length === 1 && a!.carrier && h!.links[0]![1].carrier, 'carrier');
    const b = h.links[0]![1] as WsServerLink;
    b.socket!.send('hello?');
    await waitFor(() => a!.counters.rxDropsMalformed === 1, 'text message counted');
    expect(a.lastRxError?.code).to.equal('VFAB_LINK_TEXT_MESSAGE');
    expect(a.carrier).to.equal(true);
  });

  it('backs off exponentially with 50-100 % jitter, capped at maxMs, the same for the same seed', () => {
    const make = () =>
      new WsClientLink({ url: 'ws://127.0.0.1:1/link/x', token: 't', name: 'x', backoff: { initialMs: 100, maxMs: 1000 }, random: seededRandom(3) });
    const one = make();
    const two = make();
    const delays = [0, 1, 2, 3, 4, 5].map((n) => one.backoffDelayMs(n));
    one.close();
    expect(delays).to.deep.equal([0, 1, 2, 3, 4, 5].map((n) => two.backoffDelayMs(n)));
    two.close();
    const ceilings = [100, 200, 400, 800, 1000, 1000];
    delays.forEach((d, i) => expect(d).to.be.within(ceilings[i]! / 2, ceilings[i]!));
  });
});

/** Sends a raw upgrade request and resolves with the HTTP status the server answered. */
function upgradeStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.alloc(16, 1).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
