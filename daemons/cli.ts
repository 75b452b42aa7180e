// The vfab command line: one entry point, one subcommand per job. Covers dispatch (a command's module is
// loaded only when it runs), the top-level help, the option table check and --help of every command
// (daemons/cli/options.ts), and the one place where errors become exit codes: 0 success, 1 a check
// failed, 2 bad usage or input, 3 no fabric running or a daemon unreachable. Leaves out the commands.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VfabError } from '../lib/errors.js';
import { closestName } from '../lib/text/did-you-mean.js';
import { type CliIo, stdio } from './cli/io.js';
import { COMMANDS } from './cli/registry.js';
import { EXIT_CODE_TEXT, EXIT_FAILED, EXIT_NO_FABRIC, EXIT_OK, EXIT_USAGE, UsageError, parseCommandLine, renderHelp } from './cli/options.js';

/** Codes that mean the fabric is not there to talk to. */
const NO_FABRIC_CODES = new Set(['VFAB_NO_FABRIC', 'VFAB_CONTROL_UNREACHABLE', 'VFAB_DAEMON_DOWN', 'VFAB_CAPTURE_UNREACHABLE']);
/** Codes that mean the user's input was wrong (besides VFAB_BAD_*, *_BAD_*, *_NOT_FOUND, *_NO_SUCH_*). */
const USAGE_CODES = new Set([
  'VFAB_USAGE', 'VFAB_STATE_CORRUPT', 'VFAB_SIZE_SYNTAX', 'VFAB_CAPTURE_POINT', 'VFAB_CAPTURE_FILE', 'VFAB_CAPTURE_UNKNOWN_INTERFACE', 'VFAB_PSWITCH_UNKNOWN_PORT',
  'VFAB_STORAGE_LUN_EXISTS', 'VFAB_STORAGE_LUN_NUMBER_IN_USE', 'VFAB_STORAGE_SHRINK_NOT_ALLOWED', 'VFAB_STORAGE_TOO_MANY_LUNS',
  'VFAB_GUEST_NEEDS_ROOT', 'VFAB_VM_EXTERNAL', 'VFAB_PING_TOO_LARGE', 'VFAB_SCENARIO_INVALID', 'VFAB_SCENARIO_READ', 'VFAB_SCENARIO_YAML', 'VFAB_SCENARIO_TARGET', 'VFAB_VDISK_OUT_OF_RANGE',
  'VFAB_SIM_UNSUPPORTED', // a request the simulated fabric (vfab up --sim) does not simulate: run the fabric without --sim
]);

/**
 * Codes that name something wrong in data the fabric keeps (a corrupt datastore record on a LUN), not in
 * what the user typed: a check failed (1), although the code says "BAD".
 */
const CORRUPT_DATA_CODES = new Set(['VFAB_DATASTORE_BAD_MAGIC', 'VFAB_DATASTORE_BAD_CHECKSUM', 'VFAB_DATASTORE_BAD_FIELD']);

/** The exit code for an error: the one place the CLI decides it. */
export function exitCodeFor(e: unknown): number {
  if (!(e instanceof VfabError)) return EXIT_FAILED;
  const code = e.code;
  if (NO_FABRIC_CODES.has(code)) return EXIT_NO_FABRIC;
  if (CORRUPT_DATA_CODES.has(code)) return EXIT_FAILED;
  if (USAGE_CODES.has(code) || code.startsWith('VFAB_TOPOLOGY') || code.startsWith('VFAB_BAD_')) return EXIT_USAGE;
  if (code === 'VFAB_CONTROL_BAD_REPLY') return EXIT_FAILED;
  if (/_BAD_|_NOT_FOUND$|_NO_SUCH_/.test(code)) return EXIT_USAGE;
  return EXIT_FAILED;
}

function usage(): string {
  const entries = Object.entries(COMMANDS).sort((a, b) => a[1].order - b[1].order || a[0].localeCompare(b[0]));
  const width = Math.max(...entries.map(([c]) => c.length));
  return `vfab — a virtual network and storage fabric: ESX-style hosts, physical switches and a storage array,
each its own process, linked by WebSockets that carry real Ethernet frames and real blocks.

usage: vfab COMMAND [ARGS] [--json] [--help]

commands:
${entries.map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join('\n')}

examples:
  vfab up topologies/quickstart.yaml --detach && vfab ping web1 192.0.2.12 && vfab down
  vfab validate topologies/native-vlan-trap.yaml
  vfab ping --help

exit codes (every command):
${([0, 1, 2, 3] as const).map((c) => `  ${c}  ${EXIT_CODE_TEXT[c]}`).join('\n')}

Every command takes --help. State of the running fabric lives in ./.vfab (or $VFAB_STATE_DIR).`;
}

/**
 * Runs command `name` with `argv` (its arguments) in this process: load, check against its table, run.
 * Errors are thrown, not turned into exit codes (main does that); tests call this directly.
 */
export async function runCommand(name: string, argv: readonly string[], io: CliIo): Promise<number> {
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const command = await entry.load();
  const parsed = parseCommandLine(name, command.spec, argv);
  if (parsed.help) {
    io.out(renderHelp(name, entry.summary, command.spec));
    return EXIT_OK;
  }
  return await command.run(parsed, io);
}

export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined) return main([rest[0], '--help'], io);
    (name ? io.out : io.err)(usage());
    return name ? EXIT_OK : EXIT_USAGE;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    const guess = closestName(name, Object.keys(COMMANDS));
    io.err(`vfab: unknown ${name.startsWith('-') ? 'option' : 'command'} ${JSON.stringify(name)}${guess ? ` (did you mean ${guess}?)` : ''}; the commands are listed by: vfab --help`);
    return EXIT_USAGE;
  }
  try {
    return await runCommand(name, rest, io);
  } catch (e) {
    if (e instanceof VfabError) {
      const problems = (e as any).problems;
      io.err(`vfab ${name}: ${e.message}`);
      if (typeof e.details?.hint === 'string') io.err(`  ${e.details.hint}`); // e.g. a netns VM: vfab exec VM -- ping ADDRESS
      if (Array.isArray(problems) && !e.message.includes('\n')) for (const p of problems) io.err(`  ${p.file}:${p.line}:${p.column}: ${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);
      return exitCodeFor(e);
    }
    io.err(`vfab ${name}: internal error: ${(e as Error)?.stack ?? e}`);
    return EXIT_FAILED;
  }
}

/** Runs the CLI as a process (bin/vfab.js): exit with main's code, whatever sockets are left open. */
export async function run(argv: string[]): Promise<never> {
  const code = await main(argv);
  process.exitCode = code;
  // Output to a pipe is written asynchronously: wait until stdout and stderr have handed everything to
  // the pipe (a reader slower than us would otherwise get the first 64 KiB only), then exit, so that
  // nothing the CLI leaves behind (keep-alive sockets) holds the process open.
  await Promise.all([process.stdout, process.stderr].map(flushed));
  return await new Promise<never>(() => setImmediate(() => process.exit(code)));
}

/** Resolves once `stream` has passed everything written so far to the OS (at once if nothing waits). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write('', () => resolve());
    stream.once('close', () => resolve());
  });
}

// `node dist/daemons/cli.js ...` works like bin/vfab.js (a test runner importing this module does not)
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await run(process.argv.slice(2));
