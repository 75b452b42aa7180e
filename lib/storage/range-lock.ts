// Exclusive LBA-range lock of one LUN: COMPARE AND WRITE holds its range across the read-compare-write,
// and every other writer of an overlapping range waits for it (SBC-3 §5.2: the compare and the write
// are one atomic operation against every other command). Non-overlapping ranges never wait for each
// other. FIFO among overlapping requests (a waiter blocks later overlapping requests), so no starvation.
// Leaves out shared (reader) locks: reads need none, because each store read is one atomic snapshot.

interface Waiter {
  start: number;
  end: number;
  grant: () => void;
}

export class RangeLock {
  private readonly heldStart: number[] = [];
  private readonly heldEnd: number[] = [];
  private readonly waiters: Waiter[] = [];

  private overlapsHeld(start: number, end: number): boolean {
    const s = this.heldStart;
    const e = this.heldEnd;
    for (let i = 0; i < s.length; i++) if (start < e[i]! && s[i]! < end) return true;
    return false;
  }

  /** Whether [start, start+count) could be locked at once (no held or waiting range overlaps it). */
  free(start: number, count: number): boolean {
    const end = start + Math.max(count, 1);
    return !this.overlapsHeld(start, end) && !this.overlapsWaiting(start, end, this.waiters.length);
  }

  /** Lock blocks [start, start+count). Resolves when held; call release(start, count) afterwards. */
  acquire(start: number, count: number): Promise<void> | undefined {
    const end = start + Math.max(count, 1);
    if (!this.overlapsHeld(start, end) && !this.overlapsWaiting(start, end, this.waiters.length)) {
      this.heldStart.push(start);
      this.heldEnd.push(end);
      return undefined; // granted at once, no promise allocated
    }
    return new Promise<void>((resolve) => {
      this.waiters.push({ start, end, grant: resolve });
    });
  }

  private overlapsWaiting(start: number, end: number, before: number): boolean {
    for (let i = 0; i < before; i++) {
      const w = this.waiters[i]!;
      if (start < w.end && w.start < end) return true;
    }
    return false;
  }

  release(start: number, count: number): void {
    const end = start + Math.max(count, 1);
    for (let i = 0; i < this.heldStart.length; i++) {
      if (this.heldStart[i] === start && this.heldEnd[i] === end) {
        this.heldStart.splice(i, 1);
        this.heldEnd.splice(i, 1);
        break;
      }
    }
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!;
      if (!this.overlapsHeld(w.start, w.end) && !this.overlapsWaiting(w.start, w.end, i)) {
        this.waiters.splice(i, 1);
        this.heldStart.push(w.start);
        this.heldEnd.push(w.end);
        w.grant();
      } else {
        i++;
      }
    }
  }

  /** Ranges held plus waiting (for tests and stats). */
  get busy(): number {
    return this.heldStart.length + this.waiters.length;
  }
}
