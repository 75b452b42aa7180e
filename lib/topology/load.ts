// Topology file loader: YAML text -> typed model (model.ts). Parses with yaml v2 (parseDocument +
// LineCounter, so every node has a line/column), validates against topology.schema.json with ajv
// (draft-07), maps ajv's errors to one clear problem per mistake, then runs the semantic checks of
// build.ts. All problems are collected and thrown together in a TopologyError with file:line:column,
// the field path, a message and a hint. Leaves out design findings on legal configurations (the
// validate tool's job) and anything at runtime. Field semantics: spec §2, §3, §4, §6, §8.

import { readFile, stat } from 'node:fs/promises';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { VfabError } from '../errors.js';
import { MAX_PROBLEMS, MAX_TOPOLOGY_FILE_BYTES, closestName, type Topology } from './model.js';
import { buildTopology } from './build.js';
import { Locator, type PathSeg, type TopologyProblem, pathText } from './source.js';
import schema from './topology.schema.json' with { type: 'json' };

export type { TopologyProblem } from './source.js';
export { schema as topologySchema };

/** Schema or semantic mistakes in a topology file. */
export const VFAB_TOPOLOGY_INVALID = 'VFAB_TOPOLOGY_INVALID';
/** The file is not well-formed YAML (syntax, duplicate keys, bad indentation, too many aliases). */
export const VFAB_TOPOLOGY_YAML = 'VFAB_TOPOLOGY_YAML';
/** The file cannot be read (missing, unreadable, larger than MAX_TOPOLOGY_FILE_BYTES). */
export const VFAB_TOPOLOGY_READ = 'VFAB_TOPOLOGY_READ';

/** YAML aliases expanded per document (guards against "billion laughs"). */
const MAX_YAML_ALIAS_COUNT = 1000;

export class TopologyError extends VfabError {
  readonly problems: TopologyProblem[];
  constructor(code: string, problems: TopologyProblem[]) {
    const first = problems[0];
    const summary = problems.length === 1 && first ? formatProblem(first) : `${problems.length} problems in ${first?.file ?? 'topology'}`;
    super(code, `invalid topology: ${summary}\n${formatProblems(problems)}`, { problems });
    this.name = 'TopologyError';
    this.problems = problems;
  }
}

export function formatProblem(p: TopologyProblem): string {
  const where = p.path ? `${p.path}: ` : '';
  return `${p.file}:${p.line}:${p.column}: ${where}${p.message}${p.hint ? ` (${p.hint})` : ''}`;
}

/** One line per problem: `file:line:col: path: message (hint)`. */
export function formatProblems(problems: readonly TopologyProblem[]): string {
  return problems.map(formatProblem).join('\n');
}

/** Reads and parses a topology file; throws TopologyError (VFAB_TOPOLOGY_READ / _YAML / _INVALID). */
export async function loadTopologyFile(path: string): Promise<Topology> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_TOPOLOGY_FILE_BYTES) {
      throw new TopologyError(VFAB_TOPOLOGY_READ, [{ file: path, line: 1, column: 1, path: '',
        message: `file is ${info.size} bytes; topology files are limited to ${MAX_TOPOLOGY_FILE_BYTES} bytes` }]);
    }
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof TopologyError) throw e;
    throw new TopologyError(VFAB_TOPOLOGY_READ, [{ file: path, line: 1, column: 1, path: '',
      message: `cannot read file: ${(e as Error).message}` }]);
  }
  return parseTopology(text, path);
}

/** Parses topology YAML `text` (reported as `fileName`); returns the model or throws TopologyError. */
export function parseTopology(text: string, fileName: string): Topology {
  if (Buffer.byteLength(text, 'utf8') > MAX_TOPOLOGY_FILE_BYTES) {
    throw new TopologyError(VFAB_TOPOLOGY_READ, [{ file: fileName, line: 1, column: 1, path: '',
      message: `topology text exceeds ${MAX_TOPOLOGY_FILE_BYTES} bytes` }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new TopologyError(VFAB_TOPOLOGY_YAML, capProblems(doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
      return { file: fileName, line: pos.line, column: pos.col, path: '', message: yamlMessage(e.message),
        ...(yamlHint(e.code) ? { hint: yamlHint(e.code) } : {}) };
    })));
  }
  const at = new Locator(fileName, doc, lineCounter);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (e) {
    throw new TopologyError(VFAB_TOPOLOGY_YAML, [{ file: fileName, line: 1, column: 1, path: '', message: (e as Error).message }]);
  }
  if (raw === null || raw === undefined) {
    throw new TopologyError(VFAB_TOPOLOGY_INVALID, [{ file: fileName, line: 1, column: 1, path: '',
      message: 'the file is empty', hint: 'start with `name: <topology name>`; see topologies/quickstart.yaml' }]);
  }
  const schemaProblems = validateSchema(raw, at);
  const { topology, problems: semantic } = buildTopology(raw, at);
  // A field the schema already rejected is not reported again by a semantic check.
  const rejected = schemaProblems.map((p) => p.path);
  const covered = (path: string) =>
    rejected.some((r) => r !== '' && (path === r || path.startsWith(`${r}.`) || path.startsWith(`${r}[`)));
  const problems = [...schemaProblems, ...semantic.filter((p) => !covered(p.path))];
  if (problems.length > 0) {
    problems.sort((x, y) => x.line - y.line || x.column - y.column);
    throw new TopologyError(VFAB_TOPOLOGY_INVALID, capProblems(problems));
  }
  return topology;
}

function capProblems(problems: TopologyProblem[]): TopologyProblem[] {
  if (problems.length <= MAX_PROBLEMS) return problems;
  const last = problems[MAX_PROBLEMS - 1]!;
  return [...problems.slice(0, MAX_PROBLEMS - 1),
    { ...last, path: '', message: `${problems.length - MAX_PROBLEMS + 1} more problems not shown; fix these first` }];
}

function yamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, '').trim();
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case 'DUPLICATE_KEY': return 'each key may appear once per mapping; remove or rename one';
    case 'BAD_INDENT':
    case 'MISSING_CHAR': return 'check indentation (spaces only) and matching brackets and quotes';
    case 'TAB_AS_INDENT': return 'indent with spaces, not tabs';
    case 'BLOCK_AS_IMPLICIT_KEY': return 'a key is probably missing its colon or is indented wrongly';
    default: return undefined;
  }
}

// ---- JSON Schema ---------------------------------------------------------------------------------

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
ajv.addVocabulary(['x-hint']);
const validate = ajv.compile(schema);

/** Validates `raw` against topology.schema.json; one problem per mistake, located in the YAML. */
export function validateSchema(raw: unknown, at: Locator): TopologyProblem[] {
  if (validate(raw)) return [];
  const seen = new Set<string>();
  const out: TopologyProblem[] = [];
  for (const e of validate.errors ?? []) {
    const p = schemaProblem(e, at);
    if (!p) continue;
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  // A wrong type at a path makes finer errors below it noise.
  const typePaths = out.filter((p) => p.message.startsWith('expected ')).map((p) => p.path);
  return out.filter((p) => !typePaths.some((t) => p.path !== t && t !== '' && (p.path.startsWith(`${t}.`) || p.path.startsWith(`${t}[`))));
}

function segsOf(instancePath: string): PathSeg[] {
  if (instancePath === '') return [];
  return instancePath.slice(1).split('/').map((s) => {
    const k = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(k) ? Number(k) : k;
  });
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping (key: value)', array: 'a list', string: 'text', integer: 'a whole number',
  number: 'a number', boolean: 'true or false', null: 'nothing',
};

/** Stands for a secret's value in a problem: described, never shown. */
const SECRET_VALUE = Symbol('secret');

function describeValue(v: unknown): string {
  if (v === SECRET_VALUE) return 'a value that is not shown (a secret)';
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the number ${v}`;
  return `${typeof v} ${String(v)}`;
}

function fieldLabel(segs: readonly PathSeg[]): string {
  const last = segs[segs.length - 1];
  if (last === undefined) return 'the file';
  if (typeof last === 'number') {
    const parent = segs[segs.length - 2];
    return `${typeof parent === 'string' ? parent : 'item'}[${last}]`;
  }
  return last;
}

/** Fields whose values are never printed in a problem (CHAP secrets). */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['secret']);

export function schemaProblem(e: ErrorObject, at: Locator): TopologyProblem | undefined {
  const segs = segsOf(e.instancePath);
  const leaf = segs[segs.length - 1];
  if (typeof leaf === 'string' && SECRET_FIELDS.has(leaf) && e.data !== undefined) e = { ...e, data: SECRET_VALUE };
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const hint = typeof parent['x-hint'] === 'string' ? (parent['x-hint'] as string) : undefined;
  const field = fieldLabel(segs);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const allowed = Object.keys((parent.properties ?? {}) as object);
      const guess = closestName(extra, allowed);
      return at.problem([...segs, extra],
        `unknown field \`${extra}\`${guess ? ` (did you mean \`${guess}\`?)` : ''}`,
        `allowed here: ${allowed.join(', ')}`, true);
    }
    case 'required':
      return at.problem(segs, `missing required field \`${String(params.missingProperty)}\``,
        segs.length === 0 ? undefined : `${pathText(segs)} needs ${String(params.missingProperty)}`);
    case 'type': {
      const types = String(params.type).split(',');
      const expected = types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      const got = describeValue(e.data);
      const listHint = types.includes('array') && typeof e.data === 'string'
        ? 'write a list as [a, b] or one item per line starting with "- "' : hint;
      return at.problem(segs, `expected ${expected}, got ${got}`, listHint);
    }
    case 'enum': {
      const allowed = ((params.allowedValues ?? []) as unknown[]).map(String);
      const guess = typeof e.data === 'string' ? closestName(e.data, allowed) : undefined;
      return at.problem(segs, `${describeValue(e.data)} is not a valid ${field}${guess ? ` (did you mean \`${guess}\`?)` : ''}`,
        hint ?? `one of: ${allowed.join(', ')}`);
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
      const min = parent.minimum as number | undefined;
      const max = parent.maximum as number | undefined;
      const exMin = parent.exclusiveMinimum as number | undefined;
      let range: string;
      if (min !== undefined && max !== undefined) range = `${min}-${max}`;
      else if (exMin !== undefined && max !== undefined) range = `greater than ${exMin} and at most ${max}`;
      else if (min !== undefined) range = `at least ${min}`;
      else if (exMin !== undefined) range = `greater than ${exMin}`;
      else range = `at most ${max}`;
      return at.problem(segs, `${field} must be ${range}, got ${String(e.data)}`, hint);
    }
    case 'pattern':
      return at.problem(segs, `${describeValue(e.data)} is not a valid ${field}`, hint);
    case 'minLength':
      return at.problem(segs, params.limit === 1 ? `${field} must not be empty` : `${field} is too short`, hint);
    case 'maxLength':
      return at.problem(segs, `${field} is too long: ${String(e.data).length} characters, at most ${String(params.limit)}`, hint);
    case 'minItems': case 'maxItems': {
      const n = Array.isArray(e.data) ? e.data.length : 0;
      if (parent.minItems !== undefined && parent.minItems === parent.maxItems) {
        return at.problem(segs, `expected exactly ${String(parent.minItems)} entries, got ${n}`, hint);
      }
      return at.problem(segs, e.keyword === 'maxItems'
        ? `too many entries in ${field}: ${n}, at most ${String(params.limit)}`
        : `${field} needs at least ${String(params.limit)} ${params.limit === 1 ? 'entry' : 'entries'}`, hint);
    }
    case 'uniqueItems': {
      const j = Math.max(Number(params.i), Number(params.j));
      const value = Array.isArray(e.data) ? e.data[j] : undefined;
      return at.problem([...segs, j], `${describeValue(value)} is listed twice in ${field}`, 'remove the repeated entry');
    }
    default:
      return at.problem(segs, `${field} ${e.message ?? 'is invalid'}`, hint);
  }
}
