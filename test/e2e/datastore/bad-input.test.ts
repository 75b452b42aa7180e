// End-to-end bad input on a datastore LUN (docs/datastores.md "Crashes and corruption"), written by a
// third initiator straight through the block protocol while esx1 and esx2 (topologies/e2e/datastore.yaml,
// time scale 8) run: (i) random bytes at LBA 0: `vfab datastore mount` leaves the datastore "foreign",
// `vfab datastore format` refuses it (exit 1, naming the LUN) and formats it with --force; (ii) one byte
// changed in the superblock, a heartbeat slot, a file entry and a journal record in turn: `vfab datastore
// inspect` names the structure and the byte offset and exits 1, a host asked to mount over a corrupt
// superblock refuses, power-on of a VM whose entry is corrupt fails with that error, and hostd keeps
// answering; (iii) esx2's own heartbeat slot overwritten by another owner: esx2 sees it (slot-lost) and
// acquires another slot (slot-changed), its datastore stays usable. Both hostd PIDs never change.

import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { type TestFabric, waitFor } from '../helpers/fabric.js';
import { useDatastoreFabric } from './helpers.js';
import { control } from '../../../daemons/common/control-client.js';
import { main } from '../../../daemons/cli.js';
import type { CliIo } from '../../../daemons/cli/io.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { connectBlockClient, type BlockClient } from '../../../daemons/storage/block-client.js';
import { HB, emitSlot, journalLbaOf, parseSlot, slotLba, computeLayout, type Layout } from '../../../lib/datastore/format.js';

const TIME_SCALE = 8;
const HOSTS = ['esx1', 'esx2'] as const;

describe('e2e datastore: bad input (foreign LUN, corrupt structures, own heartbeat slot taken)', function () {
  this.timeout(60_000);
  let fab: TestFabric;
  let blk: BlockClient;
  let lun: number;
  let bs: number;
  let layout: Layout;
  const pids = new Map<string, number>();
  useDatastoreFabric('topologies/e2e/datastore.yaml', TIME_SCALE, (f) => {
    fab = f;
  });
  before(async () => {
    const array = fab.daemon('array1');
    blk = await connectBlockClient({ url: `ws://127.0.0.1:${array.port}/block`, token: fab.state.token, initiator: 'iqn.2026-12.test:intruder' });
    const e = blk.luns.find((x) => x.name === 'shared1')!;
    lun = e.lun;
    bs = e.blockSizeBytes;
    layout = computeLayout(e.blocks * bs, bs)!;
    for (const h of HOSTS) pids.set(h, fab.daemon(h).pid);
  });
  after(() => blk?.close());
  afterEach(async () => {
    for (const h of HOSTS) {
      expect(isAlive(pids.get(h)!), `${h} alive`).to.equal(true);
      expect(fab.daemon(h).pid).to.equal(pids.get(h));
      expect((await api(h, 'GET', '/control/datastores')).host, `${h} answers`).to.equal(h);
    }
  });
  const api = (host: string, method: 'GET' | 'POST', path: string, body?: unknown) => control<any>(fab.daemon(host), fab.state.token, method, path, body, 30_000);

  /** `vfab ARGS` in this process, through main (errors become exit codes and stderr lines as for a user). */
  async function vfab(...args: string[]): Promise<{ code: number; out: string; err: string; json: any }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t) };
    const code = await main(args, io);
    const text = out.join('\n');
    return { code, out: text, err: err.join('\n'), json: args.includes('--json') && text.startsWith('{') ? JSON.parse(text) : undefined };
  }

  /** Changes one byte at LUN byte `offset` (read-modify-write of its block) while `fn` runs, then puts it back. */
  async function withFlippedByte(offset: number, fn: (lba: number, bad: Buffer) => Promise<void>): Promise<void> {
    const lba = Math.floor(offset / bs);
    const old = Buffer.from(await blk.read(lun, lba, 1));
    const bad = Buffer.from(old);
    bad[offset % bs] ^= 0x5a;
    await blk.write(lun, lba, bad);
    try {
      await fn(lba, bad);
    } finally {
      await blk.write(lun, lba, old);
    }
  }

  async function expectInspectReports(structure: string, offset: number): Promise<any> {
    const r = await vfab('datastore', 'inspect', 'ds1', '--json');
    expect(r.code, r.err).to.equal(1);
    const p = r.json.problems.find((x: any) => x.message.startsWith(structure));
    expect(p, JSON.stringify(r.json.problems)).to.not.equal(undefined);
    // the offset of the field found wrong lies inside the record that was changed
    expect(p.offset).to.be.within(offset - (offset % bs), offset - (offset % bs) + bs - 1);
    expect(p.message).to.contain(`at byte ${p.offset}`);
    const text = await vfab('datastore', 'inspect', 'ds1');
    expect(text.code).to.equal(1);
    expect(text.out).to.contain(`byte ${p.offset}: ${p.code}: ${structure}`);
    return p;
  }

  it('(i) random bytes at LBA 0: not mounted (foreign), format refused without --force (exit 1, names the LUN), formatted with it', async () => {
    for (const h of HOSTS) await waitFor(async () => (await api(h, 'GET', '/control/datastores')).datastores[0].state === 'unformatted', `${h} sees the blank LUN`, 15_000);
    await blk.write(lun, 0, randomBytes(8 * bs));
    const m = await vfab('datastore', 'mount', 'ds1', '--json');
    expect(m.code).to.equal(0); // --json reports, the states say what happened
    expect(m.json.hosts.map((h: any) => h.state)).to.deep.equal(['foreign', 'foreign']);
    expect(m.json.hosts[0].error).to.match(/holds no datastore \(superblock: magic at byte 0/);
    const mt = await vfab('datastore', 'mount', 'ds1');
    expect(mt.code, 'mount left the hosts unmounted').to.equal(1);
    const f = await vfab('datastore', 'format', 'ds1');
    expect(f.code, f.err).to.equal(1);
    expect(f.err).to.match(/^vfab datastore: ds1 on LUN shared1 of array1: the LUN holds data that is not a datastore \(superblock: magic at byte 0 .*\); use force/);
    expect((await blk.read(lun, 1, 1)).some((b) => b !== 0), 'nothing written by the refused format').to.equal(true);
    for (const h of HOSTS) expect((await api(h, 'GET', '/control/datastores')).datastores[0].state).to.equal('foreign');
    const ok = await vfab('datastore', 'format', 'ds1', '--force', '--json');
    expect(ok.code, ok.err).to.equal(0);
    expect(ok.json.mounted.map((x: any) => x.state)).to.deep.equal(['mounted', 'mounted']);
    expect((await vfab('datastore', 'inspect', 'ds1')).code).to.equal(0);
  });

  it('(ii) one corrupt byte in the superblock: inspect names it (exit 1); a host mounting refuses it; restored, all is clean', async () => {
    await withFlippedByte(30, async () => { // inside the label
      const p = await expectInspectReports('superblock', 30);
      expect(p.code).to.equal('VFAB_DATASTORE_BAD_CHECKSUM');
      // esx2 mounts again over it: refused, not trusted
      expect((await vfab('datastore', 'unmount', 'ds1', '--host', 'esx2')).code).to.equal(0);
      const m = await vfab('datastore', 'mount', 'ds1', '--host', 'esx2', '--json');
      expect(m.json.hosts[0].state).to.equal('foreign');
      expect(m.json.hosts[0].error).to.contain('superblock: crc32 at byte 508');
    });
    expect((await vfab('datastore', 'mount', 'ds1', '--host', 'esx2')).code).to.equal(0);
    expect((await vfab('datastore', 'inspect', 'ds1')).code).to.equal(0);
  });

  it('(ii) one corrupt byte in a heartbeat slot: inspect names the slot and the byte', async () => {
    const at = slotLba(layout, 20) * bs + HB.GENERATION; // a slot no host uses
    await withFlippedByte(at, async () => {
      const p = await expectInspectReports('heartbeat slot', at);
      expect(p.code).to.equal('VFAB_DATASTORE_BAD_CHECKSUM');
    });
    expect((await vfab('datastore', 'inspect', 'ds1')).code).to.equal(0);
  });

  it('(ii) one corrupt byte in a file entry: inspect names it; power-on of that VM fails with the error instead of trusting it', async () => {
    expect((await vfab('vm', 'power-on', 'bad1', '--host', 'esx1')).code).to.equal(0);
    expect((await vfab('vm', 'power-off', 'bad1', '--host', 'esx1')).code).to.equal(0);
    const files = (await api('esx1', 'GET', '/control/datastores/ds1/files')).files;
    const vmx = files.find((x: any) => x.path === 'bad1/bad1.vmx');
    const at = (layout.fileTableLba + vmx.entry) * bs + 330; // inside the name
    await withFlippedByte(at, async (lba, bad) => {
      await expectInspectReports('file entry', at);
      const on = await vfab('vm', 'power-on', 'bad1', '--host', 'esx2');
      expect(on.code).to.equal(1);
      expect(on.err).to.match(/file entry: crc32 at byte \d+/);
      const events = (await api('esx2', 'GET', '/control/events?since=0')).events;
      expect(events.some((e: any) => e.type === 'vm-power-on-failed' && e.vm === 'bad1' && e.code === 'VFAB_DATASTORE_BAD_CHECKSUM')).to.equal(true);
      // nothing of bad1 was taken on the strength of the corrupt entry
      expect((await blk.read(lun, lba, 1)).equals(bad)).to.equal(true);
    });
    expect((await vfab('vm', 'power-on', 'bad1', '--host', 'esx2')).code).to.equal(0);
    expect((await vfab('vm', 'power-off', 'bad1', '--host', 'esx2')).code).to.equal(0);
    expect((await vfab('datastore', 'inspect', 'ds1')).code).to.equal(0);
  });

  it('(ii) one corrupt byte in a journal record: inspect names the record and the byte', async () => {
    const mine = (await api('esx1', 'GET', '/control/datastores')).datastores[0];
    const base = journalLbaOf(layout, mine.slot);
    // the first record block esx1 wrote (its journal has records since bad1 was created)
    let lba = -1;
    for (let i = 1; i < layout.journalBlocks && lba < 0; i++) if ((await blk.read(lun, base + i, 1)).some((b) => b !== 0)) lba = base + i;
    expect(lba, 'esx1 journalled something').to.be.above(base);
    const at = lba * bs + 45; // inside the record's entry data
    await withFlippedByte(at, async () => {
      const p = await expectInspectReports('journal record', at);
      expect(p.code).to.equal('VFAB_DATASTORE_BAD_CHECKSUM');
    });
    expect((await vfab('datastore', 'inspect', 'ds1')).code).to.equal(0);
  });

  it('(iii) esx2 finds its own heartbeat slot taken by another owner: slot-lost, then a new slot (slot-changed), still usable', async () => {
    const before = (await api('esx2', 'GET', '/control/datastores')).datastores[0];
    const since = (await api('esx2', 'GET', '/control/events?since=0')).events.at(-1)?.seq ?? 0;
    const lba = slotLba(layout, before.slot);
    const cur = parseSlot(await blk.read(lun, lba, 1), before.slot, lba * bs);
    expect(cur.ok).to.equal(true);
    if (!cur.ok) return;
    const intruder = { ...cur.value, owner: 'ab'.repeat(16), hostName: 'intruder', generation: cur.value.generation + 1, pulse: 1 };
    await blk.write(lun, lba, emitSlot(intruder, bs));
    const changed = await waitFor(async () => (await api('esx2', 'GET', `/control/events?since=${since}`)).events.find((e: any) => e.type === 'datastore-slot-changed'), 'esx2 re-acquires a slot', 10_000);
    const events = (await api('esx2', 'GET', `/control/events?since=${since}`)).events;
    const lost = events.find((e: any) => e.type === 'datastore-slot-lost');
    expect(lost?.message).to.match(new RegExp(`heartbeat slot ${before.slot} was taken by ${'ab'.repeat(16)}`));
    expect(lost.seq).to.be.below(changed.seq);
    expect(changed).to.include({ oldSlot: before.slot, oldGeneration: before.generation });
    expect(changed.slot).to.not.equal(before.slot); // the intruder keeps that one
    const after = (await api('esx2', 'GET', '/control/datastores')).datastores[0];
    expect(after).to.include({ state: 'mounted', slot: changed.slot, generation: changed.generation });
    // the intruder's slot is left alone, esx2 pulses in its new one
    const hb = (await vfab('datastore', 'heartbeats', 'ds1', '--json')).json.slots;
    expect(hb.find((s: any) => s.index === before.slot)).to.include({ state: 'in-use', owner: 'intruder' });
    const p0 = hb.find((s: any) => s.index === changed.slot).pulse;
    await waitFor(async () => (await vfab('datastore', 'heartbeats', 'ds1', '--json')).json.slots.find((s: any) => s.index === changed.slot).pulse > p0, 'esx2 pulses its new slot', 5_000);
    expect((await vfab('vm', 'power-on', 'bad2', '--host', 'esx2')).code).to.equal(0);
  });
});
