// The topology's graph elements and their places, computed from the page's view (model.ts): a layered
// layout of compound nodes. Physical switches sit in the top row, each a box of its ports; hosts sit below
// in groups (the hosts cabled to the same switches, in a grid under those switches: layerOrder), each a
// box with its vmnics on top, then its vSwitches, each holding its port groups, each
// holding its vNIC ports (VMs and VMkernel ports). Links join vmnics to switch ports and switch ports to
// each other; inside a host, one edge per vNIC port to the uplink it uses now. Places are computed here,
// not by a force layout, so the drawing is the same on every load, takes no time for 60 hosts, and a
// change (a failover, a link down) never moves a node. Pure, no DOM (unit-tested in test/ui/). Leaves out
// styles (graph.ts).

import type { UiHost, UiLink, UiSnapshot, UiSwitch } from '../../lib/ui/protocol.js';
import { formatRate, linkFps } from './model.js';

/** A vNIC port as drawn: a VM's vNIC or a VMkernel port, with the uplink it uses now and why. */
interface DrawnPort {
  name: string;
  portGroup: string;
  vlan: number;
  uplink: string | null;
  reason: string;
  mac: string;
  ip: string;
  on: boolean;
  vmk: boolean;
  drops: number;
}

/** Per vSwitch, the ports to draw: every VM vNIC on it (powered off too) and every other port it has (VMkernel). */
export function drawnPorts(h: UiHost, vswitch: string): DrawnPort[] {
  const vs = h.vswitches.find((v) => v.name === vswitch);
  const out: DrawnPort[] = [];
  const seen = new Set<string>();
  for (const vm of h.vms) {
    for (const n of vm.nics) {
      if (n.vswitch !== vswitch) continue;
      const port = vs?.ports.find((p) => p.name === n.id);
      seen.add(n.id);
      out.push({ name: n.id, portGroup: n.portGroup, vlan: n.vlan ?? port?.vlan ?? 0, uplink: n.activeUplink, reason: n.uplinkReason, mac: n.mac, ip: n.ip ?? '', on: vm.poweredOn, vmk: false, drops: port?.drops ?? 0 });
    }
  }
  for (const p of vs?.ports ?? []) {
    if (seen.has(p.name)) continue;
    const k = h.vmkernels.find((v) => `${h.name}.${v.name}` === p.name || v.name === p.name);
    out.push({ name: p.name, portGroup: p.portGroup, vlan: p.vlan, uplink: p.uplink, reason: p.uplinkReason, mac: p.mac ?? '', ip: k?.ip ?? '', on: true, vmk: true, drops: p.drops });
  }
  return out;
}

export interface ElementSpec {
  group: 'nodes' | 'edges';
  data: Record<string, unknown> & { id: string };
  position?: { x: number; y: number };
  classes: string;
}

/** Spacing of the drawing, in graph units (pixels at zoom 1). */
export const NODE_GAP = 78;
export const ROW_GAP = 56;
/** Room between host boxes: a host's box is its contents plus three levels of padding (host, vSwitch,
 * port group, 14 px a side each in graph.ts), then a visible gap. */
export const HOST_GAP = 3 * 2 * 14 + 40;
export const LAYER_GAP = 220;
export const SWITCH_GAP = 200;
/** vNIC ports per row inside a port group. */
export const PORTS_PER_ROW = 3;
/** Switch ports per row inside a switch box. */
export const SWITCH_PORTS_PER_ROW = 12;

export const hostId = (host: string) => `host:${host}`;
export const switchId = (sw: string) => `switch:${sw}`;
export const vswitchId = (host: string, vs: string) => `vswitch:${host}/${vs}`;
export const portGroupId = (host: string, vs: string, pg: string) => `pg:${host}/${vs}/${pg}`;
/** A vmnic's node id is its endpoint name, as the CLI writes it: `esx1.vmnic0`. */
export const vmnicId = (host: string, vmnic: string) => `${host}.${vmnic}`;
/** A switch port's node id is its endpoint name: `sw1.Gi1/0/1`. */
export const switchPortId = (sw: string, port: string) => `${sw}.${port}`;
/** A vNIC port's node id is its endpoint name: `web1.nic0`. */
export const vnicNodeId = (port: string) => port;
export const uplinkEdgeId = (port: string) => `uses:${port}`;
export const linkEdgeId = (id: string) => `link:${id}`;

interface Box {
  width: number;
  height: number;
  place(x: number, y: number, out: ElementSpec[]): void;
}

function hostBox(h: UiHost): Box {
  const vmnics = [...new Set(h.vswitches.flatMap((vs) => vs.uplinks.map((u) => u.name)))];
  const upByName = new Map(h.vswitches.flatMap((vs) => vs.uplinks.map((u) => [u.name, u.up] as const)));
  // each vSwitch: port groups side by side, each a grid of its ports
  const vsBoxes = h.vswitches.map((vs) => {
    const all = drawnPorts(h, vs.name);
    const pgs = vs.portGroups.map((pg) => {
      const ports = all.filter((p) => p.portGroup === pg.name);
      const cols = Math.max(1, Math.min(PORTS_PER_ROW, ports.length));
      const rows = Math.max(1, Math.ceil(ports.length / PORTS_PER_ROW));
      return { pg, ports, width: cols * NODE_GAP, height: rows * ROW_GAP };
    });
    const width = Math.max(NODE_GAP, pgs.reduce((s, p) => s + p.width + 24, -24));
    const height = Math.max(ROW_GAP, ...pgs.map((p) => p.height)) + 30;
    return { vs, pgs, width, height };
  });
  const width = Math.max(vmnics.length * NODE_GAP, ...vsBoxes.map((b) => b.width), NODE_GAP * 2);
  const height = ROW_GAP + vsBoxes.reduce((s, b) => s + b.height + 30, 0);
  return {
    width,
    height,
    place(x, y, out) {
      out.push({ group: 'nodes', data: { id: hostId(h.name), label: h.reachable ? h.name : `${h.name} (not answering)`, kind: 'host', name: h.name }, classes: `host${h.reachable ? '' : ' unreachable'}` });
      const x0 = x + (width - vmnics.length * NODE_GAP) / 2 + NODE_GAP / 2;
      vmnics.forEach((n, i) => {
        out.push({
          group: 'nodes',
          data: { id: vmnicId(h.name, n), parent: hostId(h.name), label: n, kind: 'vmnic', name: vmnicId(h.name, n) },
          position: { x: x0 + i * NODE_GAP, y },
          classes: `vmnic ${upByName.get(n) === false ? 'down' : 'up'}`,
        });
      });
      let vy = y + ROW_GAP + 20;
      for (const b of vsBoxes) {
        const vsId = vswitchId(h.name, b.vs.name);
        out.push({ group: 'nodes', data: { id: vsId, parent: hostId(h.name), label: b.vs.name, kind: 'vswitch', name: `${h.name}/${b.vs.name}`, host: h.name, teaming: b.vs.teaming }, classes: 'vswitch' });
        let px = x + (width - b.width) / 2;
        for (const p of b.pgs) {
          const pgId = portGroupId(h.name, b.vs.name, p.pg.name);
          out.push({ group: 'nodes', data: { id: pgId, parent: vsId, label: `${p.pg.name} (VLAN ${p.pg.vlan})`, kind: 'portgroup', host: h.name }, classes: 'portgroup' });
          if (p.ports.length === 0) {
            // an empty port group still gets its box: a hidden placeholder holds its place
            out.push({ group: 'nodes', data: { id: `${pgId}#empty`, parent: pgId, label: '', kind: 'placeholder' }, position: { x: px + NODE_GAP / 2, y: vy + 20 }, classes: 'placeholder' });
          }
          p.ports.forEach((port, i) => {
            const col = i % PORTS_PER_ROW;
            const row = Math.floor(i / PORTS_PER_ROW);
            const vm = port.name.split('.')[0]!;
            const label = port.vmk ? port.name.slice(port.name.indexOf('.') + 1) : port.name.endsWith('.nic0') ? vm : port.name;
            out.push({
              group: 'nodes',
              data: { id: vnicNodeId(port.name), parent: pgId, label, kind: port.vmk ? 'vmk' : 'vnic', name: port.name, vm: port.vmk ? '' : vm, host: h.name, vlan: port.vlan, uplink: port.uplink ?? '', reason: port.reason, mac: port.mac, ip: port.ip, drops: port.drops },
              position: { x: px + NODE_GAP / 2 + col * NODE_GAP, y: vy + 20 + row * ROW_GAP },
              classes: `vnic${port.vmk ? ' vmk' : ''}${port.on ? '' : ' off'}`,
            });
            if (port.uplink && vmnics.includes(port.uplink)) {
              out.push({
                group: 'edges',
                data: { id: uplinkEdgeId(port.name), source: vnicNodeId(port.name), target: vmnicId(h.name, port.uplink), kind: 'uses', reason: port.reason, port: port.name, uplink: port.uplink },
                classes: 'uses',
              });
            }
          });
          px += p.width + 24;
        }
        vy += b.height + 30;
      }
    },
  };
}

/**
 * The order a switch's ports are drawn in, so that cables cross little: ports cabled to a switch drawn
 * further left come first, then ports cabled to hosts in host order, then uncabled ports, then ports
 * cabled to a switch further right. Ties keep the switch's own order.
 */
export function portOrder(s: UiSwitch, view: UiSnapshot, drawn: { switches: string[]; hosts: string[] } = layerOrder(view)): UiSwitch['ports'] {
  const swIndex = new Map(drawn.switches.map((x, i) => [x, i] as const));
  const hostIndex = new Map(drawn.hosts.map((x, i) => [x, i] as const));
  const me = swIndex.get(s.name) ?? 0;
  const peerOf = new Map<string, string>();
  for (const l of view.links) {
    peerOf.set(l.a.endpoint, l.b.node);
    peerOf.set(l.b.endpoint, l.a.node);
  }
  const key = (p: UiSwitch['ports'][number]): number => {
    const peer = peerOf.get(`${s.name}.${p.name}`);
    if (peer === undefined) return 2e6;
    const si = swIndex.get(peer);
    if (si !== undefined) return si < me ? -1e6 + si : 3e6 + si;
    return hostIndex.get(peer) ?? 2e6;
  };
  return s.ports.map((p, i) => ({ p, k: key(p), i })).sort((x, y) => x.k - y.k || x.i - y.i).map((x) => x.p);
}

function switchBox(s: UiSwitch, view: UiSnapshot, drawn: { switches: string[]; hosts: string[] }): Box {
  const ports = portOrder(s, view, drawn);
  const cols = Math.max(1, Math.min(SWITCH_PORTS_PER_ROW, s.ports.length));
  const rows = Math.max(1, Math.ceil(s.ports.length / SWITCH_PORTS_PER_ROW));
  const width = cols * NODE_GAP;
  const height = rows * ROW_GAP;
  return {
    width,
    height,
    place(x, y, out) {
      out.push({ group: 'nodes', data: { id: switchId(s.name), label: s.reachable ? s.name : `${s.name} (not answering)`, kind: 'switch', name: s.name }, classes: `switch${s.reachable ? '' : ' unreachable'}` });
      ports.forEach((p, i) => {
        out.push({
          group: 'nodes',
          data: { id: switchPortId(s.name, p.name), parent: switchId(s.name), label: p.name, kind: 'swport', name: switchPortId(s.name, p.name), sw: s.name, mode: p.mode, vlans: p.vlans, description: p.description, drops: p.drops },
          position: { x: x + NODE_GAP / 2 + (i % SWITCH_PORTS_PER_ROW) * NODE_GAP, y: y + Math.floor(i / SWITCH_PORTS_PER_ROW) * ROW_GAP },
          classes: `swport ${p.up ? 'up' : 'down'}`,
        });
      });
    },
  };
}

export function linkClasses(l: UiLink): string {
  return `link ${l.state}${/[,-]/.test(l.vlans ?? '') ? ' trunk' : ''}`;
}

export function linkLabel(l: UiLink): string {
  const parts: string[] = [];
  if (l.vlans) parts.push(`VLAN ${l.vlans}`);
  const rate = formatRate(linkFps(l), ' f/s');
  if (rate) parts.push(rate);
  if (l.drops > 0) parts.push(`${l.drops} lost`);
  if (l.macMoves > 0) parts.push(`${l.macMoves} MAC moves`);
  return parts.join('  ');
}

/**
 * Hosts grouped by the switches their vmnics are cabled to (hosts on the same leaf pair form one group),
 * groups in the order their first host comes; and the switches in the order the groups use them, then
 * the switches no host is cabled to (a core). Each group is drawn under its switches, so cables stay short.
 */
export function layerOrder(view: UiSnapshot): { switches: string[]; hosts: string[]; groups: Array<{ switches: string[]; hosts: string[] }> } {
  const switchNames = new Set(view.switches.map((x) => x.name));
  const peers = new Map<string, Set<string>>();
  for (const l of view.links) {
    for (const [me, other] of [[l.a, l.b], [l.b, l.a]] as const) {
      if (!switchNames.has(other.node) || switchNames.has(me.node)) continue;
      if (!peers.has(me.node)) peers.set(me.node, new Set());
      peers.get(me.node)!.add(other.node);
    }
  }
  const groups = new Map<string, { switches: string[]; hosts: string[] }>();
  for (const h of view.hosts) {
    const sws = [...(peers.get(h.name) ?? [])].sort();
    const key = sws.join(' ');
    if (!groups.has(key)) groups.set(key, { switches: sws, hosts: [] });
    groups.get(key)!.hosts.push(h.name);
  }
  const switches: string[] = [];
  for (const g of groups.values()) for (const sw of g.switches) if (!switches.includes(sw)) switches.push(sw);
  for (const sw of view.switches) if (!switches.includes(sw.name)) switches.push(sw.name);
  const list = [...groups.values()];
  return { switches, hosts: list.flatMap((g) => g.hosts), groups: list };
}

/** Every node and edge of the topology, with the places of the leaf nodes. */
export function buildElements(view: UiSnapshot): ElementSpec[] {
  const out: ElementSpec[] = [];
  const drawn = layerOrder(view);
  const swByName = new Map(view.switches.map((x) => [x.name, x] as const));
  const hostByName = new Map(view.hosts.map((x) => [x.name, x] as const));
  // the switch layer: one row, in the groups' order; switches further apart than hosts, as the cable
  // between two switches carries a label (VLANs, rate)
  const switchBoxes = drawn.switches.map((n) => ({ name: n, box: switchBox(swByName.get(n)!, view, drawn) }));
  const spans = new Map<string, { x0: number; x1: number }>();
  let x = 0;
  let switchHeight = 0;
  for (const { name, box } of switchBoxes) {
    box.place(x, 0, out);
    spans.set(name, { x0: x, x1: x + box.width });
    x += box.width + SWITCH_GAP;
    switchHeight = Math.max(switchHeight, box.height);
  }
  // the host layer: each group a grid under the span of its switches (as wide as that span, at least
  // one host); a group that needs more room pushes the next one right
  let cursor = 0;
  for (const g of drawn.groups) {
    const boxes = g.hosts.map((n) => hostBox(hostByName.get(n)!));
    const known = g.switches.map((n) => spans.get(n)).filter((v): v is { x0: number; x1: number } => v !== undefined);
    const spanX0 = known.length > 0 ? Math.min(...known.map((v) => v.x0)) : cursor;
    const spanX1 = known.length > 0 ? Math.max(...known.map((v) => v.x1)) : cursor;
    const cellW = Math.max(...boxes.map((b) => b.width)) + HOST_GAP;
    const cols = Math.max(1, Math.min(boxes.length, Math.floor((spanX1 - spanX0 + HOST_GAP) / cellW)));
    const blockW = cols * cellW - HOST_GAP;
    // centred under the switches, never left of where the last group ended
    const bx = Math.max(cursor, (spanX0 + spanX1) / 2 - blockW / 2);
    let y = switchHeight + LAYER_GAP;
    for (let r = 0; r * cols < boxes.length; r++) {
      const row = boxes.slice(r * cols, (r + 1) * cols);
      row.forEach((b, i) => b.place(bx + i * cellW, y, out));
      y += Math.max(...row.map((b) => b.height)) + HOST_GAP + 40;
    }
    cursor = bx + blockW + HOST_GAP * 2;
  }
  const ids = new Set(out.map((e) => e.data.id));
  for (const l of view.links) {
    // a link whose end the view does not draw (an array, a VXLAN peer) is left out of the picture
    if (!ids.has(l.a.endpoint) || !ids.has(l.b.endpoint)) continue;
    out.push({ group: 'edges', data: { id: linkEdgeId(l.id), source: l.a.endpoint, target: l.b.endpoint, kind: 'link', name: l.id, state: l.state, label: linkLabel(l), vlans: l.vlans ?? '', a: l.a.endpoint, b: l.b.endpoint }, classes: `${linkClasses(l)}${l.macMoves > 0 ? ' moves' : ''}${l.drops > 0 ? ' lossy' : ''}` });
  }
  return out;
}
