// The vfab command line: one entry point, one subcommand per job. Covers dispatch, top-level help,
// and turning errors into messages and exit codes (2 for bad usage or input, 1 for a failed check).

import { VfabError } from '../lib/errors.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliIo, type Command, type CommandTable, stdio, EXIT_USAGE, EXIT_FAILED } from './cli/io.js';

// Every module in daemons/cli/commands/ exports `commands`; adding a command is adding a file there.
const COMMANDS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli', 'commands');
const COMMANDS: CommandTable = {};
for (const file of fs.readdirSync(COMMANDS_DIR).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort()) {
  const mod = (await import(path.join(COMMANDS_DIR, file))) as { commands?: CommandTable };
  Object.assign(COMMANDS, mod.commands ?? {});
}

function sortedCommands(): Array<[string, Command]> {
  return Object.entries(COMMANDS).sort((a, b) => (a[1].order ?? 100) - (b[1].order ?? 100) || a[0].localeCompare(b[0]));
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `vfab — a virtual network and storage fabric: ESX-style hosts, physical switches and a storage array,
each its own process, linked by WebSockets that carry real Ethernet frames and real blocks.

usage: vfab COMMAND [ARGS] [--json] [--help]

commands:
${sortedCommands()
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Try: vfab up topologies/quickstart.yaml --detach && vfab ping web1 192.0.2.12 && vfab down
Every command takes --help. State of the running fabric lives in ./.vfab (or $VFAB_STATE_DIR).`;
}

export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : EXIT_USAGE;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`vfab: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof VfabError) {
      const problems = (e as any).problems;
      io.err(`vfab ${name}: ${e.message}`);
      if (Array.isArray(problems) && !e.message.includes('\n')) for (const p of problems) io.err(`  ${p.file}:${p.line}:${p.column}: ${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);
      return e.code === 'VFAB_USAGE' || e.code.startsWith('VFAB_TOPOLOGY') || e.code === 'VFAB_BAD_ENDPOINT' || e.code === 'VFAB_STATE_CORRUPT' ? EXIT_USAGE : EXIT_FAILED;
    }
    io.err(`vfab ${name}: internal error: ${(e as Error)?.stack ?? e}`);
    return EXIT_FAILED;
  }
}

const isEntry = process.argv[1] && /(?:cli\.ts|vfab(?:\.js)?)$/.test(process.argv[1]);
if (isEntry) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // nothing the CLI leaves behind (keep-alive sockets) may hold the process open
  setImmediate(() => process.exit(code));
}
