// Multipath decisions (lib/storage/multipath.ts): Fixed / MRU / Round Robin selection, failover on a
// path failure, failback rules, APD wait then timeout with a manual clock, and path status for `vfab status`.

import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { APD_TIMEOUT_MS, DEFAULT_RR_IOPS, MULTIPATH_ERROR, MultipathSelector, type PathVerdict } from '../../lib/storage/multipath.js';

function pathOf(v: PathVerdict): number {
  if (v.kind !== 'path') throw new Error(`expected a path, got ${v.kind}`);
  return v.path;
}

describe('storage/multipath selector', () => {
  it('defaults: Round Robin switches every 1000 I/Os, APD timeout 140 s (VMware defaults)', () => {
    expect(DEFAULT_RR_IOPS).to.equal(1000);
    expect(APD_TIMEOUT_MS).to.equal(140_000);
    const mp = new MultipathSelector({ pathCount: 2, policy: 'rr' });
    const seq = Array.from({ length: 2001 }, () => pathOf(mp.select(0, 0)));
    expect(seq.slice(0, 1000).every((p) => p === 0)).to.equal(true);
    expect(seq.slice(1000, 2000).every((p) => p === 1)).to.equal(true);
    expect(seq[2000]).to.equal(0);
  });

  it('Round Robin with rrIops=1 alternates and skips a dead path', () => {
    const mp = new MultipathSelector({ pathCount: 3, policy: 'rr', rrIops: 1 });
    expect([0, 1, 2, 3].map(() => pathOf(mp.select(0, 0)))).to.deep.equal([0, 1, 2, 0]);
    mp.pathFailed(1, 5);
    expect([0, 1, 2, 3].map(() => pathOf(mp.select(0, 5)))).to.deep.equal([2, 0, 2, 0]);
    expect(mp.status().map((s) => s.state)).to.deep.equal(['active', 'dead', 'active']);
  });

  it('Fixed uses the preferred path, fails over, and fails back when it returns', () => {
    const mp = new MultipathSelector({ pathCount: 3, policy: 'fixed', preferredPath: 1 });
    expect(pathOf(mp.select(7, 0))).to.equal(1);
    mp.pathFailed(1, 10);
    const other = pathOf(mp.select(7, 10));
    expect(other).to.not.equal(1);
    expect(pathOf(mp.select(7, 11))).to.equal(other);
    mp.pathRestored(1);
    expect(pathOf(mp.select(7, 12))).to.equal(1);
    const st = mp.status();
    expect(st[1]).to.include({ state: 'active', io: true, preferred: true, failures: 1 });
    expect(st.filter((s) => s.state === 'standby')).to.have.length(2);
  });

  it('MRU stays on the surviving path after the original returns (no failback)', () => {
    const mp = new MultipathSelector({ pathCount: 2, policy: 'mru' });
    expect(pathOf(mp.select(0, 0))).to.equal(0);
    mp.pathFailed(0, 1);
    expect(pathOf(mp.select(0, 1))).to.equal(1);
    mp.pathRestored(0);
    expect(pathOf(mp.select(0, 2))).to.equal(1);
  });

  it('all paths down: I/O waits until the APD deadline, then fails with VFAB_MULTIPATH_APD_TIMEOUT', () => {
    const clock = new ManualClock(1000);
    const mp = new MultipathSelector({ pathCount: 2, policy: 'rr', rrIops: 1, apdTimeoutMs: 500 });
    mp.pathFailed(0, clock.nowMs());
    clock.advance(100);
    mp.pathFailed(1, clock.nowMs());
    expect(mp.allPathsDownSinceMs).to.equal(1100);
    expect(mp.select(0, clock.nowMs())).to.deep.equal({ kind: 'wait', deadlineMs: 1600 });
    clock.advance(499);
    expect(mp.select(0, clock.nowMs()).kind).to.equal('wait');
    clock.advance(1);
    const v = mp.select(0, clock.nowMs());
    expect(v.kind).to.equal('fail');
    if (v.kind === 'fail') expect(v.error.code).to.equal(MULTIPATH_ERROR.APD_TIMEOUT);
  });

  it('a restore during APD ends it and I/O flows on the restored path', () => {
    const mp = new MultipathSelector({ pathCount: 2, policy: 'rr', rrIops: 1, apdTimeoutMs: 500 });
    mp.pathFailed(0, 0);
    mp.pathFailed(1, 0);
    mp.pathRestored(1);
    expect(mp.allPathsDownSinceMs).to.equal(undefined);
    expect(pathOf(mp.select(0, 10_000))).to.equal(1);
    expect(pathOf(mp.select(0, 10_000))).to.equal(1);
  });

  it('rejects bad options and unknown paths with typed errors', () => {
    expect(() => new MultipathSelector({ pathCount: 0, policy: 'rr' })).to.throw().with.property('code', MULTIPATH_ERROR.BAD_CONFIG);
    expect(() => new MultipathSelector({ pathCount: 2, policy: 'rr', rrIops: 0 })).to.throw().with.property('code', MULTIPATH_ERROR.BAD_CONFIG);
    expect(() => new MultipathSelector({ pathCount: 2, policy: 'fixed', preferredPath: 2 })).to.throw().with.property('code', MULTIPATH_ERROR.BAD_CONFIG);
    const mp = new MultipathSelector({ pathCount: 2, policy: 'mru' });
    expect(() => mp.pathFailed(5, 0)).to.throw().with.property('code', MULTIPATH_ERROR.NO_SUCH_PATH);
  });
});
