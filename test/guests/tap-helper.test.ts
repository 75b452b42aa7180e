// daemons/guests/tap-attach.ts and tap-helper.py: a netns guest's vNIC as a tap device served by the
// python3 helper, on its own (no hostd): the tap appears in the namespace, frames pass both ways (an ARP
// request from the link is answered by the namespace's kernel), frames from the guest leave the helper
// several per write and reach the link several per read, carrier off shows NO-CARRIER inside, a bad
// record from hostd ends the helper (exit 3) and its tap, stdin closing (hostd gone, also by kill -9) ends it and its tap, a helper that ends or sends a bad length
// takes the link's carrier down (counted, an event) without throwing. Needs root, iproute2, python3;
// skips with the reason elsewhere and fails in CI. Namespaces vfabt-tap<pid>-*, removed in after().
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { TapHelper, tapHelperPath, TAP_HELPER_EXIT_BAD_FRAMING } from '../../daemons/guests/tap-attach.js';
import { canManageNetworks, run } from '../../daemons/guests/vxlan-device.js';
import { FrameLink } from '../../lib/link/frame-link.js';

const NS = `vfabt-tap${process.pid % 100000}-a`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => Promise<boolean> | boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out: ${what}`);
    await sleep(25);
  }
}
const hasLink = (name: string) => run('ip', ['-n', NS, 'link', 'show', name]).then(() => true, () => false);
const MAC = Buffer.from('020000000001', 'hex');

/** A python3 program sending 200 frames of 114 bytes at once on `ifname` (AF_PACKET). */
const SEND_200 = (ifname: string) => ['import socket', 's=socket.socket(socket.AF_PACKET, socket.SOCK_RAW)', `s.bind(('${ifname}', 0))`,
  "f=bytes.fromhex('0200000000ff0200000000020800')+bytes(100)", '[s.send(f) for _ in range(200)]'].join('\n');

/** An ARP request from 10.9.0.2 (MAC) for 10.9.0.1. */
function arpRequest(): Buffer {
  return Buffer.concat([Buffer.alloc(6, 0xff), MAC, Buffer.from('0806 0001 0800 06 04 0001'.replace(/ /g, ''), 'hex'), MAC, Buffer.from([10, 9, 0, 2]), Buffer.alloc(6), Buffer.from([10, 9, 0, 1]), Buffer.alloc(18)]);
}

describe('guests/tap-helper (root)', function () {
  this.timeout(30_000);
  const helpers: TapHelper[] = [];
  const events: Array<{ type: string; fields: Record<string, unknown> }> = [];
  const start = async (ifname: string, link: FrameLink, helperFile?: string) => {
    const h = await TapHelper.start({ netns: NS, ifname, mtu: 1500, link, event: (type, fields) => events.push({ type, fields }), helperFile });
    helpers.push(h);
    return h;
  };

  before(async function () {
    if (!canManageNetworks() || !fs.existsSync('/dev/net/tun')) {
      if (process.env.CI === 'true') throw new Error('CI runs as root with /dev/net/tun: TAP helper tests cannot skip');
      this.skip(); // needs root (CAP_NET_ADMIN) and /dev/net/tun
    }
    await run('ip', ['netns', 'add', NS]);
  });
  after(async () => {
    for (const h of helpers) await h.close().catch(() => undefined);
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  });

  it('creates the tap in the namespace; frames pass both ways, several per read from the guest; carrier off shows NO-CARRIER', async () => {
    const link = new FrameLink('t.nic0');
    const got: Buffer[] = [];
    link.onFrameView((f) => got.push(Buffer.from(f)));
    const h = await start('eth0', link);
    expect(link.carrier).to.equal(true);
    await run('ip', ['-n', NS, 'addr', 'add', '10.9.0.1/24', 'dev', 'eth0']);
    await run('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
    link.send(arpRequest());
    await waitFor(() => got.some((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2 && f.subarray(0, 6).equals(MAC)), 'the ARP reply from the namespace');
    expect(h.counters.txFrames).to.equal(1);
    // 200 frames sent at once inside the namespace (AF_PACKET): they reach the link, fewer reads than frames
    const before = h.counters;
    const [frames0, reads0] = [before.rxFrames, before.rxReads];
    await run('ip', ['netns', 'exec', NS, 'python3', '-c', SEND_200('eth0')]);
    await waitFor(() => h.counters.rxFrames - frames0 >= 200, '200 frames at the link');
    expect(h.counters.rxReads - reads0, 'reads for 200 frames').to.be.below(200);
    h.setCarrier(false);
    await waitFor(async () => /NO-CARRIER/.test(await run('ip', ['-n', NS, 'link', 'show', 'eth0'])), 'NO-CARRIER inside');
    h.setCarrier(true);
    await waitFor(async () => /LOWER_UP/.test(await run('ip', ['-n', NS, 'link', 'show', 'eth0'])), 'carrier back inside');
    // ended by its PID: the tap goes with it, the link loses carrier; a close is no guest-error
    await h.close();
    expect(link.carrier).to.equal(false);
    await waitFor(async () => !(await hasLink('eth0')), 'the tap gone with its helper');
    expect(events.filter((e) => e.type === 'guest-error')).to.deep.equal([]);
  });

  it('a helper that ends on its own, or sends a bad length, takes the link down, counted, with an event', async () => {
    const link = new FrameLink('t.nic1');
    const h = await start('eth1', link);
    process.kill(h.pid!, 'SIGKILL');
    await waitFor(() => !link.carrier, 'carrier down after the helper ended');
    expect(events.some((e) => e.type === 'guest-error' && /exited/.test(String(e.fields.error)))).to.equal(true);
    // a misbehaving helper: says ready, then a length prefix above the bound
    const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vfabt-tap-')), 'bad.py');
    fs.writeFileSync(bad, "import sys, os, time\nsys.stderr.write('ready\\n'); sys.stderr.flush()\nos.write(1, b'\\xff\\xff\\xff\\x00')\ntime.sleep(30)\n");
    const link2 = new FrameLink('t.nic2');
    const h2 = await start('eth2', link2, bad);
    await waitFor(() => h2.counters.protocolErrors === 1, 'the bad length counted');
    expect(link2.carrier).to.equal(false);
    expect(link2.counters.rxDropsMalformed).to.equal(1);
    await waitFor(() => events.some((e) => e.type === 'guest-error' && /bad length prefix/.test(String(e.fields.error))), 'the event');
    fs.rmSync(path.dirname(bad), { recursive: true, force: true });
  });

  it('the helper refuses a bad record from hostd (exit 3) and ends when its stdin closes; its tap goes either way', async () => {
    const file = tapHelperPath()!;
    const startRaw = async (ifname: string) => {
      const c = spawn('ip', ['netns', 'exec', NS, 'python3', file, ifname, '1500'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
      await waitFor(() => err.includes('ready'), `${ifname} ready`);
      expect(await hasLink(ifname)).to.equal(true);
      return { c, exited, err: () => err };
    };
    const a = await startRaw('eth3');
    a.c.stdin!.write(Buffer.from([0x00, 0x01, 0x00, 0x00])); // 65536 bytes: above MTU 1500 + 22
    expect(await a.exited).to.equal(TAP_HELPER_EXIT_BAD_FRAMING);
    expect(a.err()).to.match(/frame length 65536 is outside 1\.\.1522/);
    await waitFor(async () => !(await hasLink('eth3')), 'eth3 gone');
    // frames from the guest leave the helper in batches: 200 sent at once, far fewer writes
    const b = await startRaw('eth4');
    await run('ip', ['-n', NS, 'link', 'set', 'eth4', 'up']);
    await run('ip', ['netns', 'exec', NS, 'python3', '-c', SEND_200('eth4')]);
    let out = 0;
    b.c.stdout!.on('data', (d: Buffer) => (out += d.length));
    await waitFor(() => out >= 200 * (4 + 114), '200 frames out of the helper');
    b.c.stdin!.end();
    expect(await b.exited).to.equal(0);
    const m = /frames from tap (\d+) in (\d+) writes/.exec(b.err());
    expect(m, b.err()).to.not.equal(null);
    expect(Number(m![1])).to.be.at.least(200);
    expect(Number(m![2]), 'writes for 200 frames').to.be.below(100);
    await waitFor(async () => !(await hasLink('eth4')), 'eth4 gone');
  });
});
