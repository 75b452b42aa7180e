// Shared pieces of the seeded fuzz tests in test/e2e/fuzz/: the seed (VFAB_FUZZ_SEED overrides it, so a
// failure can be replayed), byte-level mutators driven by lib/clock.ts seededRandom, an RSS sampler for
// the daemon under test, and the "still alive and serving" check. Not a test file.

import { seededRandom, type Random } from '../../../lib/clock.js';
import { rssBytes } from '../helpers/raw-http.js';

/** The seed of every fuzz run; set VFAB_FUZZ_SEED=N to replay another. */
export const FUZZ_SEED = Number(process.env.VFAB_FUZZ_SEED ?? 20261206);

export class Fuzz {
  readonly random: Random;
  constructor(seed: number) {
    this.random = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A string of `n` characters from `alphabet`. */
  text(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  /** 1..`max` random edits of `input`: flip, set, insert, delete a byte, truncate, duplicate a slice. */
  mutate(input: Buffer, max = 4): Buffer {
    let b = Buffer.from(input);
    const edits = 1 + this.int(max);
    for (let e = 0; e < edits; e++) {
      const at = b.length === 0 ? 0 : this.int(b.length);
      switch (this.int(7)) {
        case 0:
          if (b.length > 0) b[at] = b[at]! ^ (1 << this.int(8));
          break;
        case 1:
          if (b.length > 0) b[at] = this.pick([0, 0xff, 0x7f, 0x80, 1, this.int(256)]);
          break;
        case 2:
          b = Buffer.concat([b.subarray(0, at), this.bytes(1 + this.int(8)), b.subarray(at)]);
          break;
        case 3:
          b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + this.int(8)))]);
          break;
        case 4:
          b = b.subarray(0, at);
          break;
        case 5: {
          const end = Math.min(b.length, at + 1 + this.int(32));
          b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
          break;
        }
        default:
          if (b.length >= 4) b.writeUInt16BE(this.pick([0, 0xffff, 0x7fff, this.int(0x10000)]), this.int(b.length - 1));
      }
    }
    return b;
  }
}

/** Samples a process's RSS every `intervalMs`; `max` is the peak seen. */
export class RssSampler {
  max = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number, intervalMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }
  sample(): void {
    this.max = Math.max(this.max, rssBytes(this.pid) ?? 0);
  }
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.max;
  }
}

export { expectServing } from '../helpers/raw-http.js';
