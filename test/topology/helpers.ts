// Test helpers for topology loading: dedented YAML literals, problem capture, and "marker" lines
// (a comment `# <- here` on the line a problem must point at).

import { expect } from 'chai';
import { parseTopology, TopologyError, type TopologyProblem } from '../../lib/topology/load.js';

/** Removes the common indentation of a template literal and its leading newline. */
export function yml(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** 1-based line of the first line containing `marker`. */
export function lineOf(text: string, marker = '# <-'): number {
  const i = text.split('\n').findIndex((l) => l.includes(marker));
  if (i < 0) throw new Error(`marker ${marker} not in text`);
  return i + 1;
}

/** Parses `text`; returns the thrown TopologyError (fails the test if it loads). */
export function loadError(text: string, file = 'test.yaml'): TopologyError {
  try {
    parseTopology(text, file);
  } catch (e) {
    if (e instanceof TopologyError) return e;
    throw e;
  }
  expect.fail('expected the topology to be rejected');
}

/** Asserts exactly one problem, on the marker line, at `path`, with `message` in its text. */
export function expectOneProblem(text: string, path: string, message: string | RegExp): TopologyProblem {
  const e = loadError(text);
  expect(e.problems.map((p) => `${p.line} ${p.path}: ${p.message}`), 'problems').to.have.length(1);
  const p = e.problems[0]!;
  expect(p.line, `line of: ${p.message}`).to.equal(lineOf(text));
  expect(p.path).to.equal(path);
  if (typeof message === 'string') expect(p.message).to.include(message);
  else expect(p.message).to.match(message);
  return p;
}

/** A small valid fabric; each part is YAML (written at any indentation) added to that section. */
export function fabric(parts: {
  ports?: string; portChannels?: string; switches?: string; vswitches?: string; vms?: string;
  storage?: string; vmkernels?: string; hosts?: string; links?: string; arrays?: string;
} = {}): string {
  const block = (text: string | undefined, spaces: number): string[] =>
    text === undefined ? [] : yml(text).replace(/\n+$/, '').split('\n').map((l) => ' '.repeat(spaces) + l);
  return [
    'name: t',
    'switches:',
    '  - name: sw1',
    '    ports:',
    '      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20] }',
    '      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10, 20] }',
    '      - { name: Gi1/0/3, mode: access, vlan: 10 }',
    '      - { name: Gi1/0/4, mode: access, vlan: 10 }',
    ...block(parts.ports, 6),
    ...(parts.portChannels === undefined ? [] : ['    portChannels:', ...block(parts.portChannels, 6)]),
    ...block(parts.switches, 2),
    'hosts:',
    '  - name: esx1',
    '    vswitches:',
    '      - name: vSwitch0',
    '        uplinks: [vmnic0, vmnic1]',
    '        portGroups:',
    '          - { name: VM-10, vlan: 10 }',
    '          - { name: VGT, vlan: 4095 }',
    ...block(parts.vswitches, 6),
    '    vms:',
    '      - name: vm1',
    '        nics:',
    '          - { portGroup: VM-10, ip: 192.0.2.11/24 }',
    ...block(parts.vms, 6),
    '    storage:',
    '      - { array: array1, luns: [lun0] }',
    ...block(parts.storage, 6),
    ...(parts.vmkernels === undefined ? [] : ['    vmkernels:', ...block(parts.vmkernels, 6)]),
    ...block(parts.hosts, 2),
    'links:',
    '  - [esx1.vmnic0, sw1.Gi1/0/1]',
    ...block(parts.links, 2),
    'arrays:',
    '  - name: array1',
    '    luns:',
    '      - { name: lun0, sizeGB: 2 }',
    '      - { name: lun1, sizeGB: 1 }',
    ...block(parts.arrays, 2),
    '',
  ].join('\n');
}
