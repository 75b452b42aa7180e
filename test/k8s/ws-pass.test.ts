// The gateway's capture pass-through (daemons/k8s/ws-pass.ts) between two in-process servers on
// 127.0.0.1: a stand-in daemon whose /capture floods MESSAGES records, and a gateway with small limits.
// Checks: the stream is passed on whole and in order; a client that does not read makes the gateway stop
// reading the daemon (held bytes stay under the limit plus one message) and reading resumes when it
// reads again; one stream more than the limit is refused with 503; no token is refused with 401; an
// unknown daemon is 404; the daemon's refusal reaches the client with its status.

import { expect } from 'chai';
import { ControlServer, newToken } from '../../daemons/common/server.js';
import { WebSocket, WebSocketServer } from '../../daemons/common/ws.js';
import { CapturePassThrough, GATEWAY_WS_READ_SLACK_BYTES } from '../../daemons/k8s/ws-pass.js';
import { refuseSocket } from '../../daemons/common/http-guard.js';
import { waitFor } from '../e2e/helpers/fabric.js';

const MESSAGES = 400;
const MESSAGE_BYTES = 32 * 1024;
const LIMIT_BYTES = 256 * 1024;

describe('k8s gateway: capture pass-through (bounded)', function () {
  this.timeout(20_000);
  const token = newToken();
  let daemon: ControlServer;
  let gateway: ControlServer;
  let pass: CapturePassThrough;
  let gwPort: number;
  const open: WebSocket[] = [];

  before(async () => {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    daemon = new ControlServer(token).onUpgrade((req, socket, head, target) => {
      if (target.pathname !== '/capture') return false;
      if (target.searchParams.get('point') !== 'esx1.vmnic0') {
        refuseSocket(socket, 404, 'Not Found', '{"error":{"code":"VFAB_CAPTURE_POINT","message":"no point"}}');
        return true;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        for (let i = 0; i < MESSAGES; i++) ws.send(Buffer.alloc(MESSAGE_BYTES, i % 256));
      });
      return true;
    });
    const port = await daemon.listen(0);
    pass = new CapturePassThrough((name) => (name === 'esx1' ? { port, name: 'esx1', kind: 'host' } : undefined), token, { maxSockets: 1, maxBufferedBytes: LIMIT_BYTES });
    gateway = new ControlServer(token).onUpgrade(pass.handleUpgrade);
    gwPort = await gateway.listen(0);
  });

  after(async () => {
    for (const ws of open) ws.terminate();
    await gateway.close();
    await daemon.close();
  });

  /** Opens a stream through the gateway: the socket, or the HTTP status it was refused with. */
  function connect(path: string, withToken = true, onMessage?: (d: Buffer) => void): Promise<WebSocket | number> {
    const ws = new WebSocket(`ws://127.0.0.1:${gwPort}${path}`, withToken ? { headers: { authorization: `Bearer ${token}` } } : {});
    if (onMessage) ws.on('message', onMessage); // before 'open': the first message may come with the handshake
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        open.push(ws);
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', reject);
    });
  }

  it('refuses no token (401), an unknown daemon (404) and passes on the daemon refusal', async () => {
    expect(await connect('/daemons/esx1/capture?point=esx1.vmnic0', false)).to.equal(401);
    expect(await connect('/daemons/esx9/capture?point=esx9.vmnic0')).to.equal(404);
    expect(await connect('/daemons/esx1/capture?point=esx1.vmnic7')).to.equal(404);
    expect(pass.active).to.equal(0);
  });

  it('stops reading the daemon while the client does not read, refuses a stream over the limit, and delivers every message in order', async () => {
    const got: number[] = [];
    const ws = (await connect('/daemons/esx1/capture?point=esx1.vmnic0', true, (d) => got.push(d[0]!))) as WebSocket;
    ws.pause(); // the client stops reading: the kernel buffers fill, then the gateway's
    await waitFor(() => (pass.pauses > 0 ? true : undefined), 'the gateway pausing its read of the daemon', 10_000, 20);
    expect(pass.maxPendingBytes, 'held for the client').to.be.at.most(LIMIT_BYTES + GATEWAY_WS_READ_SLACK_BYTES);
    expect(await connect('/daemons/esx1/capture?point=esx1.vmnic0'), 'a second stream over maxSockets 1').to.equal(503);
    ws.resume();
    await waitFor(() => (got.length === MESSAGES ? true : undefined), `all ${MESSAGES} messages`, 10_000, 20);
    expect(got).to.deep.equal(Array.from({ length: MESSAGES }, (_, i) => i % 256));
    expect(pass.maxPendingBytes).to.be.at.most(LIMIT_BYTES + GATEWAY_WS_READ_SLACK_BYTES);
    ws.close();
    await waitFor(() => (pass.active === 0 ? true : undefined), 'the stream released', 5_000, 20);
  });
});
