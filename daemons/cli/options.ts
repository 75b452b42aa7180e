// The vfab CLI's contract in one place: each command declares one option table (name, type, range,
// default, description, short form, repeatable, which verbs take it) and that table both checks every
// value the user types and writes the command's --help (usage, options with ranges and defaults,
// examples, exit codes). Pure: no I/O. Leaves out shell completion and environment-variable defaults.
//
// Why our own tokenizer and not node:util parseArgs: parseArgs reports an unknown option only as an
// English message (no option name to suggest from), cannot say which spelling (-c or --count) the user
// typed, and refuses a value that starts with '-' ("--vlan -1") instead of letting us say it is out of
// range. The grammar we need (--name VALUE, --name=VALUE, -x VALUE, flags, --) is 40 lines.

import { VfabError } from '../../lib/errors.js';
import { closestName } from '../../lib/text/did-you-mean.js';
import { parseSizeBytes, formatSize } from '../../lib/storage/size.js';

/** Exit codes of every vfab command. */
export const EXIT_OK = 0;
/** A check or expectation failed: no replies, a scenario expectation not met, errors in a design. */
export const EXIT_FAILED = 1;
/** Bad usage or input: unknown command, option, VM, host, endpoint or LUN; a value out of range. */
export const EXIT_USAGE = 2;
/** The fabric is not running here (no state), or one of its daemons cannot be reached. */
export const EXIT_NO_FABRIC = 3;

export const EXIT_CODE_TEXT: Record<0 | 1 | 2 | 3, string> = {
  0: 'success',
  1: 'a check or expectation failed',
  2: 'bad usage or input: an unknown option, command or name, or a value out of range',
  3: 'no fabric is running here, or a daemon cannot be reached (the message names it)',
};

export class UsageError extends VfabError {
  constructor(message: string) {
    super('VFAB_USAGE', message);
  }
}

export type OptionType = 'string' | 'int' | 'number' | 'bool' | 'enum' | 'size' | 'duration';

export interface OptionDef {
  type: OptionType;
  description: string;
  /** One letter: `-c` for `--count`. */
  short?: string;
  /** Placeholder in --help (default by type: N, X, SIZE, TIME, VALUE). */
  value?: string;
  /** Inclusive range: for size in bytes, for duration in `unit`. */
  min?: number;
  max?: number;
  /** enum: the accepted values. */
  values?: readonly string[];
  default?: string | number | boolean;
  /** Must be given (for the verbs in `verbs`, if any). */
  required?: boolean;
  /** May be given more than once (the value is then a list). */
  repeatable?: boolean;
  /** duration: the unit of a bare number and of the parsed value. */
  unit?: 'ms' | 's';
  /** Commands with verbs (vfab lun create|list...): the verbs this option applies to. */
  verbs?: readonly string[];
}

export type OptionTable = Record<string, OptionDef>;

export interface CommandSpec<O extends OptionTable = OptionTable> {
  /** Usage lines after `vfab NAME `, e.g. 'VM TARGET_IP [options]'. */
  usage: readonly string[];
  /** What the command does, a few lines (already wrapped). */
  description: string;
  options: O;
  /** Positional arguments: the fewest and most (verbs included). */
  args: { min: number; max: number };
  /** The first positional is one of these (vfab lun create|list|...). */
  verbs?: readonly string[];
  /** 2-3 command lines, without the leading `vfab `, with an optional `  # comment`. */
  examples: readonly string[];
  /** What codes 1 (and others) mean for this command, when more precise than EXIT_CODE_TEXT. */
  exits?: Partial<Record<0 | 1 | 2 | 3, string>>;
}

type ValueOf<D extends OptionDef> = D['type'] extends 'bool' ? boolean : D['type'] extends 'string' | 'enum' ? string : number;
export type Values<O extends OptionTable> = {
  [K in keyof O]: O[K] extends { type: 'bool' } ? boolean : O[K] extends { repeatable: true } ? Array<ValueOf<O[K]>> : O[K] extends { default: string | number | boolean } | { required: true } ? ValueOf<O[K]> : ValueOf<O[K]> | undefined;
};

export interface Parsed<O extends OptionTable> {
  values: Values<O>;
  positionals: string[];
  /** How the user wrote each option given (`-c 5`, `--count=5`), for messages about combinations. */
  typed: Partial<Record<keyof O, string>>;
  help: boolean;
}

const HELP: OptionDef = { type: 'bool', short: 'h', description: 'show this help' };

/** The table as parsed: the command's options plus --help. */
function withHelp(options: OptionTable): OptionTable {
  return { ...options, help: HELP };
}

function placeholder(d: OptionDef): string {
  if (d.value) return d.value;
  switch (d.type) {
    case 'int':
    case 'number':
      return 'N';
    case 'size':
      return 'SIZE';
    case 'duration':
      return d.unit === 's' ? 'SECONDS' : 'MS';
    case 'enum':
      return d.values!.join('|');
    default:
      return 'VALUE';
  }
}

function showBound(d: OptionDef, n: number): string {
  return d.type === 'size' ? formatSize(n) : String(n);
}

/** "1-10000", "at least 1", "" */
export function rangeText(d: OptionDef): string {
  if (d.min !== undefined && d.max !== undefined) return `${showBound(d, d.min)}-${showBound(d, d.max)}`;
  if (d.min !== undefined) return `at least ${showBound(d, d.min)}`;
  if (d.max !== undefined) return `at most ${showBound(d, d.max)}`;
  return '';
}

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Checks and converts one value; throws a UsageError that starts with the option as typed. */
export function convertValue(d: OptionDef, text: string, asTyped: string): string | number {
  const bad = (why: string) => new UsageError(`${asTyped} ${JSON.stringify(text).slice(1, -1) || '""'}: ${why}`);
  const inRange = (n: number, shown: string) => {
    if ((d.min !== undefined && n < d.min) || (d.max !== undefined && n > d.max)) throw bad(`must be ${rangeText(d)}${shown ? ` (${shown})` : ''}`);
    return n;
  };
  switch (d.type) {
    case 'string':
      if (text === '') throw bad('must not be empty');
      return text;
    case 'enum': {
      if (d.values!.includes(text)) return text;
      const guess = closestName(text, d.values!);
      throw bad(`must be one of ${d.values!.join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
    case 'int': {
      if (!/^-?\d+$/.test(text)) throw bad(`must be a whole number${rangeText(d) ? ` ${rangeText(d)}` : ''}`);
      return inRange(Number(text), '');
    }
    case 'number': {
      if (!/^-?(\d+\.?\d*|\.\d+)$/.test(text)) throw bad(`must be a number${rangeText(d) ? ` ${rangeText(d)}` : ''}`);
      return inRange(Number(text), '');
    }
    case 'size': {
      const r = parseSizeBytes(text);
      if (!r.ok || text.trim() !== text) throw bad('not a size: write a number with an optional binary unit K, M, G or T, e.g. 4k, 16M, 4096');
      return inRange(r.value, `${r.value} bytes`);
    }
    case 'duration': {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
      if (!m) throw bad(`not a duration: write a number of ${d.unit === 's' ? 'seconds' : 'milliseconds'}, or with a unit: 500ms, 2s, 1m`);
      const unitMs = d.unit === 's' ? 1000 : 1;
      const n = m[2] === undefined ? Number(m[1]) : (Number(m[1]) * DURATION_UNIT_MS[m[2]]!) / unitMs;
      return inRange(n, '');
    }
    case 'bool':
      throw bad('takes no value');
  }
}

/**
 * Parses argv against the table: every option known, every value checked, defaults filled in, the
 * positional count checked. --help short-circuits (nothing else is checked).
 */
export function parseCommandLine<O extends OptionTable>(command: string, spec: CommandSpec<O>, argv: readonly string[]): Parsed<O> {
  const table = withHelp(spec.options);
  const byShort = new Map<string, string>();
  for (const [name, d] of Object.entries(table)) if (d.short) byShort.set(d.short, name);
  const raw = new Map<string, Array<{ text: string | undefined; typed: string }>>();
  const positionals: string[] = [];
  const seeHelp = `(see: vfab ${command} --help)`;
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (onlyPositionals || arg === '-' || !arg.startsWith('-') || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    let typed: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      typed = eq < 0 ? arg : arg.slice(0, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      name = typed.slice(2);
    } else {
      typed = arg.slice(0, 2);
      if (arg.length > 2) inline = arg.slice(2);
      name = byShort.get(arg.slice(1, 2));
    }
    const d = name === undefined ? undefined : table[name];
    if (name === undefined || d === undefined) {
      const guess = closestName(typed.replace(/^-+/, ''), Object.keys(table));
      throw new UsageError(`unknown option ${typed}${guess ? ` (did you mean --${guess}?)` : ''} ${seeHelp}`);
    }
    if (name === 'help') return { values: {} as Values<O>, positionals: [], typed: {}, help: true };
    let text: string | undefined;
    if (d.type === 'bool') {
      if (inline !== undefined) throw new UsageError(`${typed} takes no value (got ${typed}=${inline})`);
    } else if (inline !== undefined) text = inline;
    else {
      if (i + 1 >= argv.length) throw new UsageError(`${typed} needs a value (${placeholder(d)}) ${seeHelp}`);
      text = argv[++i]!;
    }
    const seen = raw.get(name) ?? [];
    if (seen.length > 0 && !d.repeatable) throw new UsageError(`${typed} given more than once`);
    seen.push({ text, typed: inline !== undefined ? `${typed}=` : typed });
    raw.set(name, seen);
  }
  const verb = spec.verbs ? positionals[0] : undefined;
  if (spec.verbs && verb !== undefined && !spec.verbs.includes(verb)) {
    const guess = closestName(verb, spec.verbs);
    throw new UsageError(`unknown action ${JSON.stringify(verb)} for vfab ${command}: one of ${spec.verbs.join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  if (positionals.length < spec.args.min || positionals.length > spec.args.max) {
    const want = spec.args.min === spec.args.max ? `${spec.args.min}` : spec.args.max === Infinity ? `at least ${spec.args.min}` : `${spec.args.min}-${spec.args.max}`;
    const extra = positionals.length > spec.args.max ? `: unexpected ${positionals.slice(spec.args.max).map((p) => JSON.stringify(p)).join(' ')}` : '';
    throw new UsageError(`vfab ${command} takes ${want} argument${want === '1' ? '' : 's'}, got ${positionals.length}${extra}\nusage: ${spec.usage.map((u) => `vfab ${command} ${u}`).join('\n       ')} ${seeHelp}`);
  }
  const values: Record<string, unknown> = {};
  const typedBy: Record<string, string> = {};
  for (const [name, d] of Object.entries(spec.options)) {
    const given = raw.get(name);
    if (given && verb !== undefined && d.verbs && !d.verbs.includes(verb)) {
      throw new UsageError(`${given[0]!.typed.replace(/=$/, '')} does not apply to vfab ${command} ${verb} (it is for: ${d.verbs.join(', ')})`);
    }
    const convert = (g: { text: string | undefined; typed: string }) => (d.type === 'bool' ? true : convertValue(d, g.text!, g.typed.endsWith('=') ? g.typed.slice(0, -1) : g.typed));
    if (given) {
      typedBy[name] = `${given[0]!.typed.replace(/=$/, '')}${given[0]!.text !== undefined ? ` ${given[0]!.text}` : ''}`;
      values[name] = d.repeatable ? given.map(convert) : convert(given[0]!);
    } else {
      if (d.required && (!d.verbs || (verb !== undefined && d.verbs.includes(verb)))) {
        throw new UsageError(`${d.short ? `-${d.short}` : `--${name}`} ${placeholder(d)} is required${verb !== undefined ? ` for vfab ${command} ${verb}` : ''} ${seeHelp}`);
      }
      values[name] = d.repeatable ? [] : d.type === 'bool' ? (d.default ?? false) : d.default;
    }
  }
  return { values: values as Values<O>, positionals, typed: typedBy as Partial<Record<keyof O, string>>, help: false };
}

function wrap(text: string, width: number, indent: number): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join('\n' + ' '.repeat(indent));
}

/** What an option line says after its description: range, default, repeatable, verbs. */
function optionNotes(d: OptionDef): string {
  const notes: string[] = [];
  const range = rangeText(d);
  if (range) notes.push(d.type === 'duration' ? `${range} ${d.unit ?? 'ms'}` : range);
  if (d.default !== undefined && d.type !== 'bool') notes.push(`default ${d.default}`);
  if (d.required) notes.push('required');
  if (d.repeatable) notes.push('repeatable');
  if (d.verbs) notes.push(`for ${d.verbs.join(', ')}`);
  return notes.length ? ` (${notes.join('; ')})` : '';
}

/** The command's --help: generated from its table, so every option is listed with its range and default. */
export function renderHelp(command: string, summary: string, spec: CommandSpec): string {
  const table = withHelp(spec.options);
  const heads = Object.entries(table).map(([name, d]) => {
    const flag = `${d.short ? `-${d.short}, ` : '    '}--${name}${d.type === 'bool' ? '' : ` ${placeholder(d)}`}`;
    return { flag, text: d.description + optionNotes(d) };
  });
  const width = Math.min(30, Math.max(...heads.map((h) => h.flag.length)));
  const optionLines = heads.map((h) => {
    const pad = h.flag.length > width ? `\n${' '.repeat(width + 4)}` : ' '.repeat(width - h.flag.length + 2);
    return `  ${h.flag}${pad}${wrap(h.text, 100 - width - 4, width + 4)}`;
  });
  const exits = ([0, 1, 2, 3] as const).map((c) => `  ${c}  ${spec.exits?.[c] ?? EXIT_CODE_TEXT[c]}`);
  return [
    `vfab ${command} — ${summary}`,
    '',
    `usage: ${spec.usage.map((u) => `vfab ${command} ${u}`).join('\n       ')}`,
    '',
    spec.description,
    '',
    'options:',
    ...optionLines,
    '',
    'examples:',
    ...spec.examples.map((e) => `  vfab ${e}`),
    '',
    'exit codes:',
    ...exits,
  ].join('\n');
}
