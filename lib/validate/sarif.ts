// SARIF 2.1.0 output of `vfab validate --sarif FILE` (OASIS Static Analysis Results Interchange Format
// 2.1.0): one run, the rule catalog as tool.driver.rules (id, name, short description, helpUri into
// docs/validate.md, default level), one result per finding with a physicalLocation region (startLine,
// startColumn), the field path as a logical location, related locations and a partial fingerprint (the
// finding's stable key). Load problems (exit 2) become results of rule VFAB-TOPO-001. Leaves out
// artifacts contents, fixes and code flows.

import type { TopologyProblem } from '../topology/source.js';
import { type Finding, type RuleInfo, type Severity, RULE_LIST, TOPOLOGY_INVALID_RULE } from './findings.js';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';
export const DOCS_PATH = 'docs/validate.md';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };

export interface SarifOptions {
  toolVersion?: string;
  /** Where rule help lives; default docs/validate.md (relative to the repository root). */
  docsUri?: string;
}

function ruleDescriptor(r: RuleInfo, docsUri: string) {
  return {
    id: r.id,
    name: r.name,
    shortDescription: { text: r.title },
    fullDescription: { text: `${r.title} (docs/vsphere-behaviour.md ${r.spec}).` },
    helpUri: `${docsUri}#${r.anchor}`,
    defaultConfiguration: { level: LEVEL[r.severity] },
    properties: { spec: r.spec },
  };
}

function location(file: string, line: number, column: number, path: string, message?: string) {
  return {
    ...(message ? { message: { text: message } } : {}),
    physicalLocation: { artifactLocation: { uri: file }, region: { startLine: Math.max(1, line), startColumn: Math.max(1, column) } },
    ...(path ? { logicalLocations: [{ fullyQualifiedName: path, kind: 'member' }] } : {}),
  };
}

/** A SARIF log for findings (and load problems, if the file did not load). */
export function toSarif(findings: readonly Finding[], problems: readonly TopologyProblem[] = [], opts: SarifOptions = {}): object {
  const docsUri = opts.docsUri ?? DOCS_PATH;
  const rules = [...RULE_LIST, TOPOLOGY_INVALID_RULE];
  const index = new Map(rules.map((r, i) => [r.id, i]));
  const results = [
    ...findings.map((f) => ({
      ruleId: f.ruleId,
      ruleIndex: index.get(f.ruleId) ?? -1,
      level: LEVEL[f.severity],
      message: { text: `${f.message}. Fix: ${f.hint}` },
      locations: [location(f.file, f.line, f.column, f.path)],
      ...(f.related ? { relatedLocations: f.related.map((r, i) => ({ id: i, ...location(r.file, r.line, r.column, r.path, r.message) })) } : {}),
      partialFingerprints: { 'vfabFindingKey/v1': f.key },
    })),
    ...problems.map((p) => ({
      ruleId: TOPOLOGY_INVALID_RULE.id,
      ruleIndex: index.get(TOPOLOGY_INVALID_RULE.id)!,
      level: 'error' as const,
      message: { text: p.hint ? `${p.message} (${p.hint})` : p.message },
      locations: [location(p.file, p.line, p.column, p.path)],
    })),
  ];
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [{
      tool: { driver: { name: 'vfab validate', informationUri: docsUri, ...(opts.toolVersion ? { version: opts.toolVersion } : {}), rules: rules.map((r) => ruleDescriptor(r, docsUri)) } },
      results,
    }],
  };
}
