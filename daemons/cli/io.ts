// Shared pieces of the vfab CLI: output (text or --json), tables, and the shape of a command (its option
// table lives in options.ts, which checks values and writes --help). Leaves out dispatch (daemons/cli.ts).

import type { CommandSpec, OptionTable, Parsed } from './options.js';

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

export { EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_FABRIC, UsageError } from './options.js';

/** One subcommand: its option table (validation and --help) and what it does with the parsed line. */
export interface CommandDef<O extends OptionTable = any> {
  spec: CommandSpec<O>;
  run: (parsed: Parsed<O>, io: CliIo) => Promise<number>;
}

/** Declares a command; the table's literal types flow into `run`'s parsed values. */
export function defineCommand<O extends OptionTable>(spec: CommandSpec<O>, run: (parsed: Parsed<O>, io: CliIo) => Promise<number>): CommandDef<O> {
  return { spec, run };
}

/** What each module in daemons/cli/commands/ exports as `commands` (listed in daemons/cli/registry.ts). */
export type CommandTable = Record<string, CommandDef>;

/** --json, which most commands take. */
export const JSON_OPTION = { type: 'bool', description: 'print the result as JSON (for machines)' } as const;

export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/** Left-aligned text table. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

