// daemons/common/http-guard.ts: the token is read from raw request text without throwing, request targets
// that are not paths are refused without throwing, the connection cap holds (an in-process server on
// loopback with a small cap), and no daemon compares a token with === / !== (a source scan: every token
// check must go through the constant-time tokenMatches).

import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { createGuardedServer, guardUpgradeSocket, parseRequestTarget, presentedToken, requestAuthorized, tokenMatches, decodeSegment } from '../../daemons/common/http-guard.js';

const req = (url: string, authorization?: string) => ({ url, headers: authorization === undefined ? {} : { authorization } });

describe('daemons/common/http-guard', () => {
  it('reads the token from the raw header or raw query, never throwing on odd targets', () => {
    expect(presentedToken(req('/x', 'Bearer abc '))).to.equal('abc');
    expect(presentedToken(req('//x:99999/?token=t1'))).to.equal('t1');
    expect(presentedToken(req('//x:99999/?a=%E0%A4%A&token=t2#frag'))).to.equal('t2');
    expect(presentedToken(req('*'))).to.equal(null);
    expect(presentedToken(req('/x', 'Basic abc'))).to.equal(null);
    for (const url of ['//x:99999/', '%', '?', '//[::1', 'http://[', '/\u0000', '/%ZZ?token=%ZZ']) {
      expect(() => requestAuthorized(req(url), 'secret')).to.not.throw();
      expect(requestAuthorized(req(url), 'secret')).to.equal(false);
    }
    expect(requestAuthorized(req('//x:99999/?token=secret'), 'secret')).to.equal(true);
  });

  it('compares tokens only when presented, by length and bytes', () => {
    expect(tokenMatches('secret', 'secret')).to.equal(true);
    expect(tokenMatches('secret', 'secreT')).to.equal(false);
    expect(tokenMatches('secret', 'secret2')).to.equal(false);
    expect(tokenMatches('secret', '')).to.equal(false);
    expect(tokenMatches('secret', null)).to.equal(false);
  });

  it('parses origin-form targets only; //x:99999/ is a path, not a host; nothing throws', () => {
    expect(parseRequestTarget('//x:99999/')?.pathname).to.equal('//x:99999/');
    expect(parseRequestTarget('/control/status?since=3')?.searchParams.get('since')).to.equal('3');
    for (const bad of ['*', 'http://h/x', 'h:80', '', undefined]) expect(parseRequestTarget(bad)).to.equal(undefined);
    expect(decodeSegment('%E0%A4%A')).to.equal(undefined);
    expect(decodeSegment('Gi1%2F0%2F1')).to.equal('Gi1/0/1');
  });

  it('caps concurrent connections (a small cap on an in-process server)', async () => {
    const server = createGuardedServer((_q, res) => res.end('ok'), { maxConnections: 3 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const sockets: net.Socket[] = [];
    try {
      const closed: boolean[] = [];
      for (let i = 0; i < 5; i++) {
        const s = net.connect(port, '127.0.0.1');
        sockets.push(s);
        closed.push(false);
        s.on('close', () => (closed[i] = true));
        s.on('error', () => {});
        await new Promise((r) => s.once('connect', r));
        await new Promise((r) => setTimeout(r, 30));
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(closed.slice(0, 3), 'the first three stay open').to.deep.equal([false, false, false]);
      expect(closed.slice(3), 'connections over the cap are closed').to.deep.equal([true, true]);
    } finally {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('an upgraded socket that never becomes a WebSocket is dropped; one that does is left alone (200 ms bound here)', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const server = createGuardedServer((_q, res) => res.end('ok'));
    server.on('upgrade', (req, socket, head) => {
      guardUpgradeSocket(socket, 200);
      if (req.url === '/ws') wss.handleUpgrade(req, socket, head, () => {});
      // '/stall': a handler that neither answers nor hands the socket on
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const stalled = net.connect(port, '127.0.0.1');
      stalled.on('error', () => {});
      const started = Date.now();
      stalled.write('GET /stall HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      await new Promise((r) => stalled.once('close', r));
      expect(Date.now() - started, 'dropped after the upgrade timeout').to.be.within(150, 5_000);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      await new Promise((r) => setTimeout(r, 600));
      expect(ws.readyState, 'a finished handshake clears the timer').to.equal(WebSocket.OPEN);
      ws.terminate();
    } finally {
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('no daemon source compares a token with === or !== (use tokenMatches)', () => {
    const files = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    const offenders: string[] = [];
    for (const file of files('daemons')) {
      fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        // an operand that is a token (token, this.token, opts.token, `Bearer ${token}`) right at === / !==
        const direct = /\b[\w.]*token\s*[!=]==(?!\s*(undefined|null)\b)|[!=]==\s*(`Bearer \$\{)?[\w.]*token\b/i;
        if (direct.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).to.deep.equal([]);
  });
});
