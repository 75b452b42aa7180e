// lib/events/drops.ts: which drops become events and how often, on a manual clock (ms passed in).
import { expect } from 'chai';
import { DropReporter, DROP_EVENT_INTERVAL_MS, dropLabel, frameSummary } from '../../lib/events/drops.js';
import { dropComment } from '../../lib/events/comments.js';
import { buildFrame } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';

const frame = (src: string) => buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac(src), etherType: 0x0806 }, Buffer.alloc(46));

describe('events/drops: DropReporter', () => {
  it('reports the first drop of a port and reason at once, then folds the rest of the interval into one report with a count', () => {
    const r = new DropReporter();
    const first = r.offer('web1.nic0', 'forged_transmit', 100, frame('00:50:56:00:00:01'));
    expect(first).to.deep.equal({ port: 'web1.nic0', reason: 'forged_transmit', count: 1, frame: '00:50:56:00:00:01 > ff:ff:ff:ff:ff:ff ARP 60 bytes', firstMs: 100 });
    for (let t = 110; t < 100 + DROP_EVENT_INTERVAL_MS; t += 100) expect(r.offer('web1.nic0', 'forged_transmit', t, frame('00:50:56:00:00:02'))).to.equal(null);
    expect(r.nextDeadlineMs()).to.equal(100 + DROP_EVENT_INTERVAL_MS);
    expect(r.due(100 + DROP_EVENT_INTERVAL_MS - 1)).to.deep.equal([]);
    const later = r.due(100 + DROP_EVENT_INTERVAL_MS);
    expect(later).to.deep.equal([{ port: 'web1.nic0', reason: 'forged_transmit', count: 10, frame: '00:50:56:00:00:02 > ff:ff:ff:ff:ff:ff ARP 60 bytes', firstMs: 110 }]);
  });

  it('keeps one interval per port and reason: another reason or port reports at once', () => {
    const r = new DropReporter();
    expect(r.offer('web1.nic0', 'forged_transmit', 0, frame('00:50:56:00:00:01'))).to.not.equal(null);
    expect(r.offer('web1.nic0', 'vlan_mismatch', 1, frame('00:50:56:00:00:01'))).to.not.equal(null);
    expect(r.offer('app1.nic0', 'forged_transmit', 2, frame('00:50:56:00:00:01'))).to.not.equal(null);
    expect(r.offer('web1.nic0', 'forged_transmit', 3, frame('00:50:56:00:00:01'))).to.equal(null);
  });

  it('a quiet interval ends the pair: the next drop reports at once again; at most one report per interval under a steady flow', () => {
    const r = new DropReporter();
    r.offer('p', 'no_uplink', 0, frame('00:50:56:00:00:01'));
    expect(r.due(DROP_EVENT_INTERVAL_MS)).to.deep.equal([]); // nothing counted: forgotten
    expect(r.nextDeadlineMs()).to.equal(null);
    expect(r.offer('p', 'no_uplink', 5000, frame('00:50:56:00:00:01'))?.count).to.equal(1);
    // 10 s of a drop every 10 ms: 1 at once + one per interval, and every frame counted once
    let reports = 1;
    let counted = 1;
    for (let t = 5010; t <= 15_000; t += 10) {
      for (const d of r.due(t)) (reports++, (counted += d.count));
      const now = r.offer('p', 'no_uplink', t, frame('00:50:56:00:00:01'));
      if (now) (reports++, (counted += now.count));
    }
    for (const d of r.due(1e9)) (reports++, (counted += d.count));
    expect(counted).to.equal(1 + 1000);
    expect(reports).to.be.within(10, 12);
  });

  it('a drop after a missed deadline reports what was counted plus itself', () => {
    const r = new DropReporter();
    r.offer('p', 'malformed', 0, frame('00:50:56:00:00:01'));
    r.offer('p', 'malformed', 10, frame('00:50:56:00:00:02'));
    const late = r.offer('p', 'malformed', 2000, frame('00:50:56:00:00:03'));
    expect(late).to.include({ count: 2, firstMs: 10 });
  });

  it('bounds the pairs it tracks: beyond the bound drops are counted as untracked, idle pairs make room', () => {
    const r = new DropReporter(DROP_EVENT_INTERVAL_MS, 2);
    r.offer('a', 'malformed', 0, frame('00:50:56:00:00:01'));
    r.offer('b', 'malformed', 0, frame('00:50:56:00:00:01'));
    expect(r.offer('c', 'malformed', 1, frame('00:50:56:00:00:01'))).to.equal(null);
    expect(r.untracked).to.equal(1);
    expect(r.offer('c', 'malformed', DROP_EVENT_INTERVAL_MS + 1, frame('00:50:56:00:00:01'))?.count).to.equal(1);
  });

  it('ordinary bridging filters are not events; faults are', () => {
    for (const reason of ['unknown_unicast_from_uplink', 'same_port', 'no_destination']) expect(DropReporter.reports(reason), reason).to.equal(false);
    for (const reason of ['forged_transmit', 'vlan_mismatch', 'no_uplink', 'malformed', 'vlan_not_allowed', 'tagged_on_access']) expect(DropReporter.reports(reason), reason).to.equal(true);
  });

  it('words: labels, comments and frame summaries (tagged, short)', () => {
    expect(dropComment('forged_transmit')).to.equal('dropped: forged transmit (security policy)');
    expect(dropLabel('some_new_reason')).to.equal('some new reason');
    const tagged = Buffer.from('ffffffffffff005056000001810000140806' + '00'.repeat(46), 'hex');
    expect(frameSummary(tagged)).to.equal('00:50:56:00:00:01 > ff:ff:ff:ff:ff:ff vlan 20 ARP 64 bytes');
    expect(frameSummary(Buffer.alloc(8))).to.equal('8 bytes (shorter than an Ethernet header)');
  });
});
