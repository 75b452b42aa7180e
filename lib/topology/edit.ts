// Changing a topology document in place: the running configuration of a live fabric (`vfab set`, scenario
// `set:` steps; docs/reconfigure.md) is its topology file plus every change made since `vfab up`. An edit
// sets or removes one field at a YAML path; the edited text is loaded again with every rule of a topology
// file (lib/topology/load.ts), so a change that would make an invalid file is refused with the same
// problems, and nothing is changed. The YAML keeps its comments and layout (the `yaml` library's
// document model), so `vfab export` gives back the user's file with the changes in it. Also the
// locators from names (switch sw1, port Gi1/0/1, port group VM-10 of esx1, ...) to YAML paths.
// Pure: text in, text and model out. Leaves out merge keys (`<<:`) inside the edited node's parents.

import { parseDocument } from 'yaml';
import { VfabError } from '../errors.js';
import { closestName } from '../text/did-you-mean.js';
import { parseTopology } from './load.js';
import type { Topology } from './model.js';
import type { PathSeg } from './source.js';

export interface TopologyEdit {
  /** YAML path from the document root, e.g. ['switches', 0, 'ports', 3, 'nativeVlan']. */
  path: PathSeg[];
  /** The new value (plain data); absent with `remove`. */
  value?: unknown;
  /** Remove the field (back to its default). */
  remove?: boolean;
}

/**
 * Applies `edits` to topology `text` and loads the result. Throws TopologyError (VFAB_TOPOLOGY_INVALID,
 * with located problems) when the edited document is not a valid topology; the caller keeps the old text.
 */
export function editTopologyText(text: string, fileName: string, edits: readonly TopologyEdit[]): { text: string; topology: Topology } {
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  for (const e of edits) {
    if (e.remove) doc.deleteIn(e.path);
    else doc.setIn(e.path, e.value);
  }
  const out = doc.toString({ lineWidth: 0 });
  return { text: out, topology: parseTopology(out, fileName) };
}

/** The document as plain data, for the locators below. */
export function rawTopology(text: string): Record<string, unknown> {
  return (parseDocument(text, { merge: true }).toJS() ?? {}) as Record<string, unknown>;
}

type Named = { name?: unknown };
const list = (v: unknown): Named[] => (Array.isArray(v) ? (v as Named[]) : []);

function indexOf(items: Named[], name: string, what: string, where: string): number {
  const i = items.findIndex((x) => x?.name === name);
  if (i < 0) {
    const names = items.map((x) => String(x?.name));
    const hint = closestName(name, names);
    throw new VfabError('VFAB_NOT_FOUND', `${where} has no ${what} ${name}${hint ? ` (did you mean ${hint}?)` : ''}${names.length ? `; ${what}s: ${names.join(', ')}` : ''}`);
  }
  return i;
}

export function switchPath(raw: Record<string, unknown>, sw: string): PathSeg[] {
  return ['switches', indexOf(list(raw.switches), sw, 'switch', 'the fabric')];
}

export function switchPortPath(raw: Record<string, unknown>, sw: string, port: string): PathSeg[] {
  const p = switchPath(raw, sw);
  const s = list(raw.switches)[p[1] as number] as Record<string, unknown>;
  return [...p, 'ports', indexOf(list(s.ports), port, 'port', `switch ${sw}`)];
}

export function hostPath(raw: Record<string, unknown>, host: string): PathSeg[] {
  return ['hosts', indexOf(list(raw.hosts), host, 'host', 'the fabric')];
}

export function vswitchPath(raw: Record<string, unknown>, host: string, vswitch: string): PathSeg[] {
  const h = hostPath(raw, host);
  const hr = list(raw.hosts)[h[1] as number] as Record<string, unknown>;
  return [...h, 'vswitches', indexOf(list(hr.vswitches), vswitch, 'vSwitch', `host ${host}`)];
}

export function portGroupPath(raw: Record<string, unknown>, host: string, portGroup: string): PathSeg[] {
  const h = hostPath(raw, host);
  const hr = list(raw.hosts)[h[1] as number] as Record<string, unknown>;
  const all: string[] = [];
  for (const [vi, vs] of list(hr.vswitches).entries()) {
    const pgs = list((vs as Record<string, unknown>).portGroups);
    const pi = pgs.findIndex((p) => p?.name === portGroup);
    if (pi >= 0) return [...h, 'vswitches', vi, 'portGroups', pi];
    all.push(...pgs.map((p) => String(p?.name)));
  }
  const hint = closestName(portGroup, all);
  throw new VfabError('VFAB_NOT_FOUND', `host ${host} has no port group ${portGroup}${hint ? ` (did you mean ${hint}?)` : ''}${all.length ? `; port groups: ${all.join(', ')}` : ''}`);
}

/** The path of VM `vm`'s vNIC `nic` (its name, or nic<index> when the file gives none). */
export function vmNicPath(raw: Record<string, unknown>, vm: string, nic: string): PathSeg[] {
  const vms: string[] = [];
  for (const [hi, h] of list(raw.hosts).entries()) {
    const hvms = list((h as Record<string, unknown>).vms);
    const vi = hvms.findIndex((v) => v?.name === vm);
    vms.push(...hvms.map((v) => String(v?.name)));
    if (vi < 0) continue;
    const nics = list((hvms[vi] as Record<string, unknown>).nics);
    const names = nics.map((n, i) => (typeof n?.name === 'string' ? n.name : `nic${i}`));
    const ni = names.indexOf(nic);
    if (ni < 0) {
      const hint = closestName(nic, names);
      throw new VfabError('VFAB_NOT_FOUND', `VM ${vm} has no vNIC ${nic}${hint ? ` (did you mean ${hint}?)` : ''}; vNICs: ${names.join(', ') || 'none'}`);
    }
    return ['hosts', hi, 'vms', vi, 'nics', ni];
  }
  const hint = closestName(vm, vms);
  throw new VfabError('VFAB_NOT_FOUND', `the fabric has no VM ${vm}${hint ? ` (did you mean ${hint}?)` : ''}`);
}
