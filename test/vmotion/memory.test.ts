// The guest memory model: pages dirtied at the rate over the working set, passes over a snapshot of the
// dirty map, the stun freezing it, and the closed-form prediction of passes.
import { expect } from 'chai';
import { GuestMemory, predictPrecopy, VMOTION_PAGE_BYTES } from '../../lib/vmotion/index.js';

const MiB = 1024 * 1024;

describe('vMotion memory model', () => {
  it('starts with every page dirty and dirties rate x time while the guest runs', () => {
    const m = new GuestMemory({ memoryBytes: 4 * MiB, dirtyBytesPerSec: 4096 * 1000 }, 0); // one page per ms
    expect(m.dirtyPages).to.equal(1024);
    expect(m.beginPass()).to.equal(1024);
    expect(m.dirtyPages).to.equal(0);
    m.advance(10.5);
    expect(m.dirtyPages).to.equal(10);
    m.advance(11);
    expect(m.dirtyPages).to.equal(11); // the half page carried over
  });

  it('never dirties more than the working set, however long the interval', () => {
    const m = new GuestMemory({ memoryBytes: 4 * MiB, dirtyBytesPerSec: 1e9, workingSetBytes: 64 * 1024 }, 0);
    m.beginPass();
    m.advance(10_000);
    expect(m.dirtyBytes).to.equal(64 * 1024);
    // many small intervals wrap around the same 16 pages
    const w = new GuestMemory({ memoryBytes: 4 * MiB, dirtyBytesPerSec: 4096 * 1000, workingSetBytes: 64 * 1024 }, 0);
    w.beginPass();
    for (let t = 1; t <= 40; t++) w.advance(t);
    expect(w.dirtyPages).to.equal(16);
  });

  it('hands out each page of a pass once, in order; pages dirtied meanwhile wait for the next pass', () => {
    const m = new GuestMemory({ memoryBytes: 1 * MiB, dirtyBytesPerSec: 4096 * 1000 }, 0);
    const n = m.beginPass();
    const seen: number[] = [];
    for (let p = m.nextPassPage(); p !== -1; p = m.nextPassPage()) {
      seen.push(p);
      if (seen.length === 10) m.advance(5); // 5 pages (0..4) dirtied during the pass
    }
    expect(seen.length).to.equal(n);
    expect(seen).to.deep.equal([...seen].sort((a, b) => a - b));
    expect(m.beginPass()).to.equal(5);
  });

  it('stops dirtying at the stun and starts again on resume', () => {
    const m = new GuestMemory({ memoryBytes: 1 * MiB, dirtyBytesPerSec: 4096 * 1000 }, 0);
    m.beginPass();
    m.stop(2);
    m.advance(100);
    expect(m.dirtyPages).to.equal(2);
    m.resume(100);
    m.advance(103);
    expect(m.dirtyPages).to.equal(5);
  });

  it('predicts a geometric pre-copy that converges when the rate is below the bandwidth', () => {
    // 1 GiB at 100 MB/s with 10 MB/s dirtied: passes of 10.7 s, 1.07 s (10.7 MB), 0.107 s; then 1 MB fits 500 ms
    const p = predictPrecopy({ memoryBytes: 1024 * MiB, dirtyBytesPerSec: 10_000_000 }, 100_000_000, 500, 12);
    expect(p.converged).to.equal(true);
    expect(p.passes.length).to.equal(2);
    expect(p.passes[0]!.ms).to.be.closeTo(10737.4, 0.1);
    expect(p.passes[1]!.bytes).to.equal(Math.floor(107374182 / VMOTION_PAGE_BYTES) * VMOTION_PAGE_BYTES);
    expect(p.finalCopyMs).to.be.lessThan(500);
  });

  it('predicts no convergence when the guest dirties its working set faster than the copy', () => {
    const p = predictPrecopy({ memoryBytes: 64 * MiB, dirtyBytesPerSec: 200_000_000, workingSetBytes: 32 * MiB }, 100_000_000, 100, 5);
    expect(p.converged).to.equal(false);
    expect(p.passes.length).to.equal(5);
    expect(p.finalBytes).to.equal(32 * MiB);
  });

  it('refuses a model out of range, naming the field', () => {
    expect(() => new GuestMemory({ memoryBytes: 4 * MiB + 1, dirtyBytesPerSec: 0 }, 0)).to.throw(/memoryBytes/);
    expect(() => new GuestMemory({ memoryBytes: 4 * MiB, dirtyBytesPerSec: -1 }, 0)).to.throw(/dirtyBytesPerSec/);
    expect(() => new GuestMemory({ memoryBytes: 4 * MiB, dirtyBytesPerSec: 0, workingSetBytes: 8 * MiB }, 0)).to.throw(/workingSetBytes/);
  });
});
