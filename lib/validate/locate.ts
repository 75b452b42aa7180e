// Field-precise source locations for findings: the model carries the location of each object
// (`loc`), and this maps "that object's field X" to the line and column of X in the YAML text, using the
// topology loader's Locator (lib/topology/source.ts). Pure: takes the text, reads no file. Leaves out
// the rules. When no text is given, a field falls back to its object's location.

import { LineCounter, parseDocument } from 'yaml';
import type { SourceLoc } from '../topology/model.js';
import { Locator, type PathSeg, pathText } from '../topology/source.js';

export type FieldLocator = (loc: SourceLoc, ...fields: PathSeg[]) => SourceLoc;

/** Splits `hosts[0].vswitches[0]["x.y"].vlan` into segments. */
export function parsePath(path: string): PathSeg[] {
  const segs: PathSeg[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (let m = re.exec(path); m; m = re.exec(path)) {
    if (m[1] !== undefined) segs.push(m[1]);
    else if (m[2] !== undefined) segs.push(Number(m[2]));
    else segs.push(JSON.parse(m[3]!) as string);
  }
  return segs;
}

/** A locator over the YAML `text` of `file`; without text, fields resolve to their object. */
export function fieldLocator(text?: string, file?: string): FieldLocator {
  let at: Locator | undefined;
  if (text !== undefined && file !== undefined) {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, merge: true });
    if (doc.errors.length === 0) at = new Locator(file, doc, lineCounter);
  }
  return (loc, ...fields) => {
    const segs = [...parsePath(loc.path), ...fields];
    if (!at || fields.length === 0) return { ...loc, path: pathText(segs) };
    const l = at.loc(segs);
    return { file: loc.file, line: l.line, column: l.column, path: pathText(segs) };
  };
}
