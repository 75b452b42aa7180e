// `vfab diff OLD NEW`: what a design change does, statically (no fabric is started): findings that
// appear or go away (matched by their stable key, so moved lines do not count as changes), pairs of VM
// NICs whose predicted reachability changes, and single points of failure added or removed. Built on
// rules.ts and analysis.ts; follows the same spec sections. Leaves out rendering (the CLI).

import type { Finding } from './findings.js';
import { type DesignAnalysis, type PairAnalysis, pairJson } from './analysis.js';

export interface ReachChange {
  key: string;
  vlan: string;
  expected: string;
  before: string | undefined;
  after: string | undefined;
  reasons: string[];
}

export interface DesignDiff {
  newFindings: Finding[];
  resolvedFindings: Finding[];
  /** Pairs whose predicted reachability differs (absent on one side = undefined). */
  reachability: ReachChange[];
  spofsAdded: string[];
  spofsResolved: string[];
}

export function diffDesigns(
  before: { findings: Finding[]; analysis: DesignAnalysis },
  after: { findings: Finding[]; analysis: DesignAnalysis },
): DesignDiff {
  const oldKeys = new Set(before.findings.map((f) => f.key));
  const newKeys = new Set(after.findings.map((f) => f.key));
  const oldPairs = new Map<string, PairAnalysis>(before.analysis.pairs.map((p) => [p.key, p]));
  const newPairs = new Map<string, PairAnalysis>(after.analysis.pairs.map((p) => [p.key, p]));
  const reachability: ReachChange[] = [];
  for (const key of new Set([...oldPairs.keys(), ...newPairs.keys()])) {
    const o = oldPairs.get(key);
    const n = newPairs.get(key);
    if (o && n && o.predicted === n.predicted) continue;
    const ref = pairJson((n ?? o)!);
    reachability.push({ key, vlan: ref.vlan, expected: ref.expected, before: o?.predicted, after: n?.predicted, reasons: n?.reasons ?? [] });
  }
  reachability.sort((a, b) => a.key.localeCompare(b.key));
  const oldSpofs = new Set(before.analysis.spofs.map((s) => s.key));
  const newSpofs = new Set(after.analysis.spofs.map((s) => s.key));
  return {
    newFindings: after.findings.filter((f) => !oldKeys.has(f.key)),
    resolvedFindings: before.findings.filter((f) => !newKeys.has(f.key)),
    reachability,
    spofsAdded: [...newSpofs].filter((k) => !oldSpofs.has(k)).sort(),
    spofsResolved: [...oldSpofs].filter((k) => !newSpofs.has(k)).sort(),
  };
}
