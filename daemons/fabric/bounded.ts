// Running many daemon starts, stops and control calls at once without starting them all at once: `vfab
// up` spawns a fabric's daemons (and tells them their peers) and `vfab down` stops them through these.
// Covers a concurrency bound (a named constant from the CPU count), order constraints (an item waits for
// the items it names in `after`, e.g. an external VM for its host), and failure: the first failure stops
// new items from starting, the items in flight are awaited (each one started is reported through
// onDone, so the caller can stop it), and then the first failure is thrown. Leaves out retries and
// time-outs (the work itself is bounded: DAEMON_READY_TIMEOUT_MS, CONTROL_TIMEOUT_MS).

import os from 'node:os';
import { VfabError } from '../../lib/errors.js';

/**
 * Daemon starts in flight per CPU. Starting a daemon is mostly CPU (Node's start and module loading,
 * 0.2 CPU-seconds per host) with short waits for its ready line: two per CPU keep the CPUs busy through
 * those waits; more only add memory and contention (docs/scale.md).
 */
export const STARTS_PER_CPU = 2;
/** Upper bound on daemon starts (and stops, and control calls of one round) in flight, whatever the CPU count. */
export const MAX_PARALLEL_STARTS = 16;

/** min(MAX_PARALLEL_STARTS, STARTS_PER_CPU x CPUs), at least 1. */
export function defaultConcurrency(cpus = os.availableParallelism()): number {
  return Math.max(1, Math.min(MAX_PARALLEL_STARTS, STARTS_PER_CPU * cpus));
}

export interface BoundedItem {
  name: string;
  /** Names of items that must have finished (successfully) before this one starts. */
  after?: readonly string[];
}

export interface BoundedOptions<T, R> {
  /** Most items in flight at once (>= 1). */
  concurrency: number;
  /** Called once per item that finished, in finishing order (e.g. record a started daemon at once). */
  onDone?: (item: T, result: R) => void;
}

/**
 * Runs `work` for every item, at most `concurrency` at a time, an item never before the items in its
 * `after` list, in the given order otherwise. Returns the results in the items' order. On the first
 * failure no further item starts; the ones in flight finish (onDone still reports each success), then that
 * failure is thrown. An `after` name that is not an item, or a cycle, is a VfabError before anything runs.
 */
export async function runBounded<T extends BoundedItem, R>(items: readonly T[], work: (item: T) => Promise<R>, opts: BoundedOptions<T, R>): Promise<R[]> {
  if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) throw new RangeError(`concurrency ${opts.concurrency}: want a whole number >= 1`);
  checkOrder(items);
  const results: R[] = new Array(items.length);
  const done = new Set<string>();
  const waiting = items.map((item, index) => ({ item, index }));
  let inFlight = 0;
  let failure: { error: unknown } | undefined;
  return await new Promise<R[]>((resolve, reject) => {
    const finish = () => {
      if (inFlight > 0) return;
      if (failure) reject(failure.error);
      else if (waiting.length === 0) resolve(results);
    };
    const pump = () => {
      while (!failure && inFlight < opts.concurrency) {
        const at = waiting.findIndex(({ item }) => (item.after ?? []).every((n) => done.has(n)));
        if (at < 0) break; // the rest wait for items in flight
        const [{ item, index }] = waiting.splice(at, 1) as [{ item: T; index: number }];
        inFlight++;
        work(item).then(
          (r) => {
            results[index] = r;
            done.add(item.name);
            opts.onDone?.(item, r);
          },
          (e) => {
            failure ??= { error: e };
          },
        ).finally(() => {
          inFlight--;
          pump();
          finish();
        });
      }
    };
    pump();
    finish();
  });
}

/** Every `after` name is an item, and no item waits (through others) for itself. */
function checkOrder(items: readonly BoundedItem[]): void {
  const byName = new Map(items.map((i) => [i.name, i]));
  for (const i of items) {
    for (const n of i.after ?? []) {
      if (!byName.has(n)) throw new VfabError('VFAB_FABRIC_PEER', `${i.name} waits for ${n}, which is not started here`);
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (i: BoundedItem, path: string[]) => {
    if (state.get(i.name) === 'done') return;
    if (state.get(i.name) === 'visiting') throw new VfabError('VFAB_FABRIC_PEER', `start order has a cycle: ${[...path, i.name].join(' -> ')}`);
    state.set(i.name, 'visiting');
    for (const n of i.after ?? []) visit(byName.get(n)!, [...path, i.name]);
    state.set(i.name, 'done');
  };
  for (const i of items) visit(i, []);
}
