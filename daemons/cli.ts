// The vfab command line: one entry point, one subcommand per job. Covers dispatch, top-level help,
// and turning errors into messages and exit codes (2 for bad usage or input, 1 for a failed check).

import { VfabError } from '../lib/errors.js';
import { type CliIo, stdio, EXIT_USAGE, EXIT_FAILED } from './cli/io.js';
import { upCommand, downCommand, statusCommand, linkCommand } from './cli/fabric-commands.js';
import { pingCommand, macTableCommand } from './cli/net-commands.js';
import { captureCommand } from './cli/capture-command.js';

type Command = { run: (argv: string[], io: CliIo) => Promise<number>; summary: string };

const COMMANDS: Record<string, Command> = {
  up: { run: upCommand, summary: 'start a fabric from a topology file and wait until every link is up' },
  down: { run: downCommand, summary: 'stop the running fabric' },
  status: { run: statusCommand, summary: 'hosts, vSwitches, ports and their uplinks, switches, links' },
  ping: { run: pingCommand, summary: 'ping from inside a VM (ARP + ICMP through the fabric)' },
  'mac-table': { run: macTableCommand, summary: "a switch's learned MACs (with moves) or a host's vSwitch tables" },
  link: { run: linkCommand, summary: 'take a link down or up (carrier lost at both ends)' },
  capture: { run: captureCommand, summary: 'live capture at a vNIC, uplink or switch port into pcap/pcapng (or stdout)' },
};

export function registerCommand(name: string, command: Command): void {
  COMMANDS[name] = command;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `vfab — a virtual network and storage fabric: ESX-style hosts, physical switches and a storage array,
each its own process, linked by WebSockets that carry real Ethernet frames and real blocks.

usage: vfab COMMAND [ARGS] [--json] [--help]

commands:
${Object.entries(COMMANDS)
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
      return e.code === 'VFAB_USAGE' || e.code.startsWith('VFAB_TOPOLOGY') || e.code === 'VFAB_BAD_ENDPOINT' ? EXIT_USAGE : EXIT_FAILED;
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
