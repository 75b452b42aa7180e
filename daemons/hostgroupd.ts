// hostgroupd: several ESX hosts in one process (`vfab up --hosts-per-process N`, docs/scale.md "Several
// hosts per process"). Each host runs the bundled hostd unchanged in its own worker thread (its own V8
// isolate, event loop, sockets and control port), started with that host's argv; the process pays for
// the Node binary and its runtime once instead of once per host. This file is the group's main thread:
// a small control API (behind the fabric token) to start, stop and kill one host's worker, each worker's
// stderr appended to that host's own log, its stdout read for the ready or fatal line, and a workers
// file (written on every change) that the CLI reads to tell a running host from a terminated one in a
// live group (daemons/fabric/pid-identity.ts). SIGTERM/SIGINT stop every worker cleanly (each runs hostd's
// own shutdown), then the process exits. A killed host (`vfab fault kill`) is worker.terminate(): its
// sockets close as the kernel closes a SIGKILLed process's, without any clean shutdown, and only that host
// ends. A host that throws ends only its own worker (logged in its log). Leaves out hosts with real
// guests (they stay in their own process, lib/scale/host-groups.ts) and restarting a host by itself.
//
// usage: node dist/daemons/hostgroupd.js --name hostgroup.1 --hosts esx1,esx2 --log-dir DIR --workers-file FILE [--port 0] [--host 127.0.0.1] [--tls-cert F --tls-key F]
// control API (JSON, Authorization: Bearer <token>):
//   GET  /control/group                     {name, hosts: [{name, state, port, threadId}]}
//   POST /control/group/hosts/:host/start   {args}: start the host's worker with hostd argv `args`; answers
//                                           {name, port} once it is ready (its fatal error, or its log tail)
//   POST /control/group/hosts/:host/stop    clean shutdown of that host (worker.terminate() after a grace)
//   POST /control/group/hosts/:host/kill    worker.terminate() at once: no clean shutdown, like SIGKILL

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { VfabError } from '../lib/errors.js';
import { MAX_HOSTS_PER_PROCESS } from '../lib/scale/host-groups.js';
import { ControlServer, WORKER_SHUTDOWN_MESSAGE, announceReady, daemonToken, exitFatal, onShutdown } from './common/server.js';
import { TLS_ARG_OPTIONS, daemonTlsFiles } from './common/tls.js';
import { distScript } from './common/paths.js';
import { DAEMON_READY_TIMEOUT_MS, DAEMON_STOP_GRACE_MS, daemonLine, logTail } from './fabric/process.js';

/** How long a host's worker has to print its ready line: as long as a host process has. */
export const HOST_READY_TIMEOUT_MS = DAEMON_READY_TIMEOUT_MS;
/** How long a clean stop waits for a worker before it is terminated: within `vfab down`'s grace, so the group exits before its SIGKILL. */
export const HOST_STOP_GRACE_MS = DAEMON_STOP_GRACE_MS - 500;
/** hostd argv items a start request may carry, and the length of each. */
const MAX_START_ARGS = 32;
const MAX_ARG_CHARS = 4096;

type HostState = 'starting' | 'running' | 'stopping' | 'stopped' | 'killed' | 'failed';
interface HostWorker {
  state: HostState;
  worker?: Worker;
  port?: number;
  exited?: Promise<void>;
}

const { values } = parseArgs({
  options: { name: { type: 'string' }, hosts: { type: 'string' }, 'log-dir': { type: 'string' }, 'workers-file': { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, ...TLS_ARG_OPTIONS, help: { type: 'boolean' } },
});
if (values.help || !values.name || !values.hosts || !values['log-dir'] || !values['workers-file']) {
  process.stderr.write('usage: hostgroupd --name GROUP --hosts H1,H2,... --log-dir DIR --workers-file FILE [--port 0] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]\n(normally started by `vfab up --hosts-per-process N`)\n');
  process.exit(values.help ? 0 : 2);
}
const groupName = values.name;
const logDir = values['log-dir'];
const workersFile = values['workers-file'];
const HOSTD = distScript('daemons/hostd.ts');

try {
  const names = values.hosts.split(',').filter((h) => h !== '');
  if (names.length === 0 || names.length > MAX_HOSTS_PER_PROCESS) throw new VfabError('VFAB_GROUP_HOSTS', `a host group runs 1-${MAX_HOSTS_PER_PROCESS} hosts, not ${names.length}`);
  const hosts = new Map<string, HostWorker>(names.map((n) => [n, { state: 'stopped' }]));
  writeWorkersFile(hosts);

  const server = new ControlServer(daemonToken(), { tls: daemonTlsFiles(values['tls-cert'], values['tls-key']) })
    .on('GET', '/control/group', () => ({ name: groupName, hosts: [...hosts].map(([name, h]) => ({ name, state: h.state, port: h.port ?? null, threadId: h.worker?.threadId ?? null })) }))
    .on('POST', '/control/group/hosts/:host/start', (req) => startHost(hosts, req.params.host!, req.body?.args))
    .on('POST', '/control/group/hosts/:host/stop', async (req) => ({ name: req.params.host, wasRunning: await stopHost(hosts, req.params.host!, 'stopped') }))
    .on('POST', '/control/group/hosts/:host/kill', async (req) => ({ name: req.params.host, wasRunning: await stopHost(hosts, req.params.host!, 'killed') }));
  const port = await server.listen(Number(values.port), values.host);
  onShutdown(async () => {
    await Promise.all([...hosts.keys()].map((h) => stopHost(hosts, h, 'stopped')));
    await server.close();
  });
  announceReady(groupName, port);
} catch (e) {
  exitFatal('hostgroupd', e);
}

function member(hosts: Map<string, HostWorker>, name: string): HostWorker {
  const h = hosts.get(name);
  if (h === undefined) throw new VfabError('VFAB_NOT_FOUND', `host ${JSON.stringify(name)} is not in ${groupName} (its hosts: ${[...hosts.keys()].join(', ')})`);
  return h;
}

/** Starts `name`'s worker with hostd argv `args`; resolves once it printed its ready line. */
async function startHost(hosts: Map<string, HostWorker>, name: string, args: unknown): Promise<{ name: string; port: number }> {
  const h = member(hosts, name);
  if (!Array.isArray(args) || args.length > MAX_START_ARGS || !args.every((a) => typeof a === 'string' && a.length <= MAX_ARG_CHARS)) {
    throw new VfabError('VFAB_GROUP_START', `start ${name}: args must be a list of at most ${MAX_START_ARGS} strings`);
  }
  if (h.state === 'starting' || h.state === 'running' || h.state === 'stopping') throw new VfabError('VFAB_GROUP_START', `host ${name} is ${h.state} in ${groupName}`);
  const logFile = path.join(logDir, `${name}.log`);
  // the worker's stderr is piped into its log (which ends when that stderr ends, after the worker);
  // the group's own lines about the host go in too, before or after that end
  const log = fs.createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  log.on('error', (e) => process.stderr.write(`${name}: log ${logFile}: ${e.message}\n`)); // never ends the group
  const note = (text: string) => (log.writableEnded ? fs.appendFileSync(logFile, text, { mode: 0o600 }) : log.write(text));
  const flushed = (then: () => void) => (log.writableFinished ? then() : log.writableEnded ? log.once('finish', then) : log.write('', then));
  const worker = new Worker(HOSTD, { argv: args as string[], stdout: true, stderr: true });
  Object.assign(h, { state: 'starting', worker, port: undefined });
  worker.stderr.pipe(log);
  h.exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // an uncaught error ends only this host's worker: into its log
  worker.on('error', (e) => note(`${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`));
  worker.once('exit', (code) => {
    if (h.worker !== worker) return;
    if (h.state === 'running' || h.state === 'starting') {
      h.state = 'failed';
      note(`${name}: worker exited (code ${code})\n`);
    }
    h.worker = undefined;
    writeWorkersFile(hosts);
  });
  return await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: worker.stdout });
    let fatal: { code: string; message: string } | undefined;
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      lines.close();
      void worker.terminate();
      h.state = 'failed';
      writeWorkersFile(hosts);
      // the log is written out before its tail is read
      flushed(() => reject(fatal ? new VfabError(fatal.code, `host ${name} did not start in ${groupName}: ${fatal.message}`) : new VfabError('VFAB_DAEMON_START', `host ${name} ${why} (in ${groupName})\n${logTail(logFile)}`)));
    };
    const timer = setTimeout(() => fail(`did not report ready within ${HOST_READY_TIMEOUT_MS} ms`), HOST_READY_TIMEOUT_MS);
    worker.once('exit', (code) => setImmediate(() => fail(`exited (code ${code}) before it was ready`))); // after its last stdout lines
    lines.on('line', (line) => {
      const msg = daemonLine(line);
      if (msg?.event === 'fatal') fatal = msg;
      if (msg?.event !== 'ready' || settled) return;
      settled = true;
      clearTimeout(timer);
      lines.close();
      worker.stdout.resume(); // keep draining: a worker never blocks on its stdout
      Object.assign(h, { state: 'running', port: Number(msg.port) });
      writeWorkersFile(hosts);
      resolve({ name, port: Number(msg.port) });
    });
  });
}

/**
 * Ends `name`'s worker: 'stopped' asks hostd's own shutdown first (terminated after HOST_STOP_GRACE_MS),
 * 'killed' terminates at once. Resolves once the thread is gone; false when it was not running.
 */
async function stopHost(hosts: Map<string, HostWorker>, name: string, how: 'stopped' | 'killed'): Promise<boolean> {
  const h = member(hosts, name);
  const worker = h.worker;
  if (worker === undefined) return false;
  h.state = how === 'killed' ? 'killed' : 'stopping';
  if (how === 'killed') await worker.terminate();
  else {
    worker.postMessage(WORKER_SHUTDOWN_MESSAGE);
    const grace = new Promise<'late'>((r) => setTimeout(r, HOST_STOP_GRACE_MS, 'late').unref());
    if ((await Promise.race([h.exited, grace])) === 'late') await worker.terminate();
  }
  await h.exited;
  h.state = how;
  h.worker = undefined;
  writeWorkersFile(hosts);
  return true;
}

/** { pid, hosts: {name: state} }, replaced atomically, owner only. */
function writeWorkersFile(hosts: Map<string, HostWorker>): void {
  const tmp = `${workersFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ group: groupName, pid: process.pid, hosts: Object.fromEntries([...hosts].map(([n, h]) => [n, h.state])) }), { mode: 0o600 });
  fs.renameSync(tmp, workersFile);
}
