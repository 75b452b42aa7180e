// vfab fault: inject faults into a running fabric (kill/restart a daemon, impair or flap a link end,
// shut a switch port). Thin CLI over daemons/fabric/faults.ts; see docs/failover.md.

import { readState } from '../../fabric/state.js';
import { killDaemon, restartDaemon, impairEndpoint, flapEndpoint, clearEndpoint, shutPort } from '../../fabric/faults.js';
import { type CliIo, type CommandTable, parse, printJson, UsageError, EXIT_OK } from '../io.js';

export const FAULT_USAGE = `usage: vfab fault ACTION TARGET [options] [--json]

Breaks things on purpose, so you can watch what teaming, MAC learning and storage do about it.
Follow the effects with: vfab events, vfab status, vfab mac-table SWITCH.

actions:
  kill NODE            SIGKILL the daemon of a host, switch or array (no clean shutdown: its peers
                       see their links drop, like a power cut)
  restart NODE         start NODE again with the same config on the same port (stops it first if it
                       still runs) and set it up as vfab up did: its links are dialled again, a host
                       attaches its arrays again, and the hosts of a restarted array reconnect their
                       paths to it (restart returns once they have); an array keeps its data
  impair ENDPOINT      loss, delay and jitter on one cable end, decided from a seed so runs repeat:
      --loss PCT         frames lost, percent 0-100
      --direction D      tx (frames ENDPOINT sends), rx (frames it receives) or both (default)
      --delay-ms MS      one-way delay added at this end, each direction
      --jitter-ms MS     uniform +-MS around the delay (frames are never reordered)
      --seed N           random seed (default 1): same seed, same frames lost
  flap ENDPOINT        take the link down and up on a schedule (carrier lost at both ends):
      --period-ms MS     one cycle (default 2000)
      --down-ms MS       down time at the start of each cycle (default 500)
      --count N          cycles (default 3)
  clear ENDPOINT       remove impairments and cancel a flap on ENDPOINT
  shut ENDPOINT        "shutdown" a physical switch port (sw1.Gi1/0/1): the host sees link down
  no-shut ENDPOINT     "no shutdown"

ENDPOINT is a cable end: a host uplink (esx1.vmnic0) or a switch port (sw1.Gi1/0/1).
Times are on the fabric's clock: with vfab up --time-scale 10 a 2000 ms period takes 200 ms.

examples:
  vfab fault impair esx1.vmnic0 --loss 5 --direction tx --seed 7
  vfab fault flap sw1.Gi1/0/1 --period-ms 4000 --down-ms 1000 --count 2
  vfab fault shut sw1.Gi1/0/1      # then: vfab status esx1  (which uplink took over, and why)
  vfab fault kill sw2 && vfab fault restart sw2`;

function num(text: string | undefined, name: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${name} must be a number from ${min} to ${max}, got ${text}`);
  return n;
}

export async function faultCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      loss: { type: 'string' }, direction: { type: 'string' }, 'delay-ms': { type: 'string' }, 'jitter-ms': { type: 'string' }, seed: { type: 'string' },
      'period-ms': { type: 'string' }, 'down-ms': { type: 'string' }, count: { type: 'string' }, json: { type: 'boolean' },
    },
    FAULT_USAGE,
  );
  if (values.help) return io.out(FAULT_USAGE), EXIT_OK;
  const [action, target] = positionals;
  if (!action || !target || positionals.length > 2) throw new UsageError(FAULT_USAGE);
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
      const dir = values.direction ?? 'both';
      if (dir !== 'tx' && dir !== 'rx' && dir !== 'both') throw new UsageError(`--direction must be tx, rx or both, got ${dir}`);
      const req = {
        ...(values.loss !== undefined ? { lossPercent: num(values.loss, '--loss', 0, 100)! } : {}),
        direction: dir as 'tx' | 'rx' | 'both',
        ...(values['delay-ms'] !== undefined ? { delayMs: num(values['delay-ms'], '--delay-ms', 0, 60_000)! } : {}),
        ...(values['jitter-ms'] !== undefined ? { jitterMs: num(values['jitter-ms'], '--jitter-ms', 0, 60_000)! } : {}),
        seed: num(values.seed, '--seed', 0, 2 ** 32 - 1) ?? 1,
      };
      if (req.lossPercent === undefined && req.delayMs === undefined && req.jitterMs === undefined) throw new UsageError('impair needs at least one of --loss, --delay-ms, --jitter-ms (use `vfab fault clear` to remove)');
      result = await impairEndpoint(state, target, req);
      line = `${target}: ${req.lossPercent !== undefined ? `${req.lossPercent}% loss (${dir}) ` : ''}${req.delayMs !== undefined ? `delay ${req.delayMs} ms ` : ''}${req.jitterMs !== undefined ? `jitter ${req.jitterMs} ms ` : ''}seed ${req.seed}`;
      break;
    }
    case 'flap': {
      const periodMs = num(values['period-ms'], '--period-ms', 1, 3_600_000) ?? 2000;
      const downMs = num(values['down-ms'], '--down-ms', 1, 3_600_000) ?? 500;
      const count = num(values.count, '--count', 1, 5000) ?? 3;
      if (downMs >= periodMs) throw new UsageError(`--down-ms (${downMs}) must be shorter than --period-ms (${periodMs})`);
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
      throw new UsageError(`unknown fault action ${JSON.stringify(action)}\n\n${FAULT_USAGE}`);
  }
  if (values.json) printJson(io, result);
  else io.out(line);
  return EXIT_OK;
}

export const commands: CommandTable = {
  fault: { run: faultCommand, summary: 'inject faults: kill/restart a daemon, impair/flap a link, shut a switch port', order: 31 },
};
