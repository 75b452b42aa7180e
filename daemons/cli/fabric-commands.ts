// vfab up / down / status / link: bring a fabric up and down, show what runs, take links down and up.
// Topology loading and process orchestration are imported when `up`/`down` run, so `vfab status` starts
// quickly.

import { renderQemuGuests } from './qemu-status.js';
import fs from 'node:fs';
import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import { readState, removeState, daemonForEndpoint, suggest, salvageDaemons, statePath, type DaemonRecord } from '../fabric/state.js';
import { checkDaemonPid, packedHostState, processIdentity } from '../fabric/pid-identity.js';
import { type CliIo, type CommandTable, defineCommand, printJson, table, JSON_OPTION, EXIT_OK, EXIT_NO_FABRIC, EXIT_USAGE, UsageError } from './io.js';
import { tlsDirFiles } from '../common/tls.js';
import { MAX_HOSTS_PER_PROCESS } from '../../lib/scale/host-groups.js';

/** --tls DIR must hold ca.crt, tls.crt and tls.key (named as typed when one is missing). */
function checkTlsDir(dir: string): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--tls ${dir}: not a folder`);
  const missing = Object.values(tlsDirFiles(dir)).filter((f) => !fs.existsSync(f));
  if (missing.length > 0) throw new UsageError(`--tls ${dir}: missing ${missing.join(', ')} (docs/kubernetes.md shows how to make them)`);
}
import { formatSize } from '../../lib/storage/size.js';
import { iscsiPortalLines } from './iscsi-sessions.js';
import { readCacheLine } from './read-cache-line.js';
import { DEFAULT_SIM_SEED } from '../../lib/sim/scheduler.js';

/** Largest --time-scale: fabric clocks run at most this many times faster than the wall clock. */
export const MAX_TIME_SCALE = 1000;

const up = defineCommand(
  {
    usage: ['FILE [--detach] [--time-scale N] [--tls DIR] [--spread-addresses] [--hosts-per-process N] [--json]', 'FILE --sim [--seed N] [--detach] [--time-scale N] [--json]'],
    description: `Starts every physical switch, storage array and ESX host of the topology FILE as its own process on
127.0.0.1 (a few at a time: two per CPU), connects their links (WebSockets carrying Ethernet frames) and
waits until every link is up.
Without --detach it stays in the foreground and tears the fabric down on Ctrl-C; with --detach it
returns once the fabric is up (stop it later with: vfab down).
Arrays keep their LUNs and data across down / up (.vfab/arrays/<array>/ or arrays[].dataDir): missing
topology LUNs are created, larger ones grown; a topology LUN smaller than the stored one is refused
(exit 2). Delete the data with: vfab down --purge, or vfab array wipe ARRAY --yes.
--tls DIR: every daemon serves https:// and wss:// with DIR/tls.crt and DIR/tls.key and trusts
DIR/ca.crt (the layout of the Kubernetes Secret vfab-tls; docs/kubernetes.md shows how to make them);
--spread-addresses puts each daemon on its own loopback address (127.0.0.2, .3, ...), as on separate
machines. Together they run the multi-machine wiring on one machine.
--hosts-per-process N runs up to N hosts in one process, each in its own worker thread with its own
control port (a host with netns or qemu guests keeps its own process): a large fabric needs fewer
processes and less memory. Such a host's PID is its group's; vfab fault kill ends only its thread.
--sim: every host, switch and array in ONE background process, simulated on a virtual clock that
follows the wall clock (times --time-scale), with in-process cables and the run seed --seed
(docs/simulation.md, "Interactive: vfab up --sim"). status, events, ping, link, counters, mac-table,
capture, send, set, fault, down, and with datastores in the topology datastore, vm, lun, disk and ha,
work as usual, vm migrate too; what is not simulated answers VFAB_SIM_UNSUPPORTED (exit 2).`,
    options: {
      detach: { type: 'bool', description: 'return once the fabric is up, leave it running' },
      'time-scale': { type: 'number', min: 0.001, max: MAX_TIME_SCALE, default: 1, description: "run the fabric's clocks N times faster (aging, beacons, timeouts)" },
      tls: { type: 'string', value: 'DIR', description: 'links and control API over TLS with DIR/ca.crt, DIR/tls.crt, DIR/tls.key' },
      'spread-addresses': { type: 'bool', description: 'each daemon on its own loopback address, 127.0.0.2 and up' },
      'hosts-per-process': { type: 'int', min: 1, max: MAX_HOSTS_PER_PROCESS, default: 1, description: 'run up to N hosts in one process, one worker thread each (less memory per host; docs/scale.md)' },
      sim: { type: 'bool', description: 'simulate every host and switch in one process, paced to the wall clock (docs/simulation.md)' },
      seed: { type: 'int', min: 0, max: 2 ** 32 - 1, description: 'with --sim: the run seed of every random choice (default 1)' },
      json: { ...JSON_OPTION, description: 'print the fabric state as JSON once up' },
    },
    args: { min: 1, max: 1 },
    examples: ['up topologies/quickstart.yaml --detach --hosts-per-process 2   # both hosts in one process', 'up topologies/quickstart.yaml --detach --tls tls/ --spread-addresses   # as on many machines', 'up topologies/quickstart.yaml --sim --seed 7 --time-scale 10   # one simulated process, 10x; Ctrl-C stops it'],
    exits: { 2: 'bad usage, or the topology file does not load (each problem listed)', 3: 'a daemon did not start (its log tail is shown)' },
  },
  async ({ values, positionals, typed }, io) => {
    const { loadTopologyFile } = await import('../../lib/topology/load.js');
    const { fabricUp, fabricDown } = await import('../fabric/lifecycle.js');
    const topology = await loadTopologyFile(positionals[0]!);
    if (values.seed !== undefined && !values.sim) throw new UsageError(`--seed ${values.seed}: goes with --sim (a daemon fabric has no run seed)`);
    if (values.sim) {
      const spread = values['spread-addresses'] ? '--spread-addresses' : undefined;
      for (const opt of [values.tls !== undefined ? '--tls' : undefined, spread]) if (opt) throw new UsageError(`${opt} with --sim: a simulated fabric runs in one process on 127.0.0.1`);
      // packing hosts into processes means nothing for the one simulated process
      if (typed['hosts-per-process'] !== undefined) throw new UsageError(`${typed['hosts-per-process']} with --sim: a simulated fabric already runs every host in one process`);
    }
    if (values.tls !== undefined) checkTlsDir(values.tls);
    if (values.tls !== undefined || values['spread-addresses']) {
      const external = topology.hosts.flatMap((h) => h.vms.filter((vm) => vm.external).map((vm) => vm.name));
      if (external.length > 0) throw new UsageError(`${values.tls !== undefined ? '--tls' : '--spread-addresses'}: external VMs (${external.join(', ')}) talk to their host on 127.0.0.1 without TLS; leave the option out for this topology`);
    }
    const state = values.sim ? await (await import('../sim/up.js')).simFabricUp({
      topology, seed: values.seed ?? DEFAULT_SIM_SEED, timeScale: values['time-scale'], detached: values.detach, onProgress: values.json ? undefined : (line) => io.err(line),
    }) : await fabricUp({
      topology,
      ...(values.tls !== undefined ? { tlsDir: values.tls } : {}),
      spreadAddresses: values['spread-addresses'],
      hostsPerProcess: values['hosts-per-process'],
      detached: values.detach,
      timeScale: values['time-scale'],
      onProgress: values.json ? undefined : (line) => io.err(line),
    });
    if (values.json) printJson(io, state);
    else if (state.sim) io.out(`fabric ${state.fabric} is up, simulated in one process (pid ${state.sim.pid}, seed ${state.sim.seed}): ${state.daemons.map((d) => d.name).join(', ')}${state.sim.leftOut.length ? `; not simulated: ${state.sim.leftOut.join(', ')}` : ''}`);
    else io.out(`fabric ${state.fabric} is up: ${state.daemons.length} daemons (${state.daemons.map((d) => d.name).join(', ')})`);
    if (values.detach) return EXIT_OK;
    io.err('press Ctrl-C to stop the fabric');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await fabricDown(state);
    io.err('fabric stopped');
    return EXIT_OK;
  },
);

const down = defineCommand(
  {
    usage: ['[--purge] [--json]'],
    description: `Stops every daemon of the running fabric (SIGTERM, then SIGKILL after 3 s) and removes its state.
The arrays keep their data (LUNs and blocks): the next vfab up finds it again.
A PID is signalled only while it is provably the daemon vfab started (same process start time, and
--name <daemon> on its command line); a reused PID is reported and left alone. If the state file is
corrupt (e.g. cut short), the daemons whose records are still whole and whose PIDs match are stopped,
the file is moved aside to state.json.corrupt, and the exit code is 2 (the state file is bad input).`,
    options: {
      purge: { type: 'bool', description: "also delete the data of this fabric's arrays once they stopped (their stores, by default .vfab/arrays/<array>/, or the topology's arrays[].dataDir); this cannot be undone" },
      json: { ...JSON_OPTION, description: 'print what was stopped (and deleted) as JSON' },
    },
    args: { min: 0, max: 0 },
    examples: ['down', 'down --purge      # start from empty arrays next time'],
  },
  async ({ values }, io) => {
    const { fabricDown } = await import('../fabric/lifecycle.js');
    const { wipeLine } = await import('./commands/array.js');
    let state;
    try {
      state = readState();
    } catch (e) {
      if (e instanceof VfabError && e.code === 'VFAB_STATE_CORRUPT') return downFromCorruptState(e, values.json, io);
      throw e;
    }
    if (state.remote) { // vfab k8s connect: nothing runs here; only the connection is forgotten
      if (values.purge) throw new UsageError(`--purge: fabric ${state.fabric} runs on Kubernetes behind ${state.remote.gateway}; its arrays' data is on their volumes (kubectl delete pvc)`);
      removeState();
      if (values.json) printJson(io, { fabric: state.fabric, forgot: state.remote.gateway, stopped: [] });
      else io.out(`forgot the connection to fabric ${state.fabric} at ${state.remote.gateway}; no process was signalled, the fabric keeps running on Kubernetes (kubectl delete -f ... stops it)`);
      return EXIT_OK;
    }
    const result = await fabricDown(state, undefined, { purge: values.purge });
    for (const n of result.notSignalled) io.err(`${n.reason}: not signalled`);
    if (values.json) printJson(io, { fabric: state.fabric, ...result });
    else {
      io.out(`fabric ${state.fabric} stopped (${state.sim ? `the simulation process, pid ${state.sim.pid}: ${result.stopped.length} nodes` : `${result.stopped.length} daemons`}${result.killed.length ? `, killed: ${result.killed.join(', ')}` : ''}${result.notSignalled.length ? `, not signalled: ${result.notSignalled.map((n) => n.name).join(', ')}` : ''})`);
      if (result.guestLeftovers?.length) io.out(`removed what killed hosts left: ${result.guestLeftovers.join(', ')}`);
      for (const w of result.purged ?? []) io.out(wipeLine(w));
    }
    return EXIT_OK;
  },
);

/** `vfab down` over a corrupt state file: stop what can be proven ours, move the file aside, exit 2. */
async function downFromCorruptState(e: VfabError, json: boolean, io: CliIo): Promise<number> {
  const { stopDaemons } = await import('../fabric/process.js');
  const file = statePath();
  const records = salvageDaemons();
  const result = await stopDaemons(records);
  const aside = `${file}.corrupt`;
  fs.renameSync(file, aside);
  for (const n of result.notSignalled) io.err(`${n.reason}: not signalled`);
  const summary = `state file ${file} is corrupt; stopped ${result.stopped.length + result.killed.length} daemon(s) whose records were whole and whose PIDs matched (${[...result.stopped, ...result.killed].join(', ') || 'none'}); any other daemon of that fabric could not be identified. The file was moved to ${aside}.`;
  if (json) printJson(io, { error: { code: e.code, message: e.message }, file, movedTo: aside, ...result });
  io.err(`vfab down: ${summary}`);
  return EXIT_USAGE;
}

const status = defineCommand(
  {
    usage: ['[NODE] [--json]'],
    description: `Shows every daemon of the running fabric: hosts with their vSwitches, uplinks (link state), ports (port
group, VLAN, MAC, the uplink each port uses and why), VMkernel ports (IP, MAC, uplink), VMs and storage paths; switches with their ports
and links; arrays with their LUNs (I/O counters), block sessions, iSCSI portal and sessions, and read cache.
NODE limits the output to one host, switch or array.`,
    options: { json: JSON_OPTION },
    args: { min: 0, max: 1 },
    examples: ['status', 'status esx1', 'status --json'],
    exits: { 3: 'no fabric is running here, or a daemon is not running or does not answer (each is listed)' },
  },
  async ({ values, positionals }, io) => {
    const state = readState();
    const only = positionals[0];
    const daemons = only !== undefined ? state.daemons.filter((d) => d.name === only) : state.daemons;
    if (only !== undefined && daemons.length === 0) {
      const names = state.daemons.map((d) => d.name);
      throw new VfabError('VFAB_NOT_FOUND', `no host, switch or array named ${JSON.stringify(only)}${suggest(only, names)} (have: ${names.join(', ')})`);
    }
    // a simulated fabric's killed node: its process runs on, the node does not (as a killed daemon)
    const simKilled = state.sim ? await (await import('../sim/up.js')).simKilledNodes(state) : undefined;
    const reports = await Promise.all(daemons.map(async (d): Promise<any> => {
      if (simKilled?.has(d.name)) return { name: d.name, kind: d.kind, pid: d.pid, running: false };
      const pidState = checkDaemonPid(d);
      // a reused PID is not the daemon: never trusted (no control call with the token to whatever listens)
      if (pidState.state !== 'running') return { name: d.name, kind: d.kind, pid: d.pid, running: false, ...packedStatus(d), ...(pidState.state === 'foreign' ? { error: pidState.reason } : {}) };
      try {
        const status = await control<Record<string, unknown>>(d, state.token, 'GET', '/control/status');
        // hosts that see an array: their storage paths and LUNs (daemons/host-storage.ts)
        const storage = d.kind === 'host' ? await control<any>(d, state.token, 'GET', '/control/storage').catch(() => undefined) : undefined;
        return { ...status, ...(storage?.arrays?.length ? { storage } : {}), name: d.name, kind: d.kind, pid: d.pid, port: d.port, running: true, ...packedStatus(d) };
      } catch (e) {
        return { name: d.name, kind: d.kind, pid: d.pid, running: true, error: (e as Error).message };
      }
    }));
    const broken = reports.filter((r) => !r.running || r.error);
    const sim = state.sim ? { simulated: { pid: state.sim.pid, seed: state.sim.seed, leftOut: state.sim.leftOut } } : {};
    if (values.json) printJson(io, { fabric: state.fabric, startedAt: state.startedAt, ...sim, daemons: reports });
    else {
      const simText = state.sim ? `, simulated in one process: pid ${state.sim.pid}, seed ${state.sim.seed}${state.sim.leftOut.length ? `, not simulated: ${state.sim.leftOut.join(', ')}` : ''}` : '';
      io.out(`fabric ${state.fabric} (started ${state.startedAt}, time scale ${state.timeScale}${simText})`);
      for (const r of reports) io.out(renderStatus(r));
    }
    for (const r of broken) io.err(`vfab status: ${r.kind} ${r.name} (pid ${r.pid}) ${r.running ? `does not answer: ${r.error}` : `is not running${r.error ? ` (${r.error})` : ''}`}`);
    return broken.length > 0 ? EXIT_NO_FABRIC : EXIT_OK;
  },
);

/**
 * A host sharing a process (vfab up --hosts-per-process): its group, and when it is not running, why:
 * its worker was killed or stopped, or the group's process itself is gone (taking every host in it).
 */
function packedStatus(d: DaemonRecord): { group?: string; error?: string } {
  if (d.group === undefined) return {};
  if (checkDaemonPid(processIdentity(d)).state !== 'running') return { group: d.group, error: `its host group ${d.group} (pid ${d.pid}) is not running` };
  const worker = packedHostState(d);
  return worker === 'running' || worker === 'starting' ? { group: d.group } : { group: d.group, error: `its worker thread in ${d.group} is ${worker ?? 'unknown'}` };
}

function renderStatus(r: any): string {
  const lines: string[] = [];
  lines.push(`\n${r.kind} ${r.name}  pid ${r.pid}${r.group ? ` (${r.group})` : ''}${r.port ? `  port ${r.port}` : ''}  ${r.running ? 'running' : 'NOT RUNNING'}`);
  if (r.error) lines.push(`  error: ${r.error}`);
  if (r.links?.length) {
    lines.push('  links:');
    lines.push(indent(table([['local', 'peer', 'carrier', 'admin', 'tx', 'rx', 'drops'], ...r.links.map((l: any) => [l.local, l.peer, l.carrier ? 'up' : 'down', l.adminUp === false ? 'down' : 'up', String(l.counters?.txFrames ?? ''), String(l.counters?.rxFrames ?? ''), String((l.counters?.txDropsCarrier ?? 0) + (l.counters?.txDropsQueueFull ?? 0))])]), 4));
  }
  for (const vs of r.vswitches ?? []) {
    lines.push(`  vSwitch ${vs.name} (MTU ${vs.mtu}, uplinks ${vs.uplinks.map((u: any) => `${u.name}:${u.up ? 'up' : 'down'}`).join(' ')})`);
    const sec = (p: any): string => (p ? `promiscuous ${p.promiscuous}, MAC changes ${p.macChanges}, forged transmits ${p.forgedTransmits}` : '');
    const team = (t: any): string => (t ? `${t.loadBalancing}, active ${t.active.join(',') || '-'}, standby ${t.standby.join(',') || '-'}, failback ${t.failback ? 'on' : 'off'}, notify ${t.notifySwitches ? 'on' : 'off'}, ${t.failureDetection}` : '');
    if (vs.teaming) lines.push(`    teaming: ${team(vs.teaming)}; security: ${sec(vs.security)}`);
    for (const pg of vs.portGroups ?? []) {
      const own = [team(pg.teaming) !== team(vs.teaming) ? `teaming ${team(pg.teaming)}` : '', sec(pg.security) !== sec(vs.security) ? `security ${sec(pg.security)}` : '', pg.trafficShaping?.enabled ? `shaping ${pg.trafficShaping.averageKbps}/${pg.trafficShaping.peakKbps} Kbit/s, burst ${pg.trafficShaping.burstKB} KB` : ''].filter(Boolean);
      lines.push(`    port group ${pg.name}: VLAN ${pg.vlan}${own.length ? `; ${own.join('; ')}` : ''}`);
    }
    if (vs.ports?.length) {
      lines.push(indent(table([['port', 'name', 'port group', 'vlan', 'mac', 'uplink', 'why'], ...vs.ports.map((p: any) => [String(p.portId), p.name ?? '', p.portGroup, String(p.vlanId), p.effectiveMac ?? p.mac ?? '', p.uplink ?? '-', p.uplinkReason ?? ''])]), 4));
    }
  }
  if (r.advanced) lines.push(`  advanced: Net.ReversePathFwdCheckPromisc ${r.advanced.reversePathFwdCheckPromisc}`);
  if (r.vmkernels?.length) {
    lines.push('  VMkernel ports:');
    lines.push(indent(table([['vmk', 'ip', 'mac', 'port group', 'port', 'uplink', 'services'], ...r.vmkernels.map((k: any) => [k.name, k.ip, k.mac, k.portGroup, k.portId === null ? 'down' : String(k.portId), k.uplink ?? '-', k.services.join(',') || '-'])]), 4));
  }
  if (r.vms?.length) {
    lines.push('  VMs:');
    lines.push(indent(table([['vm', 'power', 'nic', 'mac', 'ip', 'port group'], ...r.vms.flatMap((vm: any) => vm.nics.length === 0
      ? [[vm.name, vm.poweredOn ? 'on' : 'off', '(no vNICs)', '-', '-', '-']]
      : vm.nics.map((n: any, i: number) => [i === 0 ? vm.name : '', i === 0 ? (vm.poweredOn ? 'on' : 'off') : '', n.name, n.mac, n.ip ?? '-', n.portGroup]))]), 4));
  }
  for (const [vm, g] of Object.entries<any>(r.guests ?? {})) if (g?.kind !== 'qemu') lines.push(...guestLines(vm, g));
  if (r.guests) lines.push(...renderQemuGuests(r.guests));
  for (const a of r.storage?.arrays ?? []) {
    const over = a.protocol === 'iscsi' ? `, iSCSI to ${a.target ?? '?'}` : '';
    lines.push(`  storage: array ${a.array} (${a.state}, path policy ${a.policy}${over}${a.allPathsDownSinceMs !== null ? ', ALL PATHS DOWN' : ''}), LUNs ${a.luns.map((l: any) => `${l.name}(${l.lun})`).join(' ') || 'none'}`);
    lines.push(indent(table([['path', 'protocol', 'state', 'active', 'connected', 'failures'], ...a.paths.map((p: any) => [p.name, p.protocol ?? 'block', p.state, p.io ? 'yes' : '', p.connected ? 'yes' : 'no', String(p.failures)])]), 4));
  }
  if (r.kind === 'array' && Array.isArray(r.luns)) lines.push(...renderArray(r));
  if (r.ports?.length) {
    lines.push('  ports:');
    lines.push(indent(table([['port', 'mode', 'vlans', 'native', 'link', 'rx', 'tx', 'drops'], ...r.ports.map((p: any) => [p.name, p.vxlan ? `vxlan ${p.mode}` : p.mode, p.vlans ?? String(p.accessVlan ?? ''), String(p.nativeVlan ?? ''), p.up ? 'up' : 'down', String(p.counters?.rxFrames ?? ''), String(p.counters?.txFrames ?? ''), String(p.counters?.drops ?? '')])]), 4));
  }
  const tunnels = (r.ports ?? []).filter((p: any) => p.vxlan);
  if (tunnels.length > 0) {
    lines.push('  VXLAN tunnels:');
    lines.push(indent(table([['port', 'vni', 'local', 'remote'], ...tunnels.map((p: any) => [p.name, String(p.vxlan.vni), `${p.vxlan.localAddress}:${p.vxlan.boundPort}`, `${p.vxlan.remote}:${p.vxlan.remotePort}`])]), 4));
    for (const s of r.vxlanSockets ?? []) {
      const dropped = Object.entries(s.counters.rxDrops as Record<string, number>).filter(([, n]) => n > 0).map(([why, n]) => `${why} ${n}`);
      lines.push(`    socket ${s.address}:${s.port}: ${s.counters.rxDatagrams} datagrams in, ${s.counters.txDatagrams} out, dropped: ${dropped.join(', ') || 'none'}${s.counters.txErrors ? `, send errors ${s.counters.txErrors}` : ''}`);
    }
  }
  return lines.join('\n');
}

/** A real guest's part of a host's `vfab status`: a netns VM's namespace and interfaces (docs/guests.md). */
function guestLines(vm: string, g: any): string[] {
  const where = g.netns ? `netns ${g.netns} (vfab exec ${vm} -- COMMAND)` : (g.kind ?? 'guest');
  const lines = [`  guest ${vm}: ${where}`];
  if (Array.isArray(g.interfaces) && g.interfaces.length > 0) {
    lines.push(indent(table([['interface', 'nic', 'mac', 'ip', 'mtu', 'carrier'], ...g.interfaces.map((i: any) => [String(i.name), String(i.nic), String(i.mac), i.ip ?? '-', String(i.mtu), i.protodown ? (g.attach === 'tap' ? 'down (tap carrier off)' : 'down (protodown)') : i.carrier ? 'up' : 'down'])]), 4));
  }
  return lines;
}

/** An array's part of `vfab status`: store, LUNs with their I/O counters, block sessions, read cache. */
function renderArray(r: any): string[] {
  const lines = [`  store: ${r.durable ? `LevelDB ${r.dataDir ?? ''}`.trimEnd() : 'memory (lost on exit)'}`];
  const byLun = new Map<number, any>((r.stats?.luns ?? []).map((l: any) => [l.lun, l]));
  if (r.luns.length === 0) lines.push('  LUNs: none (vfab lun create NAME --size 4G)');
  else {
    lines.push('  LUNs:');
    lines.push(indent(table([['lun', 'name', 'size', 'block', 'reads', 'writes', 'CAW (miscompare)', 'conflicts', 'checksum errors'], ...r.luns.map((l: any) => {
      const st = byLun.get(l.lun) ?? {};
      return [String(l.lun), l.name, formatSize(l.sizeBytes), String(l.blockSizeBytes), String(st.reads ?? 0), String(st.writes ?? 0), `${st.compareAndWrites ?? 0} (${st.cawMiscompares ?? 0})`, String(st.reservationConflicts ?? 0), String(st.checksumErrors ?? 0)];
    })]), 4));
  }
  const sessions: any[] = r.sessions ?? [];
  if (sessions.length > 0) {
    lines.push('  block sessions:');
    lines.push(indent(table([['session', 'initiator', 'from', 'window', 'active', 'commands'], ...sessions.map((x) => [String(x.sessionId), x.initiator ?? '-', x.remote, String(x.window), String(x.active), String(x.commands)])]), 4));
  } else lines.push('  block sessions: none');
  if (r.iscsi) {
    const p = r.iscsi;
    const [portalLine, ...sessionLines] = iscsiPortalLines(p);
    lines.push(`  ${portalLine}`);
    if (p.access) {
      const acl = p.access.initiators === null ? 'every initiator' : `initiators ${p.access.initiators.join(', ') || '(none)'}`;
      const refused = `refused: ACL ${p.aclRefusals ?? 0}, CHAP ${Object.values(p.authFailures ?? {}).reduce((a: number, b: any) => a + Number(b), 0)}`;
      lines.push(`    access: ${acl}; CHAP ${p.access.chap}; ${refused}`);
    }
    lines.push(...sessionLines.map((l) => `  ${l}`));
  }
  if (r.stats?.readCache) lines.push(`  ${readCacheLine(r.stats.readCache)}`);
  return lines;
}

function indent(text: string, n: number): string {
  return text.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
}

const link = defineCommand(
  {
    usage: ['down|up ENDPOINT [--json]'],
    description: `Takes a link down or up at ENDPOINT, like pulling or plugging a cable: the carrier is lost (or
restored) at both ends. ENDPOINT is <node>.<interface>: a host uplink (esx1.vmnic0), a switch
port (sw1.Gi1/0/1), or the vNIC of a VM that has a link of its own (external, netns or qemu: q1.nic0).`,
    options: { json: JSON_OPTION },
    args: { min: 2, max: 2 },
    verbs: ['down', 'up'],
    examples: ['link down esx1.vmnic0   # then: vfab status esx1 (which uplink took over, and why)', 'link up esx1.vmnic0'],
  },
  async ({ values, positionals }, io) => {
    const [action, endpoint] = positionals as [string, string];
    const state = readState();
    const { daemon, iface } = daemonForEndpoint(state, endpoint);
    const result = await control(daemon, state.token, 'POST', `/control/links/${encodeURIComponent(iface)}`, { up: action === 'up' });
    if (values.json) printJson(io, result);
    else io.out(`${endpoint}: link ${action}`);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { up, down, status, link };
