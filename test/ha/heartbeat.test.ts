// The HA heartbeat datagram (docs/ha.md): round trip, paging of long VM lists into datagrams that each
// fit a 1500-byte frame, and malformed datagrams dropped and counted, never thrown.
import { expect } from 'chai';
import { HA_MAX_DATAGRAM_BYTES, HA_MAX_HOSTS, type HaHeartbeat, HeartbeatAssembler, decodePage, encodeHeartbeat } from '../../lib/ha/index.js';

const HB: HaHeartbeat = { cluster: 'c1', from: 'esx1', role: 'secondary', primary: 'esx3', datastoresSeen: 2, poweredOn: ['web1', 'app1'], seq: 7 };

describe('HA heartbeat datagrams', () => {
  it('one datagram for a short heartbeat; round trip', () => {
    const d = encodeHeartbeat(HB);
    expect(d).to.have.length(1);
    expect(new HeartbeatAssembler().push(d[0]!)).to.deep.equal(HB);
    const primary: HaHeartbeat = { cluster: 'c1', from: 'esx3', role: 'primary', datastoresSeen: 3, poweredOn: [], seq: 1 };
    expect(new HeartbeatAssembler().push(encodeHeartbeat(primary)[0]!)).to.deep.equal(primary);
  });

  it('a long VM list goes in pages that each fit a frame; reassembled in any order; a lost page loses that heartbeat only', () => {
    const vms = Array.from({ length: 300 }, (_, i) => `vm-with-a-longish-name-${String(i).padStart(4, '0')}`);
    const d = encodeHeartbeat({ ...HB, poweredOn: vms });
    expect(d.length).to.be.greaterThan(5);
    for (const x of d) expect(x.length).to.be.at.most(HA_MAX_DATAGRAM_BYTES);
    const a = new HeartbeatAssembler();
    const got = [...d].reverse().map((x) => a.push(x)).filter((x) => x !== undefined);
    expect(got).to.have.length(1);
    expect(got[0]!.poweredOn).to.deep.equal(vms);
    // Page 0 of seq 8 lost: nothing; seq 9 complete: delivered.
    const d8 = encodeHeartbeat({ ...HB, poweredOn: vms, seq: 8 });
    expect(d8.slice(1).map((x) => a.push(x)).filter(Boolean)).to.deep.equal([]);
    const d9 = encodeHeartbeat({ ...HB, poweredOn: vms, seq: 9 });
    expect(d9.map((x) => a.push(x)).filter(Boolean)).to.have.length(1);
  });

  it('malformed datagrams are dropped and counted', () => {
    const a = new HeartbeatAssembler();
    const bad = [
      Buffer.alloc(0), Buffer.from('not json'), Buffer.from('[]'), Buffer.from(JSON.stringify({ v: 2 })),
      Buffer.alloc(HA_MAX_DATAGRAM_BYTES + 1, 0x20),
      Buffer.from(JSON.stringify({ v: 1, c: 'c1', f: 'esx1', r: 'boss', d: 1, s: 1, i: 0, n: 1, vms: [] })),
      Buffer.from(JSON.stringify({ v: 1, c: 'c1', f: 'esx1', r: 'primary', d: 1, s: 1, i: 1, n: 1, vms: [] })),
      Buffer.from(JSON.stringify({ v: 1, c: 'c1', f: 'esx1', r: 'primary', d: 1, s: 1, i: 0, n: 1, vms: [3] })),
      Buffer.from(JSON.stringify({ v: 1, c: 'c1', f: 'x'.repeat(65), r: 'primary', d: 1, s: 1, i: 0, n: 1, vms: [] })),
    ];
    for (const b of bad) expect(a.push(b)).to.equal(undefined);
    expect(a.dropped).to.equal(bad.length);
    expect(decodePage(Buffer.from('{')).ok).to.equal(false);
  });

  it('partial heartbeats are kept for at most HA_MAX_HOSTS senders', () => {
    const a = new HeartbeatAssembler();
    const vms = Array.from({ length: 100 }, (_, i) => `vm-${'n'.repeat(40)}-${i}`);
    for (let h = 0; h < HA_MAX_HOSTS + 3; h++) a.push(encodeHeartbeat({ ...HB, from: `h${h}`, poweredOn: vms })[0]!);
    expect(a.dropped).to.equal(3);
  });
});
