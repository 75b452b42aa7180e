// End-to-end: the multi-machine wiring on one machine. The quickstart comes up with `--tls DIR
// --spread-addresses`: each daemon on its own loopback address (127.0.0.2, .3, ...), every link, block
// path and control call over TLS (wss://, https://) with a throwaway CA the test makes with openssl.
// Checks that the daemons really listen apart and only with TLS, that the quickstart's pings work across
// hosts and switches (the CLI as a child process, trusting the fabric's CA from the state file), and that
// a client without the token, a plain ws:// or http:// client and a client that does not trust the CA
// are all refused. Leaves out the failover and capture checks (test/e2e/fabric/quickstart.test.ts).

import { expect } from 'chai';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { WebSocket } from '../../../daemons/common/ws.js';
import { FABRIC_UP_TIMEOUT_MS, makeTempDir, runCli, useFabric, type TestFabric } from '../helpers/fabric.js';
import { haveOpenssl, makeTlsDir } from '../../helpers/tls-certs.js';
import type { DaemonRecord } from '../../../daemons/fabric/state.js';

const tlsDir = makeTempDir('vfab-e2e-tls-');
const SAN_IPS = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 1}`);

/** Opens a WebSocket and says how it ended: 'open', 'http <status>', or the error's code/message. */
function tryWs(url: string, opts: { token?: string; ca?: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { ...(opts.token ? { headers: { authorization: `Bearer ${opts.token}` } } : {}), ...(opts.ca ? { ca: opts.ca } : {}), handshakeTimeout: 5000 });
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(`http ${res.statusCode}`);
      ws.terminate();
    });
    ws.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** One GET; resolves with the status or the error's code. */
function tryGet(url: string, opts: { token?: string; ca?: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...(opts.ca ? { ca: opts.ca } : {}), headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, timeout: 5000 }, (res) => {
      res.resume();
      resolve(`http ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('e2e: quickstart over wss:// with each daemon on its own loopback address', function () {
  this.timeout(FABRIC_UP_TIMEOUT_MS);
  before(function () {
    if (!haveOpenssl()) {
      if (process.env.CI === 'true') throw new Error('CI installs openssl (.ci/run): this test cannot skip there');
      this.skip(); // needs the openssl CLI to make the throwaway CA: apt-get install -y openssl
    }
    makeTlsDir(tlsDir, { ips: SAN_IPS });
  });
  after(() => fs.rmSync(tlsDir, { recursive: true, force: true }));

  let fab: TestFabric;
  useFabric('topologies/quickstart.yaml', (f) => (fab = f), { tlsDir, spreadAddresses: true });
  const ca = () => fs.readFileSync(path.join(tlsDir, 'ca.crt'));
  const otherCa = () => fs.readFileSync(path.join(tlsDir, 'other-ca.crt'));
  const host = (d: DaemonRecord) => `${d.host}:${d.port}`;

  it('puts every daemon on its own 127.0.0.x address, with TLS', () => {
    const hosts = fab.state.daemons.map((d) => d.host);
    expect(new Set(hosts).size).to.equal(fab.state.daemons.length);
    for (const d of fab.state.daemons) {
      expect(d.host, d.name).to.match(/^127\.0\.0\.([2-9]|1[0-9])$/);
      expect(d.tls, d.name).to.equal(true);
    }
  });

  it('passes the quickstart pings across hosts and switches (the CLI trusting the fabric CA)', async () => {
    const cases: Array<[string, string, boolean]> = [['web1', '192.0.2.12', true], ['app1', '198.51.100.11', true], ['web1', '198.51.100.11', false]];
    for (const [vm, ip, answers] of cases) {
      const r = await runCli(['ping', vm, ip, '--count', '3', '--json'], { stateDir: fab.stateDir });
      const json = JSON.parse(r.out);
      expect(json.received > 0, `${vm} -> ${ip}: ${r.out} ${r.stderr}`).to.equal(answers);
      expect(r.code, r.stderr).to.equal(answers ? 0 : 1);
    }
  });

  it('connected the array over wss:// too (both hosts attached array1)', async () => {
    for (const h of ['esx1', 'esx2']) {
      const st = await fab.call<any>(h, 'GET', '/control/storage');
      expect(JSON.stringify(st), h).to.match(/"state":"attached"/);
    }
  });

  it('refuses a client without the token, and one that does not speak TLS or trust the CA', async () => {
    const esx1 = fab.daemon('esx1');
    const sw1 = fab.daemon('sw1');
    const token = fab.state.token;
    // the right client gets in: what follows fails for the reason each case names
    expect(await tryGet(`https://${host(esx1)}/control/status`, { token, ca: ca() })).to.equal('http 200');
    expect(await tryWs(`wss://${host(esx1)}/capture?point=esx1.vmnic0`, { token, ca: ca() })).to.equal('open');
    // no token: refused on the control API and on the link endpoint
    expect(await tryGet(`https://${host(esx1)}/control/status`, { ca: ca() })).to.equal('http 401');
    expect(await tryWs(`wss://${host(sw1)}/link/${encodeURIComponent('Gi1/0/1')}`, { ca: ca() })).to.equal('http 401');
    // plain http:// and ws:// to a TLS port: no HTTP answer at all
    expect(await tryGet(`http://${host(esx1)}/control/status`, { token })).to.not.match(/^http /);
    expect(await tryWs(`ws://${host(sw1)}/link/${encodeURIComponent('Gi1/0/1')}`, { token })).to.not.match(/^(open|http )/);
    // a certificate from a CA the client does not trust
    expect(await tryGet(`https://${host(esx1)}/control/status`, { token, ca: otherCa() })).to.match(/CERT|SIGNATURE|ISSUER|SELF_SIGNED/);
    expect(await tryWs(`wss://${host(sw1)}/link/x`, { token, ca: otherCa() })).to.match(/CERT|SIGNATURE|ISSUER|SELF_SIGNED/);
  });
});
