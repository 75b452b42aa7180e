// Every vfab command: its name, one-line summary, place in the listing, and where its code is. The
// modules are loaded only when their command runs, so `vfab --help` and `vfab status` do not pay for
// YAML, JSON Schema or LevelDB code they never use. Adding a command: a module exporting `commands`
// (daemons/cli/commands/ or daemons/cli/*-command(s).ts) and one line here; test/daemons/cli-registry
// fails when a module's command is missing from this list.

import type { CommandDef } from './io.js';

export interface CommandEntry {
  summary: string;
  /** Place in the `vfab --help` listing (lower first). */
  order: number;
  load: () => Promise<CommandDef>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  quickstart: { order: 1, summary: 'run the quickstart: fabric up, pings, a failover under traffic, captures, summary, down (npm start)', load: async () => (await import('./commands/quickstart.js')).commands.quickstart! },
  up: { order: 10, summary: 'start a fabric from a topology file and wait until every link is up (--sim: simulated in one process)', load: async () => (await import('./fabric-commands.js')).commands.up! },
  down: { order: 11, summary: 'stop the running fabric', load: async () => (await import('./fabric-commands.js')).commands.down! },
  status: { order: 12, summary: 'hosts, vSwitches, ports and their uplinks, switches, links', load: async () => (await import('./fabric-commands.js')).commands.status! },
  ping: { order: 20, summary: 'ping from inside a VM (ARP + ICMP through the fabric)', load: async () => (await import('./net-commands.js')).commands.ping! },
  exec: { order: 20, summary: 'run a command inside a netns VM (its own kernel stack): vfab exec web1 -- ping 192.0.2.12', load: async () => (await import('./commands/exec.js')).commands.exec! },
  'mac-table': { order: 21, summary: "a switch's learned MACs (with moves) or a host's vSwitch tables", load: async () => (await import('./net-commands.js')).commands['mac-table']! },
  counters: { order: 22, summary: 'per-port frame counters and every drop counter by reason, of a host, switch or VM; --reset', load: async () => (await import('./counters-command.js')).commands.counters! },
  capture: { order: 22, summary: 'live capture at a vNIC, uplink or switch port into pcap/pcapng (or stdout)', load: async () => (await import('./capture-command.js')).commands.capture! },
  send: { order: 22, summary: 'crafted frames onto the wire at a vNIC (as the guest), an uplink or a switch port: hex, pcap replay, or fields', load: async () => (await import('./commands/send.js')).commands.send! },
  events: { order: 23, summary: 'merged event stream of the running fabric (learning, moves, failovers, RARPs, drops); --follow', load: async () => (await import('./commands/scenario.js')).commands.events! },
  set: { order: 32, summary: 'change the running fabric live: a switch port, a vSwitch, a port group, a vNIC (checked like a topology file)', load: async () => (await import('./commands/set.js')).commands.set! },
  export: { order: 33, summary: 'write the running configuration (the topology plus every vfab set) as a topology file', load: async () => (await import('./commands/set.js')).commands.export! },
  ui: { order: 24, summary: 'a live web view of the running fabric (topology, uplinks, MAC tables, events, actions) on 127.0.0.1', load: async () => (await import('./commands/ui.js')).commands.ui! },
  link: { order: 30, summary: 'take a link down or up (carrier lost at both ends)', load: async () => (await import('./fabric-commands.js')).commands.link! },
  fault: { order: 31, summary: 'inject faults: kill/restart a daemon, impair/flap a link, shut a switch port, stall or cut storage, ATS off', load: async () => (await import('./commands/fault.js')).commands.fault! },
  run: { order: 40, summary: 'run a scenario file: fabric up, steps, expectations, timeline, captures, fabric down', load: async () => (await import('./commands/scenario.js')).commands.run! },
  validate: { order: 40, summary: 'check a topology design: VLANs, trunks, teaming, MTU, MACs, gateways (rule IDs, SARIF)', load: async () => (await import('./commands/validate.js')).commands.validate! },
  probe: { order: 41, summary: 'bring a design up, ping every pair, print the reachability matrix per VLAN, tear down', load: async () => (await import('./commands/validate.js')).commands.probe! },
  diff: { order: 42, summary: 'what a design change does to findings, reachability and single points of failure', load: async () => (await import('./commands/validate.js')).commands.diff! },
  lun: { order: 40, summary: 'create, list, grow and delete LUNs on the storage array', load: async () => (await import('./commands/storage.js')).commands.lun! },
  array: { order: 42, summary: "the arrays' stored data: list the stores, wipe one (delete its LUNs and data)", load: async () => (await import('./commands/array.js')).commands.array! },
  datastore: { order: 43, summary: 'VMFS-like datastores: format, mount, list, inspect, locks, heartbeats', load: async () => (await import('./commands/datastore.js')).commands.datastore! },
  vm: { order: 44, summary: 'power a VM on or off on a host (its files locked on the datastore), vMotion it to another host, or set the guest vNIC MTU, MAC or promiscuous mode', load: async () => (await import('./commands/datastore.js')).commands.vm! },
  'qemu-args': { order: 46, summary: "the QEMU -netdev/-device arguments that put a qemu guest's vNICs on their vfab ports", load: async () => (await import('./commands/qemu.js')).commands['qemu-args']! },
  ha: { order: 45, summary: 'vSphere HA: the primary, host states, heartbeats, protected VMs and restarts (ha status)', load: async () => (await import('./commands/ha.js')).commands.ha! },
  k8s: { order: 50, summary: 'run a fabric on Kubernetes: render its manifests; status, events, control calls and connect (then every command) through its gateway', load: async () => (await import('./commands/k8s.js')).commands.k8s! },
  disk: { order: 41, summary: 'VM disks: write/read files, run a workload, storage paths (fail/restore), status', load: async () => (await import('./commands/storage.js')).commands.disk! },
};
