// vfab ping / mac-table: reachability from inside a VM or from a host's vmkernel port (esx1.vmk0), and
// what a switch has learned.

import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import { readState, findDaemon, findVmDaemon, type FabricState, type DaemonRecord } from '../fabric/state.js';
import { type CommandTable, defineCommand, printJson, table, JSON_OPTION, EXIT_OK, EXIT_FAILED } from './io.js';

export const MAX_PING_COUNT = 10_000;
/** Largest ICMP payload: a 9000-byte jumbo frame less the IPv4 and ICMP headers. */
export const MAX_PING_PAYLOAD_BYTES = 8972;
/** Longest --interval-ms and --timeout-ms. */
export const MAX_PING_WAIT_MS = 60_000;

const ping = defineCommand(
  {
    usage: ['SOURCE TARGET_IP [--count N] [--interval-ms MS] [--timeout-ms MS] [--size BYTES] [--nic NAME] [--json]'],
    description: `Sends ICMP echo requests from SOURCE (its own IP stack: ARP first, then ICMP) to TARGET_IP and
prints each reply with its round-trip time, like ping(8). SOURCE is one of:
  web1           a VM (from the vNIC on TARGET_IP's subnet, or --nic)
  web1.nic0      a VM's vNIC
  esx1.vmk0      a host's vmkernel port (hosts[].vmkernels), e.g. the management network`,
    options: {
      count: { type: 'int', short: 'c', min: 1, max: MAX_PING_COUNT, default: 4, description: 'echo requests to send' },
      'interval-ms': { type: 'duration', unit: 'ms', min: 1, max: MAX_PING_WAIT_MS, default: 200, description: 'time between requests' },
      'timeout-ms': { type: 'duration', unit: 'ms', min: 1, max: MAX_PING_WAIT_MS, default: 1000, description: 'how long to wait for each reply' },
      size: { type: 'int', value: 'BYTES', min: 0, max: MAX_PING_PAYLOAD_BYTES, default: 56, description: 'ICMP payload size in bytes' },
      nic: { type: 'string', value: 'NAME', description: "which vNIC to send from (default: the first one on TARGET_IP's subnet, else nic 0)" },
      json: JSON_OPTION,
    },
    args: { min: 2, max: 2 },
    examples: ['ping web1 192.0.2.12 --count 3', 'ping web1 198.51.100.11 -c 1 --timeout-ms 300   # across VLANs: no reply, exit 1', 'ping esx1.vmk0 10.0.0.12 -c 2                   # management network, host to host'],
    exits: { 1: 'no reply came back' },
  },
  async ({ values, positionals }, io) => {
    const [source, target] = positionals as [string, string];
    const { count, size: sizeBytes } = values;
    const intervalMs = values['interval-ms'];
    const timeoutMs = values['timeout-ms'];
    const state = readState();
    const from = pingSource(state, source, values.nic);
    const result = await control<PingResult>(from.daemon, state.token, 'POST', from.path, { target, count, intervalMs, timeoutMs, sizeBytes, nic: from.nic }, count * (intervalMs + timeoutMs) + 10_000);
    if (values.json) printJson(io, result);
    else {
      io.out(`PING ${target} from ${result.vm}.${result.nic} (${result.sourceIp}): ${sizeBytes} data bytes`);
      for (const r of result.replies) {
        io.out(r.rttMs === null ? `no reply for icmp_seq=${r.seq} (${r.error ?? 'timeout'})` : `${r.bytes} bytes from ${target}: icmp_seq=${r.seq} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms`);
      }
      const got = result.replies.filter((r) => r.rttMs !== null).length;
      io.out(`--- ${target} ping statistics ---\n${result.replies.length} packets transmitted, ${got} received, ${(((result.replies.length - got) / result.replies.length) * 100).toFixed(0)}% packet loss`);
    }
    return result.received > 0 ? EXIT_OK : EXIT_FAILED;
  },
);

/** Where a ping from SOURCE is served: a VM ("web1", "web1.nic0") or a host's vmkernel port ("esx1.vmk0"). */
function pingSource(state: FabricState, source: string, nicOption: string | undefined): { daemon: DaemonRecord; path: string; nic: string | undefined } {
  const dot = source.indexOf('.');
  if (dot < 0) return { daemon: findVmDaemon(state, source), path: `/control/vms/${encodeURIComponent(source)}/ping`, nic: nicOption };
  const node = source.slice(0, dot);
  const iface = source.slice(dot + 1);
  if (nicOption !== undefined) throw new VfabError('VFAB_USAGE', `--nic ${nicOption}: SOURCE ${source} already names the interface (write ${node} --nic ${nicOption}, or ${node}.${nicOption})`);
  if (Object.hasOwn(state.vmHosts, node)) return { daemon: findVmDaemon(state, node), path: `/control/vms/${encodeURIComponent(node)}/ping`, nic: iface };
  const daemon = findDaemon(state, node);
  if (daemon.kind !== 'host') throw new VfabError('VFAB_USAGE', `${source}: ${node} is a ${daemon.kind}; ping from a VM (web1, web1.nic0) or a host's vmkernel port (esx1.vmk0)`);
  return { daemon, path: `/control/vmkernels/${encodeURIComponent(iface)}/ping`, nic: undefined };
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

/** Highest VLAN ID (802.1Q VID is 12 bits). */
export const MAX_VLAN_ID = 4095;

const macTable = defineCommand(
  {
    usage: ['NODE [--vlan N] [--json]', 'SWITCH --clear [--vlan N] [--port PORT]'],
    description: `Shows a MAC address table. For a physical switch: the MACs it learned per VLAN, the port, the age
and how often each moved (a MAC that keeps moving between ports is flapping: a duplicate MAC or an IP-
hash team without a port-channel). For an ESX host: each vSwitch's table, which is told by the ports
and never learned (spec §1.1). --clear empties a switch's table ("clear mac address-table dynamic"),
or only one VLAN's or one port's entries; the switch learns them again from the next frames.`,
    options: {
      vlan: { type: 'int', min: 0, max: MAX_VLAN_ID, description: 'only entries of this VLAN' },
      clear: { type: 'bool', description: "clear a switch's learned MACs (with --vlan, --port: only those)" },
      port: { type: 'string', value: 'PORT', description: 'with --clear: only entries learned on this port or port-channel' },
      json: JSON_OPTION,
    },
    args: { min: 1, max: 1 },
    examples: ['mac-table sw1 --vlan 10 --json', 'mac-table esx1', 'mac-table sw1 --clear --port Gi1/0/1'],
  },
  async ({ values, positionals }, io) => {
    const node = positionals[0]!;
    const state = readState();
    const daemon = findDaemon(state, node);
    if (values.port !== undefined && !values.clear) throw new VfabError('VFAB_USAGE', '--port goes with --clear (vfab mac-table SWITCH --clear --port PORT)');
    if (values.clear) {
      if (daemon.kind !== 'switch') throw new VfabError('VFAB_USAGE', `--clear: ${node} is a ${daemon.kind}; a vSwitch's table is told by its ports, not learned (clear a physical switch's)`);
      const body = { ...(values.vlan !== undefined ? { vlan: values.vlan } : {}), ...(values.port !== undefined ? { port: values.port } : {}) };
      const r = await control<{ cleared: number }>(daemon, state.token, 'POST', '/control/mac-table/clear', body);
      if (values.json) printJson(io, { node, ...body, cleared: r.cleared });
      else io.out(`${node}: cleared ${r.cleared} entries`);
      return EXIT_OK;
    }
    const result = await control<{ entries: any[] }>(daemon, state.token, 'GET', '/control/mac-table');
    const vlan = values.vlan;
    const entries = vlan === undefined ? result.entries : result.entries.filter((e) => e.vlan === vlan);
    if (values.json) return printJson(io, { node, entries }), EXIT_OK;
    if (daemon.kind === 'switch') {
      io.out(table([['vlan', 'mac', 'type', 'port', 'age s', 'moves'], ...entries.map((e) => [String(e.vlan), e.mac, e.type ?? 'dynamic', e.port, (e.ageMs / 1000).toFixed(1), String(e.moves ?? 0)])]));
    } else {
      io.out(table([['vswitch', 'vlan', 'mac', 'port', 'port group'], ...entries.map((e) => [e.vswitch, String(e.vlan), e.mac, String(e.portId), e.portGroup])]));
    }
    io.out(`${entries.length} entries`);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { ping, 'mac-table': macTable };
