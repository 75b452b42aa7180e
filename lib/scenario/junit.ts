// JUnit XML for a scenario run: one <testsuite> per scenario, one <testcase> per expectation, a
// <failure> with "expected X, got Y" and the evidence for each failed one, an <error> when the run
// itself broke (a step failed). Follows the de-facto schema CI servers read (Jenkins/Ant junit).
// Pure string building; leaves out writing the file.

import type { ExpectationResult } from './evaluate.js';

export function xmlEscape(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export interface JunitInput {
  scenario: string;
  durationMs: number;
  results: ExpectationResult[];
  /** Run-level error (a step failed; the fabric did not come up). */
  error?: string;
}

export function junitXml(r: JunitInput): string {
  const failures = r.results.filter((x) => !x.passed).length;
  const errors = r.error ? 1 : 0;
  const seconds = (r.durationMs / 1000).toFixed(3);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="vfab" tests="${r.results.length + errors}" failures="${failures}" errors="${errors}" time="${seconds}">`,
    `  <testsuite name="${xmlEscape(r.scenario)}" tests="${r.results.length + errors}" failures="${failures}" errors="${errors}" time="${seconds}">`,
  ];
  for (const x of r.results) {
    const name = xmlEscape(`${x.id} ${x.name}`);
    if (x.passed) {
      lines.push(`    <testcase classname="${xmlEscape(r.scenario)}" name="${name}"/>`);
      continue;
    }
    lines.push(`    <testcase classname="${xmlEscape(r.scenario)}" name="${name}">`);
    lines.push(`      <failure message="${xmlEscape(`expected ${x.expected}, got ${x.got}`)}" type="${xmlEscape(x.kind)}">${xmlEscape([`at ${x.where}`, ...x.evidence].join('\n'))}</failure>`);
    lines.push('    </testcase>');
  }
  if (r.error) {
    lines.push(`    <testcase classname="${xmlEscape(r.scenario)}" name="run">`);
    lines.push(`      <error message="${xmlEscape(r.error)}" type="run"/>`);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
