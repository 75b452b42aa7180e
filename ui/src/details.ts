// The details panel at the right of the topology: what a click on the drawing selects, fetched from
// /api/node/:name (lib/ui/protocol.ts UiNodeDetails) and shown as tables — a host's vSwitch ports with
// the uplink each uses and why, its uplinks and drops by reason; a switch's ports and MAC table
// (filtered by VLAN and MAC on the server), drops by reason; a VM's vNICs, IPs, ARP cache and disks with
// their datastore lock holder; a link's two ends, state, VLANs and rates — with the actions that apply
// (actions.ts). Leaves out drawing the topology (graph.ts).

import type { UiLink, UiNodeDetails, UiSnapshot } from '../../lib/ui/protocol.js';
import { ApiError, api } from './api.js';
import { endpointActions, vmActions } from './actions.js';
import { h, renderValue, table } from './dom.js';
import { formatRate } from './model.js';

/** What was clicked: a node by its kind, or a link by id. */
export type Selection =
  | { kind: 'host' | 'switch' | 'vm'; name: string; endpoint?: string }
  | { kind: 'link'; id: string }
  | { kind: 'uses'; port: string; uplink: string; reason: string; host: string };

function dropRows(drops: Record<string, Record<string, number>>): HTMLElement | null {
  const rows = Object.entries(drops ?? {}).flatMap(([port, byReason]) => Object.entries(byReason).filter(([, n]) => n > 0).map(([reason, n]) => ({ cells: [port, reason, n], hot: true })));
  return rows.length > 0 ? table(['port', 'reason', 'frames'], rows, [2]) : h('p', { class: 'hint' }, 'no drops');
}

function errorBox(e: unknown): HTMLElement {
  const msg = e instanceof ApiError ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);
  return h('p', { class: 'err' }, msg);
}

function hostDetails(d: Extract<UiNodeDetails, { kind: 'host' }>, endpoint?: string): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (endpoint) out.push(h('h3', {}, endpoint), endpointActions(endpoint));
  for (const vs of d.host.vswitches) {
    out.push(h('h3', {}, `${vs.name} (MTU ${vs.mtu})`), h('p', {}, `teaming: ${vs.teaming}`));
    out.push(table(['uplink', 'link', 'role', 'in use', 'drops'], vs.uplinks.map((u) => ({ cells: [u.name, u.up ? 'up' : 'down', u.role, u.inUse ? 'yes' : '', u.drops], hot: !u.up || u.drops > 0 })), [4]));
    // the reason is a sentence: on its own line under each port, not a narrow column
    out.push(table(['port', 'port group', 'VLAN', 'uplink', 'drops'], vs.ports.flatMap((p) => [
      { cells: [p.name, p.portGroup, p.vlan, p.uplink ?? '-', p.drops], hot: p.drops > 0 || p.uplink === null },
      { cells: [h('span', { class: 'why' }, p.uplinkReason)], why: true },
    ]), [2, 4]));
  }
  if (d.host.vmkernels.length > 0) out.push(h('h3', {}, 'VMkernel ports'), table(['vmk', 'IP', 'MAC', 'port group', 'uplink', 'services'], d.host.vmkernels.map((k) => ({ cells: [k.name, k.ip, k.mac, k.portGroup, k.uplink ?? '-', k.services.join(', ')] }))));
  out.push(h('h3', {}, 'drops by reason (uplinks)'), dropRows(d.uplinkDrops) as HTMLElement);
  out.push(h('h3', {}, 'drops by reason (ports)'), dropRows(d.portDrops) as HTMLElement);
  out.push(h('h3', {}, 'counters'), renderValue(d.counters) as HTMLElement);
  if (d.storage) out.push(h('h3', {}, 'storage'), renderValue(d.storage) as HTMLElement);
  return out;
}

function switchDetails(d: Extract<UiNodeDetails, { kind: 'switch' }>, endpoint: string | undefined, refetch: (q: Record<string, string>) => void, query: Record<string, string>): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (endpoint) out.push(h('h3', {}, endpoint), endpointActions(endpoint));
  out.push(h('p', {}, `${d.switch.macEntries} MACs learned, ${d.switch.macMoves} MAC moves, ${d.switch.macFlaps} flaps, ${d.switch.drops} frames dropped`));
  out.push(h('h3', {}, 'ports'), table(['port', 'mode', 'VLANs', 'native', 'link', 'drops', 'description'], d.switch.ports.map((p) => ({ cells: [p.name, p.mode, p.vlans, p.nativeVlan ?? '', p.shutdown ? 'shutdown' : p.up ? 'up' : 'down', p.drops, p.description], hot: !p.up || p.drops > 0 })), [5]));
  const vlan = h('input', { id: 'mac-vlan', placeholder: 'VLAN', 'aria-label': 'filter MAC table by VLAN', value: query.vlan ?? '' });
  const mac = h('input', { id: 'mac-mac', placeholder: 'MAC (prefix)', 'aria-label': 'filter MAC table by MAC', value: query.mac ?? '' });
  // asked of the server on Enter or the button only: a reload while the user types would redraw the panel
  const form = h('form', { class: 'filters' }, vlan, mac, h('button', { type: 'submit' }, 'filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    refetch({ vlan: vlan.value.trim(), mac: mac.value.trim() });
  });
  out.push(h('h3', {}, 'MAC table'), form);
  out.push(table(['VLAN', 'MAC', 'port', 'age', 'moves'], d.macTable.map((r) => ({ cells: [r.vlan, r.mac, r.port, r.ageMs === undefined ? '' : `${Math.round(r.ageMs / 1000)} s`, r.moves ?? ''], hot: (r.moves ?? 0) > 0 })), [0, 4]));
  out[out.length - 1]!.id = 'mac-table';
  if (d.truncated) out.push(h('p', { class: 'hint' }, 'more rows than shown: narrow the filter'));
  out.push(h('h3', {}, 'drops by reason'), dropRows(d.portDrops) as HTMLElement);
  out.push(h('h3', {}, 'counters'), renderValue(d.counters) as HTMLElement);
  return out;
}

function vmDetails(d: Extract<UiNodeDetails, { kind: 'vm' }>): HTMLElement[] {
  const vm = d.vm;
  const out: HTMLElement[] = [h('p', {}, `on host ${vm.host}, powered ${vm.poweredOn ? 'on' : 'off'}`), vmActions(vm.name, vm.poweredOn)];
  for (const n of vm.nics) {
    out.push(h('h3', {}, `vNIC ${n.id}`), table(['', ''], [
      { cells: ['MAC', n.mac] },
      { cells: ['IP', n.ip ?? '-'] },
      { cells: ['port group', `${n.portGroup} (VLAN ${n.vlan ?? '-'}) on ${n.vswitch}`] },
      { cells: ['active uplink', n.activeUplink ?? 'none'], hot: n.activeUplink === null },
      { cells: ['why', n.uplinkReason || '-'] },
    ]), endpointActions(n.id, { link: false }));
  }
  out.push(h('h3', {}, 'ARP cache'), renderValue(d.arp) as HTMLElement);
  out.push(h('h3', {}, 'disks'), vm.disks.length === 0 ? h('p', { class: 'hint' }, 'no disks') : table(['disk', 'datastore', 'LUN', 'lock holder'], vm.disks.map((k) => ({ cells: [k.name, k.datastore ?? '-', k.lun ?? '-', k.lockHolder ?? '-'] }))));
  out.push(h('h3', {}, 'counters'), renderValue(d.counters) as HTMLElement);
  if (d.guest) out.push(h('h3', {}, 'guest'), renderValue(d.guest) as HTMLElement);
  return out;
}

function linkDetails(l: UiLink): HTMLElement[] {
  const rate = (r: { fps: number; bps: number }) => `${formatRate(r.fps, ' f/s') || '0 f/s'}, ${formatRate(r.bps, 'bit/s') || '0 bit/s'}`;
  const out: HTMLElement[] = [
    h('p', {}, `state: ${l.state}${l.vlans ? `, VLANs ${l.vlans}` : ''}${l.nativeVlan !== null ? `, native ${l.nativeVlan}` : ''}`),
    table(['end', 'carrier', 'admin'], [l.a, l.b].map((e) => ({ cells: [e.endpoint, e.carrier ? 'up' : 'down', e.adminUp ? 'up' : 'down'], hot: !e.carrier }))),
    table(['direction', 'rate'], [{ cells: [`${l.a.endpoint} → ${l.b.endpoint}`, rate(l.rate.ab)] }, { cells: [`${l.b.endpoint} → ${l.a.endpoint}`, rate(l.rate.ba)] }]),
    h('p', {}, `${l.drops} frames lost on this cable, ${l.macMoves} MAC moves at its switch ends`),
  ];
  if (l.impairment) out.push(h('h3', {}, 'impairment'), renderValue(l.impairment) as HTMLElement);
  if (l.flap) out.push(h('h3', {}, 'flapping'), renderValue(l.flap) as HTMLElement);
  for (const e of [l.a, l.b]) out.push(h('h3', {}, e.endpoint), endpointActions(e.endpoint));
  return out;
}

export interface Details {
  show(sel: Selection | null): void;
  /** Re-reads the selection (after a delta touching it), at most once per DETAILS_REFRESH_MS. */
  touched(names: Set<string>): void;
}

/** The panel re-reads its node at most this often while deltas keep touching it. */
export const DETAILS_REFRESH_MS = 1000;

export function createDetails(snap: () => UiSnapshot | null): Details {
  const el = document.getElementById('details')!;
  let current: Selection | null = null;
  let query: Record<string, string> = {};
  let lastLoad = 0;
  let token = 0;
  let deferred: ReturnType<typeof setTimeout> | undefined;

  const reloadUnlessTyping = () => {
    // inputs being typed into are not replaced under the user's fingers
    if (el.contains(document.activeElement) && document.activeElement instanceof HTMLInputElement) return;
    void load();
  };

  async function load(): Promise<void> {
    const sel = current;
    const my = ++token;
    lastLoad = Date.now();
    if (!sel) return;
    if (sel.kind === 'link') {
      const l = snap()?.links.find((x) => x.id === sel.id);
      el.replaceChildren(h('h2', {}, `link ${sel.id}`), ...(l ? linkDetails(l) : [h('p', { class: 'err' }, 'this link is gone')]));
      return;
    }
    if (sel.kind === 'uses') {
      el.replaceChildren(h('h2', {}, `${sel.port} uses ${sel.host}.${sel.uplink}`), h('p', {}, `why: ${sel.reason || '-'}`), h('p', { class: 'hint' }, 'Teaming picks the uplink; take it down to see the failover.'), endpointActions(`${sel.host}.${sel.uplink}`));
      return;
    }
    try {
      const d = await api.node(sel.name, sel.kind === 'switch' ? query : {});
      if (my !== token) return; // a newer selection won
      const title = h('h2', {}, `${d.kind} ${d.name}`);
      if (d.kind === 'host') el.replaceChildren(title, ...hostDetails(d, sel.endpoint));
      else if (d.kind === 'switch') el.replaceChildren(title, ...switchDetails(d, sel.endpoint, (q) => { query = q; void load(); }, query));
      else if (d.kind === 'vm') el.replaceChildren(title, ...vmDetails(d));
      else el.replaceChildren(title, renderValue(d.status) as HTMLElement);
    } catch (e) {
      if (my === token) el.replaceChildren(h('h2', {}, sel.name), errorBox(e));
    }
  }

  return {
    show(sel) {
      current = sel;
      query = {};
      if (!sel) el.replaceChildren(h('p', { class: 'hint' }, 'Click a host, switch, port, VM or link for its details and actions.'));
      else void load();
    },
    touched(names) {
      if (!current) return;
      const key = current.kind === 'link' ? current.id : current.kind === 'uses' ? current.host : current.name;
      if (!names.has(key)) return;
      // too soon after the last read: read once more when the interval is over (a failover's host
      // change often lands just after the click that showed the link change)
      const wait = lastLoad + DETAILS_REFRESH_MS - Date.now();
      if (wait > 0) {
        if (!deferred) deferred = setTimeout(() => {
          deferred = undefined;
          reloadUnlessTyping();
        }, wait);
        return;
      }
      reloadUnlessTyping();
    },
  };
}
