// The destination driven datagram by datagram: what it accepts before and after OPEN, what it counts and
// drops, the checks at the switchover (every memory unit, the whole state, a state that restores), ABORT
// before and during the lock hand-over, the idle timeout and the linger.
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { VmEndpoint } from '../../lib/endpoint/index.js';
import {
  MigrationDestination, buildVmotion, parseVmotion, DestStatus, VmotionReason, VMOTION_DEST_LINGER_MS, type DestinationAction,
  type AckMessage,
} from '../../lib/vmotion/index.js';

const MIB = 1024 * 1024;
const ID = 3;

function setup(opts: { expectVm?: string } = {}) {
  const clock = new ManualClock(0);
  const d = new MigrationDestination({ migrationId: ID, clock, expectVm: opts.expectVm, tuning: { networkTimeoutMs: 1_000 } });
  let seq = 0;
  const open = (memoryBytes = 1 * MIB, vm = 'app1') => d.receive(buildVmotion({ type: 'open', migrationId: ID, seq: seq++, memoryBytes, pageBytes: 4096, vm }));
  const page = (p: number, unit = -1) => {
    const out: DestinationAction[] = [];
    for (let u = unit < 0 ? 0 : unit; u < (unit < 0 ? 4 : unit + 1); u++) {
      out.push(...d.receive(buildVmotion({ type: 'data', migrationId: ID, seq: seq++, region: 'memory', pass: 1, page: p, offset: u * 1024, total: 0, data: Buffer.alloc(1024) })));
    }
    return out;
  };
  const allPages = () => {
    for (let p = 0; p < 256; p++) page(p);
  };
  const state = (value: unknown) => {
    const bytes = Buffer.from(JSON.stringify(value));
    for (let off = 0; off < bytes.length; off += 1024) {
      d.receive(buildVmotion({ type: 'data', migrationId: ID, seq: seq++, region: 'state', pass: 2, page: 0, offset: off, total: bytes.length, data: bytes.subarray(off, off + 1024) }));
    }
    return bytes.length;
  };
  const switchover = (stateBytes: number) => d.receive(buildVmotion({ type: 'switchover', migrationId: ID, seq: seq++, stunAtMs: 0, stateBytes, pages: 256 }));
  return { clock, d, open, page, allPages, state, switchover };
}

function lastAck(actions: DestinationAction[]): AckMessage {
  const sends = actions.filter((a) => a.kind === 'send');
  const r = parseVmotion(sends[sends.length - 1]!.kind === 'send' ? (sends[sends.length - 1] as { datagram: Buffer }).datagram : Buffer.alloc(0));
  if (!r.ok || r.value.type !== 'ack') throw new Error('no ACK');
  return r.value;
}

const kinds = (a: DestinationAction[]) => a.filter((x) => x.kind !== 'send' && x.kind !== 'event').map((x) => x.kind);

function endpointState() {
  const ep = new VmEndpoint({ name: 'app1', clock: new ManualClock(0), nics: [{ name: 'nic0', mac: 0x005056000001, ipv4: '10.0.0.5' }] });
  ep.powerOn();
  return { endpoint: ep.snapshot(), extra: { n: 1 } };
}

describe('vMotion destination', () => {
  it('accepts an OPEN and acknowledges every datagram with its status', () => {
    const { d, open, page } = setup({ expectVm: 'app1' });
    const ack = lastAck(open());
    expect(ack).to.include({ seq: 1, status: DestStatus.RECEIVING, reason: 0 });
    expect(lastAck(page(0)).seq).to.equal(5);
    expect(d.phase).to.equal('receiving');
  });

  it('refuses an OPEN for another VM or beyond its memory limit', () => {
    const a = setup({ expectVm: 'db1' });
    const r = a.open();
    expect(lastAck(r)).to.include({ status: DestStatus.FAILED, reason: VmotionReason.REFUSED });
    expect(kinds(r)).to.deep.equal(['done']);
    const b = setup();
    expect(lastAck(b.open(32 * 1024 * MIB)).status).to.equal(DestStatus.FAILED);
  });

  it('drops and counts garbage, foreign migrations and data before the OPEN, never throwing', () => {
    const { d } = setup();
    expect(d.receive(Buffer.from('not a vmotion datagram'))).to.deep.equal([]);
    expect(d.receive(buildVmotion({ type: 'abort', migrationId: ID + 1, seq: 0, reason: 2 }))).to.deep.equal([]);
    expect(d.receive(buildVmotion({ type: 'data', migrationId: ID, seq: 1, region: 'memory', pass: 1, page: 0, offset: 0, total: 0, data: Buffer.alloc(1024) }))).to.deep.equal([]);
    expect(d.counters).to.deep.equal({ malformed: 1, foreign: 1, protocolErrors: 1 });
    expect(d.phase).to.equal('waiting');
  });

  it('counts memory chunks outside the VM or off the unit grid as protocol errors', () => {
    const { d, open } = setup();
    open();
    d.receive(buildVmotion({ type: 'data', migrationId: ID, seq: 1, region: 'memory', pass: 1, page: 256, offset: 0, total: 0, data: Buffer.alloc(1024) }));
    d.receive(buildVmotion({ type: 'data', migrationId: ID, seq: 2, region: 'memory', pass: 1, page: 0, offset: 512, total: 0, data: Buffer.alloc(1024) }));
    d.receive(buildVmotion({ type: 'data', migrationId: ID, seq: 3, region: 'memory', pass: 1, page: 0, offset: 3072, total: 0, data: Buffer.alloc(2048) }));
    expect(d.counters.protocolErrors).to.equal(3);
  });

  it('fails the switchover when a memory unit never arrived', () => {
    const { open, page, state, switchover } = setup();
    open();
    for (let p = 0; p < 256; p++) page(p, p === 77 ? 2 : -1); // page 77: only unit 2
    const out = switchover(state(endpointState()));
    expect(lastAck(out)).to.include({ status: DestStatus.FAILED, reason: VmotionReason.INCOMPLETE });
    expect(kinds(out)).to.deep.equal(['discard', 'done']);
  });

  it('waits for datagrams still missing before the SWITCHOVER, then asks for the locks', () => {
    const { d, open, allPages } = setup();
    open();
    allPages();
    // seq 0 was OPEN, 1..1024 the pages: the state goes out as 1025 and 1026, the SWITCHOVER as 1027
    const bytes = Buffer.from(JSON.stringify(endpointState()));
    expect(bytes.length).to.be.within(1025, 2048);
    const chunk = (seq: number, off: number) => buildVmotion({ type: 'data', migrationId: ID, seq, region: 'state', pass: 2, page: 0, offset: off, total: bytes.length, data: bytes.subarray(off, off + 1024) });
    d.receive(chunk(1026, 1024));
    const early = d.receive(buildVmotion({ type: 'switchover', migrationId: ID, seq: 1027, stunAtMs: 0, stateBytes: bytes.length, pages: 256 }));
    expect(kinds(early)).to.deep.equal([]);
    expect(lastAck(early).seq).to.equal(1025);
    expect(lastAck(early).sack[0]).to.equal(0b11); // 1026 and 1027 held
    expect(kinds(d.receive(chunk(1025, 0)))).to.deep.equal(['acquireLocks']);
  });

  it('fails the switchover on a state that does not restore (typed, no throw)', () => {
    const { open, allPages, state, switchover } = setup();
    open();
    allPages();
    const bad = endpointState();
    bad.endpoint.nics[0]!.mtuBytes = 1;
    const out = switchover(state(bad));
    expect(lastAck(out)).to.include({ status: DestStatus.FAILED, reason: VmotionReason.BAD_STATE });
  });

  it('resumes only after the locks: resume, notify per vNIC, status RESUMED with the resume time', () => {
    const { clock, d, open, allPages, state, switchover } = setup();
    open();
    allPages();
    clock.set(40);
    expect(kinds(switchover(state(endpointState())))).to.deep.equal(['acquireLocks']);
    expect(d.phase).to.equal('acquiring-locks');
    clock.set(45);
    const out = d.locksAcquired({ ok: true });
    expect(kinds(out)).to.deep.equal(['resume', 'notify', 'done']);
    expect(lastAck(out)).to.include({ status: DestStatus.RESUMED, resumedAtMs: 45 });
    const done = out.find((a) => a.kind === 'done');
    expect(done?.kind === 'done' && done.result.downtimeMs).to.equal(45);
  });

  it('an ABORT during the lock hand-over does not stop a resume that got the locks; before it, it discards', () => {
    const a = setup();
    a.open();
    a.allPages();
    a.switchover(a.state(endpointState()));
    expect(a.d.receive(buildVmotion({ type: 'abort', migrationId: ID, seq: 0, reason: VmotionReason.SWITCHOVER_TIMEOUT }))).to.deep.equal([]);
    expect(kinds(a.d.locksAcquired({ ok: true }))).to.include('resume');
    const b = setup();
    b.open();
    const out = b.d.receive(buildVmotion({ type: 'abort', migrationId: ID, seq: 0, reason: VmotionReason.NETWORK_LOST }));
    expect(kinds(out)).to.deep.equal(['discard', 'done']);
    expect(b.d.phase).to.equal('failed');
  });

  it('gives up after the network timeout without the source, and closes after the linger once done', () => {
    const { clock, d, open } = setup();
    open();
    expect(d.nextDeadlineMs()).to.equal(1_000);
    clock.set(999);
    expect(d.tick()).to.deep.equal([]);
    clock.set(1_000);
    const out = d.tick();
    expect(kinds(out)).to.deep.equal(['discard', 'done']);
    expect(out.find((a) => a.kind === 'done')!.kind === 'done' && (out.find((a) => a.kind === 'done') as { result: { code: string } }).result.code).to.equal('VFAB_VMOTION_NETWORK_LOST');
    clock.set(1_000 + VMOTION_DEST_LINGER_MS);
    expect(kinds(d.tick())).to.deep.equal(['close']);
    expect(d.receive(buildVmotion({ type: 'abort', migrationId: ID, seq: 0, reason: 2 }))).to.deep.equal([]);
  });
});
