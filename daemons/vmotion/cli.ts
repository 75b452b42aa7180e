// `vfab vm migrate VM --to HOST [--json]` (docs/vmotion.md "In a fabric"): asks the VM's host to vMotion it
// to HOST (passing HOST's control port, which hostd does not know), then follows the migration: one
// progress line per phase event (passes with their bytes, time and bandwidth; stun; switchover; resume)
// and a final result (outcome, downtime, passes, bytes). A migrated VM's guest routes move to HOST in the
// fabric's state file. Exit 1 for a refusal (the pre-check's codes, each naming its cause) or a migration
// that did not end on HOST; 3 when a daemon cannot be reached. Leaves out cancelling a migration.

import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import { readState, writeState, findVmDaemon, daemonRunning, type DaemonRecord, type FabricState } from '../fabric/state.js';
import { EXIT_FAILED, EXIT_OK, printJson, type CliIo } from '../cli/io.js';

/** Longest wall time without a progress line while a migration runs. */
export const PROGRESS_EVERY_MS = 1000;
/** Wall time between two progress polls. */
export const MIGRATE_POLL_MS = 100;
/** Longest a migration is followed (wall): past the core's 100 s switchover limit and 10 s network timeout. */
export const MIGRATE_FOLLOW_MS = 15 * 60_000;

const MIB = 1024 * 1024;
const mib = (b: number) => `${(b / MIB).toFixed(1)} MiB`;

function progressLine(e: any): string {
  const d = e as Record<string, any>;
  switch (e.type) {
    case 'vmotion-pass':
      return `pass ${d.pass}: ${mib(d.bytes ?? 0)} in ${Math.round(d.ms ?? 0)} ms (${((d.bandwidthBytesPerSec ?? 0) / MIB).toFixed(1)} MiB/s), ${mib(d.dirtyBytesAfter ?? d.dirtyBytes ?? 0)} dirty`;
    default:
      return `${String(e.type).replace(/^vmotion-/, '')}: ${e.message}`;
  }
}

/** Where a migration is asked for: the VM's host and the destination (both running), from the fabric state. */
function endpointsOf(state: FabricState, vm: string, to: string): { src: DaemonRecord; dst: DaemonRecord } {
  const src = findVmDaemon(state, vm); // an unknown VM: exit 2 naming it
  if (src.kind !== 'host') throw new VfabError('VFAB_VMOTION_EXTERNAL', `${vm} runs in its own process (external: true): vfab migrates host-run VMs only`);
  const dst = state.daemons.find((d) => d.name === to && d.kind === 'host');
  if (dst === undefined) {
    throw new VfabError('VFAB_VMOTION_NO_HOST', `--to ${to}: no host of that name in fabric ${state.fabric} (hosts: ${state.daemons.filter((d) => d.kind === 'host').map((d) => d.name).join(', ')})`);
  }
  if (!daemonRunning(state, dst)) throw new VfabError('VFAB_DAEMON_DOWN', `host ${dst.name} (pid ${dst.pid}) is not running`);
  return { src, dst };
}

/**
 * Starts a migration and follows it to its end (the CLI and the scenario driver): `progress` gets the
 * start, each phase event and, during a long pass, a line a second. Returns the core's result (null when
 * it did not end within MIGRATE_FOLLOW_MS) with `bytes` (every byte sent). Does not write the state file.
 */
export async function migrateAndFollow(state: FabricState, vm: string, to: string, progress?: (line: string) => void): Promise<{ src: DaemonRecord; result: any }> {
  const { src, dst } = endpointsOf(state, vm, to);
  const started = await control<any>(src, state.token, 'POST', `/control/vms/${encodeURIComponent(vm)}/migrate`, { to, toPort: dst.port });
  progress?.(`migrating ${vm} from ${src.name} to ${to}: ${mib(started.memoryBytes)} of memory, dirtied at ${mib(started.dirtyBytesPerSec)}/s`);
  const until = Date.now() + MIGRATE_FOLLOW_MS;
  let shown = 0;
  let lastLine = Date.now();
  for (;;) {
    const p = await control<any>(src, state.token, 'GET', `/control/vmotion/${started.migrationId}`);
    if (progress) {
      for (; shown < p.events.length; shown++, lastLine = Date.now()) progress(progressLine({ ...p.events[shown], ...p.events[shown].details }));
      // a long pass: say how far the copy got, once a second
      if (p.result === null && Date.now() - lastLine >= PROGRESS_EVERY_MS) {
        progress(`${p.phase}: ${mib(p.transfer.bytesSent)} sent, ${mib(p.dirtyBytes)} dirty`);
        lastLine = Date.now();
      }
    }
    if (p.result !== null) return { src, result: { ...p.result, bytes: p.result.transfer?.bytesSent ?? 0 } };
    if (Date.now() > until) return { src, result: null };
    await new Promise((r) => setTimeout(r, MIGRATE_POLL_MS));
  }
}

export async function runMigrate(vm: string, to: string, json: boolean, io: CliIo): Promise<number> {
  const state = readState();
  const { src, result: r } = await migrateAndFollow(state, vm, to, json ? undefined : (line) => io.err(line));
  if (r === null) {
    io.err(`${vm}: the migration did not end within ${MIGRATE_FOLLOW_MS / 1000} s`);
    return EXIT_FAILED;
  }
  if (r.outcome === 'migrated') {
    const now = readState(); // other commands may have written it meanwhile
    now.vmHosts[vm] = to;
    writeState(now);
  }
  const bytes: number = r.bytes;
  if (json) printJson(io, { vm, from: src.name, to, ...r });
  else {
    const host = r.outcome === 'migrated' ? to : src.name;
    io.out(`${vm} ${r.outcome}${r.code ? ` (${r.code})` : ''}: runs on ${host}; downtime ${r.downtimeMs === undefined ? 'none' : `${r.downtimeMs.toFixed(1)} ms`}, ` +
      `${r.passes.length} pre-copy pass${r.passes.length === 1 ? '' : 'es'}${r.converged === false ? ' (not converged)' : ''}, ${mib(bytes)} sent, ` +
      `${r.transfer?.retransmits ?? 0} retransmitted${r.outcome === 'migrated' ? '' : `; ${r.message}`}`);
  }
  return r.outcome === 'migrated' ? EXIT_OK : EXIT_FAILED;
}
