// Storage commands of the vfab CLI: `vfab lun` (create, list, grow, delete LUNs on the running fabric's
// array, via stored's control API) and `vfab disk` (write, read, load, status, path: VM disks through
// their host, daemons/host-storage.ts). Sizes take K/M/G/T (binary, lib/storage/size.ts). Leaves out
// LUN masking and rescans (a LUN created here is seen by hosts after they restart).

import fs from 'node:fs';
import { VfabError } from '../../../lib/errors.js';
import { parseSizeBytes, formatSize } from '../../../lib/storage/size.js';
import type { ReadCacheStats } from '../../../lib/storage/block-cache.js';
import { readCacheLine } from '../read-cache-line.js';
import { iscsiPortalLines, type PortalStatus } from '../iscsi-sessions.js';
import { control } from '../../common/control-client.js';
import { readState, findDaemon, findVmDaemon, daemonRunning, type FabricState, type DaemonRecord } from '../../fabric/state.js';
import { MAX_LUN_BYTES, MAX_LUNS } from '../../../lib/storage/array.js';
import { MAX_WORKLOAD_DEPTH, MAX_VDISK_TRANSFER_BYTES, MAX_WORKLOAD_SECONDS } from '../../../lib/storage/vdisk.js';
import { type CommandTable, defineCommand, printJson, table, JSON_OPTION, UsageError, EXIT_OK, EXIT_FAILED } from '../io.js';
import { suggest } from '../../fabric/state.js';

/** Largest file `vfab disk write` sends (in MAX_CHUNK_BYTES requests). */
export const MAX_DISK_FILE_BYTES = 64 * 1024 * 1024;
/** Bytes per control request (the host's MAX_DISK_REQUEST_BYTES). */
export const MAX_CHUNK_BYTES = 512 * 1024;
/** Largest `vfab disk read` (to a file; a hex dump on the terminal shows at most MAX_DUMP_BYTES). */
export const MAX_DISK_READ_BYTES = 64 * 1024 * 1024;
export const MAX_DUMP_BYTES = 4096;

/** A size typed as a positional argument (OFFSET, LENGTH): the options' sizes go through the table. */
function size(text: string, what: string): number {
  const r = parseSizeBytes(text);
  if (!r.ok) throw new UsageError(`${what} ${text}: ${r.error.message}`);
  return r.value;
}

function running(state: FabricState, d: DaemonRecord): DaemonRecord {
  if (!daemonRunning(state, d)) throw new VfabError('VFAB_DAEMON_DOWN', `${d.kind} ${d.name} (pid ${d.pid}) is not running`);
  return d;
}

function pickArray(state: FabricState, name: string | undefined): DaemonRecord {
  const arrays = state.daemons.filter((d) => d.kind === 'array');
  if (name !== undefined) {
    const d = arrays.find((a) => a.name === name);
    if (!d) throw new VfabError('VFAB_NOT_FOUND', `no array ${JSON.stringify(name)} in fabric ${state.fabric}${suggest(name, arrays.map((a) => a.name))} (arrays: ${arrays.map((a) => a.name).join(', ') || 'none'})`);
    return running(state, d);
  }
  if (arrays.length === 0) throw new VfabError('VFAB_NOT_FOUND', `fabric ${state.fabric} has no storage array (declare one under arrays: in the topology)`);
  if (arrays.length > 1) throw new UsageError(`fabric ${state.fabric} has ${arrays.length} arrays (${arrays.map((a) => a.name).join(', ')}): say which with --array`);
  return running(state, arrays[0]!);
}

interface LunRow {
  lun: number;
  name: string;
  id: string;
  sizeBytes: number;
  blockSizeBytes: number;
  blocks: number;
  /** false: ATS (COMPARE AND WRITE) turned off on this LUN; absent = on. */
  ats?: boolean;
}

export { readCacheLine } from '../read-cache-line.js';

function lunRows(luns: LunRow[]): string {
  return table([['lun', 'name', 'size', 'block', 'blocks', 'ats', 'id'], ...luns.map((l) => [String(l.lun), l.name, formatSize(l.sizeBytes), String(l.blockSizeBytes), String(l.blocks), l.ats === false ? 'off' : 'on', l.id])]);
}

const lun = defineCommand(
  {
    usage: ['create NAME --size SIZE [--block-size 512|4096] [--lun N] [--array ARRAY] [--json]', 'list [--array ARRAY] [--json]', 'grow NAME --size SIZE [--array ARRAY] [--json]', 'delete NAME [--array ARRAY] [--json]'],
    description: `LUNs are thin block devices on the fabric's storage array (the stored daemon, LevelDB under
.vfab/arrays/<array>/ or the topology's arrays[].dataDir). Each has a name, a size, a block size (512 or
4096 bytes), a LUN number and a stable NAA ID (naa.6...). Unwritten blocks cost nothing and read as
zeros. LUNs and their data stay across vfab down / up (delete them: vfab array wipe, vfab down --purge).
\`lun list\` also shows the array's iSCSI portal and its sessions when the topology has arrays[].iscsi
(docs/iscsi.md), and the array's read cache (stored --read-cache-mb, default 128 MiB): blocks read are
kept in memory and answered from there until written, unmapped or evicted.
LUNs only grow (no shrink). Deleting a LUN drops its blocks at once; hosts then get LOGICAL UNIT NOT
SUPPORTED for it. Topology files declare LUNs under arrays[].luns; \`vfab up\` creates the missing
ones and grows smaller ones (a topology size below the stored LUN's is refused).`,
    options: {
      size: { type: 'size', min: 512, max: MAX_LUN_BYTES, required: true, verbs: ['create', 'grow'], description: 'LUN size with an optional binary unit: 4G, 512M, 1.5G, 4096' },
      'block-size': { type: 'enum', values: ['512', '4096'], verbs: ['create'], description: 'bytes per block (default 512)' },
      lun: { type: 'int', min: 0, max: MAX_LUNS - 1, verbs: ['create'], description: 'LUN number (default: the lowest free one)' },
      array: { type: 'string', value: 'ARRAY', description: 'which array (needed only when the fabric has more than one)' },
      json: JSON_OPTION,
    },
    args: { min: 1, max: 2 },
    verbs: ['create', 'list', 'grow', 'delete'],
    examples: ['lun create scratch --size 2G --block-size 4096', 'lun list', 'lun grow scratch --size 4G'],
  },
  async ({ values, positionals, typed }, io) => {
    const [verb, name] = positionals as [string, string | undefined];
    if (verb === 'list' && name !== undefined) throw new UsageError(`vfab lun list takes no NAME (got ${JSON.stringify(name)})`);
    const needName = (): string => {
      if (!name) throw new UsageError(`vfab lun ${verb} needs a LUN NAME (see: vfab lun --help)`);
      return name;
    };
    const state = readState();
    const array = pickArray(state, values.array);
    const path = (n: string) => `/control/luns/${encodeURIComponent(n)}`;
    switch (verb) {
      case 'list': {
        const { luns } = await control<{ luns: LunRow[] }>(array, state.token, 'GET', '/control/luns');
        const { stats, iscsi } = await control<{ stats: { readCache: ReadCacheStats }; iscsi?: PortalStatus | null }>(array, state.token, 'GET', '/control/status');
        const portal = iscsi ? { address: iscsi.address, port: iscsi.port, iqn: iscsi.iqn, sessions: iscsi.sessions ?? [] } : null;
        if (values.json) return printJson(io, { array: array.name, luns, readCache: stats.readCache, iscsi: portal }), EXIT_OK;
        io.out(luns.length ? `array ${array.name}\n${lunRows(luns)}` : `array ${array.name} has no LUNs (create one: vfab lun create NAME --size 4G)`);
        io.out(readCacheLine(stats.readCache));
        if (portal) for (const l of iscsiPortalLines(portal)) io.out(l);
        return EXIT_OK;
      }
      case 'create': {
        const n = needName();
        const sizeBytes = values.size;
        const body: Record<string, unknown> = { name: n, sizeBytes };
        const bs = values['block-size'] === undefined ? 512 : Number(values['block-size']);
        if (values['block-size'] !== undefined) body.blockSize = bs;
        if (sizeBytes % bs !== 0) throw new UsageError(`${typed.size}: ${sizeBytes} bytes is not a whole number of ${bs}-byte blocks`);
        if (values.lun !== undefined) body.lun = values.lun;
        const info = await control<LunRow>(array, state.token, 'POST', '/control/luns', body);
        if (values.json) return printJson(io, info), EXIT_OK;
        io.out(`created LUN ${info.lun} ${info.name} on ${array.name}: ${formatSize(info.sizeBytes)} (${info.blocks} blocks of ${info.blockSizeBytes}), ${info.id}`);
        return EXIT_OK;
      }
      case 'grow': {
        const n = needName();
        const info = await lunNamed(array, state.token, n, () => control<LunRow>(array, state.token, 'POST', `${path(n)}/grow`, { sizeBytes: values.size }));
        if (values.json) return printJson(io, info), EXIT_OK;
        io.out(`LUN ${info.lun} ${info.name} is now ${formatSize(info.sizeBytes)} (${info.blocks} blocks)`);
        return EXIT_OK;
      }
      case 'delete': {
        const n = needName();
        const r = await lunNamed(array, state.token, n, () => control(array, state.token, 'DELETE', path(n)));
        if (values.json) return printJson(io, r), EXIT_OK;
        io.out(`deleted LUN ${n} from ${array.name}`);
        return EXIT_OK;
      }
      default:
        throw new UsageError(`unknown lun action ${JSON.stringify(verb)}`);
    }
  },
);

/** Runs `call` on LUN `name`; when the array knows no such LUN, the error suggests the closest name. */
async function lunNamed<T>(array: DaemonRecord, token: string, name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (!(e instanceof VfabError) || !/NOT_FOUND|NO_SUCH_LUN/.test(e.code)) throw e;
    const { luns } = await control<{ luns: LunRow[] }>(array, token, 'GET', '/control/luns').catch(() => ({ luns: [] as LunRow[] }));
    const names = luns.map((l) => l.name);
    throw new VfabError(e.code, `no LUN named ${JSON.stringify(name)} on ${array.name}${suggest(name, names)} (LUNs: ${names.join(', ') || 'none'})`);
  }
}



function hostOf(state: FabricState, vm: string, via: string | undefined): DaemonRecord {
  if (via !== undefined) {
    const d = findDaemon(state, via);
    if (d.kind !== 'host') throw new UsageError(`--via ${via} is a ${d.kind}, not a host`);
    return running(state, d);
  }
  return running(state, findVmDaemon(state, vm));
}

function hexDump(data: Buffer, base: number): string {
  const lines: string[] = [];
  for (let o = 0; o < data.length; o += 16) {
    const row = data.subarray(o, o + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const text = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(base + o).toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${text}`);
  }
  return lines.join('\n');
}

const disk = defineCommand(
  {
    usage: [
      'write VM DISK OFFSET FILE [--via HOST] [--json]',
      'read VM DISK OFFSET LENGTH [--out FILE] [--via HOST] [--json]',
      'load VM [DISK] [--pattern random|sequential] [--block SIZE] [--depth N] [--seconds S] [--read-percent PCT] [--json]',
      'status [HOST] [--json]',
      'path HOST ARRAY INDEX down|up [--json]',
    ],
    description: `A VM's virtual disk is a byte range of a LUN (placed by the datastore directory at the start of the
LUN, see docs/storage-model.md), or a -flat.vmdk file on a VMFS-like datastore (disks[].datastore,
docs/datastores.md; I/O only while its host has the VM powered on and the file locked). Its host sends real SCSI READ/WRITE commands to the array over every
path the topology declares (hosts[].storage: paths, policy roundRobin|fixed|mru).

  write   copies FILE into the disk at OFFSET (partial blocks are read, merged and written back)
  read    reads LENGTH bytes at OFFSET into --out FILE, or prints a hex dump
  load    a workload from inside the VM: IOPS, MB/s, latency p50/p99, I/Os retried on another path
  status  each host's arrays, paths (active/standby/dead, I/O counts), LUNs and VM disks
  path    fail (down) or restore (up) one path of a host to an array, like pulling a cable; I/O moves
          to the other paths without errors; with every path down, I/O waits up to the APD timeout
          (VFAB_APD_TIMEOUT_MS when the fabric started, default 140 s) and then fails

OFFSET and LENGTH are sizes: 4096, 4k, 1M.`,
    options: {
      via: { type: 'string', value: 'HOST', verbs: ['write', 'read'], description: "reach the VM's disk through HOST (read-only for another host's VM), e.g. to check that data written on esx1 is visible from esx2" },
      out: { type: 'string', value: 'FILE', verbs: ['read'], description: 'write the bytes read to FILE instead of a hex dump' },
      pattern: { type: 'enum', values: ['random', 'sequential'], default: 'random', verbs: ['load'], description: 'I/O offsets' },
      block: { type: 'size', min: 512, max: MAX_VDISK_TRANSFER_BYTES, default: 4096, verbs: ['load'], description: 'bytes per I/O (a multiple of the LUN block size)' },
      depth: { type: 'int', min: 1, max: MAX_WORKLOAD_DEPTH, default: 32, verbs: ['load'], description: 'I/Os in flight' },
      seconds: { type: 'duration', unit: 's', min: 0.1, max: MAX_WORKLOAD_SECONDS, default: 5, verbs: ['load'], description: 'how long the workload runs' },
      'read-percent': { type: 'int', value: 'PCT', min: 0, max: 100, default: 100, verbs: ['load'], description: 'share of reads (the rest are writes)' },
      json: JSON_OPTION,
    },
    args: { min: 1, max: 5 },
    verbs: ['write', 'read', 'load', 'status', 'path'],
    examples: ['disk write web1 disk0 0 ./hello.txt && vfab disk read web1 disk0 0 12 --via esx2', 'disk load web1 --pattern random --block 4k --depth 32 --seconds 10', 'disk path esx1 array1 0 down'],
    exits: { 1: 'the workload saw I/O errors' },
  },
  async ({ values, positionals }, io) => {
    const [verb, ...args] = positionals as [string, ...string[]];
    const state = readState();
    const need = (n: number, what: string): void => {
      if (args.length !== n) throw new UsageError(`vfab disk ${verb} needs ${what} (see: vfab disk --help)`);
    };
    const diskPath = (vm: string, disk: string, op: string) => `/control/vms/${encodeURIComponent(vm)}/disks/${encodeURIComponent(disk)}/${op}`;
    switch (verb) {
      case 'write': {
        need(4, 'VM DISK OFFSET FILE');
        const [vm, disk, off, file] = args as [string, string, string, string];
        const offset = size(off, 'OFFSET');
        let st: fs.Stats;
        try {
          st = fs.statSync(file);
        } catch {
          throw new UsageError(`cannot read ${file}: no such file`);
        }
        if (!st.isFile()) throw new UsageError(`${file} is not a regular file`);
        if (st.size > MAX_DISK_FILE_BYTES) throw new UsageError(`${file} is ${st.size} bytes; vfab disk write sends at most ${MAX_DISK_FILE_BYTES} bytes (${formatSize(MAX_DISK_FILE_BYTES)})`);
        const d = hostOf(state, vm, values.via);
        const { disks } = await control<{ disks: Array<{ disk: string; sizeBytes: number }> }>(d, state.token, 'GET', `/control/vms/${encodeURIComponent(vm)}/disks`);
        const info = disks.find((x) => x.disk === disk);
        if (!info) throw new VfabError('VFAB_HOSTSTORAGE_DISK_NOT_FOUND', `VM ${vm} has no disk ${JSON.stringify(disk)} (disks: ${disks.map((x) => x.disk).join(', ') || 'none'})`);
        if (offset + st.size > info.sizeBytes) {
          throw new VfabError('VFAB_VDISK_OUT_OF_RANGE', `${file} (${st.size} bytes) at offset ${offset} runs past the end of ${vm}/${disk} (${info.sizeBytes} bytes)`);
        }
        const data = fs.readFileSync(file);
        for (let o = 0; o < data.length || o === 0; o += MAX_CHUNK_BYTES) {
          const chunk = data.subarray(o, o + MAX_CHUNK_BYTES);
          await control(d, state.token, 'POST', diskPath(vm, disk, 'write'), { offset: offset + o, dataBase64: chunk.toString('base64') });
          if (data.length === 0) break;
        }
        const r = { vm, disk, host: d.name, offset, bytes: data.length };
        if (values.json) return printJson(io, r), EXIT_OK;
        io.out(`wrote ${data.length} bytes of ${file} to ${vm}/${disk} at offset ${offset} (through ${d.name})`);
        return EXIT_OK;
      }
      case 'read': {
        need(4, 'VM DISK OFFSET LENGTH');
        const [vm, disk, off, len] = args as [string, string, string, string];
        const offset = size(off, 'OFFSET');
        const length = size(len, 'LENGTH');
        if (length > MAX_DISK_READ_BYTES) throw new UsageError(`LENGTH ${length} is above ${MAX_DISK_READ_BYTES} bytes`);
        if (values.out === undefined && length > MAX_DUMP_BYTES && !values.json) throw new UsageError(`a hex dump shows at most ${MAX_DUMP_BYTES} bytes: use --out FILE for ${length}`);
        const d = hostOf(state, vm, values.via);
        const parts: Buffer[] = [];
        for (let o = 0; o < length || o === 0; o += MAX_CHUNK_BYTES) {
          const n = Math.min(MAX_CHUNK_BYTES, length - o);
          const r = await control<{ dataBase64: string }>(d, state.token, 'POST', diskPath(vm, disk, 'read'), { offset: offset + o, length: n });
          parts.push(Buffer.from(r.dataBase64, 'base64'));
          if (length === 0) break;
        }
        const data = Buffer.concat(parts);
        if (values.out !== undefined) fs.writeFileSync(values.out, data);
        if (values.json) return printJson(io, { vm, disk, host: d.name, offset, bytes: data.length, ...(values.out ? { out: values.out } : { dataBase64: data.toString('base64') }) }), EXIT_OK;
        if (values.out !== undefined) io.out(`read ${data.length} bytes of ${vm}/${disk} at offset ${offset} (through ${d.name}) into ${values.out}`);
        else io.out(hexDump(data, offset));
        return EXIT_OK;
      }
      case 'load': {
        if (args.length < 1 || args.length > 2) throw new UsageError('vfab disk load needs VM [DISK] (see: vfab disk --help)');
        const vm = args[0]!;
        const d = hostOf(state, vm, undefined);
        let disk = args[1];
        if (disk === undefined) {
          const { disks } = await control<{ disks: Array<{ disk: string }> }>(d, state.token, 'GET', `/control/vms/${encodeURIComponent(vm)}/disks`);
          if (disks.length === 0) throw new VfabError('VFAB_HOSTSTORAGE_DISK_NOT_FOUND', `VM ${vm} has no disks`);
          disk = disks[0]!.disk;
        }
        const { seconds, depth, pattern } = values;
        const body = { pattern, blockBytes: values.block, depth, seconds, readPercent: values['read-percent'] };
        const r = await control<any>(d, state.token, 'POST', diskPath(vm, disk, 'load'), body, seconds * 1000 + 60_000);
        if (values.json) return printJson(io, r), EXIT_OK;
        io.out(
          `${vm}/${disk} on ${d.name}: ${r.pattern} ${formatSize(r.blockBytes)} at depth ${r.depth}, ${r.readPercent}% reads, ${(r.elapsedMs / 1000).toFixed(1)} s\n` +
            `  ${r.ios} I/Os (${r.reads} reads, ${r.writes} writes), ${r.iops} IOPS, ${r.mbPerSec} MB/s, latency p50 ${r.latencyP50Ms.toFixed(2)} ms p99 ${r.latencyP99Ms.toFixed(2)} ms\n` +
            `  errors ${r.errors}${r.firstError ? ` (first: ${r.firstError})` : ''}, retried on another path ${r.retriedOnOtherPath}`,
        );
        return r.errors > 0 ? EXIT_FAILED : EXIT_OK;
      }
      case 'status': {
        if (args.length > 1) throw new UsageError('vfab disk status takes at most one HOST (see: vfab disk --help)');
        const hosts = args[0] ? [findDaemon(state, args[0])] : state.daemons.filter((x) => x.kind === 'host');
        const reports: any[] = [];
        for (const h of hosts) reports.push({ name: h.name, ...(await control<any>(running(state, h), state.token, 'GET', '/control/storage')) });
        if (values.json) return printJson(io, { hosts: reports }), EXIT_OK;
        for (const r of reports) {
          io.out(`host ${r.name} (${r.initiator})`);
          for (const a of r.arrays) {
            const over = a.protocol === 'iscsi' ? `, iSCSI to ${a.target ?? '?'}` : '';
            io.out(`  array ${a.array}: ${a.state}${a.error ? ` (${a.error})` : ''}, policy ${a.policy}${over}, retried ${a.retriedCommands}${a.allPathsDownSinceMs !== null ? ', ALL PATHS DOWN' : ''}`);
            io.out(indent(table([['path', 'name', 'protocol', 'state', 'i/o', 'selected', 'failures', 'admin'], ...a.paths.map((p: any) => [String(p.path), p.name, p.protocol ?? 'block', p.state, p.io ? 'yes' : 'no', String(p.selected), String(p.failures), p.adminDown ? 'down' : 'up'])]), 4));
            for (const l of a.luns) io.out(`    LUN ${l.lun} ${l.name}: ${formatSize(l.sizeBytes)}, ${l.blockSizeBytes}-byte blocks`);
            for (const st of a.stalls ?? []) io.out(`    I/O STALLED to ${st.lun ?? 'every LUN'}: ${st.remainingMs} ms more (fabric clock), ${st.held} commands held`);
          }
          if (r.disks.length) io.out(indent(table([['vm', 'disk', 'lun or file', 'size', 'offset', 'problem'], ...r.disks.map((x: any) => [x.vm, x.disk, x.datastore ? `[${x.datastore}] ${x.file}` : `${x.array}/${x.lun}`, formatSize(x.sizeBytes), x.offsetBytes === null ? '-' : String(x.offsetBytes), x.error ?? ''])]), 2));
        }
        return EXIT_OK;
      }
      case 'path': {
        need(4, 'HOST ARRAY INDEX down|up');
        const [host, array, index, dir] = args as [string, string, string, string];
        if (dir !== 'down' && dir !== 'up') throw new UsageError(`last argument must be down or up, got ${JSON.stringify(dir)}`);
        if (!/^\d+$/.test(index)) throw new UsageError(`INDEX must be a path number (0, 1, ...), got ${JSON.stringify(index)}`);
        const d = findDaemon(state, host);
        if (d.kind !== 'host') throw new UsageError(`${host} is a ${d.kind}, not a host`);
        const r = await control<any>(running(state, d), state.token, 'POST', `/control/storage/paths/${encodeURIComponent(array)}/${index}`, { up: dir === 'up' });
        if (values.json) return printJson(io, r), EXIT_OK;
        io.out(`${host} path ${index} to ${array} ${dir}; paths: ${r.paths.map((p: any) => `${p.path}:${p.state}`).join(' ')}`);
        return EXIT_OK;
      }
      default:
        throw new UsageError(`unknown disk action ${JSON.stringify(verb)}`);
    }
  },
);

function indent(text: string, n: number): string {
  return text.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
}

export const commands: CommandTable = { lun, disk };
