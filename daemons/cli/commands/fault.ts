// vfab fault: inject faults into a running fabric (kill/restart a daemon, impair or flap a link end,
// shut a switch port; stall a host's storage I/O, fail all its paths to an array, turn ATS off on a LUN).
// Thin CLI over daemons/fabric/faults.ts and storage-faults.ts; see docs/failover.md and docs/datastores.md.

import { readState } from '../../fabric/state.js';
import { killDaemon, restartDaemon, impairEndpoint, flapEndpoint, clearEndpoint, shutPort, isolateHost } from '../../fabric/faults.js';
import { applyStorageFault, MAX_STORAGE_STALL_MS, type StorageFault } from '../../fabric/storage-faults.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, UsageError, EXIT_OK } from '../io.js';

/** Longest impairment delay or jitter, and longest flap period or down time (fabric ms). */
export const MAX_FAULT_DELAY_MS = 60_000;
export const MAX_FLAP_PERIOD_MS = 3_600_000;
export const MAX_FLAP_COUNT = 5000;

/** Positional arguments of each action, verb included (the table's args give the overall range). */
const ARITY: Record<string, { n: number; usage: string }> = {
  'storage-stall': { n: 3, usage: 'storage-stall HOST ARRAY[/LUN] --seconds N' },
  'storage-paths': { n: 4, usage: 'storage-paths HOST ARRAY down|up' },
  ats: { n: 3, usage: 'ats ARRAY/LUN off|on' },
};

/** "array1/shared1" or "array1" into its parts; each part a non-empty name without a further slash. */
function arrayLun(text: string, lunRequired: boolean): { array: string; lun?: string } {
  const parts = text.split('/');
  const ok = parts.length <= 2 && parts.every((p) => p !== '') && (!lunRequired || parts.length === 2);
  if (!ok) throw new UsageError(`${JSON.stringify(text)}: write ${lunRequired ? 'ARRAY/LUN, e.g. array1/shared1' : 'ARRAY or ARRAY/LUN, e.g. array1 or array1/shared1'}`);
  return parts.length === 2 ? { array: parts[0]!, lun: parts[1]! } : { array: parts[0]! };
}

/** "down|up" / "off|on" as a boolean, or a usage error naming what was typed. */
function upDown(text: string, up: string, down: string): boolean {
  if (text === up) return true;
  if (text === down) return false;
  throw new UsageError(`${JSON.stringify(text)}: write ${down} or ${up}`);
}

const fault = defineCommand(
  {
    usage: [
      'kill|restart NODE [--json]', 'isolate|no-isolate HOST [--json]', 'impair ENDPOINT [--loss PCT] [--direction tx|rx|both] [--delay-ms MS] [--jitter-ms MS] [--seed N] [--json]',
      'flap ENDPOINT [--period-ms MS] [--down-ms MS] [--count N] [--json]', 'clear|shut|no-shut ENDPOINT [--json]',
      'storage-stall HOST ARRAY[/LUN] --seconds N [--json]', 'storage-paths HOST ARRAY down|up [--json]', 'ats ARRAY/LUN off|on [--json]',
    ],
    description: `Breaks things on purpose, so you can watch what teaming, MAC learning and storage do about it.
Follow the effects with: vfab events, vfab status, vfab mac-table SWITCH.

actions:
  kill NODE            SIGKILL the daemon of a host, switch or array (no clean shutdown: its peers
                       see their links drop, like a power cut); a host sharing a process
                       (vfab up --hosts-per-process): only its worker thread is terminated
  restart NODE         start NODE again with the same config on the same port (stops it first if it
                       still runs) and set it up as vfab up did: its links are dialled again, a host
                       attaches its arrays again, and the hosts of a restarted array reconnect their
                       paths to it (restart returns once they have); an array keeps its data
  isolate HOST         cut only HOST's management network: its management vmkernel port's vSwitch
                       port is blocked (HA heartbeats and pings stop; its VMs and storage go on)
  no-isolate HOST      unblock it
  impair ENDPOINT      loss, delay and jitter on one cable end, decided from a seed so runs repeat
  flap ENDPOINT        take the link down and up on a schedule (carrier lost at both ends)
  clear ENDPOINT       remove impairments and cancel a flap on ENDPOINT
  shut ENDPOINT        "shutdown" a physical switch port (sw1.Gi1/0/1): the host sees link down
  no-shut ENDPOINT     "no shutdown"
  storage-stall HOST ARRAY[/LUN] --seconds N
                       hold every I/O HOST sends to ARRAY (or one LUN of it) for N seconds, as if
                       the storage network stopped moving; then the held commands are sent, except
                       those HOST gave up on meanwhile. --seconds 0 ends a stall early
  storage-paths HOST ARRAY down|up
                       fail (down) or restore (up) every path of HOST to ARRAY: all its storage
                       cables at once; its datastores there go offline after the lease
  ats ARRAY/LUN off|on turn ATS (COMPARE AND WRITE) off on a LUN, like an array without it: hosts
                       fall back to SCSI-2 reservations for datastore metadata; on again restores it

ENDPOINT is a cable end: a host uplink (esx1.vmnic0) or a switch port (sw1.Gi1/0/1).
Times are on the fabric's clock: with vfab up --time-scale 10 a 2000 ms period takes 200 ms,
and a 20 s storage stall takes 2 s.`,
    options: {
      loss: { type: 'number', value: 'PCT', min: 0, max: 100, verbs: ['impair'], description: 'frames lost, percent' },
      direction: { type: 'enum', values: ['tx', 'rx', 'both'], default: 'both', verbs: ['impair'], description: 'tx (frames ENDPOINT sends), rx (frames it receives) or both' },
      'delay-ms': { type: 'duration', unit: 'ms', min: 0, max: MAX_FAULT_DELAY_MS, verbs: ['impair'], description: 'one-way delay added at this end, each direction' },
      'jitter-ms': { type: 'duration', unit: 'ms', min: 0, max: MAX_FAULT_DELAY_MS, verbs: ['impair'], description: 'uniform +-MS around the delay (frames are never reordered)' },
      seed: { type: 'int', min: 0, max: 2 ** 32 - 1, default: 1, verbs: ['impair'], description: 'random seed: same seed, same frames lost' },
      'period-ms': { type: 'duration', unit: 'ms', min: 1, max: MAX_FLAP_PERIOD_MS, default: 2000, verbs: ['flap'], description: 'one flap cycle' },
      'down-ms': { type: 'duration', unit: 'ms', min: 1, max: MAX_FLAP_PERIOD_MS, default: 500, verbs: ['flap'], description: 'down time at the start of each cycle (shorter than --period-ms)' },
      count: { type: 'int', min: 1, max: MAX_FLAP_COUNT, default: 3, verbs: ['flap'], description: 'flap cycles' },
      seconds: { type: 'duration', unit: 's', min: 0, max: MAX_STORAGE_STALL_MS / 1000, required: true, verbs: ['storage-stall'], description: 'how long the stall lasts (fabric time); 0 ends one' },
      json: JSON_OPTION,
    },
    args: { min: 2, max: 4 },
    verbs: ['kill', 'restart', 'isolate', 'no-isolate', 'impair', 'flap', 'clear', 'shut', 'no-shut', 'storage-stall', 'storage-paths', 'ats'],
    examples: [
      'fault impair esx1.vmnic0 --loss 5 --direction tx --seed 7',
      'fault kill sw2 && vfab fault restart sw2',
      'fault storage-stall esx1 array1/shared1 --seconds 20',
    ],
  },
  async ({ values, positionals, typed }, io) => {
    const [action, target] = positionals as [string, string];
    const want = ARITY[action]?.n ?? 2;
    if (positionals.length !== want) {
      const extra = positionals.length > want ? `: unexpected ${positionals.slice(want).map((p) => JSON.stringify(p)).join(' ')}` : '';
      throw new UsageError(`vfab fault ${ARITY[action]?.usage ?? `${action} ${action === 'kill' || action === 'restart' ? 'NODE' : action.endsWith('isolate') ? 'HOST' : 'ENDPOINT'}`} takes ${want - 1} argument${want === 2 ? '' : 's'}${extra}`);
    }
    let storage: StorageFault | undefined;
    if (action === 'storage-stall') storage = { kind: 'stall', host: target, ...arrayLun(positionals[2]!, false), ms: Math.round(values.seconds! * 1000) };
    else if (action === 'storage-paths') {
      const { array, lun } = arrayLun(positionals[2]!, false);
      if (lun !== undefined) throw new UsageError(`${JSON.stringify(positionals[2])}: storage-paths acts on every path to an array: write ARRAY, e.g. ${array}`);
      storage = { kind: 'paths', host: target, array, up: upDown(positionals[3]!, 'up', 'down') };
    }
    else if (action === 'ats') {
      const { array, lun } = arrayLun(target, true);
      storage = { kind: 'ats', array, lun: lun!, enabled: upDown(positionals[2]!, 'on', 'off') };
    }
    const state = readState();
    if (storage !== undefined) {
      const r = await applyStorageFault(state, storage);
      if (values.json) printJson(io, { fault: storage, message: r.message, result: r.detail ?? null });
      else io.out(r.message);
      return EXIT_OK;
    }
    let result: unknown;
    let line: string;
    switch (action) {
      case 'kill': {
        const r = await killDaemon(state, target);
        result = r;
        line = r.wasRunning ? `killed ${target} (pid ${r.pid}, ${r.group !== undefined ? `its worker thread in ${r.group} terminated` : 'SIGKILL'})` : `${target} (pid ${r.pid}) was not running`;
        break;
      }
      case 'restart': {
        const r = await restartDaemon(state, target);
        result = r;
        const storage = `${r.storage.length ? `, ${r.kind === 'array' ? 'hosts reconnected' : 'arrays attached'}: ${r.storage.join(', ')}` : ''}${r.arraysDown.length ? `, not running (attached when restarted): ${r.arraysDown.join(', ')}` : ''}`;
        line = `restarted ${target}: pid ${r.pid} on port ${r.port}${r.redialled.length ? `, redialled ${r.redialled.join(', ')}` : ''}${storage}; every link is up`;
        break;
      }
      case 'isolate':
      case 'no-isolate': {
        const r = await isolateHost(state, target, action === 'isolate');
        result = r;
        line = `${target}: management network ${r.up ? 'restored' : 'cut'} (${r.vmk} ${r.up ? 'unblocked' : 'blocked'} at its vSwitch port)`;
        break;
      }
      case 'impair': {
        const dir = values.direction as 'tx' | 'rx' | 'both';
        const req = {
          ...(values.loss !== undefined ? { lossPercent: values.loss } : {}),
          direction: dir,
          ...(values['delay-ms'] !== undefined ? { delayMs: values['delay-ms'] } : {}),
          ...(values['jitter-ms'] !== undefined ? { jitterMs: values['jitter-ms'] } : {}),
          seed: values.seed,
        };
        if (req.lossPercent === undefined && req.delayMs === undefined && req.jitterMs === undefined) throw new UsageError('impair needs at least one of --loss, --delay-ms, --jitter-ms (use `vfab fault clear` to remove)');
        result = await impairEndpoint(state, target, req);
        line = `${target}: ${req.lossPercent !== undefined ? `${req.lossPercent}% loss (${dir}) ` : ''}${req.delayMs !== undefined ? `delay ${req.delayMs} ms ` : ''}${req.jitterMs !== undefined ? `jitter ${req.jitterMs} ms ` : ''}seed ${req.seed}`;
        break;
      }
      case 'flap': {
        const periodMs = values['period-ms'];
        const downMs = values['down-ms'];
        const count = values.count;
        if (downMs >= periodMs) throw new UsageError(`${typed['down-ms'] ?? `--down-ms ${downMs} (default)`}: must be shorter than --period-ms (${periodMs})`);
        result = await flapEndpoint(state, target, { periodMs, downMs, count });
        line = `${target}: flapping ${count}x (down ${downMs} ms every ${periodMs} ms, fabric clock)`;
        break;
      }
      case 'clear':
        result = await clearEndpoint(state, target);
        line = `${target}: impairment and flap cleared`;
        break;
      case 'shut':
      case 'no-shut':
        result = await shutPort(state, target, action === 'shut');
        line = `${target}: ${action === 'shut' ? 'shutdown' : 'no shutdown'}`;
        break;
      default:
        throw new UsageError(`unknown fault action ${JSON.stringify(action)}`);
    }
    if (values.json) printJson(io, result);
    else io.out(line);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { fault };
