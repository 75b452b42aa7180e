// In-memory BlockStore: per-LUN Map from LBA (a number, no string keys) to the stored value
// [crc32][data], the same value format as the LevelDB store so checksum behaviour is identical.
// Leaves out durability: everything is lost with the process (openArray without dataDir).

import { ok, type Result } from '../errors.js';
import {
  type BlockStore,
  type WriteOptions,
  checksumError,
  closedError,
  decodeBlockValueInto,
  encodeBlockValue,
} from './blockstore.js';

export class MemoryBlockStore implements BlockStore {
  readonly durable = false;
  private readonly luns = new Map<number, Map<number, Buffer>>();
  private readonly meta = new Map<string, Uint8Array>();
  private closed = false;

  private lunMap(lun: number): Map<number, Buffer> {
    let m = this.luns.get(lun);
    if (m === undefined) {
      m = new Map();
      this.luns.set(lun, m);
    }
    return m;
  }

  async readBlocks(lun: number, lba: number, count: number, blockSizeBytes: number): Promise<Result<Buffer>> {
    if (this.closed) return { ok: false, error: closedError() };
    const out = Buffer.alloc(count * blockSizeBytes);
    const m = this.luns.get(lun);
    if (m === undefined || m.size === 0) return ok(out);
    for (let i = 0; i < count; i++) {
      const value = m.get(lba + i);
      if (value !== undefined && !decodeBlockValueInto(value, blockSizeBytes, out, i * blockSizeBytes)) {
        return { ok: false, error: checksumError(lun, lba + i) };
      }
    }
    return ok(out);
  }

  async writeBlocks(lun: number, lba: number, data: Uint8Array, blockSizeBytes: number, _opts?: WriteOptions): Promise<void> {
    if (this.closed) throw closedError();
    const count = Math.floor(data.length / blockSizeBytes);
    const values = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) values[i] = encodeBlockValue(data, i * blockSizeBytes, blockSizeBytes);
    const m = this.lunMap(lun);
    for (let i = 0; i < count; i++) m.set(lba + i, values[i]!);
  }

  async unmapBlocks(lun: number, lba: number, count: number, _opts?: WriteOptions): Promise<void> {
    if (this.closed) throw closedError();
    const m = this.luns.get(lun);
    if (m === undefined) return;
    if (count > m.size) {
      for (const key of m.keys()) if (key >= lba && key < lba + count) m.delete(key);
    } else {
      for (let i = 0; i < count; i++) m.delete(lba + i);
    }
  }

  async dropLun(lun: number): Promise<void> {
    if (this.closed) throw closedError();
    this.luns.delete(lun);
  }

  async allocatedBlocks(lun: number): Promise<number> {
    return this.luns.get(lun)?.size ?? 0;
  }

  async mappedBlocks(lun: number, lba: number, count: number): Promise<number[]> {
    if (this.closed) throw closedError();
    const m = this.luns.get(lun);
    const out: number[] = [];
    if (m === undefined) return out;
    if (count <= m.size) {
      for (let i = 0; i < count; i++) if (m.has(lba + i)) out.push(lba + i);
      return out;
    }
    for (const key of m.keys()) if (key >= lba && key < lba + count) out.push(key);
    return out.sort((a, b) => a - b);
  }

  async getMeta(key: string): Promise<Uint8Array | undefined> {
    if (this.closed) throw closedError();
    const v = this.meta.get(key);
    return v === undefined ? undefined : Uint8Array.from(v);
  }

  async putMeta(key: string, value: Uint8Array): Promise<void> {
    if (this.closed) throw closedError();
    this.meta.set(key, Uint8Array.from(value));
  }

  async deleteMeta(key: string): Promise<void> {
    if (this.closed) throw closedError();
    this.meta.delete(key);
  }

  async listMeta(prefix: string): Promise<Array<[string, Uint8Array]>> {
    if (this.closed) throw closedError();
    const out: Array<[string, Uint8Array]> = [];
    for (const [k, v] of this.meta) if (k.startsWith(prefix)) out.push([k, Uint8Array.from(v)]);
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Test hook: the stored value ([crc][data]) of one block, mutable in place, or undefined. */
  rawValue(lun: number, lba: number): Buffer | undefined {
    return this.luns.get(lun)?.get(lba);
  }
}
