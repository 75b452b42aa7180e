// vfab k8s render | status | events | call: render writes a topology as Kubernetes manifests (lib/k8s/render.ts, daemons/k8s/plan.ts), written
// as one multi-document YAML stream (stdout), one file per object in a folder (--out DIR, numbered in
// apply order), or a v1 List as JSON (--json). Deterministic: the same topology and options give the
// same bytes. The fabric token is rendered as a Secret only when VFAB_TOKEN is set (otherwise the user
// creates the Secret, docs/kubernetes.md). status, events and call talk to a fabric on Kubernetes through
// its gateway (daemons/k8s/gateway.ts) over https:// with the token from VFAB_TOKEN. Leaves out talking
// to the Kubernetes API: kubectl applies the output and forwards the gateway's port.

import fs from 'node:fs';
import path from 'node:path';
import { renderManifests, type K8sObject } from '../../../lib/k8s/render.js';
import { DAEMON_V8_FLAGS } from '../../common/node-args.js';
import { type CliIo, type CommandTable, defineCommand, printJson, table, UsageError, EXIT_OK, EXIT_FAILED } from '../io.js';
import { control, type DaemonAddress } from '../../common/control-client.js';
import { formatTimelineLine, toTimelineEntry, type DaemonEvent } from '../../../lib/scenario/timeline.js';
import { k8sDaemons, GATEWAY_SCRIPT } from '../../k8s/plan.js';

export const DEFAULT_IMAGE = 'vfab:0.1.0';
export const DEFAULT_NAMESPACE = 'vfab';
export const DEFAULT_GATEWAY = 'https://127.0.0.1:7000';

/** The gateway as a control address: https://HOST:PORT (or http:// for a gateway without TLS). */
export function gatewayAddress(url: string, caFile: string | undefined, typedAs = `--gateway ${url}`): DaemonAddress {
  const m = /^(https?):\/\/(\[[0-9a-fA-F:]+\]|[^/:\s]+):(\d{1,5})\/?$/.exec(url);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new UsageError(`${typedAs}: write https://HOST:PORT (kubectl -n NS port-forward svc/vfab-gateway 7000 makes it https://127.0.0.1:7000)`);
  if (caFile !== undefined && !fs.existsSync(caFile)) throw new UsageError(`--ca ${caFile}: no such file`);
  return { host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]), tls: m[1] === 'https', ...(caFile !== undefined ? { caFile } : {}), name: 'vfab-gateway', kind: 'gateway' };
}

function gatewayToken(tokenFile?: string): string {
  if (tokenFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--token-file ${tokenFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    if (!/^\S{1,4096}$/.test(text)) throw new UsageError(`--token-file ${tokenFile}: must hold one token (one line, no spaces)`);
    return text;
  }
  const t = process.env.VFAB_TOKEN;
  if (!t) throw new UsageError('VFAB_TOKEN is not set: export the fabric token (kubectl -n NS get secret vfab-token -o jsonpath={.data.token} | base64 -d)');
  return t;
}

interface GatewayDaemon { name: string; kind: string; vms?: string[]; address: string; reachable: boolean; wired: boolean; clockOffsetMs?: number; clockRttMs?: number; error?: string }

async function status(io: CliIo, gw: DaemonAddress, json: boolean): Promise<number> {
  const f = await control<{ namespace: string; daemons: GatewayDaemon[] }>(gw, gatewayToken(), 'GET', '/fabric');
  const ok = f.daemons.every((d) => d.reachable && d.wired);
  if (json) return printJson(io, { ...f, ok }), ok ? EXIT_OK : EXIT_FAILED;
  io.out(table([['daemon', 'kind', 'address', 'state', 'clock offset'], ...f.daemons.map((d) => [
    d.name, d.kind, d.address,
    !d.reachable ? `unreachable${d.error ? ` (${d.error})` : ''}` : d.wired ? 'wired' : `waiting${d.error ? ` (${d.error})` : ''}`,
    d.clockOffsetMs === undefined ? '-' : `${d.clockOffsetMs >= 0 ? '+' : ''}${d.clockOffsetMs.toFixed(3)} ms ± ${(d.clockRttMs! / 2).toFixed(3)}`,
  ])]));
  io.out(ok ? `every daemon of namespace ${f.namespace} is reachable and wired` : 'not every daemon is reachable and wired yet (exit 1)');
  return ok ? EXIT_OK : EXIT_FAILED;
}

async function events(io: CliIo, gw: DaemonAddress, json: boolean): Promise<number> {
  const r = await control<{ events: Array<DaemonEvent & { daemonTimeMs: number }>; dropped: number }>(gw, gatewayToken(), 'GET', '/events');
  for (const e of r.events) {
    if (json) io.out(JSON.stringify(e));
    else io.out(`${e.timeMs.toFixed(3).padStart(12)} ms  ${formatTimelineLine(toTimelineEntry(e, 0), 3)}`);
  }
  if (r.dropped > 0) io.err(`(${r.dropped} older events left out)`);
  return EXIT_OK;
}

/**
 * Records the gateway as this directory's fabric (.vfab/state.json): one node per daemon, each reached at
 * the gateway under /daemons/NAME, marked remote (no PID: nothing here is signalled). Every ordinary
 * command then runs against it; vfab down forgets it.
 */
async function connect(io: CliIo, url: string, gw: DaemonAddress, tokenFile: string | undefined, json: boolean): Promise<number> {
  const { assertNoFabricRunning, writeState, stateDir, statePath } = await import('../../fabric/state.js');
  const { takeClockAnchor } = await import('../../common/fabric-clock.js');
  assertNoFabricRunning();
  const token = gatewayToken(tokenFile);
  const f = await control<{ namespace: string; daemons: GatewayDaemon[] }>(gw, token, 'GET', '/fabric');
  const daemons = f.daemons.filter((d): d is GatewayDaemon & { kind: 'host' | 'switch' | 'array' } => d.kind === 'host' || d.kind === 'switch' || d.kind === 'array');
  const vmHosts: Record<string, string> = {};
  for (const d of daemons) for (const vm of d.vms ?? []) vmHosts[vm] = d.name;
  const fabric = `${f.namespace}@${gw.host}:${gw.port}`;
  writeState({
    fabric,
    topologyFile: '',
    token,
    startedAt: new Date().toISOString(),
    timeScale: 1,
    clock: takeClockAnchor(),
    runDir: stateDir(),
    daemons: daemons.map((d) => ({ name: d.name, kind: d.kind, pid: 0, port: gw.port, host: gw.host, logFile: '', remote: true, basePath: `/daemons/${encodeURIComponent(d.name)}`, ...(gw.tls ? { tls: true } : {}), ...(gw.caFile !== undefined ? { caFile: gw.caFile } : {}) })),
    vmHosts,
    remote: { gateway: url, ...(gw.caFile !== undefined ? { caFile: gw.caFile } : {}) },
  });
  const notReady = f.daemons.filter((d) => !d.reachable || !d.wired).map((d) => d.name);
  if (json) printJson(io, { fabric, gateway: url, stateFile: statePath(), daemons: daemons.map((d) => d.name), notReady });
  else {
    io.out(`connected to ${url}: ${daemons.length} daemons (${daemons.map((d) => d.name).join(', ')}); vfab status, ping, link, fault, capture and counters now act on this fabric (recorded in ${statePath()}; vfab down forgets it)`);
    if (notReady.length > 0) io.err(`note: not reachable and wired yet: ${notReady.join(', ')} (see: vfab k8s status)`);
  }
  return EXIT_OK;
}

const CALL_METHODS = ['GET', 'POST', 'DELETE'] as const;

async function call(io: CliIo, gw: DaemonAddress, args: string[]): Promise<number> {
  const [daemon, method, urlPath, body] = args as [string | undefined, string | undefined, string | undefined, string | undefined];
  if (daemon === undefined || method === undefined || urlPath === undefined) throw new UsageError('vfab k8s call needs DAEMON METHOD /control/PATH [JSON] (see: vfab k8s --help)');
  if (!(CALL_METHODS as readonly string[]).includes(method)) throw new UsageError(`METHOD ${method}: must be one of ${CALL_METHODS.join(', ')}`);
  if (!urlPath.startsWith('/control/')) throw new UsageError(`PATH ${urlPath}: must start with /control/`);
  let parsed: unknown;
  if (body !== undefined) {
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new UsageError(`JSON ${body}: not valid JSON`);
    }
  }
  const r = await control(gw, gatewayToken(), method as (typeof CALL_METHODS)[number], `/daemons/${encodeURIComponent(daemon)}${urlPath}`, parsed);
  printJson(io, r);
  return EXIT_OK;
}

/** The YAML stream of the objects (`---` between documents), keys in the order they were built. */
export async function manifestsYaml(objects: K8sObject[]): Promise<string> {
  const { stringify } = await import('yaml');
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

/** "03-service-switch-sw1.yaml": the apply order, the kind and the name. */
export function manifestFileName(index: number, o: K8sObject): string {
  return `${String(index + 1).padStart(2, '0')}-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`;
}

const k8s = defineCommand(
  {
    usage: [
      'render TOPOLOGY [--image IMG] [--namespace NS] [--out DIR|-] [--json]',
      'status [--gateway URL] [--ca FILE] [--json]',
      'events [--gateway URL] [--ca FILE] [--json]',
      'call DAEMON METHOD /control/PATH [JSON] [--gateway URL] [--ca FILE]',
      'connect [URL] [--ca FILE] [--token-file FILE] [--json]',
    ],
    description: `Writes the Kubernetes manifests of a fabric: one Deployment per host and switch daemon, each array
a StatefulSet with a PersistentVolumeClaim for its LevelDB store, a Service per daemon (links, control
API and block protocol on port 7000), the topology and each daemon's config in the ConfigMap
vfab-config, and the gateway (Deployment + Service vfab-gateway) that connects the links and that the
CLI talks to. Daemons reach each other by Service DNS name over wss:// with the fabric token; they read
the token from the Secret vfab-token and TLS material from the Secret vfab-tls (tls.crt, tls.key,
ca.crt), which you create (docs/kubernetes.md shows how). With VFAB_TOKEN set, the token Secret is
rendered too. The output is the same bytes for the same input; apply it with kubectl apply -f.

status, events and call reach a running fabric through its gateway (forward its port first:
kubectl -n NS port-forward svc/vfab-gateway 7000), with the token in VFAB_TOKEN and the CA in --ca:
  status  every daemon: address, reachable, wired (links and arrays told), clock offset to the gateway
  events  every host's and switch's events on the gateway's clock, in order
  call    one control request to a daemon, passed through (the answer as JSON)
  connect records the gateway as this folder's fabric (.vfab/state.json, as vfab up would): then
          vfab status, ping, link, fault (not kill or restart: delete the pod), capture and counters
          work as on one machine, each request and capture stream through the gateway; vfab down
          forgets the connection and signals nothing. URL defaults to --gateway's value`,
    options: {
      image: { type: 'string', value: 'IMG', default: DEFAULT_IMAGE, verbs: ['render'], description: 'the container image built from this repository (Dockerfile)' },
      namespace: { type: 'string', value: 'NS', default: DEFAULT_NAMESPACE, verbs: ['render'], description: 'the namespace of every object (a DNS label)' },
      out: { type: 'string', value: 'DIR|-', default: '-', verbs: ['render'], description: "a folder to write one file per object into (created), or '-' for one YAML stream on stdout" },
      gateway: { type: 'string', value: 'URL', default: DEFAULT_GATEWAY, verbs: ['status', 'events', 'call', 'connect'], description: "the gateway's https://HOST:PORT" },
      ca: { type: 'string', value: 'FILE', verbs: ['status', 'events', 'call', 'connect'], description: 'the CA that signed the gateway certificate (ca.crt of the Secret vfab-tls)' },
      'token-file': { type: 'string', value: 'FILE', verbs: ['connect'], description: 'read the fabric token from FILE instead of VFAB_TOKEN' },
      json: { type: 'bool', description: 'render: the objects as one JSON document (a v1 List); status, events: JSON' },
    },
    args: { min: 1, max: 5 },
    verbs: ['render', 'status', 'events', 'call', 'connect'],
    examples: [
      'k8s render topologies/quickstart.yaml > quickstart.k8s.yaml',
      'k8s status --ca tls/ca.crt                  # after: kubectl -n vfab port-forward svc/vfab-gateway 7000',
      'k8s connect https://127.0.0.1:7000 --ca tls/ca.crt --token-file token && vfab status && vfab ping web1 192.0.2.12',
    ],
    exits: { 1: 'status: not every daemon is reachable and wired yet; connect: a fabric already runs from this folder', 3: 'the gateway cannot be reached', 2: 'bad usage, the topology does not load, or it uses what vfab does not run on Kubernetes (named)' },
  },
  async ({ values, positionals }, io) => {
    const verb = positionals[0]!;
    if (verb !== 'render') {
      if (verb === 'connect') {
        if (positionals.length > 2) throw new UsageError(`vfab k8s connect takes one URL (got ${JSON.stringify(positionals[2])})`);
        const url = positionals[1] ?? values.gateway;
        const gw = gatewayAddress(url, values.ca, positionals[1] !== undefined ? `URL ${url}` : undefined);
        // the state file is read from other folders' commands too (VFAB_STATE_DIR): the CA by absolute path
        return connect(io, url, gw.caFile === undefined ? gw : { ...gw, caFile: path.resolve(gw.caFile) }, values['token-file'], values.json);
      }
      const gw = gatewayAddress(values.gateway, values.ca);
      if (verb === 'call') return call(io, gw, positionals.slice(1));
      if (positionals.length > 1) throw new UsageError(`vfab k8s ${verb} takes no arguments (got ${JSON.stringify(positionals[1])})`);
      return verb === 'status' ? status(io, gw, values.json) : events(io, gw, values.json);
    }
    if (positionals.length !== 2) throw new UsageError('vfab k8s render needs one TOPOLOGY file');
    const file = positionals[1]!;
    const { loadTopologyFile } = await import('../../../lib/topology/load.js');
    const topology = await loadTopologyFile(file);
    if (values.json && values.out !== '-') throw new UsageError('--json prints to stdout; leave out --out');
    const namespace = values.namespace;
    if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new UsageError(`--namespace ${namespace}: must be a DNS label (lower-case letters, digits and '-', starting with a letter, at most 63)`);
    if (values.image === '' || /\s/.test(values.image)) throw new UsageError(`--image ${JSON.stringify(values.image)}: not an image reference`);
    const token = process.env.VFAB_TOKEN;
    const objects = renderManifests({
      fabric: topology.name,
      topologyText: fs.readFileSync(file, 'utf8'),
      daemons: k8sDaemons(topology, namespace),
      image: values.image,
      namespace,
      nodeFlags: DAEMON_V8_FLAGS,
      gatewayScript: GATEWAY_SCRIPT,
      ...(token ? { token } : {}),
    });
    if (!token) io.err(`note: the token Secret vfab-token is not rendered (VFAB_TOKEN is not set); create it with: kubectl -n ${namespace} create secret generic vfab-token --from-literal=token=$(openssl rand -hex 24)`);
    if (values.json) {
      printJson(io, { apiVersion: 'v1', kind: 'List', items: objects });
      return EXIT_OK;
    }
    if (values.out === '-') {
      io.out((await manifestsYaml(objects)).trimEnd());
      return EXIT_OK;
    }
    const dir = values.out;
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`--out ${dir}: exists and is not a folder`);
    fs.mkdirSync(dir, { recursive: true });
    for (const [i, o] of objects.entries()) fs.writeFileSync(path.join(dir, manifestFileName(i, o)), await manifestsYaml([o]));
    io.out(`wrote ${objects.length} manifests to ${dir} (apply them with: kubectl apply -f ${dir})`);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { k8s };

