// `stored`: the shared storage array process. Opens the array (LevelDB under --data-dir, or --memory),
// ensures the LUNs of --config exist, serves the block protocol on WebSocket /block (docs/block-protocol.md)
// and a JSON control API under /control/ on the same port; the array's NAS shares (config `shares`) on
// WebSocket /nas (daemons/storage/nas-server.ts, docs/nas-protocol.md). Follows the vfab daemon conventions: fabric
// token from VFAB_TOKEN (Bearer header or ?token=), one JSON ready line on stdout, logs on stderr,
// SIGTERM/SIGINT close cleanly with exit 0. Durability is the array's job: a write is acknowledged only
// after the array resolved it. With --iscsi-port (or config `iscsi`), also an iSCSI portal on TCP
// (daemons/storage/iscsi-portal.ts, docs/iscsi.md), its port in the ready line as `iscsiPort`; its initiator
// ACL and CHAP from config `iscsi` or --iscsi-initiator / --iscsi-chap-user (secrets from the environment,
// never on the command line or in logs). Leaves out LUN masking.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { daemonTlsFiles, type TlsFiles } from './common/tls.js';
import type { AddressInfo } from 'node:net';
import { VfabError } from '../lib/errors.js';
import { LUN_PROVISIONING, openArray, ensureLuns, type LunInfo, type LunProvisioning, type LunSpec as ArrayLunSpec } from '../lib/storage/array.js';
import { DEFAULT_READ_CACHE_BYTES, MAX_READ_CACHE_BYTES } from '../lib/storage/block-cache.js';
import { MAX_IN_FLIGHT } from '../lib/storage/protocol.js';
import { BlockServer } from './storage/block-server.js';
import { IscsiPortal, LOGIN_TIMEOUT_MS, MAX_LOGIN_TIMEOUT_MS, MIN_LOGIN_TIMEOUT_MS } from './storage/iscsi-portal.js';
import { createGuardedServer, decodeSegment, guardUpgradeSocket, refuseSocket, requestAuthorized } from './common/http-guard.js';
import { openNasService, type NasService } from './storage/nas-server.js';
import { FabricClock } from './common/fabric-clock.js';
import type { FabricClockAnchor } from '../lib/fabric-clock.js';
import type { ShareSpec } from '../lib/nas/shares.js';
import { accessProblems, type IscsiAccess } from '../lib/iscsi/access.js';

/** Largest control API request body. */
export const MAX_CONTROL_BODY_BYTES = 64 * 1024;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

export const STORED_ERROR = {
  /** Bad command line or config file. */
  BAD_CONFIG: 'VFAB_STORED_BAD_CONFIG',
  /** Control request without the fabric token. */
  UNAUTHORIZED: 'VFAB_STORED_UNAUTHORIZED',
  /** Unknown control path or method. */
  NOT_FOUND: 'VFAB_STORED_NOT_FOUND',
  /** Control body not JSON, or missing fields; a request target that is not a path. */
  BAD_REQUEST: 'VFAB_STORED_BAD_REQUEST',
  /** Control body larger than MAX_CONTROL_BODY_BYTES (HTTP 413). */
  TOO_LARGE: 'VFAB_STORED_TOO_LARGE',
} as const;

/** Environment variables holding the CHAP secrets of --iscsi-chap-user and --iscsi-chap-mutual-user. */
const CHAP_SECRET_ENV = 'VFAB_ISCSI_CHAP_SECRET';
const CHAP_MUTUAL_SECRET_ENV = 'VFAB_ISCSI_CHAP_MUTUAL_SECRET';

const HELP = `usage: node --import tsx daemons/stored.ts [options]
  --config FILE        JSON: { "name": "array1", "dataDir": "...", "luns": [{ "name": "ds1", "sizeGB": 4, "blockSize": 512, "lun": 0, "provisioning": "thin" }],
                         "shares": [{ "name": "nfs1", "sizeMB": 1024 }] }
                       or the plan written by \`vfab up\`: { "kind": "array", "array": { "name", "readCacheBytes", "luns": [{ "name", "lunId", "blockSizeBytes", "sizeBytes", "provisioning" }] } }
  --data-dir DIR       LevelDB directory (required unless --memory or config.dataDir)
  --memory             keep LUNs in memory only (lost on exit)
  --name NAME          array name (default from config, else "vfab-array")
  --host ADDR          listen address (default 127.0.0.1)
  --port N             listen port (default 0 = any free port)
  --tls-cert FILE      serve https:// and wss:// with this PEM certificate (with --tls-key FILE)
  --max-in-flight N    largest window granted per connection (default ${MAX_IN_FLIGHT})
  --no-group-commit    one fsync per write instead of group commit
  --iscsi-port N       serve the LUNs over iSCSI on --host:N too (0 = any free port; off unless given or config.iscsi)
  --iscsi-login-timeout-ms N
                       time an iSCSI connection has to finish its login (default ${LOGIN_TIMEOUT_MS}; 100..${MAX_LOGIN_TIMEOUT_MS})
  --iscsi-initiator IQN
                       only this initiator may log in to the iSCSI target (repeat for more; replaces config.iscsi.initiators;
                       default: every initiator); Discovery sessions of others list no target
  --iscsi-chap-user NAME
                       every iSCSI login must pass CHAP as NAME with the secret in env ${CHAP_SECRET_ENV} (12-255 bytes);
                       replaces config.iscsi.chap
  --iscsi-chap-mutual-user NAME
                       with --iscsi-chap-user: the target proves itself as NAME with the secret in env ${CHAP_MUTUAL_SECRET_ENV}
                       (must differ from the other secret)
  --read-cache-mb N    read cache in front of LevelDB, in MiB (default ${DEFAULT_READ_CACHE_BYTES / MIB}; 0 = none;
                       max ${MAX_READ_CACHE_BYTES / MIB}); GET /control/status shows its hits and misses
  --help               this text
env VFAB_TOKEN: fabric token (generated and printed on stderr if unset).
Example: VFAB_ISCSI_CHAP_SECRET=... stored --memory --iscsi-port 3260 --iscsi-initiator iqn.1994-05.com.redhat:host1 --iscsi-chap-user host1
Control API (Bearer token): GET /control/status, GET /control/luns, POST /control/luns {name,sizeBytes|sizeGB,blockSize,lun?},
  POST /control/luns/NAME/grow {sizeBytes|sizeGB}, POST /control/luns/NAME/ats {enabled} (ATS on/off), DELETE /control/luns/NAME, POST /control/compact (finish LevelDB
  compaction now, used by the bench before measuring). Block protocol: WebSocket /block; NAS shares: WebSocket /nas.
`;

interface LunSpec {
  name: string;
  sizeBytes?: number;
  sizeGB?: number;
  blockSize?: 512 | 4096;
  /** LUN number (topology lunId); default the lowest free one. */
  lun?: number;
  /** false: no ATS (COMPARE AND WRITE) on this LUN (topology arrays[].luns[].ats). */
  ats?: boolean;
  /** thin (default) or thick (topology arrays[].luns[].provisioning). */
  provisioning?: LunProvisioning;
}

/** The topology form (daemons/fabric/plan.ts ArrayConfig) turned into the stored config form. */
function storedConfigFromPlan(raw: Record<string, unknown>): StoredConfig {
  if (raw.kind !== 'array' || typeof raw.array !== 'object' || raw.array === null) return raw as StoredConfig;
  const a = raw.array as { name?: unknown; luns?: unknown; readCacheBytes?: unknown; shares?: unknown; iscsi?: unknown };
  const luns: LunSpec[] = [];
  for (const l of Array.isArray(a.luns) ? (a.luns as Array<Record<string, unknown>>) : []) {
    luns.push({
      name: l.name as string,
      ...(typeof l.sizeBytes === 'number' ? { sizeBytes: l.sizeBytes } : {}),
      ...(l.blockSizeBytes === 512 || l.blockSizeBytes === 4096 ? { blockSize: l.blockSizeBytes } : {}),
      ...(typeof l.lunId === 'number' ? { lun: l.lunId } : {}),
      ...(l.ats === false ? { ats: false } : {}),
      ...(l.provisioning !== undefined ? { provisioning: l.provisioning as LunProvisioning } : {}),
    });
  }
  const clock = typeof raw.clock === 'object' && raw.clock !== null ? { clock: raw.clock as FabricClockAnchor, ...(typeof raw.timeScale === 'number' ? { timeScale: raw.timeScale } : {}) } : {};
  return { ...clock, ...(typeof a.name === 'string' ? { name: a.name } : {}), ...(typeof a.readCacheBytes === 'number' ? { readCacheBytes: a.readCacheBytes } : {}), luns, ...(Array.isArray(a.shares) ? { shares: a.shares as ShareSpec[] } : {}), ...(a.iscsi !== undefined ? { iscsi: a.iscsi as StoredConfig['iscsi'] } : {}) };
}
interface StoredConfig {
  name?: string;
  dataDir?: string;
  /** Read cache size (topology arrays[].readCacheMB); --read-cache-mb wins. */
  readCacheBytes?: number;
  luns?: LunSpec[];
  /** NAS shares [{ name, sizeMB }] served on /nas. */
  shares?: ShareSpec[];
  /** iSCSI portal on --host ({ port }: 0 = any free port) and who may log in; --iscsi-port wins. */
  iscsi?: { port?: number } & IscsiAccess;
  /** The fabric clock's anchor and time scale (from the plan): iSCSI login times are on it. */
  clock?: FabricClockAnchor;
  timeScale?: number;
}


function log(line: string): void {
  process.stderr.write(`[stored ${process.pid}] ${line}\n`);
}

function die(message: string): never {
  process.stderr.write(`stored: ${message}\n`);
  process.exit(2);
}

function validPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}

/** The iSCSI access (ACL, CHAP) from the command line, else config.iscsi; dies naming the option, variable or field. */
function iscsiAccess(cfg: StoredConfig, initiators: string[], chapUser: string | undefined, mutualUser: string | undefined): IscsiAccess {
  if (mutualUser !== undefined && chapUser === undefined) die(`${STORED_ERROR.BAD_CONFIG}: --iscsi-chap-mutual-user needs --iscsi-chap-user`);
  const fromEnv = (user: string | undefined, env: string): { username: string; secret: string } | undefined => {
    if (user === undefined) return undefined;
    const secret = process.env[env];
    if (secret === undefined || secret === '') die(`${STORED_ERROR.BAD_CONFIG}: --iscsi-chap-${env === CHAP_SECRET_ENV ? '' : 'mutual-'}user needs the secret in env ${env}`);
    return { username: user, secret };
  };
  const cliChap = fromEnv(chapUser, CHAP_SECRET_ENV);
  const cliMutual = fromEnv(mutualUser, CHAP_MUTUAL_SECRET_ENV);
  const raw = {
    initiators: initiators.length > 0 ? initiators : cfg.iscsi?.initiators,
    chap: cliChap ? { ...cliChap, ...(cliMutual ? { mutual: cliMutual } : {}) } : cfg.iscsi?.chap,
  };
  const problem = accessProblems(raw)[0];
  if (problem !== undefined) {
    const [field, second, third] = problem.path;
    let where: string;
    if (field === 'initiators' && initiators.length > 0) where = '--iscsi-initiator'; // the message quotes the name
    else if (field === 'chap' && cliChap) {
      const mutual = second === 'mutual';
      const leaf = mutual ? third : second;
      where = leaf === 'secret' ? `env ${mutual ? CHAP_MUTUAL_SECRET_ENV : CHAP_SECRET_ENV}` : mutual ? '--iscsi-chap-mutual-user' : '--iscsi-chap-user';
    } else where = `config.iscsi.${problem.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[')}`;
    die(`${STORED_ERROR.BAD_CONFIG}: ${where}: ${problem.message}`);
  }
  return { ...(raw.initiators !== undefined ? { initiators: raw.initiators } : {}), ...(raw.chap !== undefined ? { chap: raw.chap } : {}) };
}

function parseArgs(argv: string[]): { cfg: StoredConfig; memory: boolean; host: string; port: number; tlsCert: string | undefined; tlsKey: string | undefined; iscsiPort: number | undefined; iscsiAccess: IscsiAccess; loginTimeoutMs: number; maxInFlight: number; groupCommit: boolean; readCacheBytes: number } {
  let cfg: StoredConfig = {};
  let memory = false;
  let host = '127.0.0.1';
  let port = 0;
  let tlsCert: string | undefined;
  let tlsKey: string | undefined;
  let iscsiPort: number | undefined;
  const initiators: string[] = [];
  let chapUser: string | undefined;
  let mutualUser: string | undefined;
  let loginTimeoutMs = LOGIN_TIMEOUT_MS;
  let maxInFlight = MAX_IN_FLIGHT;
  let groupCommit = true;
  let readCacheBytes: number | undefined;
  let dataDir: string | undefined;
  let name: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) die(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      case '--config': {
        const file = val();
        try {
          cfg = JSON.parse(readFileSync(file, 'utf8')) as StoredConfig;
          if (typeof cfg === 'object' && cfg !== null && !Array.isArray(cfg)) cfg = storedConfigFromPlan(cfg as Record<string, unknown>);
        } catch (e) {
          die(`${STORED_ERROR.BAD_CONFIG}: cannot read config ${file}: ${(e as Error).message}`);
        }
        if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) die(`${STORED_ERROR.BAD_CONFIG}: config must be a JSON object`);
        break;
      }
      case '--data-dir':
        dataDir = val();
        break;
      case '--memory':
        memory = true;
        break;
      case '--name':
        name = val();
        break;
      case '--host':
        host = val();
        break;
      case '--tls-cert':
        tlsCert = val();
        break;
      case '--tls-key':
        tlsKey = val();
        break;
      case '--port':
        port = Number(val());
        if (!Number.isInteger(port) || port < 0 || port > 65535) die(`${STORED_ERROR.BAD_CONFIG}: bad --port`);
        break;
      case '--iscsi-port':
        iscsiPort = Number(val());
        if (!validPort(iscsiPort)) die(`${STORED_ERROR.BAD_CONFIG}: --iscsi-port must be a whole number 0..65535`);
        break;
      case '--iscsi-initiator':
        initiators.push(val());
        break;
      case '--iscsi-chap-user':
        chapUser = val();
        break;
      case '--iscsi-chap-mutual-user':
        mutualUser = val();
        break;
      case '--iscsi-login-timeout-ms':
        loginTimeoutMs = Number(val());
        if (!Number.isInteger(loginTimeoutMs) || loginTimeoutMs < MIN_LOGIN_TIMEOUT_MS || loginTimeoutMs > MAX_LOGIN_TIMEOUT_MS)
          die(`${STORED_ERROR.BAD_CONFIG}: --iscsi-login-timeout-ms must be a whole number ${MIN_LOGIN_TIMEOUT_MS}..${MAX_LOGIN_TIMEOUT_MS}`);
        break;
      case '--max-in-flight':
        maxInFlight = Number(val());
        if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_IN_FLIGHT) die(`${STORED_ERROR.BAD_CONFIG}: --max-in-flight must be 1..${MAX_IN_FLIGHT}`);
        break;
      case '--no-group-commit':
        groupCommit = false;
        break;
      case '--read-cache-mb': {
        const mb = Number(val());
        if (!Number.isInteger(mb) || mb < 0 || mb * MIB > MAX_READ_CACHE_BYTES) die(`${STORED_ERROR.BAD_CONFIG}: --read-cache-mb must be a whole number 0..${MAX_READ_CACHE_BYTES / MIB}`);
        readCacheBytes = mb * MIB;
        break;
      }
      default:
        die(`${STORED_ERROR.BAD_CONFIG}: unknown option ${a} (see --help)`);
    }
  }
  if (dataDir !== undefined) cfg.dataDir = dataDir;
  if (name !== undefined) cfg.name = name;
  if (!memory && cfg.dataDir === undefined) die(`${STORED_ERROR.BAD_CONFIG}: --data-dir DIR is required unless --memory`);
  if (cfg.luns !== undefined && !Array.isArray(cfg.luns)) die(`${STORED_ERROR.BAD_CONFIG}: config.luns must be an array`);
  if (cfg.iscsi !== undefined) {
    if (typeof cfg.iscsi !== 'object' || cfg.iscsi === null || Array.isArray(cfg.iscsi)) die(`${STORED_ERROR.BAD_CONFIG}: config.iscsi must be an object { "port"?: number, "initiators"?: [...], "chap"?: {...} }`);
    if (cfg.iscsi.port !== undefined && !validPort(cfg.iscsi.port)) die(`${STORED_ERROR.BAD_CONFIG}: config.iscsi.port must be a whole number 0..65535`);
    iscsiPort ??= cfg.iscsi.port ?? 0;
  }
  if (iscsiPort === undefined && (initiators.length > 0 || chapUser !== undefined || mutualUser !== undefined)) {
    die(`${STORED_ERROR.BAD_CONFIG}: ${initiators.length > 0 ? '--iscsi-initiator' : '--iscsi-chap-user'} needs the iSCSI portal (--iscsi-port N or config.iscsi)`);
  }
  const access = iscsiAccess(cfg, initiators, chapUser, mutualUser);
  return { cfg, memory, host, port, tlsCert, tlsKey, iscsiPort, iscsiAccess: access, loginTimeoutMs, maxInFlight, groupCommit, readCacheBytes: readCacheBytes ?? cfg.readCacheBytes ?? DEFAULT_READ_CACHE_BYTES };
}

function sizeFromBody(body: Record<string, unknown>): number | undefined {
  if (typeof body.sizeBytes === 'number') return body.sizeBytes;
  if (typeof body.sizeGB === 'number') return Math.round(body.sizeGB * GIB);
  return undefined;
}

function httpStatusFor(code: string): number {
  if (code === 'VFAB_STORAGE_NO_SUCH_LUN' || code === STORED_ERROR.NOT_FOUND) return 404;
  if (code === 'VFAB_STORAGE_LUN_EXISTS' || code === 'VFAB_STORAGE_LUN_NUMBER_IN_USE') return 409;
  if (code === STORED_ERROR.UNAUTHORIZED) return 401;
  if (code === STORED_ERROR.TOO_LARGE) return 413;
  if (code.startsWith('VFAB_STORAGE_BAD') || code === 'VFAB_STORAGE_SHRINK_NOT_ALLOWED' || code === 'VFAB_STORAGE_TOO_MANY_LUNS' || code === STORED_ERROR.BAD_REQUEST) return 400;
  return 500;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.writableEnded || res.destroyed) {
    res.destroy(); // an answer was already started: all that is left is to close
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(status === 413 ? { connection: 'close' } : {}) });
  res.end(text);
}

function sendError(res: ServerResponse, e: unknown): void {
  if (!(e instanceof VfabError)) log(`control request failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  const ve = e instanceof VfabError ? e : new VfabError('VFAB_STORED_INTERNAL', e instanceof Error ? e.message : String(e));
  sendJson(res, httpStatusFor(ve.code), { error: { code: ve.code, message: ve.message } });
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_CONTROL_BODY_BYTES) {
      reject(new VfabError(STORED_ERROR.TOO_LARGE, `body larger than ${MAX_CONTROL_BODY_BYTES} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (c: Buffer) => {
      total += c.length;
      if (total > MAX_CONTROL_BODY_BYTES) {
        reject(new VfabError(STORED_ERROR.TOO_LARGE, `body larger than ${MAX_CONTROL_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        const v = JSON.parse(text) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch (e) {
        reject(new VfabError(STORED_ERROR.BAD_REQUEST, `body is not a JSON object: ${(e as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

/** The config's LUNs, validated, for ensureLuns (lib/storage/array.ts). */
function lunSpecs(specs: LunSpec[]): ArrayLunSpec[] {
  return specs.map((spec) => {
    const sizeBytes = sizeFromBody(spec as unknown as Record<string, unknown>);
    if (typeof spec.name !== 'string' || sizeBytes === undefined) die(`${STORED_ERROR.BAD_CONFIG}: each LUN needs name and sizeBytes or sizeGB`);
    if (spec.provisioning !== undefined && !LUN_PROVISIONING.includes(spec.provisioning)) {
      die(`${STORED_ERROR.BAD_CONFIG}: LUN ${spec.name}: provisioning ${JSON.stringify(spec.provisioning)} is not thin or thick`);
    }
    return {
      name: spec.name,
      sizeBytes,
      ...(spec.blockSize ? { blockSizeBytes: spec.blockSize } : {}),
      ...(spec.lun !== undefined ? { lun: spec.lun } : {}),
      ...(spec.ats === false ? { ats: false } : {}),
      ...(spec.provisioning !== undefined ? { provisioning: spec.provisioning } : {}),
    };
  });
}

async function main(): Promise<void> {
  const { cfg, memory, host, port, tlsCert, tlsKey, iscsiPort, iscsiAccess: access, loginTimeoutMs, maxInFlight, groupCommit, readCacheBytes } = parseArgs(process.argv.slice(2));
  let token = process.env.VFAB_TOKEN;
  if (!token) {
    token = randomBytes(16).toString('hex');
    log(`VFAB_TOKEN not set; generated token: ${token}`);
  }
  let tls: TlsFiles | undefined;
  try {
    tls = daemonTlsFiles(tlsCert, tlsKey);
  } catch (e) {
    die(`${STORED_ERROR.BAD_CONFIG}: ${(e as Error).message}`);
  }
  const name = cfg.name ?? 'vfab-array';
  const array = await openArray({ ...(memory ? {} : { dataDir: cfg.dataDir }), name, groupCommit, readCacheBytes });
  let ensured;
  try {
    ensured = await ensureLuns(array, lunSpecs(cfg.luns ?? []));
  } catch (e) {
    await array.close();
    throw e;
  }
  let nas: NasService;
  try {
    nas = await openNasService({ dataDir: memory ? undefined : cfg.dataDir, shares: cfg.shares ?? [], token, log });
  } catch (e) {
    await array.close();
    throw e;
  }
  for (const info of ensured.created) log(`created LUN ${info.lun} ${info.name} ${info.sizeBytes} bytes (${info.id})`);
  for (const g of ensured.grown) log(`grew LUN ${g.name} from ${g.fromBytes} to ${g.toBytes} bytes`);
  for (const line of ensured.kept) log(line);
  const startedMs = performance.now();

  const lunEntries = (): Array<{ lun: number; name: string; blockSizeBytes: number; blocks: number }> =>
    array.listLuns().map((l: LunInfo) => ({ lun: l.lun, name: l.name, blockSizeBytes: l.blockSizeBytes, blocks: l.blocks }));
  const block = new BlockServer({
    target: array,
    token,
    maxInFlight,
    luns: lunEntries,
    log,
    onInitiatorGone: (initiator) => array.nexusLoss(initiator),
  });
  const fabricClock = new FabricClock(cfg.clock, cfg.timeScale ?? 1);
  const iscsi =
    iscsiPort === undefined
      ? undefined
      : new IscsiPortal({
          target: array,
          arrayName: name,
          budget: block.budget,
          host,
          port: iscsiPort,
          lunNumbers: () => array.listLuns().map((l) => l.lun),
          logicalUnitReset: (lun) => array.logicalUnitReset(lun),
          onInitiatorGone: (initiator) => array.nexusLoss(initiator),
          log,
          loginTimeoutMs,
          now: () => fabricClock.nowMs(),
          access,
        });

  const server = createGuardedServer((req, res) => {
    handle(req, res).catch((e) => {
      try {
        sendError(res, e);
      } catch {
        res.destroy();
      }
    });
  }, { ...(tls ? { tls } : {}) });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!requestAuthorized(req, token!)) throw new VfabError(STORED_ERROR.UNAUTHORIZED, 'missing or wrong fabric token');
    const raw = req.url ?? '';
    if (!raw.startsWith('/')) throw new VfabError(STORED_ERROR.BAD_REQUEST, 'request target is not a path (/control/...)');
    const path = raw.split('?')[0]!;
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/control/status') {
      return sendJson(res, 200, {
        name,
        pid: process.pid,
        port: (server.address() as AddressInfo).port,
        durable: array.durable,
        dataDir: memory ? null : cfg.dataDir,
        uptimeMs: Math.round(performance.now() - startedMs),
        luns: array.listLuns(),
        sessions: block.sessions(),
        inFlight: block.budgetInfo(),
        stats: array.stats(),
        nas: nas.status(),
        iscsi: iscsi?.info() ?? null,
      });
    }
    if (method === 'GET' && path === '/control/luns') return sendJson(res, 200, { luns: array.listLuns() });
    if (method === 'GET' && path === '/control/sessions') return sendJson(res, 200, { sessions: block.sessions() });
    if (method === 'POST' && path === '/control/compact') {
      const t0 = performance.now();
      await array.compact();
      return sendJson(res, 200, { compacted: true, tookMs: Math.round(performance.now() - t0) });
    }
    if (method === 'POST' && path === '/control/luns') {
      const body = await readBody(req);
      const sizeBytes = sizeFromBody(body);
      if (typeof body.name !== 'string' || sizeBytes === undefined) {
        throw new VfabError(STORED_ERROR.BAD_REQUEST, 'need {"name": string, "sizeBytes" | "sizeGB": number, "blockSize"?: 512|4096}');
      }
      const bs = body.blockSize ?? body.blockSizeBytes;
      if (bs !== undefined && bs !== 512 && bs !== 4096) throw new VfabError('VFAB_STORAGE_BAD_SIZE', `block size ${String(bs)} is not 512 or 4096`);
      if (body.lun !== undefined && typeof body.lun !== 'number') throw new VfabError(STORED_ERROR.BAD_REQUEST, '"lun" must be a number');
      const info = await array.createLun({ name: body.name, sizeBytes, ...(bs !== undefined ? { blockSizeBytes: bs as 512 | 4096 } : {}), ...(typeof body.lun === 'number' ? { lun: body.lun } : {}) });
      log(`created LUN ${info.lun} ${info.name} ${info.sizeBytes} bytes`);
      return sendJson(res, 201, info);
    }
    const m = /^\/control\/luns\/([^/]+)(\/grow|\/ats)?$/.exec(path);
    if (m) {
      const lunName = decodeSegment(m[1]!);
      if (lunName === undefined) throw new VfabError(STORED_ERROR.BAD_REQUEST, `path segment ${JSON.stringify(m[1])} is not valid percent-encoding`);
      if (method === 'POST' && m[2] === '/ats') {
        const body = await readBody(req);
        if (typeof body.enabled !== 'boolean') throw new VfabError(STORED_ERROR.BAD_REQUEST, 'need {"enabled": true | false}');
        const info = await array.setLunAts(lunName, body.enabled);
        log(`LUN ${info.lun} ${info.name}: ATS (COMPARE AND WRITE) turned ${body.enabled ? 'on' : 'off'}`);
        return sendJson(res, 200, { ...info, ats: info.ats ?? true });
      }
      if (method === 'POST' && m[2]) {
        const body = await readBody(req);
        const sizeBytes = sizeFromBody(body);
        if (sizeBytes === undefined) throw new VfabError(STORED_ERROR.BAD_REQUEST, 'need {"sizeBytes" | "sizeGB": number}');
        return sendJson(res, 200, await array.growLun(lunName, sizeBytes));
      }
      if (method === 'DELETE' && !m[2]) {
        await array.deleteLun(lunName);
        log(`deleted LUN ${lunName}`);
        return sendJson(res, 200, { deleted: lunName });
      }
      if (method === 'GET' && !m[2]) {
        const info = array.getLun(lunName);
        if (!info) throw new VfabError('VFAB_STORAGE_NO_SUCH_LUN', `no LUN ${lunName}`);
        return sendJson(res, 200, info);
      }
    }
    throw new VfabError(STORED_ERROR.NOT_FOUND, `no control endpoint ${method} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`);
  }

  server.on('upgrade', (req, socket, head) => {
    guardUpgradeSocket(socket);
    try {
      if (!block.handleUpgrade(req, socket, head) && !nas.server.handleUpgrade(req, socket, head)) refuseSocket(socket, 404, 'Not Found');
    } catch (e) {
      log(`upgrade failed: ${(e as Error)?.stack ?? String(e)}`);
      refuseSocket(socket, 500, 'Internal Server Error');
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  if (iscsi !== undefined) {
    try {
      await iscsi.listen();
    } catch (e) {
      die(`${STORED_ERROR.BAD_CONFIG}: cannot listen for iSCSI on ${host}:${iscsiPort}: ${(e as Error).message}`);
    }
    log(`iSCSI portal ${host}:${iscsi.port} target ${iscsi.iqn}`);
  }
  log(`array ${name} (${array.durable ? `LevelDB ${cfg.dataDir}` : 'memory'}) with ${array.listLuns().length} LUNs on ${host}:${actualPort}`);
  process.stdout.write(`${JSON.stringify({ event: 'ready', name, port: actualPort, pid: process.pid, ...(iscsi !== undefined ? { iscsiPort: iscsi.port, iqn: iscsi.iqn } : {}) })}\n`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: closing`);
    block.close();
    await iscsi?.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await nas.close();
    await array.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => {
  // the orchestrator (daemons/fabric/process.ts) reports a coded failure before ready with its own code
  if (e instanceof VfabError) process.stdout.write(`${JSON.stringify({ event: 'fatal', code: e.code, message: e.message })}\n`);
  process.stderr.write(`stored: fatal: ${e instanceof VfabError ? `${e.code}: ` : ''}${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
