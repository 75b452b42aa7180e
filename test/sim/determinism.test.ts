// `vfab run --sim` repeats exactly: the same seed gives byte-identical timeline.json, timeline.txt and
// capture files; a different seed changes what is random (an impairment without its own seed loses
// other frames). Each run is its own `vfab run --sim` process (dist/), so state that differs between
// processes (clock readings, Math.random) would show; no daemons. Bounded: fifteen short runs.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readPcapng } from '../../lib/capture/pcapng.js';
import { STREAM_MAGIC } from '../../lib/traffic/stream.js';

const files = ['timeline.json', 'timeline.txt'];

async function simRun(file: string, seed: number, dir: string) {
  const out = execFileSync(process.execPath, ['bin/vfab.js', 'run', file, '--sim', '--seed', String(seed), '--out', dir, '--json'], { encoding: 'utf8', timeout: 60_000 });
  const report = JSON.parse(out) as { passed: boolean; error?: string; results: Array<{ kind: string; got: string }> };
  const bytes: Record<string, Buffer> = {};
  for (const f of fs.readdirSync(dir)) if (files.includes(f) || f.endsWith('.pcapng')) bytes[f] = fs.readFileSync(path.join(dir, f));
  return { report, bytes };
}

describe('sim determinism', function () {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-sim-det-'));
    // a stream across an uplink that loses 20 % of frames, with no seed of its own: the run seed decides
    fs.writeFileSync(path.join(tmp, 'lossy.yaml'), `name: lossy
description: a stream over a lossy uplink, captured
topology: ${path.resolve('scenarios/topologies/teaming-lab.yaml')}
steps:
  - capture: { name: lossy, points: [esx1.vmnic0] }
  - ping: { from: web1, to: peer }
  - impair: { endpoint: esx1.vmnic0, lossPercent: 20 }
  - traffic: { name: s, from: peer, to: web1, rate: 100, frameBytes: 128, seconds: 2 }
  - wait: 2.5s
  - expect:
      - framesLost: { stream: s, max: 200 }
`);
    // a switch killed and restarted under a stream, captured at the host: carrier loss, rebuilt tables
    fs.writeFileSync(path.join(tmp, 'crash.yaml'), `name: crash
description: kill and restart the switch during a stream, captured
topology: ${path.resolve('scenarios/topologies/teaming-lab.yaml')}
steps:
  - capture: { name: crash, points: [esx1.vmnic0, esx2.vmnic0] }
  - traffic: { name: s, from: peer, to: web1, rate: 200, frameBytes: 128, seconds: 2 }
  - wait: 0.5s
  - kill: sw1
  - wait: 0.3s
  - restart: sw1
  - wait: 2s
  - expect:
      - framesLost: { stream: s, min: 1, max: 400 }
      - ping: { from: web1, to: peer, expect: reachable }
`);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('gives byte-identical timeline and capture files for the same seed (failover-notify-on, seed 7)', async () => {
    const a = await simRun('scenarios/failover-notify-on.yaml', 7, path.join(tmp, 'a'));
    const b = await simRun('scenarios/failover-notify-on.yaml', 7, path.join(tmp, 'b'));
    expect(a.report.passed, a.report.error).to.equal(true);
    expect(Object.keys(a.bytes).sort()).to.deep.equal(['rarp-points.pcapng', 'timeline.json', 'timeline.txt']);
    expect(a.bytes['rarp-points.pcapng']!.length).to.be.greaterThan(1000);
    for (const [f, bytes] of Object.entries(a.bytes)) expect(Buffer.compare(bytes, b.bytes[f]!), f).to.equal(0);
  });

  it('repeats an impaired run with its seed, and loses other frames with another seed', async () => {
    const file = path.join(tmp, 'lossy.yaml');
    const one = await simRun(file, 1, path.join(tmp, 'l1'));
    const again = await simRun(file, 1, path.join(tmp, 'l1b'));
    const other = await simRun(file, 2, path.join(tmp, 'l2'));
    for (const r of [one, again, other]) expect(r.report.passed, r.report.error).to.equal(true);
    for (const f of ['timeline.json', 'lossy.pcapng']) expect(Buffer.compare(one.bytes[f]!, again.bytes[f]!), f).to.equal(0);
    const lost = (r: typeof one) => r.report.results.find((x) => x.kind === 'framesLost')!.got;
    expect(lost(one)).to.match(/^\d+ lost of 200 sent$/);
    expect(lost(one)).to.not.equal('0 lost of 200 sent');
    // the stream frames that reached esx1 (captured inbound at its uplink) by sequence number
    const arrived = (r: typeof one) => {
      const p = readPcapng(r.bytes['lossy.pcapng']!);
      if (!p.ok) throw p.error;
      const tag = (d: Buffer) => (d.readUInt16BE(12) === 0x8100 ? 4 : 0); // the uplink is a trunk
      return p.value.packets.filter((x) => x.direction === 'inbound' && x.data.length >= 62 + tag(x.data) && x.data.readUInt32BE(42 + tag(x.data)) === STREAM_MAGIC).map((x) => x.data.readUInt32BE(50 + tag(x.data)));
    };
    expect(arrived(one).length).to.equal(200 - Number(/^(\d+)/.exec(lost(one))![1]));
    expect(arrived(other)).to.not.deep.equal(arrived(one));
    expect(one.bytes['timeline.json']!.toString()).to.include('"seed": ');
  });
  it('repeats a run that kills and restarts a switch, byte for byte', async () => {
    const file = path.join(tmp, 'crash.yaml');
    const a = await simRun(file, 3, path.join(tmp, 'c1'));
    const b = await simRun(file, 3, path.join(tmp, 'c2'));
    expect(a.report.passed, a.report.error ?? JSON.stringify(a.report.results)).to.equal(true);
    expect(Object.keys(a.bytes).sort()).to.deep.equal(['crash.pcapng', 'timeline.json', 'timeline.txt']);
    expect(a.bytes['timeline.json']!.toString()).to.include('peer-gone');
    for (const [f, bytes] of Object.entries(a.bytes)) expect(Buffer.compare(bytes, b.bytes[f]!), f).to.equal(0);
  });
  it('repeats a vMotion run byte for byte (migration id, passes and downtime on the virtual clock)', async () => {
    const a = await simRun('scenarios/vmotion-notify-on.yaml', 5, path.join(tmp, 'v1'));
    const b = await simRun('scenarios/vmotion-notify-on.yaml', 5, path.join(tmp, 'v2'));
    expect(a.report.passed, a.report.error).to.equal(true);
    expect(a.bytes['timeline.json']!.toString()).to.include('vmotion-resumed');
    for (const [f, bytes] of Object.entries(a.bytes)) expect(Buffer.compare(bytes, b.bytes[f]!), f).to.equal(0);
  });
  // storage, NAS and HA: asynchronous daemon code on the virtual clock (continuations at their instant)
  const storageRuns: Array<[file: string, what: string, markers: string[]]> = [
    ['scenarios/datastore-host-crash.yaml', 'a datastore run (locks, heartbeats, lease, journal replay)', ['datastore-journal-replayed', 'volumeUuid']],
    ['scenarios/nas-host-crash.yaml', 'a NAS datastore run (.lck leases refreshed, then broken)', ['datastore-lock-broken']],
    ['scenarios/ha-host-crash.yaml', 'a vSphere HA run (election, heartbeats over the fabric, restart)', ['ha-restart-succeeded']],
  ];
  for (const [file, what, markers] of storageRuns) {
    it(`repeats ${what} byte for byte (${path.basename(file)}, seed 7)`, async () => {
      const name = path.basename(file, '.yaml');
      const a = await simRun(file, 7, path.join(tmp, `${name}-1`));
      const b = await simRun(file, 7, path.join(tmp, `${name}-2`));
      expect(a.report.passed, a.report.error ?? JSON.stringify(a.report.results)).to.equal(true);
      for (const m of markers) expect(a.bytes['timeline.json']!.toString()).to.include(m);
      for (const [f, bytes] of Object.entries(a.bytes)) expect(Buffer.compare(bytes, b.bytes[f]!), f).to.equal(0);
    });
  }
});
