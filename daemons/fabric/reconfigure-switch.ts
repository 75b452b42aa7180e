// Live changes of physical switches (vfab set port|switch and scenario `set:` steps; docs/reconfigure.md):
// each option becomes an edit of the switch in the running configuration (a port's mode, access VLAN,
// allowed VLANs, native VLAN, shutdown, port-channel membership; the switch's MAC aging), checked with
// every topology rule by changeRunningConfig, then the switch daemon gets the whole new switch model
// (POST /control/config) and applies it at once (lib/pswitch reconfigure()). Leaves out adding or
// removing ports and channels' load balancing (edit the topology and restart).

import { VfabError } from '../../lib/errors.js';
import { switchPath, switchPortPath, type TopologyEdit } from '../../lib/topology/edit.js';
import type { PathSeg } from '../../lib/topology/source.js';
import type { Topology } from '../../lib/topology/model.js';
import { control } from '../common/control-client.js';
import type { SetHandler } from '../cli/commands/set.js';
import { findDaemon, type FabricState } from './state.js';

/** `--channel none`: the port leaves its channel. */
export const NO_CHANNEL = 'none';

type Raw = Record<string, unknown>;
const at = (raw: Raw, path: PathSeg[]): Raw => path.reduce<any>((o, k) => o?.[k], raw) ?? {};

/** The edits that move port `port` of the switch at `swPath` into channel `channel` (or out of any). */
function channelEdits(raw: Raw, swPath: PathSeg[], port: string, channel: string): TopologyEdit[] {
  const channels = (Array.isArray(at(raw, swPath).portChannels) ? at(raw, swPath).portChannels : []) as Raw[];
  const edits: TopologyEdit[] = [];
  const emptied: number[] = [];
  channels.forEach((c, i) => {
    const members = Array.isArray(c.members) ? (c.members as unknown[]) : [];
    const joins = c.name === channel && !members.includes(port);
    const leaves = c.name !== channel && members.includes(port);
    if (joins) edits.push({ path: [...swPath, 'portChannels', i, 'members'], value: [...members, port] });
    if (!leaves) return;
    const rest = members.filter((m) => m !== port);
    if (rest.length === 0) emptied.push(i);
    else edits.push({ path: [...swPath, 'portChannels', i, 'members'], value: rest });
  });
  // a channel left without members goes ("no interface Po1"); highest index first so the others keep theirs
  for (const i of emptied.reverse()) edits.push({ path: [...swPath, 'portChannels', i], remove: true });
  if (channel !== NO_CHANNEL && !channels.some((c) => c.name === channel)) {
    // "channel-group N mode on" on a port creates the channel
    const entry = { name: channel, members: [port] };
    edits.push(channels.length === 0 && !Array.isArray(at(raw, swPath).portChannels)
      ? { path: [...swPath, 'portChannels'], value: [entry] }
      : { path: [...swPath, 'portChannels', channels.length - emptied.length], value: entry });
  }
  return edits;
}

function portEdits(raw: Raw, sw: string, port: string, v: Record<string, unknown>): TopologyEdit[] {
  const p = switchPortPath(raw, sw, port);
  const current = at(raw, p);
  const edits: TopologyEdit[] = [];
  if (v.mode !== undefined) {
    if (current.mode === 'vxlan') throw new VfabError('VFAB_USAGE', `--mode: ${sw} ${port} is a VXLAN tunnel port; its mode is set by vxlan.trunk in the topology`);
    edits.push({ path: [...p, 'mode'], value: v.mode });
    // the settings of the other mode go with it (a topology file may only hold the ones of its mode)
    const drop = v.mode === 'access' ? ['allowedVlans', 'nativeVlan'] : ['vlan'];
    for (const k of drop) if (k in current) edits.push({ path: [...p, k], remove: true });
  }
  if (v.vlan !== undefined) edits.push({ path: [...p, 'vlan'], value: v.vlan });
  if (v['allowed-vlans'] !== undefined) {
    const text = String(v['allowed-vlans']).trim();
    edits.push({ path: [...p, 'allowedVlans'], value: /^\d+$/.test(text) ? Number(text) : text });
  }
  if (v['native-vlan'] !== undefined) edits.push({ path: [...p, 'nativeVlan'], value: v['native-vlan'] });
  if (v.shutdown === 'on') edits.push({ path: [...p, 'shutdown'], value: true });
  if (v.shutdown === 'off' && 'shutdown' in current) edits.push({ path: [...p, 'shutdown'], remove: true });
  if (v.channel !== undefined) edits.push(...channelEdits(raw, switchPath(raw, sw), port, String(v.channel)));
  return edits;
}

const LABELS: Record<string, string> = {
  mode: 'mode', vlan: 'access VLAN', 'allowed-vlans': 'allowed VLANs', 'native-vlan': 'native VLAN', shutdown: 'shutdown', channel: 'channel', 'mac-aging': 'MAC aging (s)',
};

/** "sw1 Gi1/0/1 native VLAN 10, mode trunk": what was asked, for messages and the config-changed event. */
function describe(names: string[], v: Record<string, unknown>): string {
  const parts = Object.keys(LABELS).filter((k) => v[k] !== undefined).map((k) => `${LABELS[k]} ${String(v[k])}`);
  return `${names.join(' ')} ${parts.join(', ')}`;
}

export const switchChange: SetHandler = (verb, names, values) => {
  const [sw, port] = names as [string, string | undefined];
  return {
    what: describe(names, values),
    edits(raw) {
      if (verb === 'switch') {
        const p = switchPath(raw, sw);
        return values['mac-aging'] === undefined ? [] : [{ path: [...p, 'macAgingSeconds'], value: values['mac-aging'] }];
      }
      return portEdits(raw, sw, port!, values);
    },
    async apply(_before: Topology, after: Topology, state: FabricState) {
      const model = after.switches.find((s) => s.name === sw)!;
      return await control<{ changes: string[] }>(findDaemon(state, sw), state.token, 'POST', '/control/config', { what: describe(names, values), switch: model });
    },
  };
};
