// Shared pieces of the vfab CLI: output (text or --json), errors as exit codes, and option parsing on
// node:util parseArgs (no dependency: it covers flags, values and positionals, which is all we need).

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VfabError } from '../../lib/errors.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

// A reader that stops early (`vfab events | head`) closes the pipe: that ends the command quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

export const stdio: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
};

/** Exit codes: 0 ok, 1 the command ran and found a failure (e.g. ping lost everything), 2 bad usage or input. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class UsageError extends VfabError {
  constructor(message: string) {
    super('VFAB_USAGE', message);
  }
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/** Left-aligned text table. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** One subcommand: `order` sorts the help listing (lower first). */
export interface Command {
  run: (argv: string[], io: CliIo) => Promise<number>;
  summary: string;
  order?: number;
}
/** What each module in daemons/cli/commands/ exports as `commands`. */
export type CommandTable = Record<string, Command>;
