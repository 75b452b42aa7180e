// The typed scenario model that lib/scenario/load.ts builds from a scenario YAML file: the topology it
// runs on, the time scale, and ordered steps (actions and expect blocks). Plain data; every step and
// expectation keeps its source location for error messages and reports. Every time in a scenario is
// fabric time (the daemons' scaled clock), in ms. Leaves out running (runner.ts) and checking
// (evaluate.ts). Teaming semantics the shipped scenarios exercise: spec §3 and §6; datastore steps and
// checks (VM power-on locks, storage faults, lock owners, datastore state): docs/vsphere-behaviour.md §7.

import type { Mac } from '../wire/mac.js';
import type { SourceLoc } from '../topology/model.js';
import type { FrameFields } from '../traffic/crafted.js';

/** Largest scenario file read; checked before parsing. */
export const MAX_SCENARIO_FILE_BYTES = 1024 * 1024;
/** Longest single `wait` (fabric time). */
export const MAX_WAIT_MS = 3_600_000;
/** Default frame size of a traffic step. */
export const DEFAULT_FRAME_BYTES = 128;
/** First UDP port given to traffic steps without one (stream n gets BASE + n). */
export const STREAM_UDP_PORT_BASE = 9000;
export const DEFAULT_PING_COUNT = 3;
/** Most words in one `set:` step (a vfab set command line). */
export const MAX_SET_WORDS = 64;
/** Most rounds of one vmPowerOnRace step. */
export const MAX_RACE_ROUNDS = 100;
/** Most hosts racing in one vmPowerOnRace step. */
export const MAX_RACE_HOSTS = 16;
/** Longest `withinMs` of a polled check (lock, datastoreState), fabric ms. */
export const MAX_POLL_WINDOW_MS = 3_600_000;
/** Longest `maxWait` of a VM power-on (fabric ms; hostd's own bound, MAX_POWER_ON_WAIT_MS). */
export const MAX_POWER_WAIT_MS = 600_000;

/** What a power step expects: success, refused because another host holds the VM's files, or any other failure. */
export type PowerOutcome = 'ok' | 'locked' | 'fails';
export const POWER_OUTCOMES: readonly PowerOutcome[] = ['ok', 'locked', 'fails'];
/** On-disk lock modes of a datastore file (docs/datastore-format.md). */
export type LockMode = 'free' | 'exclusive' | 'read-only' | 'multi-writer';
/** A host's datastore states (hostd's GET /control/datastores). */
export const DATASTORE_STATES = ['waiting', 'unformatted', 'foreign', 'mounting', 'mounted', 'offline', 'unmounted', 'failed'] as const;
export type DatastoreStateName = (typeof DATASTORE_STATES)[number];

/**
 * A storage fault (the same shape as daemons/fabric/storage-faults.ts StorageFault): stall a host's I/O
 * to an array (or one LUN) for `ms` fabric ms, fail or restore every path of a host to an array, or turn
 * ATS off or on for a LUN.
 */
export type StorageFaultSpec =
  | { kind: 'stall'; host: string; array: string; lun?: string; ms: number }
  | { kind: 'paths'; host: string; array: string; up: boolean }
  | { kind: 'ats'; array: string; lun: string; enabled: boolean };

export type ActionStep =
  | { kind: 'traffic'; name: string; streamId: number; from: string; to: string; ratePps: number; frameBytes: number; seconds: number; udpPort: number }
  | { kind: 'ping'; from: string; to: string; count: number }
  | { kind: 'link'; endpoint: string; up: boolean }
  | { kind: 'impair'; endpoint: string; lossPercent?: number; direction?: 'tx' | 'rx' | 'both'; delayMs?: number; jitterMs?: number; seed?: number; clear: boolean }
  | { kind: 'flap'; endpoint: string; periodMs: number; downMs: number; count: number }
  | { kind: 'shut'; endpoint: string; shutdown: boolean }
  | { kind: 'kill'; node: string }
  | { kind: 'restart'; node: string }
  /** Cut (isolated) or restore a host's management network (its management vmk's vSwitch port). */
  | { kind: 'isolate'; host: string; isolated: boolean }
  | { kind: 'power'; vm: string; on: boolean }
  /** vMotion `vm` to host `to` and wait until it ends (docs/vmotion.md); a migration that does not end on `to` fails the step. */
  | { kind: 'migrate'; vm: string; to: string }
  | { kind: 'setMac'; vm: string; nic?: string; mac: Mac; macText: string }
  /** A live configuration change: the words of a `vfab set` command line without `set` (docs/reconfigure.md). */
  | { kind: 'set'; argv: string[] }
  /** Crafted frames at `point` (daemons/fabric/send.ts): hex frames, a capture file (path as resolved), or fields. */
  | { kind: 'send'; point: string; hex?: string[]; pcap?: string; timing?: boolean; fields?: FrameFields; count: number; ratePps?: number }
  | { kind: 'wait'; ms: number }
  | { kind: 'capture'; name: string; points: string[] }
  /** Power a VM on or off through `host`'s datastore (`datastore` absent: the host's only one); the outcome is checked. */
  | { kind: 'vmPower'; vm: string; host: string; datastore?: string; on: boolean; expect: PowerOutcome; maxWaitMs?: number }
  /** Every host powers the VM on at the same moment, `rounds` times; each round needs exactly one winner, who powers it off again. */
  | { kind: 'vmPowerRace'; vm: string; hosts: string[]; datastore?: string; rounds: number }
  /** Format a datastore through `host` (default: the first host listing it) and mount it on every host listing it. */
  | { kind: 'datastoreFormat'; datastore: string; host?: string; locking: 'ats-only' | 'ats-scsi'; force: boolean }
  | { kind: 'storageFault'; fault: StorageFaultSpec };

export type Expectation =
  | { kind: 'framesLost'; stream: string; max: number; min: number }
  | { kind: 'maxGapMs'; stream: string; max: number; min: number }
  | { kind: 'uplinkCarries' | 'uplinkIdle'; endpoint: string; stream?: string; vm?: string; minFrames?: number; after?: string }
  | { kind: 'rarpCount'; point: string; mac?: Mac; macText?: string; direction: 'in' | 'out' | 'any'; min: number; max: number; after?: string; withinMs?: number }
  | { kind: 'macTable'; switch: string; vlan?: number; mac: Mac; macText: string; port: string | null }
  /** A `macTable` check without a MAC: how many entries the switch has (in `vlan`, at `port`). */
  | { kind: 'macCount'; switch: string; vlan?: number; port?: string; min: number; max: number }
  /** A port counter's growth since the anchor step started (its `after` label, else the last action before the check). */
  | { kind: 'counter'; point: string; name: string; min: number; max: number; after?: string }
  | { kind: 'event'; source: string; type: string; match: Record<string, string | number | boolean>; min: number; max: number; after?: string; withinMs?: number }
  | { kind: 'ping'; from: string; to: string; expect: 'reachable' | 'unreachable'; count: number }
  /** Polled: the file's on-disk lock is held by `owner` (null: by nobody), in `mode` when given. */
  | { kind: 'lock'; datastore: string; file: string; owner: string | null; mode?: LockMode; host?: string; withinMs?: number }
  /** Polled: `host` sees `datastore` in `state`. */
  | { kind: 'datastoreState'; host: string; datastore: string; state: DatastoreStateName; withinMs?: number }
  /** The outcome of a vmPower action step (built from the step, not written in an expect block). */
  | { kind: 'vmPower'; vm: string; host: string; on: boolean; expect: PowerOutcome }
  /** The outcome of a vmPowerOnRace step: exactly one winner in every round, the others refused as locked. */
  | { kind: 'vmPowerRace'; vm: string; hosts: string[]; rounds: number };

export type ExpectationKind = Expectation['kind'];

export interface ExpectationSpec {
  /** Stable id: `<step index>.<item index>` (1-based), e.g. "7.2". */
  id: string;
  /** JUnit test case name: the `name` field, else a generated summary. */
  name: string;
  check: Expectation;
  loc: SourceLoc;
}

export type Step =
  /** `outcome`: the check an action with an expected result carries (vmPowerOn/Off, vmPowerOnRace), id `<index>.1`. */
  | { index: number; label?: string; note?: string; kind: 'action'; action: ActionStep; outcome?: ExpectationSpec; loc: SourceLoc }
  | { index: number; label?: string; note?: string; kind: 'expect'; expectations: ExpectationSpec[]; loc: SourceLoc };

export interface Scenario {
  name: string;
  description: string;
  file: string;
  /** As written (relative to the scenario file). */
  topology: string;
  timeScale: number;
  steps: Step[];
}

/** Milliseconds from a duration as written: a number (ms) or text "500ms", "2s", "1.5s", "1m". */
export function parseDurationMs(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** One-line description of an action, for the timeline and reports. */
export function describeAction(a: ActionStep): string {
  switch (a.kind) {
    case 'traffic': return `traffic ${a.name}: ${a.from} -> ${a.to}, ${a.ratePps} pps x ${a.frameBytes} B for ${a.seconds} s`;
    case 'ping': return `ping ${a.from} -> ${a.to} (${a.count})`;
    case 'link': return `link ${a.endpoint} ${a.up ? 'up' : 'down'}`;
    case 'impair': return a.clear ? `impair ${a.endpoint}: clear` : `impair ${a.endpoint}: ${[
      a.lossPercent !== undefined ? `loss ${a.lossPercent}%` : '', a.direction ? `dir ${a.direction}` : '',
      a.delayMs !== undefined ? `delay ${a.delayMs} ms` : '', a.jitterMs !== undefined ? `jitter ${a.jitterMs} ms` : '',
      a.seed !== undefined ? `seed ${a.seed}` : ''].filter(Boolean).join(', ')}`;
    case 'flap': return `flap ${a.endpoint}: ${a.count} x (down ${a.downMs} ms every ${a.periodMs} ms)`;
    case 'shut': return `${a.shutdown ? 'shutdown' : 'no shutdown'} ${a.endpoint}`;
    case 'kill': return `kill ${a.node}`;
    case 'restart': return `restart ${a.node}`;
    case 'isolate': return `${a.isolated ? 'isolate' : 'reconnect'} ${a.host}'s management network`;
    case 'power': return `power ${a.on ? 'on' : 'off'} ${a.vm}`;
    case 'migrate': return `migrate ${a.vm} to ${a.to} (vMotion)`;
    case 'set': return `set ${a.argv.map((w) => (/^[^\s'"]+$/.test(w) ? w : JSON.stringify(w))).join(' ')}`;
    case 'setMac': return `set MAC of ${a.vm}${a.nic ? `.${a.nic}` : ''} to ${a.macText}`;
    case 'send': return `send ${a.count > 1 ? `${a.count} x ` : ''}${a.hex ? `${a.hex.length} hex frame(s)` : a.pcap ? `the frames of ${a.pcap}${a.timing ? ' (timed)' : ''}` : 'a frame from fields'} at ${a.point}${a.ratePps !== undefined ? `, ${a.ratePps} pps` : ''}`;
    case 'wait': return `wait ${a.ms} ms`;
    case 'capture': return `capture ${a.name}: ${a.points.join(', ')}`;
    case 'vmPower': return `power ${a.on ? 'on' : 'off'} ${a.vm} on ${a.host}${a.datastore ? ` (${a.datastore})` : ''}${a.maxWaitMs !== undefined ? `, waiting at most ${a.maxWaitMs} ms` : ''}, expect ${a.expect}`;
    case 'vmPowerRace': return `race to power on ${a.vm} from ${a.hosts.join(', ')}${a.datastore ? ` (${a.datastore})` : ''}, ${a.rounds} round(s)`;
    case 'datastoreFormat': return `format ${a.datastore}${a.host ? ` through ${a.host}` : ''} (${a.locking}${a.force ? ', force' : ''})`;
    case 'storageFault': return describeStorageFault(a.fault);
  }
}

export function describeStorageFault(f: StorageFaultSpec): string {
  switch (f.kind) {
    case 'stall': return f.ms === 0 ? `end the stall of ${f.host}'s I/O to ${f.array}${f.lun ? `/${f.lun}` : ''}` : `stall ${f.host}'s I/O to ${f.array}${f.lun ? `/${f.lun}` : ''} for ${f.ms} ms`;
    case 'paths': return `${f.up ? 'restore' : 'fail'} every path of ${f.host} to ${f.array}`;
    case 'ats': return `ATS ${f.enabled ? 'on' : 'off'} on ${f.array}/${f.lun}`;
  }
}

/** One-line description of an expectation (the default JUnit name). */
export function describeExpectation(e: Expectation): string {
  const range = (min: number, max: number) => (max === Infinity ? `at least ${min}` : min === max ? `exactly ${min}` : `${min}-${max}`);
  switch (e.kind) {
    case 'framesLost': return `stream ${e.stream} loses ${e.min > 0 ? `${e.min}-${e.max}` : `at most ${e.max}`} frames`;
    case 'maxGapMs': return `stream ${e.stream} has no gap longer than ${e.max} ms${e.min > 0 ? ` (and one of at least ${e.min} ms)` : ''}`;
    case 'uplinkCarries': return `${e.endpoint} carries ${e.stream ? `stream ${e.stream}` : `${e.vm}'s traffic`}`;
    case 'uplinkIdle': return `${e.endpoint} does not carry ${e.stream ? `stream ${e.stream}` : `${e.vm}'s traffic`}`;
    case 'rarpCount': return `${range(e.min, e.max)} RARPs${e.macText ? ` for ${e.macText}` : ''} at ${e.point}${e.direction === 'any' ? '' : ` (${e.direction})`}`;
    case 'macTable': return e.port === null
      ? `${e.switch} has no entry for ${e.macText}${e.vlan !== undefined ? ` in VLAN ${e.vlan}` : ''}`
      : `${e.switch} has ${e.macText}${e.vlan !== undefined ? ` in VLAN ${e.vlan}` : ''} at ${e.port}`;
    case 'macCount': return `${e.switch} has ${range(e.min, e.max)} MAC entries${e.vlan !== undefined ? ` in VLAN ${e.vlan}` : ''}${e.port !== undefined ? ` at ${e.port}` : ''}`;
    case 'counter': return `${e.point} ${e.name} grows by ${range(e.min, e.max)}${e.after ? ` after ${e.after}` : ''}`;
    case 'event': {
      const m = Object.entries(e.match).map(([k, v]) => `${k}=${String(v)}`).join(' ');
      const count = e.min === 1 && e.max === Infinity ? (/^[aeiou]/i.test(e.type) ? 'an' : 'a') : e.max === 0 ? 'no' : range(e.min, e.max);
      return `${count} ${e.type} event from ${e.source}${m ? ` with ${m}` : ''}${e.withinMs !== undefined ? ` within ${e.withinMs} ms` : ''}`;
    }
    case 'ping': return `${e.from} ${e.expect === 'reachable' ? 'reaches' : 'does not reach'} ${e.to}`;
    case 'lock': return `${e.datastore} ${e.file} is ${e.owner === null ? 'not locked' : `locked by ${e.owner}`}${e.mode && e.owner !== null ? ` (${e.mode})` : ''}${e.withinMs !== undefined ? ` within ${e.withinMs} ms` : ''}`;
    case 'datastoreState': return `${e.host} sees ${e.datastore} ${e.state}${e.withinMs !== undefined ? ` within ${e.withinMs} ms` : ''}`;
    case 'vmPower': return `power-${e.on ? 'on' : 'off'} of ${e.vm} on ${e.host}: ${e.expect === 'ok' ? 'succeeds' : e.expect === 'locked' ? 'refused, locked by another host' : 'fails'}`;
    case 'vmPowerRace': return `${e.hosts.join(' and ')} race to power on ${e.vm}: exactly one wins${e.rounds > 1 ? ` each of ${e.rounds} rounds` : ''}`;
  }
}
