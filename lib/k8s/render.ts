// From a planned fabric to Kubernetes objects (`vfab k8s render`): one Deployment per host and switch
// daemon, the array as a StatefulSet with a PersistentVolumeClaim template for its LevelDB, a Service per
// daemon (links, control API, block protocol on one port), the topology and every daemon's config in one
// ConfigMap, the fabric token as a Secret (only when a token is given: render output holds no secret
// otherwise), TLS material mounted from a Secret the user creates, and the gateway (Deployment + Service)
// that wires the dialling link ends to their peers' Service names and that the CLI talks to.
// Pure and deterministic: the same input gives the same objects in the same order (no clock, no
// randomness, no I/O). Leaves out the YAML text (the command writes it) and the daemons' configs (the
// caller plans them: daemons/k8s/plan.ts). Design and what is left out: docs/kubernetes.md.

import { VfabError } from '../errors.js';
import { apiRuleProblems } from './api-rules.js';

/** The one TCP port every daemon listens on in its pod (control API, links, block protocol). */
export const K8S_DAEMON_PORT = 7000;
/** The gateway's port (the CLI's way in). */
export const K8S_GATEWAY_PORT = 7000;
/** The iSCSI portal port an array with `iscsi:` listens on in its pod (the IANA port of iSCSI). */
export const K8S_ISCSI_PORT = 3260;
/** A ConfigMap holds at most 1 MiB (the API server's limit on an object); checked before rendering. */
export const MAX_CONFIGMAP_BYTES = 1024 * 1024;
/** Kubernetes object names of Services (and so of everything here) are DNS-1035 labels: at most 63 chars. */
export const MAX_K8S_NAME_CHARS = 63;
/** Default size of an array's PersistentVolumeClaim when its LUNs add up to less (thin LUNs rarely fill). */
export const DEFAULT_ARRAY_VOLUME_GIB = 1;
/** Largest PersistentVolumeClaim render asks for per array, in GiB (the sum of its LUNs, capped). */
export const MAX_ARRAY_VOLUME_GIB = 1024;

/** Where things are mounted in every pod. */
export const K8S_PATHS = {
  config: '/etc/vfab/config',
  tls: '/etc/vfab/tls',
  data: '/var/lib/vfab',
  app: '/app',
} as const;

export const K8S_ERROR = {
  BAD_INPUT: 'VFAB_K8S_BAD_INPUT',
  TOO_LARGE: 'VFAB_K8S_BAD_SIZE',
} as const;

export type K8sDaemonKind = 'host' | 'switch' | 'array';

/** One daemon as the caller planned it: its config document and the arguments `vfab up` starts it with. */
export interface K8sDaemon {
  name: string;
  kind: K8sDaemonKind;
  /** The compiled entry point, relative to the image's app folder: dist/daemons/hostd.js. */
  script: string;
  /** The daemon's own arguments (--config FILE --name NAME ...), as vfab up gives them. */
  args: string[];
  /** Its config document (JSON text), stored in the ConfigMap under configKey(name). */
  configJson: string;
  /** An array's requested volume in GiB (its LUNs' sizes). */
  volumeGiB?: number;
  /** An array's iSCSI portal: one more Service port. */
  iscsi?: boolean;
}

export interface RenderInput {
  fabric: string;
  /** The topology file's text (the ConfigMap keeps it: `kubectl get configmap` shows the design). */
  topologyText: string;
  daemons: K8sDaemon[];
  image: string;
  namespace: string;
  /** V8 flags every daemon runs with (daemons/common/node-args.ts). */
  nodeFlags: readonly string[];
  /** The fabric token; when given, rendered as the Secret `vfab-token` (otherwise the user creates it). */
  token?: string;
  /** The gateway's entry point, relative to the app folder. */
  gatewayScript: string;
}

export type K8sObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

/** The environment variable a daemon reads its fabric token from (daemons/common/server.ts). */
export const TOKEN_ENV = `VFAB_TOKEN`;
export const TOKEN_SECRET = 'vfab-token';
export const TLS_SECRET = 'vfab-tls';
export const CONFIG_MAP = 'vfab-config';
export const GATEWAY_NAME = 'vfab-gateway';

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** FNV-1a, 32 bits, as 8 hex digits (a stable, short suffix; not for security). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The Kubernetes name of a daemon: `<kind>-<name>` lower-cased, other characters as '-'. A vfab name
 * that does not map one to one (upper case, '_', too long) gets a suffix from a hash of the exact name,
 * so two names never share a Service.
 */
export function k8sName(kind: K8sDaemonKind, name: string): string {
  const plain = `${kind}-${name}`;
  if (DNS_LABEL.test(plain) && plain.length <= MAX_K8S_NAME_CHARS) return plain;
  const suffix = fnv1a(name).slice(0, 6);
  const base = plain.toLowerCase().replace(/[^-a-z0-9]/g, '-').replace(/-+/g, '-').replace(/-$/, '');
  return `${base.slice(0, MAX_K8S_NAME_CHARS - suffix.length - 1).replace(/-$/, '')}-${suffix}`;
}

/** The DNS name a daemon's Service answers to inside the cluster (any namespace). */
export function serviceHost(kind: K8sDaemonKind, name: string, namespace: string): string {
  return `${k8sName(kind, name)}.${namespace}.svc`;
}

/** The ConfigMap key of a daemon's config (keys allow [-._a-zA-Z0-9]; vfab names are a subset). */
export function configKey(name: string): string {
  return `${name}.json`;
}

function labels(fabric: string, component: string, daemon?: { kind: string; name: string }): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'vfab',
    'app.kubernetes.io/instance': labelValue(fabric),
    'app.kubernetes.io/component': component,
    ...(daemon ? { 'vfab.dev/kind': daemon.kind, 'vfab.dev/daemon': labelValue(daemon.name) } : {}),
  };
}

/** A label value: at most 63 characters of [-._a-zA-Z0-9], starting and ending alphanumeric. */
function labelValue(text: string): string {
  const v = text.replace(/[^-._a-zA-Z0-9]/g, '-').slice(0, 63).replace(/^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$/g, '');
  return v === '' ? 'x' : v;
}

const SECURITY_CONTEXT = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/** What every daemon container shares: the token, trust in the fabric's CA, the config and TLS mounts. */
function daemonEnv(): Array<Record<string, unknown>> {
  return [
    { name: TOKEN_ENV, valueFrom: { secretKeyRef: { name: TOKEN_SECRET, key: 'token' } } },
    // Node reads extra trusted CAs from this file at start: every wss:// dial verifies peers against it
    { name: 'NODE_EXTRA_CA_CERTS', value: `${K8S_PATHS.tls}/ca.crt` },
  ];
}

function commonMounts(): Array<Record<string, unknown>> {
  return [
    { name: 'config', mountPath: K8S_PATHS.config, readOnly: true },
    { name: 'tls', mountPath: K8S_PATHS.tls, readOnly: true },
  ];
}

function commonVolumes(): Array<Record<string, unknown>> {
  return [
    { name: 'config', configMap: { name: CONFIG_MAP } },
    { name: 'tls', secret: { secretName: TLS_SECRET, defaultMode: 0o440 } },
  ];
}

/** The TLS arguments every daemon and the gateway get: listen with the Secret's certificate. */
export function tlsArgs(dir: string): string[] {
  return ['--tls-cert', `${dir}/tls.crt`, '--tls-key', `${dir}/tls.key`];
}

function container(name: string, image: string, command: string[], ports: Array<Record<string, unknown>>, extraMounts: Array<Record<string, unknown>> = []): Record<string, unknown> {
  return {
    name,
    image,
    imagePullPolicy: 'IfNotPresent',
    workingDir: K8S_PATHS.app,
    command,
    env: daemonEnv(),
    ports,
    volumeMounts: [...commonMounts(), ...extraMounts],
    // the control API needs the token, so readiness is the port accepting connections
    readinessProbe: { tcpSocket: { port: 'vfab' }, periodSeconds: 2, failureThreshold: 30 },
    resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
    securityContext: SECURITY_CONTEXT,
  };
}

function validateInput(input: RenderInput): void {
  if (!DNS_LABEL.test(input.namespace) || input.namespace.length > MAX_K8S_NAME_CHARS) {
    throw new VfabError(K8S_ERROR.BAD_INPUT, `namespace ${JSON.stringify(input.namespace)} is not a DNS label (lower-case letters, digits and '-', starting with a letter, at most ${MAX_K8S_NAME_CHARS})`);
  }
  if (input.image.trim() === '' || /\s/.test(input.image)) throw new VfabError(K8S_ERROR.BAD_INPUT, `image ${JSON.stringify(input.image)} is not an image reference`);
  const seen = new Map<string, string>();
  for (const d of input.daemons) {
    const n = k8sName(d.kind, d.name);
    const other = seen.get(n);
    if (other !== undefined) throw new VfabError(K8S_ERROR.BAD_INPUT, `daemons ${other} and ${d.name} would share the Kubernetes name ${n}`);
    seen.set(n, d.name);
  }
}

/** Every object of the fabric, in apply order: Secret (if a token), ConfigMap, Services, workloads, gateway. */
export function renderManifests(input: RenderInput): K8sObject[] {
  validateInput(input);
  const ns = input.namespace;
  const meta = (name: string, l: Record<string, string>) => ({ name, namespace: ns, labels: l });
  const daemons = [...input.daemons].sort((a, b) => kindRank(a.kind) - kindRank(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const data: Record<string, string> = { 'topology.yaml': input.topologyText };
  for (const d of daemons) data[configKey(d.name)] = d.configJson;
  const bytes = Object.entries(data).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (bytes > MAX_CONFIGMAP_BYTES) throw new VfabError(K8S_ERROR.TOO_LARGE, `the topology and daemon configs are ${bytes} bytes; a ConfigMap holds at most ${MAX_CONFIGMAP_BYTES}`);

  const out: K8sObject[] = [];
  if (input.token !== undefined) {
    out.push({ apiVersion: 'v1', kind: 'Secret', metadata: meta(TOKEN_SECRET, labels(input.fabric, 'token')), type: 'Opaque', stringData: { token: input.token } });
  }
  out.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(CONFIG_MAP, labels(input.fabric, 'config')), data });

  for (const d of daemons) {
    const name = k8sName(d.kind, d.name);
    const l = labels(input.fabric, d.kind, d);
    const ports = [{ name: 'vfab', port: K8S_DAEMON_PORT, targetPort: 'vfab', protocol: 'TCP' }];
    if (d.iscsi) ports.push({ name: 'iscsi', port: K8S_ISCSI_PORT, targetPort: 'iscsi', protocol: 'TCP' });
    // publishNotReadyAddresses: a peer may dial while the daemon's readiness probe is still settling
    out.push({ apiVersion: 'v1', kind: 'Service', metadata: meta(name, l), spec: { selector: selectorOf(l), ports, publishNotReadyAddresses: true } });
  }
  for (const d of daemons) out.push(workload(input, d));

  const gl = labels(input.fabric, 'gateway');
  out.push({ apiVersion: 'v1', kind: 'Service', metadata: meta(GATEWAY_NAME, gl), spec: { selector: selectorOf(gl), ports: [{ name: 'vfab', port: K8S_GATEWAY_PORT, targetPort: 'vfab', protocol: 'TCP' }] } });
  const gatewayCommand = ['node', ...input.nodeFlags, input.gatewayScript, '--namespace', ns, '--config-dir', K8S_PATHS.config, '--host', '0.0.0.0', '--port', String(K8S_GATEWAY_PORT), ...tlsArgs(K8S_PATHS.tls)];
  out.push(deployment(input, GATEWAY_NAME, gl, container('gateway', input.image, gatewayCommand, [{ name: 'vfab', containerPort: K8S_GATEWAY_PORT, protocol: 'TCP' }])));
  const problems = out.flatMap(apiRuleProblems);
  if (problems.length > 0) throw new VfabError(K8S_ERROR.BAD_INPUT, `the rendered manifests break Kubernetes API rules: ${problems.join('; ')}`);
  return out;
}

function kindRank(kind: K8sDaemonKind): number {
  return kind === 'switch' ? 0 : kind === 'array' ? 1 : 2;
}

/** The labels that select a workload's pods (the instance, component and daemon; not the kind's version). */
function selectorOf(l: Record<string, string>): Record<string, string> {
  const { 'app.kubernetes.io/name': n, 'app.kubernetes.io/instance': i, 'app.kubernetes.io/component': c, 'vfab.dev/daemon': d } = l;
  return { 'app.kubernetes.io/name': n!, 'app.kubernetes.io/instance': i!, 'app.kubernetes.io/component': c!, ...(d !== undefined ? { 'vfab.dev/daemon': d } : {}) };
}

function podSpec(c: Record<string, unknown>, extraVolumes: Array<Record<string, unknown>> = []): Record<string, unknown> {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    terminationGracePeriodSeconds: 10,
    containers: [c],
    volumes: [...commonVolumes(), ...extraVolumes],
  };
}

/** A one-replica Deployment or StatefulSet of one pod template; `extra` adds to its spec. */
function controller(kind: 'Deployment' | 'StatefulSet', input: RenderInput, name: string, l: Record<string, string>, pod: Record<string, unknown>, extra: Record<string, unknown>): K8sObject {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: input.namespace, labels: l },
    spec: { replicas: 1, ...extra, selector: { matchLabels: selectorOf(l) }, template: { metadata: { labels: l }, spec: pod } },
  };
}

function deployment(input: RenderInput, name: string, l: Record<string, string>, c: Record<string, unknown>, extraVolumes: Array<Record<string, unknown>> = []): K8sObject {
  // one daemon per node name: never two at once (a second would dial the same peers)
  return controller('Deployment', input, name, l, podSpec(c, extraVolumes), { strategy: { type: 'Recreate' } });
}

function workload(input: RenderInput, d: K8sDaemon): K8sObject {
  const name = k8sName(d.kind, d.name);
  const l = labels(input.fabric, d.kind, d);
  const command = ['node', ...input.nodeFlags, d.script, ...d.args, '--host', '0.0.0.0', '--port', String(K8S_DAEMON_PORT), ...tlsArgs(K8S_PATHS.tls)];
  const ports: Array<Record<string, unknown>> = [{ name: 'vfab', containerPort: K8S_DAEMON_PORT, protocol: 'TCP' }];
  if (d.kind !== 'array') {
    // a writable /tmp (an emptyDir): the root filesystem is read-only
    return deployment(input, name, l, container(d.kind, input.image, command, ports, [{ name: 'scratch', mountPath: '/tmp' }]), [{ name: 'scratch', emptyDir: {} }]);
  }
  if (d.iscsi) {
    command.push('--iscsi-port', String(K8S_ISCSI_PORT));
    ports.push({ name: 'iscsi', containerPort: K8S_ISCSI_PORT, protocol: 'TCP' });
  }
  const gib = Math.min(MAX_ARRAY_VOLUME_GIB, Math.max(DEFAULT_ARRAY_VOLUME_GIB, Math.ceil(d.volumeGiB ?? 0)));
  const pod = podSpec(container('array', input.image, command, ports, [{ name: 'data', mountPath: K8S_PATHS.data }]));
  return controller('StatefulSet', input, name, l, pod, {
    serviceName: name,
    volumeClaimTemplates: [{
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', labels: l },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${gib}Gi` } } },
    }],
  });
}
