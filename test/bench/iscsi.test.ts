// The pure parts of the iscsi bench area (bench/iscsi.ts): reading the figures out of iscsi-perf and
// `qemu-img bench` output (fixture text as libiscsi 1.19 and qemu-img 7.2 print it), the phase length
// iscsi-perf can take, the calibrated write count, and tgtd's control socket number. Leaves out running
// tgtd, stored and the tools (that is the bench itself).

import { expect } from 'chai';
import { MAX_WRITE_COUNT, MIN_WRITE_COUNT, TGTD_MAX_CONTROL_PORT, parseIscsiPerf, parseQemuImgBench, perfSeconds, tgtdControlPort, writeCount } from '../../bench/iscsi.js';

/** iscsi-perf -m 32 -b 8 -r -t 3: progress lines joined by carriage returns, then the run's average. */
const ISCSI_PERF_OUTPUT =
  'iscsi-perf version 0.1 - (c) 2014-2015 by Peter Lieven\n\n' +
  'connected to iscsi://127.0.0.1:13260/iqn.2026-12.bench:tgt/1\n' +
  'capacity is 131072 blocks or 67108864 byte (64 MB)\n' +
  'performing RANDOM READ with 32 parallel requests\n' +
  'FIXED transfer size of 8 blocks (4096 byte)\n' +
  'will run for 3 seconds.\n\n' +
  '\r00:00:02 - lba 118877, iops current 53619 (209 MB/s), iops average 53619 (209 MB/s), in_flight 32, busy 0        ' +
  '\r00:00:01 - lba 24442, iops current 54751 (213 MB/s), iops average 54185 (211 MB/s), in_flight 32, busy 0        ' +
  '\riops average 56829 (221 MB/s)                                                        \n\nfinished.\n';

const QEMU_IMG_BENCH_OUTPUT = 'Sending 20000 write requests, 4096 bytes each, 32 in parallel (starting at offset 0, step size 4096)\nRun completed in 0.418 seconds.\n';

describe('bench iscsi: tool output and phase lengths', () => {
  it("takes iscsi-perf's last average (the whole run), not a progress line's", () => {
    expect(parseIscsiPerf(ISCSI_PERF_OUTPUT)).to.equal(56829);
  });

  it('finds no IOPS in iscsi-perf output without an average (a failed login, a short run)', () => {
    expect(parseIscsiPerf('iscsi-perf version 0.1\nFailed to login to target\n')).to.equal(null);
    expect(parseIscsiPerf('')).to.equal(null);
  });

  it("reads qemu-img bench's run time in seconds", () => {
    expect(parseQemuImgBench(QEMU_IMG_BENCH_OUTPUT)).to.equal(0.418);
    expect(parseQemuImgBench('Run completed in 12 seconds.\n')).to.equal(12);
    expect(parseQemuImgBench("qemu-img: Could not open 'iscsi://127.0.0.1:1/x/0': Failed to connect\n")).to.equal(null);
  });

  it('gives iscsi-perf whole seconds, at least one', () => {
    expect(perfSeconds(0.2)).to.equal(1);
    expect(perfSeconds(1)).to.equal(1);
    expect(perfSeconds(1.5)).to.equal(2);
    expect(perfSeconds(3)).to.equal(3);
  });

  it('sizes a write phase from the calibrated rate, within bounds', () => {
    expect(writeCount(12_000, 2)).to.equal(24_000);
    expect(writeCount(100, 2)).to.equal(MIN_WRITE_COUNT);
    expect(writeCount(10_000_000, 10)).to.equal(MAX_WRITE_COUNT);
    expect(writeCount(0, 2)).to.equal(MIN_WRITE_COUNT);
    expect(writeCount(NaN, 2)).to.equal(MIN_WRITE_COUNT);
  });

  it("keeps tgtd's control socket number in the range tgtd takes, away from the privileged ports", () => {
    for (const port of [1, 1024, 3260, 32767, 32768, 44183, 65535]) {
      const c = tgtdControlPort(port);
      expect(c, `iSCSI port ${port}`).to.be.within(1024, TGTD_MAX_CONTROL_PORT);
    }
    expect(tgtdControlPort(44183)).to.not.equal(tgtdControlPort(44184));
  });
});
