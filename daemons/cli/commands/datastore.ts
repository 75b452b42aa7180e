// Datastore commands of the vfab CLI: `vfab datastore format|mount|unmount|list|inspect|locks|heartbeats`
// and `vfab vm power-on|power-off` (VM files locked on a datastore; mtu|mac|promiscuous: daemons/cli/guest-commands.ts), through the hosts' control API
// (daemons/datastore/host-datastores.ts). Which host mounts which datastore comes from the topology
// (hosts[].datastores, docs/datastores.md). NAS datastores (on a share, `.lck` leases) answer the same
// routes: list, locks, heartbeats and inspect show their leases (owner, lease age) instead of heartbeat
// slots; format is for LUNs only.

import { VfabError } from '../../../lib/errors.js';
import { formatSize } from '../../../lib/storage/size.js';
import { control } from '../../common/control-client.js';
import { readState, daemonRunning, type FabricState, type DaemonRecord } from '../../fabric/state.js';
import { type CommandTable, defineCommand, printJson, table, JSON_OPTION, UsageError, EXIT_OK, EXIT_FAILED } from '../io.js';
import { MAX_POWER_ON_WAIT_MS } from '../../datastore/host-datastores.js';
import { GUEST_VERBS, runGuestVerb, type GuestVerb } from '../guest-commands.js';

interface DsSummary {
  name: string;
  /** vmfs or nas */
  type: string;
  array: string;
  lun: string | null;
  share?: string;
  state: string;
  error: string | null;
  label: string | null;
  slot: number | null;
  generation: number | null;
  vms: string[];
}

function runningHost(state: FabricState, name: string): DaemonRecord {
  const d = state.daemons.find((x) => x.name === name);
  if (d === undefined || d.kind !== 'host') {
    throw new UsageError(`--host ${name}: no host of that name in fabric ${state.fabric} (hosts: ${state.daemons.filter((x) => x.kind === 'host').map((x) => x.name).join(', ') || 'none'})`);
  }
  if (!daemonRunning(state, d)) throw new VfabError('VFAB_DAEMON_DOWN', `host ${d.name} (pid ${d.pid}) is not running`);
  return d;
}

function liveHosts(state: FabricState): DaemonRecord[] {
  return state.daemons.filter((d) => d.kind === 'host' && daemonRunning(state, d));
}

async function datastoresOf(state: FabricState, h: DaemonRecord): Promise<DsSummary[]> {
  return (await control<{ datastores: DsSummary[] }>(h, state.token, 'GET', '/control/datastores')).datastores;
}

/** The hosts (running) that list datastore `name`; throws when none does. */
async function hostsWith(state: FabricState, name: string): Promise<DaemonRecord[]> {
  const out: DaemonRecord[] = [];
  for (const h of liveHosts(state)) if ((await datastoresOf(state, h)).some((d) => d.name === name)) out.push(h);
  if (out.length === 0) throw new VfabError('VFAB_HOSTDATASTORE_NOT_FOUND', `no running host lists datastore ${JSON.stringify(name)} (add it under hosts[].datastores in the topology)`);
  return out;
}

const dsPath = (name: string, rest: string) => `/control/datastores/${encodeURIComponent(name)}/${rest}`;

const DATASTORE_VERBS = ['format', 'mount', 'unmount', 'list', 'inspect', 'locks', 'heartbeats', 'open', 'close'] as const;

const datastoreCmd = defineCommand(
  {
    usage: [
      'format NAME [--host HOST] [--force] [--locking ats-only|ats-scsi] [--json]',
      'mount|unmount NAME [--host HOST] [--json]',
      'list [--host HOST] [--json]',
      'inspect|locks|heartbeats NAME [--host HOST] [--json]',
      'open NAME PATH --host HOST [--mode exclusive|read-only|multi-writer] [--wait SECONDS] [--json]',
      'close NAME PATH --host HOST [--json]',
    ],
    description: `A datastore is a VMFS-like file system on a shared LUN (docs/datastores.md). The topology says which
hosts mount it (hosts[].datastores: [{ name, lun }]); they mount it when their array attaches, each
claiming a heartbeat slot it then updates every 3 s (fabric time) with COMPARE AND WRITE. A NAS
datastore ({ name, share }) is a share of an array, mounted over its /nas endpoint: nothing to format,
and each lock is a .lck-<fileid> file its owner rewrites every 10 s (stale after 35 s unchanged).

  format      writes an empty datastore on the LUN through HOST (default: the first host that lists it),
              then mounts it on every host that lists it. A LUN holding anything (a datastore, the VM
              disk directory, any data) is refused unless --force; a datastore another host still
              heartbeats on is refused even with --force
  mount       mount / unmount on HOST (default: every host that lists the datastore)
  list        each host's datastores: type (vmfs, nas), state (mounted, offline, unformatted, ...), slot
  inspect     decodes the whole metadata and cross-checks it (NAS: every .lck readable, none orphaned)
  locks       files and directories with their lock mode and holders (host, alive or gone); NAS: the
              .lck of each file, its owner and lease age
  heartbeats  heartbeat slots: owner, generation, pulse count and age; NAS: no slots, each .lck's age
  open        opens an existing file (e.g. web1/web1-flat.vmdk) on HOST in a lock mode: exclusive (one
              host), read-only (many readers, no writer) or multi-writer (many writers). A live host
              holding it in another mode refuses it ("locked by esxN"); a dead one's lock is broken after
              the lease. VMFS-like datastores only
  close       ends HOST's hold on the file's lock (other holders of a shared lock keep theirs)`,
    options: {
      host: { type: 'string', value: 'HOST', description: 'the host to act through (default: the hosts that list the datastore)' },
      force: { type: 'bool', verbs: ['format'], description: 'format over data or an existing datastore (not under a live host)' },
      locking: { type: 'enum', values: ['ats-only', 'ats-scsi'], default: 'ats-only', verbs: ['format'], description: 'metadata locking: COMPARE AND WRITE only, or a SCSI-2 reservation of the LUN' },
      mode: { type: 'enum', values: ['exclusive', 'read-only', 'multi-writer'], default: 'exclusive', verbs: ['open'], description: 'the lock mode to open the file in' },
      wait: { type: 'duration', unit: 's', min: 0, max: MAX_POWER_ON_WAIT_MS / 1000, verbs: ['open'], description: 'longest wait for the lock (fabric time; default the lease plus four heartbeats)' },
      json: JSON_OPTION,
    },
    args: { min: 1, max: 3 },
    verbs: DATASTORE_VERBS,
    examples: ['datastore format ds1 && vfab datastore list', 'datastore locks ds1', 'datastore heartbeats ds1 --host esx2 --json'],
    exits: { 1: 'inspect found a problem, a mount/format left a host not mounted, or open was refused (locked)' },
  },
  async ({ values, positionals }, io) => {
    const [verb, ...args] = positionals as [string, ...string[]];
    if (verb === 'open' || verb === 'close') { // usage first: before the fabric is looked at
      if (args.length !== 2) throw new UsageError(`vfab datastore ${verb} needs NAME and PATH, e.g. vfab datastore ${verb} ds1 web1/web1-flat.vmdk --host esx1`);
      if (values.host === undefined) throw new UsageError(`vfab datastore ${verb} needs --host HOST: the host that ${verb === 'open' ? 'opens' : 'closes'} the file`);
    }
    const state = readState();
    const host = values.host === undefined ? undefined : runningHost(state, values.host);
    const one = async (): Promise<{ name: string; h: DaemonRecord }> => {
      if (args.length !== 1) throw new UsageError(`vfab datastore ${verb} needs NAME (see: vfab datastore --help)`);
      const name = args[0]!;
      return { name, h: host ?? (await hostsWith(state, name))[0]! };
    };
    switch (verb) {
      case 'format': {
        const { name, h } = await one();
        const r = await control<any>(h, state.token, 'POST', dsPath(name, 'format'), { force: values.force, locking: values.locking }, 120_000);
        const mounted: Array<{ host: string; state: string; slot: number | null }> = [{ host: h.name, state: r.state, slot: r.slot }];
        for (const other of await hostsWith(state, name)) {
          if (other.name === h.name) continue;
          const m = await control<DsSummary>(other, state.token, 'POST', dsPath(name, 'mount'), {}, 60_000);
          mounted.push({ host: other.name, state: m.state, slot: m.slot });
        }
        if (values.json) return printJson(io, { datastore: name, formatted: r.formatted, mounted }), EXIT_OK;
        const l = r.formatted.layout;
        io.out(`formatted ${name} through ${h.name}: ${r.formatted.locking}, ${l.slotCount} heartbeat slots, ${l.fileEntries} file entries, ${l.fileBlocks} file blocks of ${formatSize(l.fileBlockBytes)} (volume ${r.formatted.volumeUuid})`);
        for (const m of mounted) io.out(`  ${m.host}: ${m.state}${m.slot !== null ? `, heartbeat slot ${m.slot}` : ''}`);
        return mounted.every((m) => m.state === 'mounted') ? EXIT_OK : EXIT_FAILED;
      }
      case 'mount':
      case 'unmount': {
        if (args.length !== 1) throw new UsageError(`vfab datastore ${verb} needs NAME (see: vfab datastore --help)`);
        const name = args[0]!;
        const targets = host ? [host] : await hostsWith(state, name);
        const rows: DsSummary[] = [];
        for (const h of targets) rows.push({ ...(await control<DsSummary>(h, state.token, 'POST', dsPath(name, verb), {}, 60_000)), name: h.name });
        if (values.json) return printJson(io, { datastore: name, hosts: rows.map((r) => ({ host: r.name, state: r.state, slot: r.slot, error: r.error })) }), EXIT_OK;
        for (const r of rows) io.out(`${r.name}: ${name} ${r.state}${r.slot !== null ? `, heartbeat slot ${r.slot}` : ''}${r.error ? ` (${r.error})` : ''}`);
        const want = verb === 'mount' ? 'mounted' : 'unmounted';
        return rows.every((r) => r.state === want) ? EXIT_OK : EXIT_FAILED;
      }
      case 'list': {
        if (args.length > 0) throw new UsageError(`vfab datastore list takes no NAME (got ${JSON.stringify(args[0])}; use --host HOST)`);
        const hosts = host ? [host] : liveHosts(state);
        const out: Array<{ host: string; datastores: DsSummary[] }> = [];
        for (const h of hosts) out.push({ host: h.name, datastores: await datastoresOf(state, h) });
        if (values.json) return printJson(io, { hosts: out }), EXIT_OK;
        const rows = out.flatMap((o) => o.datastores.map((d) => [o.host, d.name, d.type, d.type === 'nas' ? `${d.array}:${d.share}` : `${d.array}/${d.lun}`, d.state, d.slot === null ? '-' : `${d.slot} (gen ${d.generation})`, d.vms.join(',') || '-', d.error ?? '']));
        io.out(rows.length ? table([['host', 'datastore', 'type', 'on', 'state', 'slot', 'vms', 'problem'], ...rows]) : 'no host lists a datastore (hosts[].datastores in the topology)');
        return EXIT_OK;
      }
      case 'inspect': {
        const { name, h } = await one();
        const r = await control<any>(h, state.token, 'GET', dsPath(name, 'inspect'), undefined, 60_000);
        if (values.json) return printJson(io, r), r.clean ? EXIT_OK : EXIT_FAILED;
        if (r.type === 'nas') io.out(`${name} (read through ${h.name}): NAS share ${r.share}, ${r.files} file(s), ${r.lockedFiles} with a .lck`);
        if (r.superblock) {
          const s = r.superblock;
          io.out(`${name} (read through ${h.name}): label ${s.label}, volume ${s.volumeUuid}, ${s.locking}, ${s.blockSize}-byte blocks, heartbeat ${s.heartbeatMs} ms, lease ${s.leaseMs} ms`);
          io.out(`  ${r.slotsInUse} heartbeat slot(s) in use, ${r.files} file(s), ${r.lockedFiles} locked, ${r.pendingJournals.length} journal(s) with unreplayed transactions`);
        }
        io.out(r.clean ? '  clean: no problems found' : `  ${r.problems.length} problem(s):`);
        for (const p of r.problems) io.out(`    ${p.path ?? `byte ${p.offset}`}: ${p.code}: ${p.message}`);
        return r.clean ? EXIT_OK : EXIT_FAILED;
      }
      case 'locks': {
        const { name, h } = await one();
        const r = await control<any>(h, state.token, 'GET', dsPath(name, 'files'));
        if (values.json) return printJson(io, r), EXIT_OK;
        if (r.type === 'nas') {
          io.out(`${name}: NAS datastore, .lck leases refreshed every ${r.refreshMs} ms, stale after ${r.staleAfterMs} ms unchanged (fabric time)`);
          io.out(table([['path', 'size', 'lock', '.lck', 'owner', 'lease age'], ...r.files.map((f: any) => [f.path, formatSize(f.sizeBytes), f.lock.mode, f.lock.lck ?? '-', f.lock.holders[0]?.owner ?? '-', f.lock.holders[0] ? `${f.lock.holders[0].leaseAgeMs} ms${f.lock.holders[0].stale ? ' (stale)' : ''}` : '-'])]));
          return EXIT_OK;
        }
        const age = (x: any) => (x.heartbeat === 'gone' ? ', gone' : x.pulseAgeMs === null || x.pulseAgeMs === undefined ? '' : `, pulse ${x.pulseAgeMs} ms ago${x.pulseAgeMs >= r.leaseMs ? ' (stale: lease over)' : ''}`);
        io.out(`${name}: heartbeat lease ${r.leaseMs} ms (fabric time); a holder whose pulse is older than that may be broken`);
        io.out(table([['path', 'type', 'size', 'lock', 'holders'], ...r.files.map((f: any) => [f.path, f.type, formatSize(f.sizeBytes), f.lock.mode, f.lock.holders.map((x: any) => `${x.owner} (slot ${x.slot} gen ${x.slotGeneration}${age(x)})`).join(', ') || '-'])]));
        return EXIT_OK;
      }
      case 'open':
      case 'close': {
        if (host === undefined) throw new UsageError('--host is required'); // checked above
        const [name, file] = args as [string, string];
        const body = verb === 'open' ? { path: file, mode: values.mode, ...(values.wait === undefined ? {} : { waitMs: values.wait * 1000 }) } : { path: file };
        if (!values.json && verb === 'open') io.err(`opening ${file} on ${name} ${values.mode} on ${host.name}...`);
        const r = await control<any>(host, state.token, 'POST', dsPath(name, `files/${verb}`), body, 660_000);
        if (values.json) return printJson(io, r), EXIT_OK;
        io.out(verb === 'open' ? `${host.name}: ${file} on ${name} open ${r.mode}${r.taken ? '' : ' (held already)'}` : `${host.name}: ${file} on ${name} closed`);
        return EXIT_OK;
      }
      case 'heartbeats': {
        const { name, h } = await one();
        const r = await control<any>(h, state.token, 'GET', dsPath(name, 'heartbeats'));
        if (values.json) return printJson(io, r), EXIT_OK;
        if (r.type === 'nas') {
          io.out(`${name}: NAS datastore, no heartbeat slots: each lock is a .lck its owner rewrites every ${r.refreshMs} ms; stale after ${r.staleAfterMs} ms unchanged (fabric time)`);
          io.out(r.leases.length ? table([['.lck', 'file', 'owner', 'counter', 'age'], ...r.leases.map((l: any) => [l.lck, l.file ?? '-', l.owner ?? '(unreadable)', String(l.counter ?? '-'), `${l.ageMs} ms${l.stale ? ' (stale)' : ''}`])]) : 'no .lck files');
          return EXIT_OK;
        }
        io.out(`${name}: heartbeat every ${r.heartbeatMs} ms, lease ${r.leaseMs} ms (fabric time)`);
        io.out(table([['slot', 'state', 'owner', 'generation', 'pulse', 'age'], ...r.slots.map((s: any) => [String(s.index), s.state, s.owner ?? '-', String(s.generation ?? '-'), String(s.pulse ?? '-'), s.pulseAgeMs === null || s.pulseAgeMs === undefined ? '-' : `${s.pulseAgeMs} ms`])]));
        return EXIT_OK;
      }
      default:
        throw new UsageError(`unknown datastore action ${JSON.stringify(verb)}`);
    }
  },
);

const vmCmd = defineCommand(
  {
    usage: ['power-on VM --host HOST [--datastore NAME] [--wait SECONDS] [--json]', 'power-off VM --host HOST [--datastore NAME] [--json]', 'migrate VM --to HOST [--json]',
      'mtu VM[.NIC] BYTES [--json]', 'mac VM[.NIC] MAC [--json]', 'promiscuous VM[.NIC] on|off [--json]'],
    description: `Power-on opens the VM's files on the datastore exclusively: <VM>/<VM>.vmx, and per disk the
descriptor <VM>.vmdk and the data <VM>-flat.vmdk (created at the first power-on; a VM the topology does not
name gets one 1 MiB disk, a topology VM its datastore disks, and its NICs come up). While another host
has them open and its heartbeat moves, power-on fails with VFAB_DATASTORE_LOCKED "locked by <host>"
(exit 1). When that host is dead, HOST watches its heartbeat for the whole lease (16 s fabric time; less with vfab up --time-scale), then breaks the lock
(replays the dead host's journal, frees its slot) and powers on; --wait bounds how long.
On a NAS datastore the files are locked by .lck-<fileid> leases the host refreshes every 10 s; a dead
host's lease is broken once it stayed unchanged for 35 s (fabric time; the .vmx's lease first, then the
others': default wait 90 s).
Power-off releases the files (exit 1 when none is open on HOST). The VM need not be in the topology:
it is files on the datastore.
Migrate moves a running VM to host HOST while it runs (vMotion, docs/vmotion.md): its memory crosses the
fabric between the hosts' vMotion vmkernel ports in passes, then the VM stops for the final copy, its file
locks move and it resumes on HOST. Progress lines show each pass (bytes, time, bandwidth); the result
gives the downtime. Refused (exit 1, naming the cause): VM off, no host HOST, HOST is the VM's host,
HOST lacks a port group, VLAN, datastore or vMotion vmkernel port, VM already migrating.
Mtu, mac and promiscuous act inside a running builtin VM's guest, like ip link set there (NIC: the vNIC,
default the first with an address): mtu sets its interface's IP MTU (68-9000; vfab ping --size goes up
to MTU - 28, and a vSwitch or switch with a smaller MTU drops larger frames), mac changes its MAC (the
port group's MAC address changes policy decides, spec §4.1), promiscuous sets the adapter's flag (the
port group's promiscuous policy decides, §4.2). They last until the VM powers off; the topology is
unchanged (vfab set vnic changes the configuration).`,
    options: {
      host: { type: 'string', value: 'HOST', required: true, verbs: ['power-on', 'power-off'], description: 'the host to run the VM on' },
      to: { type: 'string', value: 'HOST', required: true, verbs: ['migrate'], description: 'the host to move the running VM to' },
      datastore: { type: 'string', value: 'NAME', description: 'the datastore holding the VM (needed only when HOST mounts more than one)' },
      wait: { type: 'duration', unit: 's', min: 0, max: MAX_POWER_ON_WAIT_MS / 1000, verbs: ['power-on'], description: 'longest wait for a lock (fabric time; default the lease plus four heartbeats; NAS: twice the stale time plus two refreshes)' },
      json: JSON_OPTION,
    },
    args: { min: 2, max: 3 },
    verbs: ['power-on', 'power-off', 'migrate', ...GUEST_VERBS],
    examples: ['vm power-on app1 --host esx1', 'vm migrate app1 --to esx2   # vMotion', 'vm mtu web1.nic0 9000      # the guest sets its MTU (also: mac, promiscuous on|off)'],
    exits: { 1: 'the VM is locked by another host (power-on), not on HOST (power-off), or a migration was refused or did not end on HOST' },
  },
  async ({ values, positionals }, io) => {
    const [verb, vm, value] = positionals as [string, string, string | undefined];
    if ((GUEST_VERBS as readonly string[]).includes(verb)) return runGuestVerb(verb as GuestVerb, vm, value, values.json, io);
    if (value !== undefined) throw new UsageError(`vm ${verb} takes one VM: unexpected ${JSON.stringify(value)}`);
    if (verb === 'migrate') return (await import('../../vmotion/cli.js')).runMigrate(vm, values.to!, values.json, io);
    if (values.host === undefined) throw new UsageError(`vm ${verb} needs --host HOST`);
    const waitMs = values.wait === undefined ? undefined : values.wait * 1000;
    const state = readState();
    const h = runningHost(state, values.host);
    let ds = values.datastore;
    if (ds === undefined) {
      const mine = await datastoresOf(state, h);
      if (mine.length !== 1) throw new UsageError(`${h.name} mounts ${mine.length === 0 ? 'no datastore' : `${mine.length} datastores (${mine.map((d) => d.name).join(', ')})`}: say which with --datastore`);
      ds = mine[0]!.name;
    }
    const path = dsPath(ds, `vms/${encodeURIComponent(vm)}/${verb}`);
    const started = Date.now();
    if (!values.json && verb === 'power-on') io.err(`powering on ${vm} on ${h.name} (datastore ${ds})...`);
    const r = await control<any>(h, state.token, 'POST', path, waitMs === undefined ? {} : { waitMs }, 660_000);
    if (values.json) return printJson(io, r), EXIT_OK;
    if (verb === 'power-on') io.out(`${vm} powered on on ${h.name} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${r.files.map((f: any) => `${f.path}${f.created ? ' (created)' : ''}`).join(', ')} open exclusive`);
    else if (r.released.length === 0) {
      io.err(`${vm} is not powered on on ${h.name}: none of its files is open there`);
      return EXIT_FAILED;
    } else io.out(`${vm} powered off on ${h.name}: released ${r.released.join(', ')}`);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { datastore: datastoreCmd, vm: vmCmd };
