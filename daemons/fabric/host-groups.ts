// The orchestrator's side of host groups (`vfab up --hosts-per-process N`, docs/scale.md "Several hosts
// per process"): starting a group process (daemons/hostgroupd.ts) when its first host is due, starting each
// packed host as a worker in it through the group's control API, and recording the host with its group's
// PID, name, control port and workers file (daemons/fabric/state.ts). Kill and restart of one packed host
// (`vfab fault kill|restart`, the scenario runner) go to its group: kill is worker.terminate() (only that
// host ends, its sockets close as after SIGKILL), restart starts it again in the same group on its port.
// Stopping a whole group is stopDaemons (daemons/fabric/process.ts), by the group's PID. Which hosts share
// a group is lib/scale/host-groups.ts. Leaves out moving a host to another group, and a group that died
// (its hosts are then not running; `vfab down` and `vfab up` start them again).

import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import type { HostGroupPlan } from '../../lib/scale/host-groups.js';
import { control, type DaemonAddress } from '../common/control-client.js';
import { distScript } from '../common/paths.js';
import { checkDaemonPid } from './pid-identity.js';
import { spawnDaemon } from './process.js';
import type { DaemonRecord } from './state.js';

export const HOSTGROUPD_SCRIPT = distScript('daemons/hostgroupd.ts');

/** The group's workers file in the run directory: which of its hosts' worker threads run. */
export function groupWorkersFile(runDir: string, group: string): string {
  return path.join(runDir, `${group}.workers.json`);
}

export interface GroupStartOptions {
  stateDir: string;
  runDir: string;
  token: string;
  detached: boolean;
  /** The group's own listening arguments and environment (lifecycle.ts listenSettings: TLS, CA). */
  listen: { args: string[]; env: Record<string, string> };
  /** vfab up --tls: the group's control API is https:// too, trusted through this CA. */
  tls?: { caFile: string };
}

/** Starts each group once, when its first host is due; remembers the ones started (to stop them on failure). */
export class HostGroupStarter {
  private readonly groupOf: Map<string, HostGroupPlan>;
  private readonly starting = new Map<string, Promise<DaemonRecord>>();
  /** Group processes started so far (as records a failed `vfab up` stops). */
  readonly started: DaemonRecord[] = [];

  constructor(groups: readonly HostGroupPlan[], private readonly opts: GroupStartOptions) {
    this.groupOf = new Map(groups.flatMap((g) => g.hosts.map((h) => [h, g] as const)));
  }

  /** The group `host` is packed into, or undefined (it runs as its own process). */
  groupOfHost(host: string): string | undefined {
    return this.groupOf.get(host)?.name;
  }

  private group(plan: HostGroupPlan): Promise<DaemonRecord> {
    let p = this.starting.get(plan.name);
    if (p === undefined) {
      const o = this.opts;
      const args = ['--name', plan.name, '--hosts', plan.hosts.join(','), '--log-dir', path.join(o.stateDir, 'logs'), '--workers-file', groupWorkersFile(o.runDir, plan.name), ...o.listen.args];
      p = spawnDaemon({ name: plan.name, kind: 'host', script: HOSTGROUPD_SCRIPT, args, token: o.token, logFile: path.join(o.stateDir, 'logs', `${plan.name}.log`), detached: o.detached, env: o.listen.env }).then((spawned) => {
        const rec: DaemonRecord = { ...spawned, ...(o.tls !== undefined ? { tls: true, caFile: o.tls.caFile } : {}) };
        this.started.push(rec);
        return rec;
      });
      this.starting.set(plan.name, p);
    }
    return p;
  }

  /** Starts packed host `host` (hostd argv `args`) in its group, starting the group first if needed. */
  async startHost(host: string, args: string[]): Promise<DaemonRecord> {
    const plan = this.groupOf.get(host);
    if (plan === undefined) throw new VfabError('VFAB_GROUP_HOSTS', `host ${host} is in no host group`);
    const group = await this.group(plan);
    return await startInGroup(group, host, args, groupWorkersFile(this.opts.runDir, plan.name), this.opts.token);
  }
}

/** Starts `host` as a worker of the running group `group`; its record carries the group's PID. */
export async function startInGroup(group: DaemonRecord, host: string, args: string[], workersFile: string, token: string): Promise<DaemonRecord> {
  const r = await control<{ port: number }>(group, token, 'POST', `/control/group/hosts/${encodeURIComponent(host)}/start`, { args });
  return {
    ...(group.tls ? { tls: true, caFile: group.caFile } : {}),
    name: host, kind: 'host', pid: group.pid, port: r.port, logFile: path.join(path.dirname(group.logFile), `${host}.log`),
    ...(group.startTime !== undefined ? { startTime: group.startTime } : {}),
    group: group.name, groupPort: group.port, groupFile: workersFile,
  };
}

/** The group process behind a packed host's record, as an address and identity for control calls. */
export function groupOf(d: DaemonRecord): DaemonRecord {
  if (d.group === undefined || d.groupPort === undefined) throw new VfabError('VFAB_GROUP_HOSTS', `${d.name} is not a packed host`);
  const { group, groupPort, groupFile, host, ...rest } = d; // the group listens on 127.0.0.1, whatever its hosts' addresses
  void groupFile, host;
  return { ...rest, name: group, port: groupPort, logFile: path.join(path.dirname(d.logFile), `${group}.log`) };
}

/** The group of a packed host, checked to be still that process (else VFAB_GROUP_GONE naming it). */
function runningGroup(d: DaemonRecord): DaemonRecord & DaemonAddress {
  const group = groupOf(d);
  const now = checkDaemonPid(group);
  if (now.state !== 'running') {
    throw new VfabError('VFAB_DAEMON_DOWN', `host ${d.name} ran in ${group.name} (pid ${d.pid}), which is not running${now.state === 'foreign' ? ` (${now.reason})` : ''}; its hosts ended with it: vfab down, then vfab up`);
  }
  return group;
}

/** Ends one packed host at once (worker.terminate(): no clean shutdown); its siblings keep running. */
export async function killPackedHost(d: DaemonRecord, token: string): Promise<boolean> {
  const r = await control<{ wasRunning: boolean }>(runningGroup(d), token, 'POST', `/control/group/hosts/${encodeURIComponent(d.name)}/kill`);
  return r.wasRunning;
}

/** Stops one packed host cleanly if it runs, then starts it again in its group with hostd argv `args`. */
export async function restartPackedHost(d: DaemonRecord, args: string[], token: string): Promise<DaemonRecord> {
  const group = runningGroup(d);
  await control(group, token, 'POST', `/control/group/hosts/${encodeURIComponent(d.name)}/stop`);
  return await startInGroup(group, d.name, args, d.groupFile!, token);
}
