// The physical-switch engine's configuration from a topology file's switch (lib/topology/model.ts):
// access ports keep their VLAN, trunks their native VLAN and allowed list ('all' when it spans 1-4094),
// the switch MTU applies to every port, port-channels are static ("mode on").

import type { PhysicalSwitch as SwitchModel } from '../topology/model.js';
import { expandVlanRanges } from '../topology/model.js';
import type { PhysicalSwitchConfig } from './config.js';

export function switchConfigFromModel(m: SwitchModel): PhysicalSwitchConfig {
  return {
    name: m.name,
    macAgingMs: m.macAgingMs,
    ports: m.ports.map((p) => ({
      name: p.name,
      mode: p.mode,
      ...(p.mode === 'access'
        ? { accessVlan: p.accessVlan }
        : { nativeVlan: p.nativeVlan, allowedVlans: p.allowedVlans.length === 1 && p.allowedVlans[0]![0] <= 1 && p.allowedVlans[0]![1] >= 4094 ? ('all' as const) : expandVlanRanges(p.allowedVlans) }),
      mtuBytes: m.mtu,
      shutdown: p.shutdown,
      description: p.description,
    })),
    portChannels: m.portChannels.map((pc) => ({ name: pc.name, members: pc.members, mode: 'on' as const, loadBalance: pc.loadBalance })),
  };
}
