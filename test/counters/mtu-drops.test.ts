// Where frames were dropped for their size between two counter readings (lib/counters/mtu-drops.ts):
// growth of drops.mtu_exceeded / rxDrops. / txDrops.mtu_exceeded per point, with the hop's MTU, and the
// line vfab ping prints.

import { expect } from 'chai';
import { mtuDropsBetween, mtuDropText } from '../../lib/counters/mtu-drops.js';
import type { CounterPoint } from '../../lib/counters/counters.js';

const sw = (port: string, rx: number, tx: number, mtuBytes?: number): CounterPoint => ({
  point: `sw2.${port}`, kind: 'switchPort', node: 'sw2', counters: { rxFrames: 9, 'rxDrops.mtu_exceeded': rx, 'txDrops.mtu_exceeded': tx, 'rxDrops.port_down': 5 }, ...(mtuBytes !== undefined ? { mtuBytes } : {}),
});
const vnic = (drops: number): CounterPoint => ({ point: 'vmA.nic0', kind: 'vswitchPort', node: 'esx1', counters: { 'drops.mtu_exceeded': drops, 'drops.forged_transmit': 3 }, mtuBytes: 1500 });

describe('counters/mtuDropsBetween', () => {
  it('lists the points whose MTU drops grew (rx and tx added), most first, with their MTU; other drops do not count', () => {
    const before = [sw('Gi1/0/48', 2, 0, 1500), sw('Gi1/0/3', 0, 0, 1500), vnic(1)];
    const after = [sw('Gi1/0/48', 5, 1, 1500), { ...sw('Gi1/0/3', 0, 0, 1500), counters: { ...sw('Gi1/0/3', 0, 0).counters, 'rxDrops.port_down': 50 } }, vnic(2)];
    expect(mtuDropsBetween(before, after)).to.deep.equal([
      { point: 'sw2.Gi1/0/48', node: 'sw2', mtuBytes: 1500, frames: 4 },
      { point: 'vmA.nic0', node: 'esx1', mtuBytes: 1500, frames: 1 },
    ]);
    expect(mtuDropsBetween(after, after)).to.deep.equal([]);
  });

  it('a point new since the first reading counts from 0; a counter that went down (reset) counts from 0', () => {
    expect(mtuDropsBetween([], [sw('Gi1/0/48', 3, 0)])).to.deep.equal([{ point: 'sw2.Gi1/0/48', node: 'sw2', frames: 3 }]);
    expect(mtuDropsBetween([sw('Gi1/0/48', 10, 0)], [sw('Gi1/0/48', 2, 0)])[0]!.frames).to.equal(2);
  });

  it('says where, the MTU and the packet size', () => {
    expect(mtuDropText({ point: 'sw2.Gi1/0/48', node: 'sw2', mtuBytes: 1500, frames: 1 }, 9000)).to.equal('dropped at sw2.Gi1/0/48 (MTU 1500 < 9000-byte IP packet; 1 frame)');
    expect(mtuDropText({ point: 'sw2.Gi1/0/48', node: 'sw2', frames: 2 }, 9000)).to.equal('dropped at sw2.Gi1/0/48 (larger than the MTU: 9000-byte IP packet; 2 frames)');
  });
});
