// Work queued during one turn of the event loop, handed over together in one microtask: how the callback
// fast paths (the read cache's lookups, the memory store's reads, the target's fast-path answers) keep
// their contract of never answering synchronously at one microtask per turn instead of one per command.
// Leaves out ordering across batches (each batch runs in push order) and any bound: callers bound what
// they push (a session's CmdSN window, the array's in-flight budget).

export class TurnBatch<T> {
  private items: T[] = [];
  private scheduled = false;
  private readonly flushBound = (): void => this.flush();

  constructor(private readonly run: (items: readonly T[]) => void) {}

  /** Queues `item`; `run` gets it, with everything else queued in this turn, in one microtask. */
  push(item: T): void {
    this.items.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushBound);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.items;
    this.items = [];
    this.run(all);
  }
}
