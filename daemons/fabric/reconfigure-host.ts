// Live changes of hosts (vfab set vswitch|portgroup|vnic|host; docs/reconfigure.md): each option becomes
// an edit of the running configuration (checked by loading the result with every topology rule, so an
// invalid value, an unknown name or a teaming list naming an uplink the vSwitch lacks is refused before
// anything changes), then the host daemon gets the whole new model of the host (POST /control/config)
// and applies it live (lib/host/host.ts reconfigure). Leaves out `--uplinks` (a vSwitch's uplinks are
// cabled by the topology's links; changing them live is refused). `vnic --mtu` sets the guest's MTU as `vfab vm mtu` does.

import { applyVnicMtu } from './guest-actions.js';
import { hostPath, portGroupPath, vmNicPath, vswitchPath, type TopologyEdit } from '../../lib/topology/edit.js';
import type { PathSeg } from '../../lib/topology/source.js';
import type { Topology } from '../../lib/topology/model.js';
import { control } from '../common/control-client.js';
import type { SetHandler, SetVerb } from '../cli/commands/set.js';
import { UsageError } from '../cli/io.js';
import { findDaemon, type FabricState } from './state.js';

type Values = Record<string, unknown>;

/** "vmnic0,vmnic1" (or "-" for none) as the list a teaming field takes. */
function uplinkList(text: string): string[] {
  const t = text.trim();
  if (t === '-' || t === '') return [];
  return t.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

const onOff = (v: unknown): boolean => v === 'on';

/** Teaming edits (vSwitch policy or a port group's override) under `base`. */
function teamingEdits(base: PathSeg[], v: Values): TopologyEdit[] {
  const at = (k: string): PathSeg[] => [...base, 'teaming', k];
  const out: TopologyEdit[] = [];
  if (v['load-balancing'] !== undefined) out.push({ path: at('loadBalancing'), value: v['load-balancing'] });
  if (v.active !== undefined) out.push({ path: at('active'), value: uplinkList(String(v.active)) });
  if (v.standby !== undefined) out.push({ path: at('standby'), value: uplinkList(String(v.standby)) });
  if (v.failback !== undefined) out.push({ path: at('failback'), value: onOff(v.failback) });
  if (v.notify !== undefined) out.push({ path: at('notifySwitches'), value: onOff(v.notify) });
  if (v['failure-detection'] !== undefined) out.push({ path: at('failureDetection'), value: v['failure-detection'] });
  return out;
}

function securityEdits(base: PathSeg[], v: Values): TopologyEdit[] {
  const out: TopologyEdit[] = [];
  for (const [opt, field] of [['promiscuous', 'promiscuous'], ['mac-changes', 'macChanges'], ['forged-transmits', 'forgedTransmits']] as const) {
    if (v[opt] !== undefined) out.push({ path: [...base, 'security', field], value: v[opt] });
  }
  return out;
}

function shapingEdits(base: PathSeg[], v: Values): TopologyEdit[] {
  const out: TopologyEdit[] = [];
  const at = (k: string): PathSeg[] => [...base, 'trafficShaping', k];
  if (v.shaping !== undefined) out.push({ path: at('enabled'), value: onOff(v.shaping) });
  if (v['average-kbps'] !== undefined) out.push({ path: at('averageKbps'), value: v['average-kbps'] });
  if (v['peak-kbps'] !== undefined) out.push({ path: at('peakKbps'), value: v['peak-kbps'] });
  if (v['burst-kb'] !== undefined) out.push({ path: at('burstKB'), value: v['burst-kb'] });
  return out;
}

/** The name of the host a VM runs on, from the running configuration's raw document. */
function hostOfVm(raw: Record<string, unknown>, vm: string, nic: string): string {
  const p = vmNicPath(raw, vm, nic); // VFAB_NOT_FOUND with did-you-mean for an unknown VM or vNIC
  const hosts = raw.hosts as Array<{ name: string }>;
  return hosts[p[1] as number]!.name;
}

function describe(verb: SetVerb, names: string[], typed: Record<string, string | undefined>): string {
  const what = { vswitch: 'vSwitch', portgroup: 'port group', vnic: 'vNIC', host: 'host' }[verb as 'vswitch'] ?? verb;
  const opts = Object.entries(typed).filter(([k, v]) => k !== 'json' && v !== undefined).map(([, v]) => v!);
  return `${names.join(' ')} ${what === 'host' ? '' : `(${what}) `}${opts.join(' ')}`.replace(/\s+/g, ' ').trim();
}

export const hostChange: SetHandler = (verb, names, values, typed) => {
  if (values.uplinks !== undefined) {
    throw new UsageError(`${typed.uplinks ?? '--uplinks'}: a vSwitch's uplinks are cabled by the topology's links and cannot change on a running fabric; change the topology file and run vfab up again (--active/--standby choose among the vSwitch's uplinks)`);
  }
  let host = names[0]!;
  const what = describe(verb, names, typed);
  return {
    what,
    edits(raw) {
      switch (verb) {
        case 'vswitch': {
          const p = vswitchPath(raw, names[0]!, names[1]!);
          return [...(values.mtu !== undefined ? [{ path: [...p, 'mtu'], value: values.mtu }] : []), ...teamingEdits(p, values), ...securityEdits(p, values)];
        }
        case 'portgroup': {
          const p = portGroupPath(raw, names[0]!, names[1]!);
          return [...(values.vlan !== undefined ? [{ path: [...p, 'vlan'], value: values.vlan }] : []), ...teamingEdits(p, values), ...securityEdits(p, values), ...shapingEdits(p, values)];
        }
        case 'vnic': {
          const p = vmNicPath(raw, names[0]!, names[1]!);
          host = hostOfVm(raw, names[0]!, names[1]!);
          const out: TopologyEdit[] = [];
          if (values.portgroup !== undefined) out.push({ path: [...p, 'portGroup'], value: values.portgroup });
          if (values.mac !== undefined) out.push({ path: [...p, 'mac'], value: values.mac });
          if (values.mtu !== undefined) out.push({ path: [...p, 'mtu'], value: values.mtu });
          return out;
        }
        default: {
          const p = hostPath(raw, names[0]!);
          return values['reverse-path-promisc'] === '1'
            ? [{ path: [...p, 'advanced', 'reversePathFwdCheckPromisc'], value: 1 }]
            : [{ path: [...p, 'advanced'], remove: true }];
        }
      }
    },
    async apply(_before: Topology, after: Topology, state: FabricState) {
      const model = after.hosts.find((h) => h.name === host)!;
      // the guest's interface MTU is the VM's own setting (its stack), applied like `vfab vm mtu`
      if (verb === 'vnic' && values.mtu !== undefined) await applyVnicMtu(state, names[0]!, names[1]!, values.mtu as number);
      const reply = await control<{ changes: string[] }>(findDaemon(state, host), state.token, 'POST', '/control/config', { what, host: model });
      return { host, changes: reply.changes };
    },
  };
};
