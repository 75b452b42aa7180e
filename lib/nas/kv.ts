// The key-value interface the NAS share store runs over (docs/nas-protocol.md "Store"), and its in-memory
// implementation. Keys and values are byte strings; a batch is applied all-or-nothing; `sync` asks for the
// batch to be on disk before the promise resolves (the LevelDB implementation is kv-level.ts). `prefixKv`
// gives each share its own key space inside one store. Leaves out iteration with bounds other than a prefix.

export type NasKvOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface NasKv {
  get(key: Buffer): Promise<Buffer | undefined>;
  /** Applies every op or none. With `sync`, resolves only once the batch is durable. */
  batch(ops: NasKvOp[], sync: boolean): Promise<void>;
  /** Every entry whose key starts with `prefix`, in key order. */
  scan(prefix: Buffer): AsyncIterable<[Buffer, Buffer]>;
  close(): Promise<void>;
}

/** A NasKv in a Map (keys as hex strings); lost on exit. */
export class MemoryNasKv implements NasKv {
  readonly map = new Map<string, Buffer>();
  batches = 0;

  async get(key: Buffer): Promise<Buffer | undefined> {
    const v = this.map.get(key.toString('hex'));
    return v === undefined ? undefined : Buffer.from(v);
  }

  async batch(ops: NasKvOp[]): Promise<void> {
    this.batches++;
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key.toString('hex'), Buffer.from(op.value));
      else this.map.delete(op.key.toString('hex'));
    }
  }

  async *scan(prefix: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const p = prefix.toString('hex');
    const keys = [...this.map.keys()].filter((k) => k.startsWith(p)).sort();
    for (const k of keys) {
      const v = this.map.get(k);
      if (v !== undefined) yield [Buffer.from(k, 'hex'), Buffer.from(v)];
    }
  }

  async close(): Promise<void> {}
}

/** A view of `kv` where every key is prefixed with `prefix` (scan strips it again). */
export function prefixKv(kv: NasKv, prefix: Buffer): NasKv {
  const k = (key: Buffer): Buffer => Buffer.concat([prefix, key]);
  return {
    get: (key) => kv.get(k(key)),
    batch: (ops, sync) => kv.batch(ops.map((op) => (op.type === 'put' ? { type: 'put', key: k(op.key), value: op.value } : { type: 'del', key: k(op.key) })), sync),
    scan: async function* (p) {
      for await (const [key, value] of kv.scan(k(p))) yield [key.subarray(prefix.length), value];
    },
    close: async () => {},
  };
}
