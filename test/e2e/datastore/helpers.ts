// Shared by the e2e datastore tests: runs a `vfab datastore` / `vfab vm` command in process and captures
// what it printed, its exit code, its JSON (with --json) or the error it threw; and one power-on race of
// two hosts with its expected outcome (one winner, the other refused "locked by" it). Leaves out the
// process boundary (the CLI's exit-code mapping is tested in test/daemons/datastore-cli.test.ts).

import { expect } from 'chai';
import { runCommand } from '../../../daemons/cli.js';
import { type TestFabric, useFabric } from '../helpers/fabric.js';
import type { CliIo } from '../../../daemons/cli/io.js';

export type Command = (args: string[], io: CliIo) => Promise<number>;
export const datastoreCommand: Command = (args, io) => runCommand('datastore', args, io);
export const vmCommand: Command = (args, io) => runCommand('vm', args, io);

export async function cli(fn: Command, args: string[]): Promise<{ code: number; text: string; json: any; error?: any }> {
  const lines: string[] = [];
  const io: CliIo = { out: (t) => lines.push(t), err: (t) => lines.push(t) };
  try {
    const code = await fn(args, io);
    const text = lines.join('\n');
    return { code, text, json: args.includes('--json') ? JSON.parse(text) : undefined };
  } catch (e) {
    return { code: -1, text: lines.join('\n'), json: undefined, error: e };
  }
}

export type RaceHost = 'esx1' | 'esx2';

/** esx1 and esx2 power `vm` on at once: exactly one wins, the other fails VFAB_DATASTORE_LOCKED "locked by <winner>". */
export async function powerOnRace(powerOn: (host: RaceHost, vm: string) => Promise<unknown>, vm: string, round: number): Promise<{ winner: RaceHost; loser: RaceHost; refusal: string }> {
  const results = await Promise.allSettled([powerOn('esx1', vm), powerOn('esx2', vm)]);
  const won = results.flatMap((r, k): RaceHost[] => (r.status === 'fulfilled' ? [k === 0 ? 'esx1' : 'esx2'] : []));
  expect(won, `race ${round}: ${results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'won')).join(' / ')}`).to.have.length(1);
  const winner = won[0]!;
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  expect(lost.reason.code).to.equal('VFAB_DATASTORE_LOCKED');
  expect(lost.reason.message).to.match(new RegExp(`^locked by ${winner}`));
  return { winner, loser: winner === 'esx1' ? 'esx2' : 'esx1', refusal: lost.reason.message };
}

/**
 * useFabric for the datastore tests: the in-process CLI (cli(), main()) is pointed at the fabric through
 * VFAB_STATE_DIR while the suite runs, and VFAB_STATE_DIR is put back after it.
 */
export function useDatastoreFabric(topologyFile: string, timeScale: number, use: (fab: TestFabric) => void): void {
  const saved = process.env.VFAB_STATE_DIR;
  useFabric(topologyFile, (f) => {
    process.env.VFAB_STATE_DIR = f.stateDir;
    use(f);
  }, { timeScale });
  after(() => {
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });
}
