// LevelDB implementation of the NAS key-value interface (kv.ts): binary keys and values, batches written
// with LevelDB's atomic batch and `{ sync }` (a synced batch is in the write-ahead log on disk before the
// promise resolves, so an acknowledged change survives kill -9 of the process and a power cut). Leaves
// out caching and compaction tuning.

import { createRequire } from 'node:module';
import type { Level as LevelType } from 'level';
import type { NasKv, NasKvOp } from './kv.js';

// level is CommonJS: required, not imported (no WebAssembly export scanner in stored; daemons/common/ws.ts).
const { Level } = createRequire(import.meta.url)('level') as typeof import('level');
type Level<K, V> = LevelType<K, V>;

export class LevelNasKv implements NasKv {
  private constructor(readonly db: Level<Buffer, Buffer>) {}

  static async open(dir: string): Promise<LevelNasKv> {
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    return new LevelNasKv(db);
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    return (await this.db.get(key)) ?? undefined;
  }

  async batch(ops: NasKvOp[], sync: boolean): Promise<void> {
    await this.db.batch(ops, { sync });
  }

  async *scan(prefix: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const upper = prefixUpperBound(prefix);
    const range = upper === undefined ? { gte: prefix } : { gte: prefix, lt: upper };
    for await (const [k, v] of this.db.iterator(range)) yield [k, v];
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** The smallest key greater than every key starting with `prefix` (undefined when prefix is all 0xff). */
function prefixUpperBound(prefix: Buffer): Buffer | undefined {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1);
    }
  }
  return undefined;
}
