// vfab counters: the per-port frame counters and every drop counter (by reason) of a host's vSwitch
// ports (VM vNICs, vmkernel ports) and uplinks, or of a physical switch's ports; --reset zeroes a node's
// counters (POST /control/counters/reset). Counter names and points: lib/counters/counters.ts, the same
// names a scenario's `counter` check uses. Leaves out arrays' I/O counters (vfab status ARRAY).

import { VfabError } from '../../lib/errors.js';
import { type CounterPoint, isDropCounter } from '../../lib/counters/counters.js';
import { readState, suggest, type DaemonRecord, type FabricState } from '../fabric/state.js';
import { findPoint, nodeCounterPoints, resetNodeCounters } from '../fabric/counters.js';
import { type CommandTable, defineCommand, printJson, table, JSON_OPTION, EXIT_OK } from './io.js';

const TRAFFIC_COLUMNS = ['rxFrames', 'txFrames', 'rxBytes', 'txBytes'] as const;
const KIND_TEXT: Record<CounterPoint['kind'], string> = { vswitchPort: 'vNIC', uplink: 'uplink', switchPort: 'port' };

const counters = defineCommand(
  {
    usage: ['NODE [PORT] [--all] [--json]', 'NODE --reset [--json]'],
    description: `Shows the frame counters and the drop counters of NODE's ports, counted since the daemon started or
since the last --reset. NODE is one of:
  esx1     a host: each vSwitch port (VM vNICs such as web1.nic0, vmkernel ports such as esx1.vmk0)
           and each uplink (esx1.vmnic0: the vSwitch's drops of frames that arrived on it, and its link)
  sw1      a physical switch: each port (sw1.Gi1/0/1), rx and tx drops by reason, and its link
  web1     a VM: its vNICs' ports on the host it runs on
One line per port: frames and bytes each way (seen from the port: tx = frames the port sent) and every
drop counter that is not zero, by reason (drops.forged_transmit, rxDrops.vlan_not_allowed, ...).
PORT (Gi1/0/1, vmnic0, nic0, or the whole point sw1.Gi1/0/1) lists that port's counters one per line;
--all lists zeros too. The names are the ones a scenario's counter check takes (docs/scenarios.md).
--reset zeroes every counter of a host or switch (its vSwitches' or ports', and its links').`,
    options: {
      all: { type: 'bool', description: 'list every counter of every port, zeros included' },
      reset: { type: 'bool', description: "zero every counter of NODE (a host or switch), like IOS 'clear counters'" },
      json: { ...JSON_OPTION, description: 'print every counter of each port as JSON (zeros included)' },
    },
    args: { min: 1, max: 2 },
    examples: [
      'counters esx1',
      'counters sw1 Gi1/0/1 --all      # one port, every counter one per line',
      'counters sw1 --reset',
    ],
    exits: { 2: 'an unknown node or port (the message names it), or --reset with a PORT or a VM', 3: 'no fabric is running here, or the node\'s daemon does not answer' },
  },
  async ({ values, positionals }, io) => {
    const [node, port] = positionals as [string, string | undefined];
    const state = readState();
    const { daemon, vm } = resolveNode(state, node);
    if (values.reset) {
      if (port !== undefined) throw new VfabError('VFAB_USAGE', `--reset zeroes every counter of ${daemon.name}; it takes no PORT (drop ${port})`);
      if (values.all) throw new VfabError('VFAB_USAGE', '--reset shows nothing, so it takes no --all (run vfab counters NODE --all afterwards)');
      if (vm !== undefined) throw new VfabError('VFAB_USAGE', `--reset zeroes a whole host's counters: write vfab counters ${daemon.name} --reset (${vm} runs there)`);
      await resetNodeCounters(state, daemon);
      if (values.json) printJson(io, { node: daemon.name, reset: true });
      else io.out(`${daemon.name}: every counter is now 0`);
      return EXIT_OK;
    }
    let points = await nodeCounterPoints(state, daemon);
    if (vm !== undefined) points = points.filter((p) => p.point.startsWith(`${vm}.`));
    if (port !== undefined) {
      const base = vm ?? daemon.name;
      points = [findPoint(points, port.startsWith(`${base}.`) ? port : `${base}.${port}`, vm ?? daemon.name)];
    }
    if (values.json) return printJson(io, { node, points }), EXIT_OK;
    if (points.length === 0) {
      io.out(`${node}: no ports${vm !== undefined ? ' (is it powered on?)' : ''}`);
      return EXIT_OK;
    }
    if (port !== undefined || values.all) {
      for (const p of points) {
        const rows = Object.entries(p.counters).filter(([, v]) => values.all || v !== 0);
        io.out(`${p.point} (${KIND_TEXT[p.kind]})${rows.length === 0 ? ': every counter is 0' : ''}`);
        if (rows.length) io.out(table(rows.map(([k, v]) => [`  ${k}`, String(v)])));
      }
      return EXIT_OK;
    }
    const header = ['port', 'kind', ...TRAFFIC_COLUMNS, 'drops (non-zero, by reason)'];
    io.out(table([header, ...points.map((p) => [p.point, KIND_TEXT[p.kind], ...TRAFFIC_COLUMNS.map((c) => String(p.counters[c] ?? 0)), dropsText(p)])]));
    return EXIT_OK;
  },
);

/** "drops.forged_transmit=1, link.txDropsQueueFull=3", or "-" when nothing was dropped. */
function dropsText(p: CounterPoint): string {
  const d = Object.entries(p.counters).filter(([k, v]) => v !== 0 && isDropCounter(k));
  return d.length ? d.map(([k, v]) => `${k}=${v}`).join(', ') : '-';
}

/** NODE as typed: a host or switch daemon, or a VM (its host's daemon); VFAB_NOT_FOUND with a did-you-mean otherwise. */
function resolveNode(state: FabricState, node: string): { daemon: DaemonRecord; vm?: string } {
  // an external VM's own daemon (kind vm) keeps no port counters: its ports are on the host it attaches to
  const d = state.daemons.find((x) => x.name === node && x.kind !== 'vm');
  if (d) return { daemon: d };
  const host = state.externalVmHosts?.[node] ?? (Object.hasOwn(state.vmHosts, node) ? state.vmHosts[node] : undefined);
  const hd = host !== undefined ? state.daemons.find((x) => x.name === host && x.kind === 'host') : undefined;
  if (hd) return { daemon: hd, vm: node };
  const names = [...state.daemons.filter((x) => x.kind === 'host' || x.kind === 'switch').map((x) => x.name), ...Object.keys(state.vmHosts)];
  throw new VfabError('VFAB_NOT_FOUND', `no host, switch or VM named ${JSON.stringify(node)} in fabric ${state.fabric}${suggest(node, names)} (have: ${names.join(', ')})`);
}

export const commands: CommandTable = { counters };
