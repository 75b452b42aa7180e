// vfab fault: inject faults into a running fabric (kill/restart a daemon, impair or flap a link end,
// shut a switch port). Thin CLI over daemons/fabric/faults.ts; see docs/failover.md.

import { readState } from '../../fabric/state.js';
import { killDaemon, restartDaemon, impairEndpoint, flapEndpoint, clearEndpoint, shutPort } from '../../fabric/faults.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, UsageError, EXIT_OK } from '../io.js';

/** Longest impairment delay or jitter, and longest flap period or down time (fabric ms). */
export const MAX_FAULT_DELAY_MS = 60_000;
export const MAX_FLAP_PERIOD_MS = 3_600_000;
export const MAX_FLAP_COUNT = 5000;

const fault = defineCommand(
  {
    usage: ['kill|restart NODE [--json]', 'impair ENDPOINT [--loss PCT] [--direction tx|rx|both] [--delay-ms MS] [--jitter-ms MS] [--seed N] [--json]', 'flap ENDPOINT [--period-ms MS] [--down-ms MS] [--count N] [--json]', 'clear|shut|no-shut ENDPOINT [--json]'],
    description: `Breaks things on purpose, so you can watch what teaming, MAC learning and storage do about it.
Follow the effects with: vfab events, vfab status, vfab mac-table SWITCH.

actions:
  kill NODE            SIGKILL the daemon of a host, switch or array (no clean shutdown: its peers
                       see their links drop, like a power cut)
  restart NODE         start NODE again with the same config on the same port (stops it first if it
                       still runs) and set it up as vfab up did: its links are dialled again, a host
                       attaches its arrays again, and the hosts of a restarted array reconnect their
                       paths to it (restart returns once they have); an array keeps its data
  impair ENDPOINT      loss, delay and jitter on one cable end, decided from a seed so runs repeat
  flap ENDPOINT        take the link down and up on a schedule (carrier lost at both ends)
  clear ENDPOINT       remove impairments and cancel a flap on ENDPOINT
  shut ENDPOINT        "shutdown" a physical switch port (sw1.Gi1/0/1): the host sees link down
  no-shut ENDPOINT     "no shutdown"

ENDPOINT is a cable end: a host uplink (esx1.vmnic0) or a switch port (sw1.Gi1/0/1).
Times are on the fabric's clock: with vfab up --time-scale 10 a 2000 ms period takes 200 ms.`,
    options: {
      loss: { type: 'number', value: 'PCT', min: 0, max: 100, verbs: ['impair'], description: 'frames lost, percent' },
      direction: { type: 'enum', values: ['tx', 'rx', 'both'], default: 'both', verbs: ['impair'], description: 'tx (frames ENDPOINT sends), rx (frames it receives) or both' },
      'delay-ms': { type: 'duration', unit: 'ms', min: 0, max: MAX_FAULT_DELAY_MS, verbs: ['impair'], description: 'one-way delay added at this end, each direction' },
      'jitter-ms': { type: 'duration', unit: 'ms', min: 0, max: MAX_FAULT_DELAY_MS, verbs: ['impair'], description: 'uniform +-MS around the delay (frames are never reordered)' },
      seed: { type: 'int', min: 0, max: 2 ** 32 - 1, default: 1, verbs: ['impair'], description: 'random seed: same seed, same frames lost' },
      'period-ms': { type: 'duration', unit: 'ms', min: 1, max: MAX_FLAP_PERIOD_MS, default: 2000, verbs: ['flap'], description: 'one flap cycle' },
      'down-ms': { type: 'duration', unit: 'ms', min: 1, max: MAX_FLAP_PERIOD_MS, default: 500, verbs: ['flap'], description: 'down time at the start of each cycle (shorter than --period-ms)' },
      count: { type: 'int', min: 1, max: MAX_FLAP_COUNT, default: 3, verbs: ['flap'], description: 'flap cycles' },
      json: JSON_OPTION,
    },
    args: { min: 2, max: 2 },
    verbs: ['kill', 'restart', 'impair', 'flap', 'clear', 'shut', 'no-shut'],
    examples: [
      'fault impair esx1.vmnic0 --loss 5 --direction tx --seed 7',
      'fault flap sw1.Gi1/0/1 --period-ms 4000 --down-ms 1000 --count 2',
      'fault kill sw2 && vfab fault restart sw2',
    ],
  },
  async ({ values, positionals, typed }, io) => {
    const [action, target] = positionals as [string, string];
    const state = readState();
    let result: unknown;
    let line: string;
    switch (action) {
      case 'kill': {
        const r = await killDaemon(state, target);
        result = r;
        line = r.wasRunning ? `killed ${target} (pid ${r.pid}, SIGKILL)` : `${target} (pid ${r.pid}) was not running`;
        break;
      }
      case 'restart': {
        const r = await restartDaemon(state, target);
        result = r;
        const storage = `${r.storage.length ? `, ${r.kind === 'array' ? 'hosts reconnected' : 'arrays attached'}: ${r.storage.join(', ')}` : ''}${r.arraysDown.length ? `, not running (attached when restarted): ${r.arraysDown.join(', ')}` : ''}`;
        line = `restarted ${target}: pid ${r.pid} on port ${r.port}${r.redialled.length ? `, redialled ${r.redialled.join(', ')}` : ''}${storage}; every link is up`;
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
