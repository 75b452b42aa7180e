// Helpers for the design-validation tests: validate inline YAML or a shipped file, and run the CLI
// in-process with captured output.

import fs from 'node:fs';
import { parseTopology } from '../../lib/topology/load.js';
import type { Topology } from '../../lib/topology/model.js';
import { validateText, type Finding } from '../../lib/validate/index.js';
import type { CliIo } from '../../daemons/cli/io.js';

export { yml } from '../topology/helpers.js';

export function findingsOf(text: string, file = 'test.yaml'): Finding[] {
  const r = validateText(text, file);
  if (!r.ok) throw new Error(`did not load: ${r.problems.map((p) => `${p.line}: ${p.message}`).join('; ')}`);
  return r.findings;
}

export function fileFindings(path: string): Finding[] {
  return findingsOf(fs.readFileSync(path, 'utf8'), path);
}

export function topo(text: string): Topology {
  return parseTopology(text, 'test.yaml');
}

export function ids(findings: readonly Finding[]): string[] {
  return findings.map((f) => f.ruleId);
}

export interface Captured {
  io: CliIo;
  out: string[];
  err: string[];
}

export function capture(): Captured {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t) }, out, err };
}

/** The clean base every topologies/validate file starts from (two hosts, two switches, shared array). */
export const BASE = `
name: base
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }
      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }
      - { name: Gi1/0/3, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }
      - { name: Gi1/0/48, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }
  - name: sw2
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }
      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }
      - { name: Gi1/0/48, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0, vmnic1]
        portGroups:
          - { name: VM-10, vlan: 10 }
          - { name: VM-20, vlan: 20 }
    vms:
      - name: web1
        nics:
          - { portGroup: VM-10, mac: "00:50:56:00:10:01", ip: 192.0.2.11/24 }
    storage:
      - { array: array1 }
  - name: esx2
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0, vmnic1]
        portGroups:
          - { name: VM-10, vlan: 10 }
          - { name: VM-20, vlan: 20 }
    vms:
      - name: web2
        nics:
          - { portGroup: VM-10, mac: "00:50:56:00:10:02", ip: 192.0.2.12/24 }
    storage:
      - { array: array1 }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
  - [esx1.vmnic1, sw2.Gi1/0/1]
  - [esx2.vmnic0, sw1.Gi1/0/2]
  - [esx2.vmnic1, sw2.Gi1/0/2]
  - [sw1.Gi1/0/48, sw2.Gi1/0/48]
arrays:
  - name: array1
    luns:
      - { name: datastore1, sizeGB: 1 }
`;

/** BASE with exact-string replacements applied (each must match). */
export function variant(...edits: Array<[string, string]>): string {
  let text = BASE;
  for (const [from, to] of edits) {
    if (!text.includes(from)) throw new Error(`variant: ${from} not in BASE`);
    text = text.replace(from, to);
  }
  return text;
}
