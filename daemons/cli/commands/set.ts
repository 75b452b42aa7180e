// vfab set: change the running fabric's configuration as an admin would on ESXi and on a switch
// (docs/reconfigure.md), and vfab export: write the running configuration back as a topology file. One
// verb per kind of object; every change is first checked with the rules of a topology file (applied to
// the running configuration: daemons/fabric/running-config.ts), then applied live by the daemon that owns
// the object (which logs a config-changed event), then saved. An invalid change or one a daemon refuses
// changes nothing. The per-object edits and the daemons' calls live in daemons/fabric/reconfigure-*.ts.

import fs from 'node:fs';
import { readState } from '../../fabric/state.js';
import { changeRunningConfig, readRunningConfig, type ConfigChange } from '../../fabric/running-config.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, UsageError, EXIT_OK } from '../io.js';
import { parseCommandLine, type Parsed } from '../options.js';

export const SET_VERBS = ['port', 'switch', 'vswitch', 'portgroup', 'vnic', 'host'] as const;
export type SetVerb = (typeof SET_VERBS)[number];
const onOff = ['on', 'off'] as const;
const acceptReject = ['accept', 'reject'] as const;

export const SET_OPTIONS = {
  // physical-switch port (vfab set port SWITCH PORT ...)
  mode: { type: 'enum', values: ['access', 'trunk'], verbs: ['port'], description: 'access: untagged in --vlan; trunk: tagged for --allowed-vlans, --native-vlan untagged' },
  vlan: { type: 'int', min: 0, max: 4095, verbs: ['port', 'portgroup'], description: "port: its access VLAN (1-4094); portgroup: 0 untagged (EST), 1-4094 (VST), 4095 guest tagging (VGT)" },
  'allowed-vlans': { type: 'string', value: 'LIST', verbs: ['port'], description: 'VLANs a trunk carries, e.g. 10,20,100-110 or all' },
  'native-vlan': { type: 'int', min: 1, max: 4094, verbs: ['port'], description: "the trunk's untagged VLAN" },
  shutdown: { type: 'enum', values: onOff, verbs: ['port'], description: 'on: "shutdown" (no link); off: "no shutdown"' },
  channel: { type: 'string', value: 'NAME', verbs: ['port'], description: 'make the port a member of port-channel NAME (none: leave its channel)' },
  // physical switch (vfab set switch SWITCH ...)
  'mac-aging': { type: 'int', min: 10, max: 1_000_000, value: 'SECONDS', verbs: ['switch'], description: 'MAC address-table aging time, seconds (IOS: 10-1000000; default 300)' },
  // vSwitch (vfab set vswitch HOST VSWITCH ...) and port-group teaming overrides
  mtu: { type: 'int', min: 68, max: 9000, verbs: ['vswitch', 'vnic'], description: 'vswitch: its MTU (1280-9000); vnic: the guest interface MTU' },
  uplinks: { type: 'string', value: 'LIST', verbs: ['vswitch'], description: 'refused on a running fabric (uplinks are cabled by the topology\'s links:); --active/--standby choose among them' },
  'load-balancing': { type: 'enum', values: ['srcPortId', 'srcMac', 'ipHash', 'explicit'], verbs: ['vswitch', 'portgroup'], description: 'teaming load balancing (portgroup: an override)' },
  active: { type: 'string', value: 'LIST', verbs: ['vswitch', 'portgroup'], description: 'active uplinks in order, e.g. vmnic0,vmnic1' },
  standby: { type: 'string', value: 'LIST', verbs: ['vswitch', 'portgroup'], description: 'standby uplinks in order (- for none)' },
  failback: { type: 'enum', values: onOff, verbs: ['vswitch', 'portgroup'], description: 'return to a recovered active uplink' },
  notify: { type: 'enum', values: onOff, verbs: ['vswitch', 'portgroup'], description: 'notify switches (RARPs) when a port moves' },
  'failure-detection': { type: 'enum', values: ['linkStatus', 'beaconProbing'], verbs: ['vswitch', 'portgroup'], description: 'how uplink failure is detected' },
  // security policy (vswitch or port group) and shaping (port group)
  promiscuous: { type: 'enum', values: acceptReject, verbs: ['vswitch', 'portgroup'], description: 'promiscuous mode' },
  'mac-changes': { type: 'enum', values: acceptReject, verbs: ['vswitch', 'portgroup'], description: 'MAC address changes' },
  'forged-transmits': { type: 'enum', values: acceptReject, verbs: ['vswitch', 'portgroup'], description: 'forged transmits' },
  shaping: { type: 'enum', values: onOff, verbs: ['portgroup'], description: 'traffic shaping (with --average-kbps, --peak-kbps, --burst-kb)' },
  'average-kbps': { type: 'int', min: 1, max: 100_000_000, verbs: ['portgroup'], description: 'shaping average bandwidth, Kbit/s' },
  'peak-kbps': { type: 'int', min: 1, max: 100_000_000, verbs: ['portgroup'], description: 'shaping peak bandwidth, Kbit/s' },
  'burst-kb': { type: 'int', min: 1, max: 100_000_000, verbs: ['portgroup'], description: 'shaping burst size, KB' },
  // a VM's vNIC (vfab set vnic VM NIC ...)
  portgroup: { type: 'string', value: 'NAME', verbs: ['vnic'], description: 'reconnect the vNIC to port group NAME of its host' },
  mac: { type: 'string', value: 'MAC', verbs: ['vnic'], description: "the vNIC's MAC address (as configured, like editing the .vmx)" },
  // a host's advanced options (vfab set host HOST ...)
  'reverse-path-promisc': { type: 'enum', values: ['0', '1'], verbs: ['host'], description: 'Net.ReversePathFwdCheckPromisc' },
  json: JSON_OPTION,
} as const;

/** What one verb's module gives `vfab set`: the change for the parsed command line. */
export type SetHandler = (verb: SetVerb, names: string[], values: Record<string, unknown>, typed: Record<string, string | undefined>) => ConfigChange<Record<string, unknown>>;

const NAMES: Record<SetVerb, string[]> = {
  port: ['SWITCH', 'PORT'], switch: ['SWITCH'], vswitch: ['HOST', 'VSWITCH'], portgroup: ['HOST', 'PORTGROUP'], vnic: ['VM', 'NIC'], host: ['HOST'],
};

async function handlerFor(verb: SetVerb): Promise<SetHandler> {
  if (verb === 'port' || verb === 'switch') return (await import('../../fabric/reconfigure-switch.js')).switchChange;
  return (await import('../../fabric/reconfigure-host.js')).hostChange;
}

const set = defineCommand(
  {
    usage: ['port SWITCH PORT [options]', 'switch SWITCH [options]', 'vswitch HOST VSWITCH [options]', 'portgroup HOST PORTGROUP [options]', 'vnic VM NIC [options]', 'host HOST [options]'],
    description: `Changes one object of the running fabric, live, like an admin on ESXi or on a switch: a switch port's
mode and VLANs, a vSwitch's MTU, teaming and security, a port group's VLAN, security, teaming override
and shaping, a VM's vNIC. The change is checked with the rules of a topology file first (an invalid change
is refused and changes nothing), applied by the daemon that owns the object (a config-changed event),
and kept in the running configuration (vfab export writes it out; vfab status shows it).`,
    options: SET_OPTIONS,
    verbs: SET_VERBS,
    args: { min: 2, max: 3 },
    examples: [
      'set port sw1 Gi1/0/1 --native-vlan 10',
      'set portgroup esx1 VM-10 --vlan 11          # the port group moves to VLAN 11, its VMs with it',
      'set vswitch esx1 vSwitch0 --mtu 9000 --load-balancing ipHash',
    ],
    exits: {
      1: 'the daemon refused or failed to apply the change (nothing changed)',
      2: 'bad usage, an unknown object, or a change that would make an invalid topology (the problems are listed; nothing changed)',
    },
  },
  async (parsed, io) => {
    const { values } = parsed;
    const change = await changeFor(parsed);
    const { result } = await changeRunningConfig(readState(), change);
    if (values.json) printJson(io, { changed: change.what, ...result });
    else io.out(`${change.what}: done`);
    return EXIT_OK;
  },
);

/** The change a parsed `vfab set` line asks for (no I/O yet): the one path of the CLI and scenario `set:` steps. */
async function changeFor({ positionals, values, typed }: Parsed<typeof SET_OPTIONS>): Promise<ConfigChange<Record<string, unknown>>> {
  const [verb, ...names] = positionals as [SetVerb, ...string[]];
  const want = NAMES[verb];
  if (names.length !== want.length) throw new UsageError(`set ${verb} takes ${want.join(' ')}, got ${names.length ? names.join(' ') : 'nothing'}`);
  const given = Object.keys(typed).filter((k) => k !== 'json');
  if (given.length === 0) throw new UsageError(`set ${verb} ${names.join(' ')}: nothing to change (see vfab set --help for its options)`);
  return (await handlerFor(verb))(verb, names, values as Record<string, unknown>, typed as Record<string, string | undefined>);
}

/**
 * The change of a `vfab set` command line given as words without `set` (scenario `set:` steps):
 * parsed with the CLI's own option table, so a step takes exactly what the command takes.
 */
export async function setChangeFromArgs(argv: readonly string[]): Promise<ConfigChange<Record<string, unknown>>> {
  const parsed = parseCommandLine('set', set.spec, argv);
  if (parsed.help) throw new UsageError('--help is not a change');
  return await changeFor(parsed);
}

const exportCommand = defineCommand(
  {
    usage: ['[FILE]'],
    description: `Writes the running configuration (the topology the fabric was started from, with every vfab set
change in it, comments kept) to FILE, or to stdout. vfab up FILE gives the same fabric.`,
    options: {},
    args: { min: 0, max: 1 },
    examples: ['export running.yaml', 'export | diff topologies/quickstart.yaml -'],
  },
  async ({ positionals }, io) => {
    const text = readRunningConfig(readState());
    if (positionals[0] !== undefined) fs.writeFileSync(positionals[0], text);
    else io.out(text);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { set, export: exportCommand };
