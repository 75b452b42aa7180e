// bench/peers/vde-netns.ts, the guests benchmark's VDE peer: two namespaces joined by vde_switch and a
// vde_plug2tap in each answer each other's pings, and stop() leaves no namespace, process or socket
// directory behind. Needs root, iproute2 and vde2: skips with the reason elsewhere, fails in CI (which
// runs as root with them installed). Leaves out throughput (npm run bench -- --only guests).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { VdeNetnsPair, VDE_TOOLS } from '../../bench/peers/vde-netns.js';
import { canManageNetworks, run } from '../../daemons/guests/vxlan-device.js';

const TAG = `vde${process.pid}`;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('bench/peers/vde-netns', function () {
  this.timeout(30_000);
  let pair: VdeNetnsPair | undefined;
  before(function () {
    const missing = VDE_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
    if (!canManageNetworks() || missing.length > 0) {
      if (process.env.CI === 'true') throw new Error(`CI runs as root with vde2 installed: cannot skip (missing: ${missing.join(', ') || 'root'})`);
      this.skip(); // needs root and vde2 (vde_switch, vde_plug2tap)
    }
  });
  after(async () => {
    await pair?.stop();
  });

  it('joins two namespaces (pings both ways) and removes everything it made', async () => {
    pair = await VdeNetnsPair.start(TAG, 'vfabt-');
    const [a, b] = pair.guests;
    expect(a.netns).to.equal(`vfabt-${TAG}-a`);
    const pids = pair.pids();
    expect(pids).to.have.length(3);
    await run('ip', ['netns', 'exec', a.netns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip], 15_000);
    await run('ip', ['netns', 'exec', b.netns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', a.ip], 15_000);
    const sock = fs.readdirSync('/tmp').filter((d) => d.startsWith('vfabb-vde-'));
    await pair.stop();
    await pair.stop(); // idempotent
    const left = (await run('ip', ['netns', 'list'])).split('\n').filter((l) => l.includes(TAG));
    expect(left).to.deep.equal([]);
    expect(pids.filter(alive)).to.deep.equal([]);
    const sockAfter = fs.readdirSync('/tmp').filter((d) => d.startsWith('vfabb-vde-'));
    expect(sockAfter.length).to.be.lessThan(sock.length);
  });
});
