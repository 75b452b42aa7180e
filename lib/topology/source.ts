// Source locations for topology files: maps a field path (["hosts", 0, "vswitches", 1, "mtu"]) to the
// line and column of that node in the YAML document (yaml v2 parseDocument + LineCounter), and defines
// the TopologyProblem record every loader error is reported as. Leaves out the checks themselves
// (load.ts: YAML and schema; build.ts: semantics). Lines and columns are 1-based.

import { type Document, type LineCounter, isMap, isSeq, isScalar, isAlias, isPair, type Node } from 'yaml';
import type { SourceLoc } from './model.js';

export type PathSeg = string | number;

export interface TopologyProblem {
  file: string;
  line: number;
  column: number;
  /** Field path, e.g. `hosts[0].vswitches[0].portGroups[1].vlan`; "" for the whole file. */
  path: string;
  message: string;
  hint?: string;
}

/** `hosts[0].vswitches[0].name`; identifier-like keys joined with dots, others quoted in brackets. */
export function pathText(segs: readonly PathSeg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

export class Locator {
  constructor(
    readonly file: string,
    private readonly doc: Document | undefined,
    private readonly lines: LineCounter | undefined,
  ) {}

  /**
   * Location of the node at `segs`, or of its closest existing ancestor when the field is absent (a
   * default). With `onKey`, points at the key of the last segment (for "unknown field" reports).
   */
  loc(segs: readonly PathSeg[], onKey = false): SourceLoc {
    const path = pathText(segs);
    if (!this.doc || !this.lines) return { file: this.file, line: 1, column: 1, path };
    let node: unknown = this.doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (let i = 0; i < segs.length; i++) {
      if (isAlias(node)) node = node.resolve(this.doc);
      const seg = segs[i]!;
      let next: unknown;
      let keyNode: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
        if (pair) {
          keyNode = pair.key;
          next = pair.value;
        }
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      }
      if (keyNode === undefined && next === undefined) break;
      const last = i === segs.length - 1;
      // A block list or mapping under a key starts on the next line; the key's line reads better.
      const blockValue = (isMap(next) || isSeq(next)) && !next.flow;
      const target = last && keyNode !== undefined && (onKey || blockValue) ? keyNode : (next ?? keyNode);
      const start = rangeStart(target);
      if (start === undefined) {
        const keyStart = rangeStart(keyNode);
        if (keyStart !== undefined) offset = keyStart;
        break;
      }
      offset = start;
      node = next;
      if (next === undefined || next === null) break;
    }
    const pos = this.lines.linePos(offset);
    return { file: this.file, line: pos.line, column: pos.col, path };
  }

  problem(segs: readonly PathSeg[], message: string, hint?: string, onKey = false): TopologyProblem {
    const l = this.loc(segs, onKey);
    return hint === undefined
      ? { file: l.file, line: l.line, column: l.column, path: l.path, message }
      : { file: l.file, line: l.line, column: l.column, path: l.path, message, hint };
  }
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return Array.isArray(range) ? range[0] : undefined;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  if (typeof key === 'string' || typeof key === 'number') return String(key);
  return undefined;
}
