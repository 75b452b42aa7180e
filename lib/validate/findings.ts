// Design-validation findings and the rule catalog: the Finding record every rule returns (rule ID,
// severity, file:line:column, field path, message, hint, related locations, a stable key for `vfab diff`)
// and one metadata entry per rule (name, title, spec section, docs anchor) used by the text, JSON and
// SARIF outputs. Rule semantics follow docs/vsphere-behaviour.md (section per rule below).
// Leaves out the checks themselves (rules.ts) and output formats (sarif.ts, the CLI).

import type { SourceLoc } from '../topology/model.js';

export type Severity = 'error' | 'warning' | 'info';

export interface RelatedLocation {
  message: string;
  file: string;
  line: number;
  column: number;
  path: string;
}

export interface Finding {
  ruleId: string;
  ruleName: string;
  severity: Severity;
  message: string;
  hint: string;
  file: string;
  line: number;
  column: number;
  /** Field path, e.g. `hosts[0].vswitches[0].portGroups[1].vlan`. */
  path: string;
  /** Identity that survives edits elsewhere in the file (objects named, not indexed): used by diff. */
  key: string;
  related?: RelatedLocation[];
}

export interface RuleInfo {
  id: string;
  name: string;
  severity: Severity;
  title: string;
  /** Spec section(s) the rule comes from, e.g. "§2.7". */
  spec: string;
  /** Anchor in docs/validate.md. */
  anchor: string;
}

function rule(id: string, name: string, severity: Severity, spec: string, title: string): RuleInfo {
  return { id, name, severity, title, spec, anchor: id.toLowerCase() };
}

/** Every rule vfab validate runs, in report order. IDs are stable: never renumber. */
export const RULES = {
  vlanNotAllowed: rule('VFAB-NET-001', 'vlan-not-allowed-on-uplink', 'error', '§2.1, §2.7',
    "A port group's VLAN is not carried by the switch port its uplink is cabled to"),
  nativeVlanTrap: rule('VFAB-NET-002', 'native-vlan-trap', 'error', '§2.6',
    "A tagged port group uses the trunk's native VLAN: the switch answers untagged and the port group never sees it"),
  portGroupVlanMismatch: rule('VFAB-NET-003', 'port-group-vlan-mismatch', 'error', '§2.1, §7',
    'Port groups with the same name have different VLANs on different hosts'),
  portGroupMissing: rule('VFAB-NET-004', 'port-group-missing-in-cluster', 'warning', '§7',
    'A port group used by VMs exists on some hosts of a cluster and not on others'),
  singleUplink: rule('VFAB-NET-005', 'single-uplink', 'warning', '§3.7',
    'A vSwitch carrying VMs has one uplink (single point of failure)'),
  uplinksSameSwitch: rule('VFAB-NET-006', 'uplinks-same-switch', 'warning', '§3.7',
    'Every uplink of a vSwitch carrying VMs reaches the same physical switch (single point of failure)'),
  ipHashNoChannel: rule('VFAB-NET-007', 'ip-hash-without-port-channel', 'error', '§3.4',
    'IP hash teaming without a matching static port-channel on one switch'),
  channelNotIpHash: rule('VFAB-NET-008', 'port-channel-without-ip-hash', 'error', '§3.4',
    'A port-channel faces a NIC team that is not IP hash'),
  beaconTwoUplinks: rule('VFAB-NET-009', 'beacon-probing-few-uplinks', 'warning', '§3.9',
    'Beacon probing with fewer than 3 uplinks cannot tell which uplink failed'),
  mtuMismatch: rule('VFAB-NET-010', 'mtu-mismatch', 'error', '§1.13',
    'vSwitch MTU above the MTU of a physical switch its frames cross'),
  duplicateMac: rule('VFAB-NET-011', 'duplicate-mac', 'error', '§6.5, §6.6',
    'Two VM NICs have the same MAC address'),
  macOutOfRange: rule('VFAB-NET-012', 'static-mac-out-of-range', 'error', '§6.2',
    'A static MAC outside 00:50:56:00:00:00-00:50:56:3f:ff:ff'),
  standbySameSwitch: rule('VFAB-NET-013', 'standby-same-switch', 'warning', '§3.5, §3.7',
    'A standby uplink reaches the same physical switch as every active uplink'),
  gatewayUnreachable: rule('VFAB-NET-014', 'gateway-unreachable', 'error', '§2.3, §2.5',
    "A VM's gateway is not reachable in its VLAN"),
  gatewayNotInDesign: rule('VFAB-NET-015', 'gateway-not-in-design', 'info', '§2.5',
    "No NIC in the design has the VM's gateway address (a router outside the design, or none)"),
  uplinkNotCabled: rule('VFAB-NET-016', 'uplink-not-cabled', 'warning', '§3.9',
    'A team uplink has no cable'),
} as const satisfies Record<string, RuleInfo>;

export type RuleKey = keyof typeof RULES;

export const RULE_LIST: readonly RuleInfo[] = Object.values(RULES);

/** Pseudo-rule for files that do not load (bad YAML, schema, dangling references): exit 2. */
export const TOPOLOGY_INVALID_RULE: RuleInfo = rule('VFAB-TOPO-001', 'topology-invalid', 'error', '§8',
  'The topology file is not valid (YAML, schema or references)');

export function ruleById(id: string): RuleInfo | undefined {
  return id === TOPOLOGY_INVALID_RULE.id ? TOPOLOGY_INVALID_RULE : RULE_LIST.find((r) => r.id === id);
}

const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** File order, then severity, then rule ID. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column
    || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.ruleId.localeCompare(b.ruleId));
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) out[f.severity]++;
  return out;
}

/** `file:line:col: severity RULE-ID message (hint)` lines. */
export function formatFinding(f: Finding): string {
  const lines = [`${f.file}:${f.line}:${f.column}: ${f.severity} ${f.ruleId} ${f.ruleName}: ${f.message}`,
    `    at ${f.path || '(file)'}`, `    hint: ${f.hint}`];
  for (const r of f.related ?? []) lines.push(`    see ${r.file}:${r.line}:${r.column}: ${r.message}`);
  return lines.join('\n');
}

export type { SourceLoc };
