// Crash consistency of NAS shares in `stored`: the daemon is killed with SIGKILL at seeded random moments
// (8 rounds, bounded to ~40 s; config in the plan form `vfab up` writes) while 4 clients each run create -> stable write (100 000 bytes over two
// chunks) -> rename, file after file. After every restart: each acknowledged create, write and rename is
// there, and nothing is torn: a file holds either no data or all of its write, and a renamed file is
// under exactly one of its two names.

import { expect } from 'chai';
import { join } from 'node:path';
import { seededRandom } from '../../../lib/clock.js';
import { NAS_STATUS, NAS_OP } from '../../../lib/nas/protocol.js';
import { connectNasClient, type NasClient } from '../../../daemons/storage/nas-client.js';
import { TOKEN, killStored, removeDir, spawnStored, tempDataDir, type StoredProcess } from './helpers.js';
import { nasConfig, nasUrl } from './nas-helpers.js';

const WORKERS = 4;
const ROUNDS = 8;
const BUDGET_MS = 40_000;
const FILE_BYTES = 100_000;

type Stage = 'none' | 'created' | 'written' | 'renamed';
interface Tracked {
  name: string;
  stage: Stage;
  /** The operation sent but not acknowledged when the daemon died. */
  pending: Stage | undefined;
}

function content(name: string): Buffer {
  const b = Buffer.alloc(FILE_BYTES);
  const seed = Buffer.from(name);
  for (let i = 0; i < b.length; i++) b[i] = (seed[i % seed.length]! + i * 31 + (i >> 10)) & 0xff;
  return b;
}

describe('e2e storage: NAS crash consistency (SIGKILL during creates and writes)', function () {
  this.timeout(BUDGET_MS + 40_000);
  let dir: string;
  let stored: StoredProcess | undefined;

  before(() => {
    dir = tempDataDir('vfab-nas-crash-');
  });
  after(async () => {
    await killStored(stored, 'SIGKILL');
    removeDir(dir);
  });

  it(`${ROUNDS} SIGKILLs: acknowledged changes all there, nothing torn`, async () => {
    const rnd = seededRandom(1813);
    const start = Date.now();
    const tracked: Tracked[] = [];
    let acked = 0;
    let kills = 0;
    const spawn = (): Promise<StoredProcess> => spawnStored(['--data-dir', join(dir, 'db'), '--config', nasConfig(dir, 'plan')], {}, dir);

    for (let round = 0; round < ROUNDS && Date.now() - start < BUDGET_MS; round++) {
      stored = await spawn();
      const clients: NasClient[] = await Promise.all(Array.from({ length: WORKERS }, (_, w) => connectNasClient({ url: nasUrl(stored!), token: TOKEN, share: 'nfs1', client: `crash-${w}` })));
      if (round > 0) await verify(clients[0]!, tracked);
      let dead = false;
      const worker = async (c: NasClient, w: number): Promise<void> => {
        for (let i = 0; !dead && i < 10_000; i++) {
          const t: Tracked = { name: `r${round}-w${w}-${i}`, stage: 'none', pending: 'created' };
          tracked.push(t);
          try {
            const f = await c.create(c.rootId, `f-${t.name}`);
            t.stage = 'created';
            t.pending = 'written';
            await c.write(f.fileId, 0, content(t.name), true);
            t.stage = 'written';
            t.pending = 'renamed';
            await c.rename(c.rootId, `f-${t.name}`, c.rootId, `g-${t.name}`);
            t.stage = 'renamed';
            t.pending = undefined;
            acked += 3;
          } catch {
            return; // the daemon died: this file's pending op may or may not have landed
          }
        }
      };
      const running = clients.map((c, w) => worker(c, w));
      await new Promise((r) => setTimeout(r, 300 + Math.floor(rnd() * 900)));
      dead = true;
      await killStored(stored, 'SIGKILL');
      kills++;
      await Promise.all(running);
      for (const c of clients) await c.close();
    }
    stored = await spawn();
    const c = await connectNasClient({ url: nasUrl(stored), token: TOKEN, share: 'nfs1', client: 'checker' });
    await verify(c, tracked);
    await c.close();
    expect(kills).to.be.at.least(3);
    expect(acked).to.be.greaterThan(20);
    process.stderr.write(`      nas crash: ${kills} kills, ${tracked.length} files, ${acked} acknowledged ops in ${Date.now() - start} ms\n`);
  });
});

async function verify(c: NasClient, tracked: Tracked[]): Promise<void> {
  const look = async (name: string): Promise<{ fileId: number; size: number } | undefined> => {
    const r = await c.request({ op: NAS_OP.LOOKUP, fileId: c.rootId, name });
    if (r.status === NAS_STATUS.NOENT) return undefined;
    expect(r.status, name).to.equal(NAS_STATUS.OK);
    return r.attrs!;
  };
  for (const t of tracked) {
    const f = await look(`f-${t.name}`);
    const g = await look(`g-${t.name}`);
    const here = f ?? g;
    expect(f !== undefined && g !== undefined, `${t.name} under both names`).to.equal(false);
    const reached = (s: Stage): boolean => ['none', 'created', 'written', 'renamed'].indexOf(t.stage) >= ['none', 'created', 'written', 'renamed'].indexOf(s);
    if (reached('created')) expect(here, `${t.name} acknowledged create is missing`).to.not.equal(undefined);
    if (reached('renamed')) expect(g, `${t.name} acknowledged rename is missing`).to.not.equal(undefined);
    if (g !== undefined) expect(reached('written') || t.pending === 'renamed', `${t.name} renamed before its write was acked`).to.equal(true);
    if (here === undefined) continue;
    if (reached('written')) expect(here.size, `${t.name} acknowledged write`).to.equal(FILE_BYTES);
    expect([0, FILE_BYTES], `${t.name} size`).to.include(here.size);
    if (here.size === FILE_BYTES) {
      const a = await c.read(here.fileId, 0, FILE_BYTES);
      expect(a.data.equals(content(t.name)), `${t.name} torn`).to.equal(true);
    }
  }
}
