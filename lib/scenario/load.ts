// Scenario file loader: YAML text -> typed model (model.ts). Parses with yaml v2 (parseDocument +
// LineCounter), validates against scenario.schema.json with ajv (problems mapped by lib/topology's
// schemaProblem, located by lib/topology/source.ts's Locator), then checks what a schema cannot: one
// action per step, labels, stream and capture names, `after` references, durations. A second pass,
// checkAgainstTopology, checks names against the loaded topology (VMs, switches, endpoints, and for the
// datastore steps and checks: hosts, the datastores each host lists, arrays and LUNs). All problems are
// reported together as file:line:column. Leaves out running the scenario (runner.ts).

import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { Ajv } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { VfabError } from '../errors.js';
import { MAX_STALL_MS } from '../storage/stall.js';
import { parseMac, macToString } from '../wire/mac.js';
import { frameFromFields, parseFrameHex, type FrameFields, MAX_SEND_FRAMES, MAX_SEND_DURATION_MS } from '../traffic/crafted.js';
import { defaultNicIndex } from '../topology/nic-choice.js';
import { DEFAULT_MTU_BYTES, frameTooLargeMessage, vnicMaxFrameBytes } from '../endpoint/vm-endpoint.js';
import { COUNTER_NAMES, COUNTER_POINT_KINDS, counterNameProblem } from '../counters/counters.js';
import { formatProblems, schemaProblem } from '../topology/load.js';
import { Locator, type PathSeg, type TopologyProblem } from '../topology/source.js';
import { closestName, findArray, findHost, findSwitch, findVm, resolveEndpointDetailed, MAX_PROBLEMS, type Topology } from '../topology/model.js';
import {
  type ActionStep, type Expectation, type ExpectationSpec, type Scenario, type Step, type StorageFaultSpec,
  DEFAULT_FRAME_BYTES, DEFAULT_PING_COUNT, MAX_POLL_WINDOW_MS, MAX_POWER_WAIT_MS, MAX_SCENARIO_FILE_BYTES, MAX_SET_WORDS, MAX_WAIT_MS, STREAM_UDP_PORT_BASE,
  describeExpectation, parseDurationMs,
} from './model.js';
import schema from './scenario.schema.json' with { type: 'json' };

export { schema as scenarioSchema };
export type ScenarioProblem = TopologyProblem;

/** Schema or semantic mistakes in a scenario file (including names the topology does not have). */
export const VFAB_SCENARIO_INVALID = 'VFAB_SCENARIO_INVALID';
/** The scenario file is not well-formed YAML. */
export const VFAB_SCENARIO_YAML = 'VFAB_SCENARIO_YAML';
/** The scenario file cannot be read (missing, unreadable, larger than MAX_SCENARIO_FILE_BYTES). */
export const VFAB_SCENARIO_READ = 'VFAB_SCENARIO_READ';

const MAX_YAML_ALIAS_COUNT = 1000;
const ACTION_KEYS = ['traffic', 'ping', 'link', 'impair', 'flap', 'shut', 'noShut', 'kill', 'restart', 'isolate', 'noIsolate', 'power', 'migrate', 'setMac', 'set', 'send', 'wait', 'capture',
  'vmPowerOn', 'vmPowerOff', 'vmPowerOnRace', 'datastoreFormat', 'storageFault', 'expect'] as const;
const EXPECT_KEYS = ['framesLost', 'maxGapMs', 'uplinkCarries', 'uplinkIdle', 'rarpCount', 'macTable', 'counter', 'event', 'ping', 'lock', 'datastoreState'] as const;

export class ScenarioError extends VfabError {
  readonly problems: ScenarioProblem[];
  constructor(code: string, problems: ScenarioProblem[]) {
    const first = problems[0];
    const summary = problems.length === 1 ? 'one problem' : `${problems.length} problems`;
    super(code, `invalid scenario ${first?.file ?? ''}: ${summary}\n${formatProblems(problems)}`, { problems });
    this.name = 'ScenarioError';
    this.problems = problems;
  }
}

/** Reads and parses a scenario file; throws ScenarioError (VFAB_SCENARIO_READ / _YAML / _INVALID). */
export async function loadScenarioFile(path: string): Promise<Scenario> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_SCENARIO_FILE_BYTES) {
      throw new ScenarioError(VFAB_SCENARIO_READ, [{ file: path, line: 1, column: 1, path: '', message: `file is ${info.size} bytes; scenario files are limited to ${MAX_SCENARIO_FILE_BYTES} bytes` }]);
    }
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof ScenarioError) throw e;
    throw new ScenarioError(VFAB_SCENARIO_READ, [{ file: path, line: 1, column: 1, path: '', message: `cannot read file: ${(e as Error).message}` }]);
  }
  return parseScenario(text, path);
}

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
ajv.addVocabulary(['x-hint']);
const validate = ajv.compile(schema);

/** Parses scenario YAML `text` (reported as `fileName`); returns the model or throws ScenarioError. */
export function parseScenario(text: string, fileName: string): Scenario {
  if (Buffer.byteLength(text, 'utf8') > MAX_SCENARIO_FILE_BYTES) {
    throw new ScenarioError(VFAB_SCENARIO_READ, [{ file: fileName, line: 1, column: 1, path: '', message: `scenario text exceeds ${MAX_SCENARIO_FILE_BYTES} bytes` }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScenarioError(VFAB_SCENARIO_YAML, doc.errors.slice(0, MAX_PROBLEMS).map((e) => {
      const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
      return { file: fileName, line: pos.line, column: pos.col, path: '', message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '') };
    }));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (e) {
    throw new ScenarioError(VFAB_SCENARIO_YAML, [{ file: fileName, line: 1, column: 1, path: '', message: (e as Error).message }]);
  }
  const at = new Locator(fileName, doc, lineCounter);
  if (raw === null || raw === undefined) {
    throw new ScenarioError(VFAB_SCENARIO_INVALID, [{ file: fileName, line: 1, column: 1, path: '', message: 'the file is empty', hint: 'start with `name:`, `topology:` and `steps:`; see scenarios/failover-notify-on.yaml' }]);
  }
  const problems: ScenarioProblem[] = [];
  if (!validate(raw)) {
    const seen = new Set<string>();
    for (const e of validate.errors ?? []) {
      const p = schemaProblem(e, at);
      if (!p) continue;
      const key = `${p.path}\u0000${p.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(p);
      }
    }
    // a wrong type at a path makes finer errors below it noise
    const typePaths = problems.filter((p) => p.message.startsWith('expected ')).map((p) => p.path);
    const kept = problems.filter((p) => !typePaths.some((t) => p.path !== t && t !== '' && (p.path.startsWith(`${t}.`) || p.path.startsWith(`${t}[`))));
    problems.length = 0;
    problems.push(...kept);
  }
  if (problems.length > 0) fail(problems);
  const scenario = buildScenario(raw as Record<string, any>, fileName, at, problems);
  if (problems.length > 0) fail(problems);
  return scenario;
}

function fail(problems: ScenarioProblem[]): never {
  problems.sort((x, y) => x.line - y.line || x.column - y.column);
  throw new ScenarioError(VFAB_SCENARIO_INVALID, problems.slice(0, MAX_PROBLEMS));
}

function buildScenario(raw: Record<string, any>, file: string, at: Locator, problems: ScenarioProblem[]): Scenario {
  const labels = new Map<string, number>(); // label -> step index
  const streams = new Map<string, ActionStep & { kind: 'traffic' }>();
  const captures = new Set<string>();
  const steps: Step[] = [];
  let streamCount = 0;
  const rawSteps: any[] = raw.steps;
  rawSteps.forEach((s, i) => {
    const segs: PathSeg[] = ['steps', i];
    const index = i + 1;
    const keys = ACTION_KEYS.filter((k) => s[k] !== undefined);
    if (keys.length !== 1) {
      problems.push(at.problem(segs, keys.length === 0 ? 'a step needs an action or an expect block' : `a step holds one action, found ${keys.join(' and ')}`,
        `one of: ${ACTION_KEYS.join(', ')} (split it into several steps)`));
      return;
    }
    const key = keys[0]!;
    const v = s[key];
    const loc = at.loc([...segs, key], true);
    const label: string | undefined = s.label;
    if (label !== undefined) {
      if (labels.has(label)) problems.push(at.problem([...segs, 'label'], `label \`${label}\` is already used by step ${labels.get(label)}`, 'labels name one step each'));
      else labels.set(label, index);
    }
    const base = { index, ...(label !== undefined ? { label } : {}), ...(s.note !== undefined ? { note: s.note } : {}), loc };
    if (key === 'expect') {
      const expectations: ExpectationSpec[] = [];
      (v as any[]).forEach((item, j) => {
        const isegs: PathSeg[] = [...segs, 'expect', j];
        const ek = EXPECT_KEYS.filter((k) => item[k] !== undefined);
        if (ek.length !== 1) {
          problems.push(at.problem(isegs, ek.length === 0 ? 'an expectation needs a check' : `an expectation holds one check, found ${ek.join(' and ')}`, `one of: ${EXPECT_KEYS.join(', ')}`));
          return;
        }
        const check = buildExpectation(ek[0]!, item[ek[0]!], [...isegs, ek[0]!], at, problems, streams, labels);
        if (!check) return;
        expectations.push({ id: `${index}.${j + 1}`, name: item.name ?? describeExpectation(check), check, loc: at.loc([...isegs, ek[0]!], true) });
      });
      steps.push({ ...base, kind: 'expect', expectations });
      return;
    }
    const action = key === 'send' ? buildSend(v, [...segs, key], at, problems, file) : buildAction(key, v, [...segs, key], at, problems, streamCount + 1);
    if (!action) return;
    const outcome = outcomeCheck(action);
    if (outcome) {
      steps.push({ ...base, kind: 'action', action, outcome: { id: `${index}.1`, name: describeExpectation(outcome), check: outcome, loc } });
      return;
    }
    if (action.kind === 'traffic') {
      if (streams.has(action.name)) problems.push(at.problem([...segs, key, 'name'], `stream \`${action.name}\` is already defined`, 'give each traffic step its own name'));
      streams.set(action.name, action);
      streamCount++;
    }
    if (action.kind === 'capture') {
      if (captures.has(action.name)) problems.push(at.problem([...segs, key, 'name'], `capture \`${action.name}\` is already defined`, 'each capture writes <name>.pcapng; give each its own name'));
      captures.add(action.name);
    }
    steps.push({ ...base, kind: 'action', action });
  });
  return { name: raw.name, description: raw.description ?? '', file, topology: raw.topology, timeScale: raw.timeScale ?? 1, steps };
}

function buildAction(key: (typeof ACTION_KEYS)[number], v: any, segs: PathSeg[], at: Locator, problems: ScenarioProblem[], streamNo: number): ActionStep | undefined {
  switch (key) {
    case 'traffic':
      return { kind: 'traffic', name: v.name, streamId: streamNo, from: v.from, to: v.to, ratePps: v.rate, frameBytes: v.frameBytes ?? DEFAULT_FRAME_BYTES, seconds: v.seconds, udpPort: v.udpPort ?? STREAM_UDP_PORT_BASE + streamNo };
    case 'ping':
      return { kind: 'ping', from: v.from, to: v.to, count: v.count ?? DEFAULT_PING_COUNT };
    case 'link':
      return v.down !== undefined ? { kind: 'link', endpoint: v.down, up: false } : { kind: 'link', endpoint: v.up, up: true };
    case 'impair': {
      const clear = v.clear === true;
      const fields = ['lossPercent', 'direction', 'delayMs', 'jitterMs', 'seed'].filter((f) => v[f] !== undefined);
      if (clear && fields.length > 0) problems.push(at.problem([...segs, 'clear'], `clear: true takes no other settings, found ${fields.join(', ')}`));
      if (!clear && fields.length === 0) problems.push(at.problem(segs, 'impair needs lossPercent, delayMs or jitterMs (or clear: true)'));
      return { kind: 'impair', endpoint: v.endpoint, clear, ...Object.fromEntries(fields.map((f) => [f, v[f]])) } as ActionStep;
    }
    case 'flap':
      if (v.downMs >= v.periodMs) problems.push(at.problem([...segs, 'downMs'], `downMs (${v.downMs}) must be shorter than periodMs (${v.periodMs})`));
      return { kind: 'flap', endpoint: v.endpoint, periodMs: v.periodMs, downMs: v.downMs, count: v.count };
    case 'shut': return { kind: 'shut', endpoint: v, shutdown: true };
    case 'noShut': return { kind: 'shut', endpoint: v, shutdown: false };
    case 'kill': return { kind: 'kill', node: v };
    case 'restart': return { kind: 'restart', node: v };
    case 'isolate': return { kind: 'isolate', host: v, isolated: true };
    case 'noIsolate': return { kind: 'isolate', host: v, isolated: false };
    case 'power': return { kind: 'power', vm: v.vm, on: v.on };
    case 'migrate': return { kind: 'migrate', vm: v.vm, to: v.to };
    case 'setMac': {
      const mac = safeMac(v.mac);
      if (mac === undefined) {
        problems.push(at.problem([...segs, 'mac'], `${JSON.stringify(v.mac)} is not a MAC address`));
        return undefined;
      }
      return { kind: 'setMac', vm: v.vm, ...(v.nic !== undefined ? { nic: v.nic } : {}), mac, macText: macToString(mac) };
    }
    case 'set': {
      // the words of a vfab set command line; the daemons side parses them with the CLI's table
      const argv = typeof v === 'string' ? v.trim().split(/\s+/) : (v as unknown[]).map(String);
      if (argv.length < 2 || argv.length > MAX_SET_WORDS) {
        problems.push(at.problem(segs, `set needs the words of a vfab set command line (2-${MAX_SET_WORDS}), got ${argv.length}`, 'write set: port sw1 Gi1/0/1 --native-vlan 20'));
        return undefined;
      }
      return { kind: 'set', argv };
    }
    case 'wait': {
      const ms = duration(v, segs, MAX_WAIT_MS, at, problems);
      return ms === undefined ? undefined : { kind: 'wait', ms };
    }
    case 'capture': return { kind: 'capture', name: v.name, points: v.points };
    case 'vmPowerOn':
    case 'vmPowerOff': {
      const maxWaitMs = v.maxWait === undefined ? undefined : duration(v.maxWait, [...segs, 'maxWait'], MAX_POWER_WAIT_MS, at, problems);
      if (v.maxWait !== undefined && maxWaitMs === undefined) return undefined;
      return { kind: 'vmPower', vm: v.vm, host: v.host, ...pick(v, ['datastore']), on: key === 'vmPowerOn', expect: v.expect ?? 'ok', ...(maxWaitMs !== undefined ? { maxWaitMs } : {}) };
    }
    case 'vmPowerOnRace': return { kind: 'vmPowerRace', vm: v.vm, hosts: v.hosts, ...pick(v, ['datastore']), rounds: v.rounds ?? 1 };
    case 'datastoreFormat': return { kind: 'datastoreFormat', datastore: v.datastore, ...pick(v, ['host']), locking: v.locking ?? 'ats-only', force: v.force ?? false };
    case 'storageFault': {
      if (v.stall !== undefined) {
        const ms = duration(v.stall.duration, [...segs, 'stall', 'duration'], MAX_STALL_MS, at, problems);
        if (ms === undefined) return undefined;
        return { kind: 'storageFault', fault: { kind: 'stall', host: v.stall.host, array: v.stall.array, ...pick(v.stall, ['lun']), ms } as StorageFaultSpec };
      }
      if (v.paths !== undefined) return { kind: 'storageFault', fault: { kind: 'paths', host: v.paths.host, array: v.paths.array, up: v.paths.up } };
      return { kind: 'storageFault', fault: { kind: 'ats', array: v.ats.array, lun: v.ats.lun, enabled: v.ats.enabled } };
    }
    default: return undefined;
  }
}

/** Fabric ms of a duration as written, at most `max`; a problem at `segs` otherwise. */
function duration(v: unknown, segs: PathSeg[], max: number, at: Locator, problems: ScenarioProblem[]): number | undefined {
  const ms = parseDurationMs(v as number | string);
  if (ms === undefined || ms > max) {
    problems.push(at.problem(segs, ms === undefined ? `${JSON.stringify(v)} is not a duration` : `${ms} ms is longer than ${max} ms`, 'milliseconds as a number, or text such as 500ms, 2s, 1m'));
    return undefined;
  }
  return ms;
}

/** The check an action with an expected outcome carries (power steps). */
function outcomeCheck(a: ActionStep): Expectation | undefined {
  if (a.kind === 'vmPower') return { kind: 'vmPower', vm: a.vm, host: a.host, on: a.on, expect: a.expect };
  if (a.kind === 'vmPowerRace') return { kind: 'vmPowerRace', vm: a.vm, hosts: a.hosts, rounds: a.rounds };
  return undefined;
}

function buildExpectation(key: (typeof EXPECT_KEYS)[number], v: any, segs: PathSeg[], at: Locator, problems: ScenarioProblem[],
  streams: Map<string, unknown>, labels: Map<string, number>): Expectation | undefined {
  const needStream = (name: string | undefined) => {
    if (name !== undefined && !streams.has(name)) {
      problems.push(at.problem([...segs, 'stream'], `no traffic step named \`${name}\` before this point${didYouMean(name, streams.keys())}`,
        streams.size ? `streams: ${[...streams.keys()].join(', ')}` : 'start one with a traffic step first'));
    }
  };
  const needLabel = (label: string | undefined) => {
    if (label !== undefined && !labels.has(label)) {
      problems.push(at.problem([...segs, 'after'], `no step labelled \`${label}\` before this point${didYouMean(label, labels.keys())}`, 'give the step a `label:` and refer to it here'));
    }
  };
  const minMax = (min: number | undefined, max: number | undefined, dMin: number, dMax: number) => {
    const lo = min ?? dMin;
    const hi = max ?? dMax;
    if (lo > hi) problems.push(at.problem([...segs, 'min'], `min (${lo}) is larger than max (${hi})`));
    return { min: lo, max: hi };
  };
  const mac = (text: string | undefined, field = 'mac') => {
    if (text === undefined) return undefined;
    const r = safeMac(text);
    if (r === undefined) problems.push(at.problem([...segs, field], `${JSON.stringify(text)} is not a MAC address`));
    return r;
  };
  switch (key) {
    case 'framesLost':
    case 'maxGapMs':
      needStream(v.stream);
      return { kind: key, stream: v.stream, ...minMax(v.min, v.max, 0, Infinity) };
    case 'uplinkCarries':
    case 'uplinkIdle': {
      if ((v.stream === undefined) === (v.vm === undefined)) problems.push(at.problem(segs, `${key} names either a stream or a vm`, 'e.g. { endpoint: esx1.vmnic1, stream: s1 } or { endpoint: esx1.vmnic1, vm: web1 }'));
      needStream(v.stream);
      needLabel(v.after);
      return { kind: key, endpoint: v.endpoint, ...pick(v, ['stream', 'vm', 'minFrames', 'after']) };
    }
    case 'rarpCount': {
      needLabel(v.after);
      const m = mac(v.mac);
      return { kind: 'rarpCount', point: v.point, ...(m !== undefined ? { mac: m, macText: macToString(m) } : {}), direction: v.direction ?? 'any', ...minMax(v.min, v.max, v.max === 0 ? 0 : 1, Infinity), ...pick(v, ['after', 'withinMs']) };
    }
    case 'macTable': {
      const counting = ['count', 'min', 'max'].filter((k) => v[k] !== undefined);
      if (v.mac === undefined) {
        if (counting.length === 0) problems.push(at.problem(segs, 'macTable needs a mac (where is it?) or count/min/max (how many entries?)', 'e.g. { switch: sw1, mac: "00:50:56:00:10:01", port: Gi1/0/2 } or { switch: sw1, vlan: 10, port: Gi1/0/1, count: 2 }'));
        if (v.port === null) problems.push(at.problem([...segs, 'port'], 'port: null means "this MAC is not in the table" and needs a mac', 'to count entries anywhere, leave port out'));
        if (v.count !== undefined && (v.min !== undefined || v.max !== undefined)) problems.push(at.problem([...segs, 'count'], 'count takes no min or max', 'write count: N, or min/max'));
        const range = v.count !== undefined ? { min: v.count as number, max: v.count as number } : minMax(v.min, v.max, 0, Infinity);
        return { kind: 'macCount', switch: v.switch, ...pick(v, ['vlan']), ...(typeof v.port === 'string' ? { port: v.port } : {}), ...range };
      }
      if (counting.length > 0) problems.push(at.problem([...segs, counting[0]!], `${counting.join(' and ')}: counting entries takes no mac`, 'check one MAC (mac, port) or count entries (count or min/max), in two checks'));
      const m = mac(v.mac);
      if (m === undefined) return undefined;
      return { kind: 'macTable', switch: v.switch, ...(v.vlan !== undefined ? { vlan: v.vlan } : {}), mac: m, macText: macToString(m), port: v.port === undefined ? null : v.port };
    }
    case 'counter': {
      needLabel(v.after);
      const all = COUNTER_POINT_KINDS.flatMap((k) => COUNTER_NAMES[k]);
      if (!all.includes(v.name)) {
        problems.push(at.problem([...segs, 'name'], `no counter named \`${v.name}\`${didYouMean(v.name, all)}`, `counters: ${[...new Set(all)].join(', ')}`));
      }
      if (v.equals !== undefined && (v.min !== undefined || v.max !== undefined)) problems.push(at.problem([...segs, 'equals'], 'equals takes no min or max', 'write equals: N, or min/max'));
      if (v.equals === undefined && v.min === undefined && v.max === undefined) problems.push(at.problem(segs, 'a counter check needs equals, min or max', 'e.g. { point: esx1.vmnic0, name: txFrames, equals: 0 }'));
      const range = v.equals !== undefined ? { min: v.equals as number, max: v.equals as number } : minMax(v.min, v.max, 0, Infinity);
      return { kind: 'counter', point: v.point, name: v.name, ...range, ...pick(v, ['after']) };
    }
    case 'event':
      needLabel(v.after);
      return { kind: 'event', source: v.source, type: v.type, match: v.match ?? {}, ...minMax(v.min, v.max, v.max === 0 ? 0 : 1, Infinity), ...pick(v, ['after', 'withinMs']) };
    case 'ping':
      return { kind: 'ping', from: v.from, to: v.to, expect: v.expect, count: v.count ?? DEFAULT_PING_COUNT };
    case 'lock': {
      const owner: string | null = v.owner === null || v.owner === 'none' ? null : v.owner;
      if (owner === null && v.mode !== undefined && v.mode !== 'free') problems.push(at.problem([...segs, 'mode'], `owner none means the lock is free; mode ${v.mode} contradicts it`, 'drop mode, or name the owner'));
      if (owner !== null && v.mode === 'free') problems.push(at.problem([...segs, 'mode'], `mode free means nobody holds the lock; owner ${owner} contradicts it`, 'write owner: none'));
      if (v.withinMs !== undefined && v.withinMs > MAX_POLL_WINDOW_MS) problems.push(at.problem([...segs, 'withinMs'], `withinMs ${v.withinMs} is longer than ${MAX_POLL_WINDOW_MS} ms`));
      return { kind: 'lock', datastore: v.datastore, file: v.file, owner, ...pick(v, ['mode', 'host', 'withinMs']) };
    }
    case 'datastoreState':
      if (v.withinMs !== undefined && v.withinMs > MAX_POLL_WINDOW_MS) problems.push(at.problem([...segs, 'withinMs'], `withinMs ${v.withinMs} is longer than ${MAX_POLL_WINDOW_MS} ms`));
      return { kind: 'datastoreState', host: v.host, datastore: v.datastore, state: v.state, ...pick(v, ['withinMs']) };
  }
}

/** A `send` step: exactly one source of frames, each frame checked here so a bad one fails the load, not the run. */
function buildSend(v: any, segs: PathSeg[], at: Locator, problems: ScenarioProblem[], file: string): ActionStep | undefined {
  const fieldKeys = ['dst', 'src', 'vlan', 'etherType', 'payload', 'size'].filter((k) => v[k] !== undefined);
  const sources = [v.hex !== undefined ? 'hex' : '', v.pcap !== undefined ? 'pcap' : '', fieldKeys.length ? 'dst/src' : ''].filter(Boolean);
  const count: number = v.count ?? 1;
  const base = { kind: 'send' as const, point: v.point, count, ...(v.rate !== undefined ? { ratePps: v.rate } : {}) };
  if (sources.length !== 1) {
    problems.push(at.problem(segs, sources.length ? `give the frames one way, found ${sources.join(' and ')}` : 'send needs frames: hex, pcap or dst and src', 'hex: [frame as hex...], pcap: FILE, or dst: MAC and src: MAC'));
    return undefined;
  }
  if (v.timing !== undefined && v.pcap === undefined) problems.push(at.problem([...segs, 'timing'], 'timing applies to pcap only'));
  if (v.timing === true && v.rate !== undefined) problems.push(at.problem([...segs, 'rate'], "timing keeps the file's own pace; give timing or rate"));
  const frames = v.hex?.length ?? 1;
  if (frames * count > MAX_SEND_FRAMES) problems.push(at.problem([...segs, 'count'], `${frames} frame(s) x ${count} is over ${MAX_SEND_FRAMES} frames`));
  if (v.rate !== undefined && ((frames * count - 1) / v.rate) * 1000 > MAX_SEND_DURATION_MS) problems.push(at.problem([...segs, 'rate'], `${frames * count} frames at ${v.rate} per second take longer than ${MAX_SEND_DURATION_MS / 1000} s`));
  if (v.hex !== undefined) {
    const bad = (v.hex as string[]).findIndex((h, i) => {
      try {
        parseFrameHex(h, `hex[${i}]`);
        return false;
      } catch (e) {
        problems.push(at.problem([...segs, 'hex', i], (e as Error).message));
        return true;
      }
    });
    return bad >= 0 ? undefined : { ...base, hex: v.hex };
  }
  if (v.pcap !== undefined) return { ...base, pcap: resolvePath(dirname(file), v.pcap), ...(v.timing !== undefined ? { timing: v.timing } : {}) };
  const dst = safeMac(v.dst ?? '');
  const src = safeMac(v.src ?? '');
  if (dst === undefined || src === undefined) {
    problems.push(at.problem(segs, `a frame from fields needs dst and src MACs (missing ${dst === undefined ? 'dst' : 'src'})`));
    return undefined;
  }
  const fields: FrameFields = {
    dst, src, ...(v.vlan !== undefined ? { vlan: v.vlan } : {}), ...(v.etherType !== undefined ? { etherType: v.etherType } : {}),
    ...(v.payload !== undefined ? { payload: Buffer.from(v.payload, 'hex') } : {}), ...(v.size !== undefined ? { sizeBytes: v.size } : {}),
  };
  try {
    frameFromFields(fields);
  } catch (e) {
    problems.push(at.problem(segs, (e as Error).message));
    return undefined;
  }
  return { ...base, fields };
}

function safeMac(text: string): number | undefined {
  try {
    return parseMac(text);
  } catch {
    return undefined;
  }
}

function pick(v: Record<string, unknown>, keys: string[]): Record<string, any> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (v[k] !== undefined) out[k] = v[k];
  return out;
}

function didYouMean(word: string, names: Iterable<string>): string {
  const c = closestName(word, names);
  return c === undefined ? '' : ` (did you mean \`${c}\`?)`;
}

// ---- names against the topology ------------------------------------------------------------------

/**
 * Checks every VM, switch, node and endpoint a scenario names against the topology it runs on. Returns
 * problems located in the scenario file (empty when all names resolve). Needs the scenario's text again
 * for locations, so it takes a Locator-free path: each step's and expectation's `loc` is used.
 */
export function checkAgainstTopology(s: Scenario, t: Topology): ScenarioProblem[] {
  const problems: ScenarioProblem[] = [];
  const vmNames = t.hosts.flatMap((h) => h.vms.map((v) => v.name));
  const nodes = [...t.hosts.map((h) => h.name), ...t.switches.map((x) => x.name)];
  const at = (loc: { file: string; line: number; column: number; path: string }, message: string, hint?: string) =>
    problems.push({ file: loc.file, line: loc.line, column: loc.column, path: loc.path, message, ...(hint ? { hint } : {}) });
  const vm = (loc: Step['loc'], name: string) => {
    if (!findVm(t, name)) at(loc, `topology ${t.name} has no VM \`${name}\`${didYouMean(name, vmNames)}`, `VMs: ${vmNames.join(', ')}`);
  };
  const target = (loc: Step['loc'], text: string) => {
    if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) return;
    const found = findVm(t, text);
    if (!found) return vm(loc, text);
    if (!found.vm.nics.some((n) => n.ip)) at(loc, `VM \`${text}\` has no IP address to send to`, 'give one of its NICs an ip, or write an address');
  };
  const endpoint = (loc: Step['loc'], text: string, kinds: string[]) => {
    const r = resolveEndpointDetailed(t, text);
    if (!r.ok) at(loc, r.message, r.hint);
    else if (!kinds.includes(r.ref.kind)) at(loc, `${text} is a ${r.ref.kind}; expected ${kinds.join(' or ')}`);
  };
  const sw = (loc: Step['loc'], name: string) => {
    if (!findSwitch(t, name)) at(loc, `topology ${t.name} has no switch \`${name}\`${didYouMean(name, t.switches.map((x) => x.name))}`);
  };
  for (const step of s.steps) {
    if (step.kind === 'action') {
      const a = step.action;
      const loc = step.loc;
      switch (a.kind) {
        case 'traffic': vm(loc, a.from); target(loc, a.to); frameFits(loc, a); break;
        case 'ping': vm(loc, a.from); target(loc, a.to); break;
        case 'link': case 'impair': case 'flap': endpoint(loc, a.endpoint, ['uplink', 'switchPort']); break;
        case 'shut': endpoint(loc, a.endpoint, ['switchPort']); break;
        case 'kill': case 'restart':
          if (!nodes.includes(a.node)) at(loc, `topology ${t.name} has no host or switch \`${a.node}\`${didYouMean(a.node, nodes)}`);
          break;
        case 'isolate':
          if (!findHost(t, a.host)?.vmkernels.some((k) => k.services.includes('management'))) at(loc, `topology ${t.name} has no host \`${a.host}\` with a management vmkernel port${didYouMean(a.host, t.hosts.map((h) => h.name))}`);
          break;
        case 'power': vm(loc, a.vm); break;
        case 'migrate':
          vm(loc, a.vm);
          if (!t.hosts.some((h) => h.name === a.to)) at(loc, `topology ${t.name} has no host \`${a.to}\`${didYouMean(a.to, t.hosts.map((h) => h.name))}`);
          break;
        case 'setMac': {
          vm(loc, a.vm);
          const f = findVm(t, a.vm);
          if (f && a.nic !== undefined && !f.vm.nics.some((n) => n.name === a.nic)) at(loc, `VM ${a.vm} has no NIC \`${a.nic}\``, `NICs: ${f.vm.nics.map((n) => n.name).join(', ')}`);
          break;
        }
        case 'capture': for (const p of a.points) endpoint(loc, p, ['uplink', 'switchPort', 'vmNic', 'vmkernel']); break;
        case 'send': endpoint(loc, a.point, ['uplink', 'switchPort', 'vmNic']); break;
        case 'vmPower': hostDs(loc, a.host, a.datastore); break;
        case 'vmPowerRace': {
          const names = new Set(a.hosts.map((h) => hostDs(loc, h, a.datastore)).filter((x) => x !== undefined));
          if (names.size > 1) at(loc, `the racing hosts' only datastores differ (${[...names].join(', ')}): they would not race on one`, 'name the datastore: datastore: NAME');
          break;
        }
        case 'datastoreFormat':
          if (a.host !== undefined) hostDs(loc, a.host, a.datastore);
          else anyDs(loc, a.datastore);
          break;
        case 'storageFault': {
          const f = a.fault;
          if (f.kind === 'ats') {
            lun(loc, f.array, f.lun);
            break;
          }
          if (!hostNamed(loc, f.host) || !arrayNamed(loc, f.array)) break;
          const seen = findHost(t, f.host)!.storage.find((x) => x.array === f.array);
          if (!seen) at(loc, `host ${f.host} has no paths to array \`${f.array}\``, `its arrays: ${findHost(t, f.host)!.storage.map((x) => x.array).join(', ') || 'none'} (hosts[].storage)`);
          else if (f.kind === 'stall' && f.lun !== undefined && lun(loc, f.array, f.lun) && !seen.luns.includes(f.lun)) {
            at(loc, `host ${f.host} does not see LUN \`${f.lun}\` of ${f.array}`, `it sees: ${seen.luns.join(', ')}`);
          }
          break;
        }
        default: break;
      }
      continue;
    }
    for (const e of step.expectations) {
      const c = e.check;
      const loc = e.loc;
      switch (c.kind) {
        case 'uplinkCarries': case 'uplinkIdle': endpoint(loc, c.endpoint, ['uplink']); if (c.vm) vm(loc, c.vm); break;
        case 'rarpCount': endpoint(loc, c.point, ['uplink', 'switchPort', 'vmNic']); break;
        case 'counter': {
          const r = resolveEndpointDetailed(t, c.point);
          if (!r.ok) {
            at(loc, r.message, r.hint);
            break;
          }
          const kind = r.ref.kind === 'uplink' ? 'uplink' : r.ref.kind === 'switchPort' ? 'switchPort' : r.ref.kind === 'vmNic' || r.ref.kind === 'vmkernel' ? 'vswitchPort' : undefined;
          if (kind === undefined) at(loc, `${c.point} is a ${r.ref.kind}; counters are kept for vNICs, vmkernel ports, uplinks and switch ports`);
          else {
            const problem = counterNameProblem(kind, c.name);
            if (problem !== undefined && COUNTER_POINT_KINDS.some((k) => COUNTER_NAMES[k].includes(c.name))) at(loc, `${c.point}: ${problem}`);
          }
          break;
        }
        case 'macTable':
        case 'macCount': {
          sw(loc, c.switch);
          const x = findSwitch(t, c.switch);
          if (x && c.port !== null && c.port !== undefined && !x.ports.some((p) => p.name === c.port) && !x.portChannels.some((p) => p.name === c.port)) {
            at(loc, `switch ${c.switch} has no port \`${c.port}\`${didYouMean(c.port, x.ports.map((p) => p.name))}`);
          }
          break;
        }
        case 'event':
          if (!nodes.includes(c.source)) at(loc, `topology ${t.name} has no host or switch \`${c.source}\`${didYouMean(c.source, nodes)}`, 'events come from hosts and switches');
          break;
        case 'ping': vm(loc, c.from); target(loc, c.to); break;
        case 'lock':
          if (c.host !== undefined) hostDs(loc, c.host, c.datastore);
          else anyDs(loc, c.datastore);
          if (c.owner !== null) hostNamed(loc, c.owner);
          break;
        case 'datastoreState': hostDs(loc, c.host, c.datastore); break;
        default: break;
      }
    }
  }
  return problems;

  /** A traffic step's frames fit the vNIC that sends them (hostd refuses them too, VFAB_STREAM_FRAME_TOO_LARGE). */
  function frameFits(loc: Step['loc'], a: ActionStep & { kind: 'traffic' }): void {
    const found = findVm(t, a.from);
    if (!found || found.vm.nics.length === 0) return;
    const toIp = findVm(t, a.to)?.vm.nics.find((n) => n.ip)?.ip?.address ?? a.to;
    const nic = found.vm.nics[defaultNicIndex(found.vm.nics, toIp)]!;
    // topology vNICs carry no MTU of their own: the guest's default (hostd reads the live one)
    const tagged = nic.guestVlan !== undefined;
    if (a.frameBytes > vnicMaxFrameBytes(DEFAULT_MTU_BYTES, tagged)) {
      at(loc, `traffic ${a.name}: ${frameTooLargeMessage(`${a.from}.${nic.name}`, a.frameBytes, DEFAULT_MTU_BYTES, tagged)}`, `frameBytes at most ${vnicMaxFrameBytes(DEFAULT_MTU_BYTES, tagged)}`);
    }
  }
  function hostNamed(loc: Step['loc'], name: string): boolean {
    if (findHost(t, name)) return true;
    at(loc, `topology ${t.name} has no host \`${name}\`${didYouMean(name, t.hosts.map((h) => h.name))}`, `hosts: ${t.hosts.map((h) => h.name).join(', ')}`);
    return false;
  }
  function arrayNamed(loc: Step['loc'], name: string): boolean {
    if (findArray(t, name)) return true;
    at(loc, `topology ${t.name} has no array \`${name}\`${didYouMean(name, t.arrays.map((x) => x.name))}`, `arrays: ${t.arrays.map((x) => x.name).join(', ') || 'none'}`);
    return false;
  }
  function lun(loc: Step['loc'], array: string, name: string): boolean {
    if (!arrayNamed(loc, array)) return false;
    const luns = findArray(t, array)!.luns.map((l) => l.name);
    if (luns.includes(name)) return true;
    at(loc, `array ${array} has no LUN \`${name}\`${didYouMean(name, luns)}`, `its LUNs: ${luns.join(', ') || 'none'}`);
    return false;
  }
  /** The datastore `host` uses for `ds` (its only one when absent); a problem when it does not list it. */
  function hostDs(loc: Step['loc'], host: string, ds: string | undefined): string | undefined {
    if (!hostNamed(loc, host)) return undefined;
    const r = resolveHostDatastore(t, host, ds);
    if (!r.ok) at(loc, r.message, r.hint);
    return r.ok ? r.name : undefined;
  }
  function anyDs(loc: Step['loc'], ds: string): void {
    const all = [...new Set(t.hosts.flatMap((h) => (h.datastores ?? []).map((d) => d.name)))];
    if (!all.includes(ds)) at(loc, `no host of topology ${t.name} lists a datastore \`${ds}\`${didYouMean(ds, all)}`, all.length ? `datastores: ${all.join(', ')}` : 'hosts list datastores under hosts[].datastores');
  }
}

/**
 * The datastore `host` acts on for a step naming `ds` (or none: the host's only datastore). Used by the
 * topology check and by the driver, so both agree on the default.
 */
export function resolveHostDatastore(t: Topology, host: string, ds: string | undefined): { ok: true; name: string } | { ok: false; message: string; hint?: string } {
  const h = findHost(t, host);
  if (!h) return { ok: false, message: `topology ${t.name} has no host \`${host}\`` };
  const names = (h.datastores ?? []).map((d) => d.name);
  if (ds === undefined) {
    if (names.length === 1) return { ok: true, name: names[0]! };
    return names.length === 0
      ? { ok: false, message: `host ${host} lists no datastore`, hint: 'list it under hosts[].datastores in the topology' }
      : { ok: false, message: `host ${host} lists ${names.length} datastores (${names.join(', ')}): say which`, hint: 'add datastore: NAME' };
  }
  if (names.includes(ds)) return { ok: true, name: ds };
  return { ok: false, message: `host ${host} lists no datastore \`${ds}\`${didYouMean(ds, names)}`, hint: names.length ? `its datastores: ${names.join(', ')}` : 'list it under hosts[].datastores in the topology' };
}

/** Throws ScenarioError(VFAB_SCENARIO_INVALID) when the scenario names things the topology lacks. */
export function assertAgainstTopology(s: Scenario, t: Topology): void {
  const problems = checkAgainstTopology(s, t);
  if (problems.length > 0) fail(problems);
}
