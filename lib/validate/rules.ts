// The design rules of `vfab validate`: pure functions over the loaded Topology model (lib/topology) and
// its physical graph (graph.ts), each returning findings with rule ID, severity, location, message and a
// hint that says how to fix it. Rules and their spec sections (docs/vsphere-behaviour.md)
// are listed in findings.ts and docs/validate.md. Leaves out what the loader already refuses (IP hash
// with standby/unused uplinks or with beacon probing, beacon probing with fewer than 2 uplinks, dangling
// references: those files do not load, exit 2) and anything that needs the running fabric (probe).

import {
  isStaticVmwareMac, findPortGroup,
  type Host, type PortGroup, type TeamingPolicy, type Topology, type VSwitch, type SourceLoc,
} from '../topology/model.js';
import { type Finding, type RelatedLocation, type RuleInfo, RULES, sortFindings } from './findings.js';
import { type FieldLocator, fieldLocator } from './locate.js';
import { PhysicalGraph, allNics, nicLabel, type NicRef } from './graph.js';

export interface RuleContext {
  topology: Topology;
  graph: PhysicalGraph;
  at: FieldLocator;
  nics: NicRef[];
}

export type Rule = (ctx: RuleContext) => Finding[];

function finding(info: RuleInfo, where: SourceLoc, message: string, hint: string, key: string, related?: RelatedLocation[]): Finding {
  const f: Finding = {
    ruleId: info.id, ruleName: info.name, severity: info.severity, message, hint,
    file: where.file, line: where.line, column: where.column, path: where.path, key: `${info.id}|${key}`,
  };
  if (related && related.length > 0) f.related = related;
  return f;
}

function related(loc: SourceLoc, message: string): RelatedLocation {
  return { message, file: loc.file, line: loc.line, column: loc.column, path: loc.path };
}

/** A NIC team: the vSwitch's, or a port group's that overrides teaming. */
interface Team {
  host: Host;
  vswitch: VSwitch;
  portGroup: PortGroup | undefined;
  teaming: TeamingPolicy;
  /** Object holding the `teaming` field. */
  loc: SourceLoc;
  label: string;
}

function teams(t: Topology): Team[] {
  const out: Team[] = [];
  for (const host of t.hosts) {
    for (const vs of host.vswitches) {
      out.push({ host, vswitch: vs, portGroup: undefined, teaming: vs.teaming, loc: vs.loc, label: `${host.name}/${vs.name}` });
      for (const pg of vs.portGroups) {
        if (pg.overrides.some((o) => o.startsWith('teaming'))) {
          out.push({ host, vswitch: vs, portGroup: pg, teaming: pg.teaming, loc: pg.loc, label: `${host.name}/${vs.name}/${pg.name}` });
        }
      }
    }
  }
  return out;
}

const teamMembers = (tp: TeamingPolicy) => [...tp.active, ...tp.standby];

function vswitchHasVms(ctx: RuleContext, host: Host, vs: VSwitch): boolean {
  return ctx.nics.some((n) => n.host === host && n.vswitch === vs);
}

// ---- §2.1/§2.7 and §2.6: what the uplink's switch port does with the port group's VLAN --------------

const vlanRules: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const host of ctx.topology.hosts) {
    for (const vs of host.vswitches) {
      for (const pg of vs.portGroups) {
        // VGT port groups: what reaches the wire depends on each guest's tag.
        const users = pg.vlan === 4095 ? ctx.nics.filter((n) => n.host === host && n.portGroup === pg) : [undefined];
        const seen = new Set<string>();
        for (const user of users) {
          for (const uplink of teamMembers(pg.teaming)) {
            const a = ctx.graph.attach(host, pg, user?.nic, uplink);
            if (a.ok || !a.port || !a.switch) continue;
            const key = `${host.name}/${vs.name}/${pg.name}|${uplink}|${a.reason}|${user ? nicLabel(user) : ''}`;
            if (seen.has(key)) continue;
            seen.add(key);
            const portLoc = related(a.port.loc, `switch port ${a.switch.name} ${a.port.name}`);
            const subject = `port group ${pg.name} (VLAN ${pg.vlan}${user?.nic.guestVlan ? `, guest VLAN ${user.nic.guestVlan}` : ''}) on ${host.name}/${vs.name}`;
            if (a.reason === 'native_vlan_trap') {
              out.push(finding(RULES.nativeVlanTrap, ctx.at(pg.loc, 'vlan'),
                `${subject} tags its frames with the native VLAN of ${a.switch.name} ${a.port.name} (uplink ${uplink}): ${a.detail}; the port group never sees the replies`,
                `ESXi has no native VLAN (§2.6): set this port group's vlan to 0 for native-VLAN traffic, or change nativeVlan on ${a.switch.name} ${a.port.name} to an unused VLAN`,
                key, [portLoc]));
            } else if (a.reason === 'vlan_not_allowed' || a.reason === 'tagged_on_access') {
              const hint = a.reason === 'tagged_on_access'
                ? `a tagged port group needs a trunk (§2.1): make ${a.switch.name} ${a.port.name} mode: trunk with allowedVlans including ${pg.vlan}, or set the port group's vlan to 0`
                : `add the VLAN to allowedVlans of ${a.switch.name} ${a.port.name} (and of the trunks between switches), or move the port group to a VLAN the trunk carries (§2.7)`;
              out.push(finding(RULES.vlanNotAllowed, ctx.at(pg.loc, 'vlan'),
                `${subject} cannot leave by uplink ${uplink}: ${a.detail}; frames are dropped upstream and link-status failover will not notice`,
                hint, key, [portLoc]));
            }
          }
        }
      }
    }
  }
  return out;
};

// ---- port-group consistency across hosts ----------------------------------------------------------

const portGroupVlanMismatch: Rule = (ctx) => {
  const out: Finding[] = [];
  const first = new Map<string, { host: Host; pg: PortGroup }>();
  for (const host of ctx.topology.hosts) {
    for (const vs of host.vswitches) {
      for (const pg of vs.portGroups) {
        const prior = first.get(pg.name);
        if (!prior) {
          first.set(pg.name, { host, pg });
          continue;
        }
        if (prior.pg.vlan !== pg.vlan) {
          out.push(finding(RULES.portGroupVlanMismatch, ctx.at(pg.loc, 'vlan'),
            `port group ${pg.name} has VLAN ${pg.vlan} on ${host.name} but VLAN ${prior.pg.vlan} on ${prior.host.name}: a VM moved or restarted on ${host.name} lands in another network`,
            `give port group ${pg.name} the same vlan on every host (or rename one of them)`,
            `${pg.name}|${host.name}`, [related(ctx.at(prior.pg.loc, 'vlan'), `${pg.name} on ${prior.host.name} (VLAN ${prior.pg.vlan})`)]));
        }
      }
    }
  }
  return out;
};

/** Hosts that can run each other's VMs (vMotion, HA restart): those sharing a storage array. Hosts
 * without shared storage form no cluster. */
export function clusters(t: Topology): Host[][] {
  const parent = new Map<Host, Host>();
  const find = (h: Host): Host => {
    while (parent.get(h) !== h) h = parent.get(h)!;
    return h;
  };
  const byArray = new Map<string, Host>();
  for (const host of t.hosts) {
    parent.set(host, host);
    for (const s of host.storage) {
      const other = byArray.get(s.array);
      if (other) parent.set(find(host), find(other));
      else byArray.set(s.array, host);
    }
  }
  const groups = new Map<Host, Host[]>();
  for (const host of t.hosts) {
    if (host.storage.length === 0) continue;
    const root = find(host);
    groups.set(root, [...(groups.get(root) ?? []), host]);
  }
  return [...groups.values()];
}

const portGroupMissing: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const cluster of clusters(ctx.topology)) {
    if (cluster.length < 2) continue;
    const used = new Map<string, string[]>();
    for (const n of ctx.nics) if (cluster.includes(n.host)) used.set(n.portGroup.name, [...(used.get(n.portGroup.name) ?? []), `${n.vm.name} on ${n.host.name}`]);
    for (const [name, users] of used) {
      const having = cluster.filter((h) => findPortGroup(h, name));
      for (const host of cluster) {
        if (having.includes(host)) continue;
        const example = findPortGroup(having[0]!, name)!;
        out.push(finding(RULES.portGroupMissing, ctx.at(host.loc, 'vswitches'),
          `port group ${name} (used by ${users.join(', ')}) exists on ${having.map((h) => h.name).join(', ')} but not on ${host.name}, which shares their storage (cluster ${cluster.map((h) => h.name).join(', ')}): a VM moved or restarted on ${host.name} loses its network`,
          `add port group ${name} with vlan ${example.portGroup.vlan} to a vSwitch on ${host.name}`,
          `${name}|${host.name}`, [related(example.portGroup.loc, `${name} on ${having[0]!.name}`)]));
      }
    }
  }
  return out;
};

// ---- single points of failure ---------------------------------------------------------------------

const uplinkRedundancy: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const host of ctx.topology.hosts) {
    for (const vs of host.vswitches) {
      if (vs.uplinks.length === 0 || !vswitchHasVms(ctx, host, vs)) continue; // internal-only vSwitch
      const cabled = vs.uplinks.map((u) => ({ u, p: ctx.graph.uplinkPort(host.name, u) })).filter((x) => x.p);
      const label = `${host.name}/${vs.name}`;
      if (vs.uplinks.length === 1 || cabled.length === 1) {
        const only = cabled[0]?.u ?? vs.uplinks[0]!;
        out.push(finding(RULES.singleUplink, ctx.at(vs.loc, 'uplinks'),
          `${label} carries VMs over one uplink (${only}): a cable, NIC or switch port failure cuts them off`,
          `add a second uplink cabled to another physical switch and make it active or standby (§3.7)`, label));
        continue;
      }
      const switches = new Set(cabled.map((x) => x.p!.switch.name));
      if (cabled.length >= 2 && switches.size === 1) {
        const sw = [...switches][0]!;
        out.push(finding(RULES.uplinksSameSwitch, ctx.at(vs.loc, 'uplinks'),
          `every uplink of ${label} (${cabled.map((x) => x.u).join(', ')}) is cabled to ${sw}: losing ${sw} cuts off its VMs`,
          `cable one uplink to another physical switch that carries the same VLANs`, label));
      }
    }
  }
  return out;
};

const standbySameSwitch: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const team of teams(ctx.topology)) {
    const { teaming, host, vswitch } = team;
    if (teaming.standby.length === 0 || teaming.active.length === 0) continue;
    const activeSw = teaming.active.map((u) => ctx.graph.uplinkPort(host.name, u)?.switch.name);
    if (activeSw.some((s) => s === undefined) || new Set(activeSw).size !== 1) continue;
    const sw = activeSw[0]!;
    const others = vswitch.uplinks.filter((u) => {
      const p = ctx.graph.uplinkPort(host.name, u);
      return p && p.switch.name !== sw;
    });
    if (others.length === 0) continue; // every uplink on one switch: VFAB-NET-006 covers it
    for (const u of teaming.standby) {
      if (ctx.graph.uplinkPort(host.name, u)?.switch.name !== sw) continue;
      out.push(finding(RULES.standbySameSwitch, ctx.at(team.loc, 'teaming', 'standby'),
        `standby uplink ${u} of ${team.label} reaches ${sw}, like every active uplink (${teaming.active.join(', ')}): when ${sw} fails the standby fails with it`,
        `make ${others.join(' or ')} (cabled to another switch) the standby instead`, `${team.label}|${u}`));
    }
  }
  return out;
};

const uplinkNotCabled: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const host of ctx.topology.hosts) {
    for (const vs of host.vswitches) {
      const inTeam = new Set(teams(ctx.topology).filter((t) => t.host === host && t.vswitch === vs).flatMap((t) => teamMembers(t.teaming)));
      vs.uplinks.forEach((u, i) => {
        if (!inTeam.has(u) || ctx.graph.isCabled(host.name, u)) return;
        out.push(finding(RULES.uplinkNotCabled, ctx.at(vs.loc, 'uplinks', i),
          `uplink ${u} of ${host.name}/${vs.name} is in the team but has no cable: its ports fail over at once (link down)`,
          `add a link such as [${host.name}.${u}, <switch>.<port>], or list ${u} as unused`, `${host.name}.${u}`));
      });
    }
  }
  return out;
};

// ---- §3.4 IP hash and port-channels, §3.9 beacon probing --------------------------------------------

const ipHashNoChannel: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const team of teams(ctx.topology)) {
    if (team.teaming.loadBalancing !== 'ipHash') continue;
    const ports = team.teaming.active.map((u) => ({ u, p: ctx.graph.uplinkPort(team.host.name, u) }));
    if (ports.length === 0 || ports.some((x) => !x.p)) continue;
    const where = ctx.at(team.loc, 'teaming', 'loadBalancing');
    const switches = [...new Set(ports.map((x) => x.p!.switch.name))];
    let problem: string | undefined;
    let hint = 'configure a static port-channel (mode on) on one switch whose members are exactly the team\'s uplinks, or use loadBalancing: srcPortId';
    if (switches.length > 1) {
      problem = `its uplinks reach ${switches.join(' and ')}; a static EtherChannel lives on one switch (or stack)`;
      hint = 'cable every uplink of an IP-hash team to one switch and bundle those ports in a port-channel, or use loadBalancing: srcPortId';
    } else {
      const unbundled = ports.filter((x) => !x.p!.port.portChannel);
      const channels = [...new Set(ports.map((x) => x.p!.port.portChannel).filter((c): c is string => !!c))];
      if (unbundled.length > 0) {
        problem = `${unbundled.map((x) => `${x.u} (${x.p!.switch.name} ${x.p!.port.name})`).join(', ')} ${unbundled.length > 1 ? 'are' : 'is'} in no port-channel: the switch sees the VM's MAC move between ports`;
      } else if (channels.length > 1) {
        problem = `its uplinks sit in different port-channels (${channels.join(', ')})`;
      } else {
        const pc = ports[0]!.p!.switch.portChannels.find((c) => c.name === channels[0]);
        if (pc && pc.members.length !== ports.length) {
          problem = `port-channel ${pc.name} has ${pc.members.length} members but the team has ${ports.length} uplinks`;
          hint = `make ${pc.name}'s members exactly the ports cabled to ${team.teaming.active.join(', ')} (§3.4)`;
        }
      }
    }
    if (problem) {
      out.push(finding(RULES.ipHashNoChannel, where, `IP hash team of ${team.label}: ${problem}`, hint, team.label));
    }
  }
  return out;
};

const channelNotIpHash: Rule = (ctx) => {
  const out: Finding[] = [];
  const uplinkAt = new Map<string, { host: Host; uplink: string }>();
  for (const host of ctx.topology.hosts) {
    for (const vs of host.vswitches) for (const u of vs.uplinks) {
      const p = ctx.graph.uplinkPort(host.name, u);
      if (p) uplinkAt.set(`${p.switch.name}.${p.port.name}`, { host, uplink: u });
    }
  }
  const allTeams = teams(ctx.topology);
  for (const sw of ctx.topology.switches) {
    for (const pc of sw.portChannels) {
      const facing = pc.members.map((m) => uplinkAt.get(`${sw.name}.${m}`)).filter((x): x is { host: Host; uplink: string } => !!x);
      if (facing.length === 0) continue;
      for (const team of allTeams) {
        const uses = facing.filter((f) => f.host === team.host && teamMembers(team.teaming).includes(f.uplink));
        if (uses.length === 0 || team.teaming.loadBalancing === 'ipHash') continue;
        out.push(finding(RULES.channelNotIpHash, ctx.at(pc.loc),
          `port-channel ${pc.name} on ${sw.name} faces ${uses.map((u) => `${u.host.name}.${u.uplink}`).join(', ')}, whose team ${team.label} uses ${team.teaming.loadBalancing}, not IP hash: the switch hashes replies onto links the vSwitch does not expect`,
          `set loadBalancing: ipHash on ${team.label} (all uplinks active), or remove the port-channel (§3.4)`,
          `${sw.name}/${pc.name}|${team.label}`, [related(ctx.at(team.loc, 'teaming', 'loadBalancing'), `teaming of ${team.label}`)]));
      }
    }
  }
  return out;
};

const beaconFewUplinks: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const team of teams(ctx.topology)) {
    const n = teamMembers(team.teaming).length;
    if (team.teaming.failureDetection !== 'beaconProbing' || n >= 3) continue;
    out.push(finding(RULES.beaconTwoUplinks, ctx.at(team.loc, 'teaming', 'failureDetection'),
      `${team.label} uses beacon probing with ${n} uplinks: when one fails neither hears the other's beacons, and ESXi sends on both ("shotgun")`,
      'use at least 3 uplinks with beacon probing, or failureDetection: linkStatus (§3.9)', team.label));
  }
  return out;
};

// ---- §1.13 MTU along the path -----------------------------------------------------------------------

const mtuMismatch: Rule = (ctx) => {
  const out: Finding[] = [];
  const byName = new Map(ctx.topology.switches.map((s) => [s.name, s]));
  for (const host of ctx.topology.hosts) {
    for (const vs of host.vswitches) {
      const reported = new Set<string>();
      for (const pg of vs.portGroups) {
        for (const u of teamMembers(pg.teaming)) {
          const a = ctx.graph.attach(host, pg, undefined, u);
          const crossed = a.ok ? ctx.graph.segmentSwitches(a.segment) : a.switch ? [a.switch.name] : [];
          for (const name of crossed) {
            const sw = byName.get(name);
            if (!sw || sw.mtu >= vs.mtu || reported.has(name)) continue;
            reported.add(name);
            out.push(finding(RULES.mtuMismatch, ctx.at(vs.loc, 'mtu'),
              `${host.name}/${vs.name} has MTU ${vs.mtu} but ${name}, on the path of port group ${pg.name}${a.ok ? ` (VLAN ${a.vlan})` : ''}, has MTU ${sw.mtu}: larger frames are dropped there, with no fragmentation`,
              `raise the MTU of ${name} to at least ${vs.mtu}, or lower ${vs.name}'s MTU to ${sw.mtu} (§1.13)`,
              `${host.name}/${vs.name}|${name}`, [related(ctx.at(sw.loc, 'mtu'), `MTU of ${name}`)]));
          }
        }
      }
    }
  }
  return out;
};

// ---- §6 MACs ------------------------------------------------------------------------------------------

const macRules: Rule = (ctx) => {
  const out: Finding[] = [];
  const first = new Map<number, { label: string; loc: SourceLoc }>();
  for (const host of ctx.topology.hosts) {
    for (const vm of host.vms) {
      for (const nic of vm.nics) {
        const label = `${vm.name}.${nic.name}`;
        const prior = first.get(nic.mac);
        if (prior) {
          out.push(finding(RULES.duplicateMac, ctx.at(nic.loc, 'mac'),
            `${label} has MAC ${nic.macText}, already used by ${prior.label}: switches see it flap between ports and both VMs lose packets`,
            `give ${label} another MAC in 00:50:56:00:00:00-3f:ff:ff, or drop its mac field so vfab derives a unique one (§6.5)`,
            `${nic.macText}|${label}`, [related(ctx.at(prior.loc, 'mac'), `${prior.label}`)]));
        } else first.set(nic.mac, { label, loc: nic.loc });
        if (!nic.macGenerated && !isStaticVmwareMac(nic.mac)) {
          out.push(finding(RULES.macOutOfRange, ctx.at(nic.loc, 'mac'),
            `${label} has static MAC ${nic.macText}, outside the range vSphere accepts for manual MACs`,
            'use an address in 00:50:56:00:00:00-00:50:56:3f:ff:ff (§6.2); 00:50:56:80-bf is vCenter\'s and 00:0c:29 the host\'s',
            label));
        }
      }
    }
  }
  return out;
};

// ---- gateways -----------------------------------------------------------------------------------------

const gatewayRules: Rule = (ctx) => {
  const out: Finding[] = [];
  for (const n of ctx.nics) {
    const gw = n.nic.gateway;
    if (!gw) continue;
    const label = nicLabel(n);
    const owners = ctx.nics.filter((o) => o !== n && o.nic.ip?.address === gw);
    if (owners.length === 0) {
      out.push(finding(RULES.gatewayNotInDesign, ctx.at(n.nic.loc, 'gateway'),
        `no NIC in the design has ${label}'s gateway ${gw}: vfab cannot check that a router answers there`,
        `add the router as a VM with a NIC at ${gw} in ${n.portGroup.name}'s VLAN, or ignore this if the router is outside the design`, label));
      continue;
    }
    const results = owners.map((o) => ({ o, r: ctx.graph.reach(n, o) }));
    if (results.some((x) => x.r.reach === 'reachable')) continue;
    const why = results.map((x) => `${nicLabel(x.o)} (${x.r.reach}${x.r.reasons.length ? `: ${x.r.reasons.join('; ')}` : ''})`).join(', ');
    out.push(finding(RULES.gatewayUnreachable, ctx.at(n.nic.loc, 'gateway'),
      `${label} (port group ${n.portGroup.name}, VLAN ${n.portGroup.vlan}) cannot reach its gateway ${gw} at layer 2: ${why}`,
      `put the gateway's NIC in the same VLAN as ${label} and make sure every trunk on the way carries it`, label,
      results.map((x) => related(ctx.at(x.o.nic.loc, 'ip'), `gateway owner ${nicLabel(x.o)}`))));
  }
  return out;
};

/** Every rule, in the order of the catalog. */
export const ALL_RULES: readonly Rule[] = [
  vlanRules, portGroupVlanMismatch, portGroupMissing, uplinkRedundancy, ipHashNoChannel, channelNotIpHash,
  beaconFewUplinks, mtuMismatch, macRules, standbySameSwitch, gatewayRules, uplinkNotCabled,
];

export function makeContext(topology: Topology, at: FieldLocator = fieldLocator()): RuleContext {
  return { topology, graph: new PhysicalGraph(topology), at, nics: allNics(topology) };
}

/** Runs every rule over a loaded topology; findings in file order. `at` makes locations field-precise. */
export function validateTopology(topology: Topology, at?: FieldLocator): Finding[] {
  const ctx = makeContext(topology, at);
  return sortFindings(ALL_RULES.flatMap((r) => r(ctx)));
}
