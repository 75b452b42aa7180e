// The pure parts of the guests benchmark (bench/guests-parse.ts): iperf3's client JSON (a real one, from
// a 1 s run through the VDE peer with --get-server-output, in fixtures/), the longest stall and the dip
// of a flow's intervals, ping's reply times and their percentiles, and where a
// host's status names a guest's namespace. Leaves out the runs themselves (npm run bench -- --only guests).

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestBenchParseError, dipMs, longestStallMs, parseIperfJson, parsePingRtts, quantile, type IperfInterval } from '../../bench/guests-parse.js';
import { guestNetns } from '../../bench/guests.js';

const fixture = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/iperf3-tcp-client.json'), 'utf8');

const iv = (bytes: number[], step = 0.1): IperfInterval[] => bytes.map((b, i) => ({ start: +(i * step).toFixed(3), end: +((i + 1) * step).toFixed(3), bytes: b }));

describe('bench/guests-parse', () => {
  describe('parseIperfJson', () => {
    it('takes the receiver\'s throughput, the sender\'s retransmits and the receiver\'s intervals', () => {
      const r = parseIperfJson(fixture);
      expect(r.receivedBitsPerSecond).to.be.closeTo(1047575837, 1);
      expect(r.receivedBytes).to.equal(131746280);
      expect(r.retransmits).to.equal(10591);
      expect(r.mss).to.equal(1448);
      expect(r.segments).to.equal(Math.ceil(131746280 / 1448));
      expect(r.intervalsFrom).to.equal('receiver');
      expect(r.intervals.map((i) => i.bytes)).to.deep.equal([24605168, 33102728, 35140064, 36961648, 1936672]);
    });

    it('falls back to the sender\'s intervals without server output, and leaves out omitted ones', () => {
      const doc = JSON.parse(fixture);
      delete doc.server_output_json;
      doc.intervals[0].sum.omitted = true;
      const r = parseIperfJson(JSON.stringify(doc));
      expect(r.intervalsFrom).to.equal('sender');
      expect(r.intervals).to.have.length(doc.intervals.length - 1);
      expect(r.intervals[0]!.start).to.equal(doc.intervals[1].sum.start);
    });

    it('names what is wrong: not JSON, iperf3\'s own error, no end sums, a field that is not a number', () => {
      expect(() => parseIperfJson('iperf3: error - unable to connect')).to.throw(GuestBenchParseError, /not JSON/);
      expect(() => parseIperfJson(JSON.stringify({ error: 'unable to connect to server: Connection refused' }))).to.throw(GuestBenchParseError, /Connection refused/);
      expect(() => parseIperfJson(JSON.stringify({ end: {} }))).to.throw(GuestBenchParseError, /sum_received/);
      const doc = JSON.parse(fixture);
      doc.end.sum_received.bits_per_second = 'fast';
      expect(() => parseIperfJson(JSON.stringify(doc))).to.throw(GuestBenchParseError, /bits_per_second/);
    });
  });

  describe('longestStallMs', () => {
    it('is the longest run of empty intervals, not their total', () => {
      expect(longestStallMs(iv([5, 0, 5, 0, 0, 0, 5, 0, 0, 5]))).to.equal(300);
      expect(longestStallMs(iv([5, 5, 5]))).to.equal(0);
    });
    it('counts a run still open at the end (a flow that never came back)', () => {
      expect(longestStallMs(iv([5, 5, 0, 0]))).to.equal(200);
    });
  });

  describe('dipMs', () => {
    it('adds each interval\'s shortfall against the median rate, from the given time on', () => {
      // median 10 per 100 ms; 0 costs 100 ms, 5 costs 50 ms; the dip before 0.3 s is left out
      expect(dipMs(iv([10, 10, 0, 10, 10, 0, 5, 10, 10, 10]), 0.3)).to.equal(150);
      expect(dipMs(iv([10, 10, 0, 10, 10, 0, 5, 10, 10, 10]), 0)).to.equal(250);
    });
    it('stops at the given end and ignores intervals above the median', () => {
      expect(dipMs(iv([10, 10, 20, 10, 0, 10]), 0, 0.4)).to.equal(0);
      expect(dipMs([], 0)).to.equal(0);
    });
  });

  describe('ping', () => {
    const text = [
      'PING 198.51.100.2 (198.51.100.2) 56(84) bytes of data.',
      '64 bytes from 198.51.100.2: icmp_seq=1 ttl=64 time=0.231 ms',
      '64 bytes from 198.51.100.2: icmp_seq=2 ttl=64 time=0.110 ms',
      '64 bytes from 198.51.100.2: icmp_seq=2 ttl=64 time=0.500 ms (DUP!)',
      'From 198.51.100.1 icmp_seq=3 Destination Host Unreachable',
      '64 bytes from 198.51.100.2: icmp_seq=4 ttl=64 time=12.5 ms',
      '',
      '--- 198.51.100.2 ping statistics ---',
      'rtt min/avg/max/mdev = 0.110/0.144/0.231/0.043 ms',
    ].join('\n');
    it('takes one time per reply, leaving out duplicates, errors and the summary', () => {
      expect(parsePingRtts(text)).to.deep.equal([0.231, 0.11, 12.5]);
    });
    it('percentiles by nearest rank', () => {
      const v = Array.from({ length: 200 }, (_, i) => 200 - i); // 200 .. 1, unsorted
      expect(quantile(v, 0.5)).to.equal(100);
      expect(quantile(v, 0.99)).to.equal(198);
      expect(quantile([], 0.5)).to.equal(null);
    });
  });

  it('guestNetns reads guests.<vm>.netns from a host\'s status, and null when it is not there', () => {
    expect(guestNetns({ guests: { ga: { netns: 'vfab-x-ga' } } }, 'ga')).to.equal('vfab-x-ga');
    expect(guestNetns({ guests: { ga: { netns: 'vfab-x-ga' } } }, 'gb')).to.equal(null);
    expect(guestNetns({}, 'ga')).to.equal(null);
  });
});
