// `vfab vm mtu|mac|promiscuous VM[.NIC] VALUE`: guest actions on a running builtin VM (the guest sets
// its interface MTU, changes its MAC, turns promiscuous mode on or off), like `ip link set` inside it.
// Argument checks and printing; the call is daemons/fabric/guest-actions.ts. Leaves out power and
// migration (the rest of `vfab vm`, daemons/cli/commands/datastore.ts).

import { MIN_MTU_BYTES, maxPingPayloadBytes } from '../../lib/endpoint/vm-endpoint.js';
import { MAX_MTU_BYTES } from '../../lib/wire/ethernet.js';
import { parseMac, macToString } from '../../lib/wire/mac.js';
import { readState } from '../fabric/state.js';
import { applyGuestSetting, type GuestSetting } from '../fabric/guest-actions.js';
import { type CliIo, printJson, UsageError, EXIT_OK } from './io.js';

export const GUEST_VERBS = ['mtu', 'mac', 'promiscuous'] as const;
export type GuestVerb = (typeof GUEST_VERBS)[number];

/** What `vfab vm VERB VM VALUE` asks of the guest; UsageError naming the value as typed. */
export function parseGuestSetting(verb: GuestVerb, value: string): GuestSetting {
  if (verb === 'mtu') {
    const mtu = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(mtu >= MIN_MTU_BYTES && mtu <= MAX_MTU_BYTES)) throw new UsageError(`MTU ${JSON.stringify(value)}: give bytes ${MIN_MTU_BYTES}-${MAX_MTU_BYTES} (e.g. 9000)`);
    return { mtu };
  }
  if (verb === 'mac') {
    let mac: number;
    try {
      mac = parseMac(value);
    } catch {
      throw new UsageError(`MAC ${JSON.stringify(value)}: give six hex bytes, e.g. 00:50:56:00:10:99`);
    }
    return { mac: macToString(mac) };
  }
  if (value !== 'on' && value !== 'off') throw new UsageError(`promiscuous ${JSON.stringify(value)}: give on or off`);
  return { promiscuous: value === 'on' };
}

/** Runs `vfab vm VERB TARGET VALUE`; TARGET is VM (its first vNIC with an address) or VM.NIC. */
export async function runGuestVerb(verb: GuestVerb, target: string, value: string | undefined, json: boolean, io: CliIo): Promise<number> {
  if (value === undefined) throw new UsageError(`vm ${verb} needs a value: vfab vm ${verb} ${target} ${verb === 'mtu' ? '9000' : verb === 'mac' ? '00:50:56:00:10:99' : 'on|off'}`);
  const setting = parseGuestSetting(verb, value);
  const dot = target.indexOf('.');
  const vm = dot < 0 ? target : target.slice(0, dot);
  const nic = dot < 0 ? undefined : target.slice(dot + 1);
  const r = await applyGuestSetting(readState(), vm, nic, setting);
  if (json) return printJson(io, r), EXIT_OK;
  const nicName = typeof r.nic === 'string' ? r.nic : (nic ?? `nic index ${r.nic}`);
  if ('mtu' in setting) io.out(`${vm}.${nicName}: MTU ${r.mtu} (vfab ping --size up to ${maxPingPayloadBytes(r.mtu!)}; the vSwitch and switches on the path must carry it too)`);
  else if ('mac' in setting) io.out(`${vm}.${nicName}: MAC ${r.mac} (the port group's MAC address changes policy decides whether frames pass)`);
  else io.out(`${vm}.${nicName}: promiscuous ${r.promiscuous ? 'on' : 'off'} (the port group's promiscuous policy decides what it sees)`);
  return EXIT_OK;
}
