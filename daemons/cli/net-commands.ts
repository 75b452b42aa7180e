// vfab ping / mac-table: reachability from inside a VM, and what a switch has learned.

import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import { readState, findDaemon } from '../fabric/state.js';
import { type CliIo, parse, printJson, table, UsageError, EXIT_OK, EXIT_FAILED } from './io.js';

export const MAX_PING_COUNT = 10_000;

export const PING_USAGE = `usage: vfab ping VM TARGET_IP [--count N] [--interval-ms MS] [--timeout-ms MS] [--size BYTES] [--nic NAME] [--json]

Sends ICMP echo requests from inside VM (its own IP stack: ARP first, then ICMP) to TARGET_IP and
prints each reply with its round-trip time, like ping(8). Exit 0 if any reply came back, 1 if none.

  --count N         echo requests to send (default 4, at most ${MAX_PING_COUNT})
  --interval-ms MS  time between requests (default 200)
  --timeout-ms MS   how long to wait for each reply (default 1000)
  --size BYTES      ICMP payload size (default 56)
  --nic NAME        which vNIC to send from (default: the first one on TARGET_IP's subnet, else nic 0)

example: vfab ping web1 192.0.2.12 --count 3`;

export async function pingCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { count: { type: 'string', short: 'c' }, 'interval-ms': { type: 'string' }, 'timeout-ms': { type: 'string' }, size: { type: 'string' }, nic: { type: 'string' }, json: { type: 'boolean' } },
    PING_USAGE,
  );
  if (values.help) return io.out(PING_USAGE), EXIT_OK;
  const [vm, target] = positionals;
  if (!vm || !target || positionals.length > 2) throw new UsageError(PING_USAGE);
  const count = intOption(values.count, 4, 1, MAX_PING_COUNT, '--count');
  const intervalMs = intOption(values['interval-ms'], 200, 1, 60_000, '--interval-ms');
  const timeoutMs = intOption(values['timeout-ms'], 1000, 1, 60_000, '--timeout-ms');
  const sizeBytes = intOption(values.size, 56, 0, 8972, '--size');
  const state = readState();
  const hostName = state.vmHosts[vm];
  if (!hostName) throw new VfabError('VFAB_NOT_FOUND', `no VM named ${vm} (VMs: ${Object.keys(state.vmHosts).join(', ')})`);
  const host = findDaemon(state, hostName);
  const result = await control<PingResult>(host, state.token, 'POST', `/control/vms/${encodeURIComponent(vm)}/ping`, { target, count, intervalMs, timeoutMs, sizeBytes, nic: values.nic }, count * (intervalMs + timeoutMs) + 10_000);
  if (values.json) printJson(io, result);
  else {
    io.out(`PING ${target} from ${vm}.${result.nic} (${result.sourceIp}): ${sizeBytes} data bytes`);
    for (const r of result.replies) {
      io.out(r.rttMs === null ? `no reply for icmp_seq=${r.seq} (${r.error ?? 'timeout'})` : `${r.bytes} bytes from ${target}: icmp_seq=${r.seq} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms`);
    }
    const got = result.replies.filter((r) => r.rttMs !== null).length;
    io.out(`--- ${target} ping statistics ---\n${result.replies.length} packets transmitted, ${got} received, ${(((result.replies.length - got) / result.replies.length) * 100).toFixed(0)}% packet loss`);
  }
  return result.received > 0 ? EXIT_OK : EXIT_FAILED;
}

export interface PingResult {
  vm: string;
  nic: string;
  sourceIp: string;
  target: string;
  sent: number;
  received: number;
  replies: Array<{ seq: number; rttMs: number | null; ttl?: number; bytes?: number; error?: string }>;
}

function intOption(text: string | undefined, dflt: number, min: number, max: number, name: string): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got ${text}`);
  return n;
}

export const MAC_TABLE_USAGE = `usage: vfab mac-table NODE [--vlan N] [--json]

Shows a MAC address table. For a physical switch: the MACs it learned per VLAN, the port, the age
and how often each moved (a MAC that keeps moving between ports is flapping: a duplicate MAC or an IP-
hash team without a port-channel). For an ESX host: each vSwitch's table, which is told by the ports
and never learned (spec §1.1).`;

export async function macTableCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, { vlan: { type: 'string' }, json: { type: 'boolean' } }, MAC_TABLE_USAGE);
  if (values.help) return io.out(MAC_TABLE_USAGE), EXIT_OK;
  const node = positionals[0];
  if (!node) throw new UsageError(MAC_TABLE_USAGE);
  const state = readState();
  const daemon = findDaemon(state, node);
  const result = await control<{ entries: any[] }>(daemon, state.token, 'GET', '/control/mac-table');
  const vlan = values.vlan === undefined ? undefined : Number(values.vlan);
  const entries = vlan === undefined ? result.entries : result.entries.filter((e) => e.vlan === vlan);
  if (values.json) return printJson(io, { node, entries }), EXIT_OK;
  if (daemon.kind === 'switch') {
    io.out(table([['vlan', 'mac', 'type', 'port', 'age s', 'moves'], ...entries.map((e) => [String(e.vlan), e.mac, e.type ?? 'dynamic', e.port, (e.ageMs / 1000).toFixed(1), String(e.moves ?? 0)])]));
  } else {
    io.out(table([['vswitch', 'vlan', 'mac', 'port', 'port group'], ...entries.map((e) => [e.vswitch, String(e.vlan), e.mac, String(e.portId), e.portGroup])]));
  }
  io.out(`${entries.length} entries`);
  return EXIT_OK;
}
