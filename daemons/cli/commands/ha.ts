// vfab ha: the vSphere-HA clusters of the running fabric (docs/ha.md "In a fabric"). `ha status` asks
// every running host in a cluster for its agent's view (GET /control/ha) and prints, per cluster, the
// primary, each host's role and state as the primary sees it, the heartbeats the primary heard, the
// heartbeat datastores held, and where each protected VM runs (and pending restarts). A host that does
// not answer (killed) is listed as not answering; only when no host answers is it exit 3. Leaves out
// changing a cluster's settings at run time (they come from the topology). Behaviour reference §7.11-§7.14.

import { VfabError } from '../../../lib/errors.js';
import { control } from '../../common/control-client.js';
import { readState, daemonRunning, type DaemonRecord, type FabricState } from '../../fabric/state.js';
import { type CommandTable, defineCommand, printJson, table, JSON_OPTION, UsageError, EXIT_OK, EXIT_FAILED } from '../io.js';

interface HaView {
  cluster: string;
  host: string;
  role: string;
  primary: string | null;
  peers: Array<{ host: string; state: string; role?: string; lastHeardMs: number }>;
  heartbeatsHeard: Record<string, { count: number; ageMs: number }>;
  heartbeatDatastores: { configured: string[]; held: string[] };
  localVms: string[];
  protectedVms: Array<{ vm: string; datastore: string; restartPriority: string; runningOn: string[] }>;
  restarts: Array<{ vm: string; from: string; attempts: number; inFlightOn?: string }>;
}

const ha = defineCommand(
  {
    usage: ['status [--host HOST] [--json]'],
    description: `vSphere HA of the running fabric (clusters: in the topology; docs/ha.md). Each cluster host runs an
HA agent: they elect a primary, send heartbeats over the management vmkernel port every second and
hold a heartbeat file on their heartbeat datastores. When a host fails, the primary restarts its
protected VMs on the others (the datastore's file locks make sure a VM never runs twice).

  status    per cluster: the primary, each host's role and state as the primary sees it (alive,
            heartbeat-lost, unreachable, dead, isolated, partitioned), heartbeats the primary heard
            (count and age), heartbeat datastores held, where each protected VM runs, and restarts
            waiting. A killed host shows as "no answer". --host: only that host's own view.

Exit codes: 0 shown; 1 no host of the fabric is in a cluster; 2 bad usage; 3 no fabric, or no cluster
host answers.`,
    options: {
      host: { type: 'string', value: 'HOST', description: "only this host's own view (default: every cluster host)" },
      json: JSON_OPTION,
    },
    args: { min: 1, max: 1 },
    verbs: ['status'],
    examples: ['ha status', 'ha status --json', 'fault kill esx1 && sleep 3 && vfab ha status   # at --time-scale 8: dead after 18 s fabric time'],
  },
  async ({ values, positionals }, io) => {
    if (positionals[0] !== 'status') throw new UsageError(`unknown ha action ${JSON.stringify(positionals[0])}: use status`);
    const state = readState();
    const hosts = state.daemons.filter((d) => d.kind === 'host' && (values.host === undefined || d.name === values.host));
    if (values.host !== undefined && hosts.length === 0) throw new UsageError(`--host ${values.host}: no host of that name (have: ${state.daemons.filter((d) => d.kind === 'host').map((d) => d.name).join(', ')})`);
    const views: HaView[] = [];
    const silent: string[] = [];
    let inCluster = 0;
    for (const h of hosts) {
      const v = await viewOf(state, h);
      if (v === 'none') continue;
      inCluster++;
      if (v === 'down') silent.push(h.name);
      else views.push(v);
    }
    if (views.length === 0 && silent.length === 0) {
      io.err(values.host !== undefined ? `${values.host} is in no HA cluster` : 'no host of this fabric is in an HA cluster (clusters: in the topology)');
      return EXIT_FAILED;
    }
    if (views.length === 0) throw new VfabError('VFAB_CONTROL_UNREACHABLE', `no cluster host answers (${silent.join(', ')})`);
    const clusters = [...new Set(views.map((v) => v.cluster))].sort();
    const out = clusters.map((c) => summarize(c, views.filter((v) => v.cluster === c)));
    if (values.json) return printJson(io, { clusters: out, notAnswering: silent }), EXIT_OK;
    for (const c of out) {
      io.out(`cluster ${c.cluster}: primary ${c.primary ?? '(none: election)'}${c.primaries.length > 1 ? ` (partitioned: primaries ${c.primaries.join(', ')})` : ''}`);
      io.out(table([['host', 'role', 'state (primary\'s view)', 'heartbeats heard', 'hb datastores held', 'running VMs'], ...c.hosts.map((h) => [
        h.host, h.role ?? '-', h.state ?? '-', h.heartbeats === null ? '-' : `${h.heartbeats.count} (last ${(h.heartbeats.ageMs / 1000).toFixed(1)} s ago)`, h.held?.join(',') || '-', h.localVms?.join(',') || '-',
      ])]));
      io.out(table([['protected VM', 'priority', 'datastore', 'runs on (primary\'s view)'], ...c.protectedVms.map((v) => [v.vm, v.restartPriority, v.datastore, v.runningOn.join(',') || '-'])]));
      for (const r of c.restarts) io.out(`restart pending: ${r.vm} from ${r.from}, ${r.attempts} attempt(s)${r.inFlightOn ? `, trying ${r.inFlightOn}` : ''}`);
    }
    if (silent.length) io.out(`no answer: ${silent.join(', ')} (down or killed)`);
    return EXIT_OK;
  },
);

/** A host's HA view; 'none' when it is in no cluster, 'down' when it does not answer. */
async function viewOf(state: FabricState, h: DaemonRecord): Promise<HaView | 'none' | 'down'> {
  const token = state.token;
  if (!daemonRunning(state, h)) return 'down';
  try {
    return await control<HaView>(h, token, 'GET', '/control/ha', undefined, 5_000);
  } catch (e) {
    if ((e as VfabError).code === 'VFAB_HA_NOT_CONFIGURED') return 'none';
    return 'down';
  }
}

function summarize(cluster: string, views: HaView[]) {
  const primaries = views.filter((v) => v.role === 'primary').map((v) => v.host).sort();
  const p = views.find((v) => v.host === primaries[0]);
  const names = [...new Set([...views.map((v) => v.host), ...(p?.peers.map((x) => x.host) ?? [])])].sort();
  return {
    cluster,
    primary: p?.host ?? null,
    primaries,
    hosts: names.map((n) => {
      const own = views.find((v) => v.host === n);
      const seen = p?.peers.find((x) => x.host === n);
      return {
        host: n,
        answering: own !== undefined,
        role: own?.role ?? null,
        state: n === p?.host ? 'primary' : (seen?.state ?? null),
        heartbeats: p?.heartbeatsHeard[n] ?? null,
        held: own?.heartbeatDatastores.held ?? null,
        localVms: own?.localVms ?? null,
      };
    }),
    protectedVms: p?.protectedVms ?? views[0]!.protectedVms,
    restarts: p?.restarts ?? [],
  };
}

export const commands: CommandTable = { ha };
