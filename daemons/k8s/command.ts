// vfab k8s render: a topology as Kubernetes manifests (lib/k8s/render.ts, daemons/k8s/plan.ts), written
// as one multi-document YAML stream (stdout), one file per object in a folder (--out DIR, numbered in
// apply order), or a v1 List as JSON (--json). Deterministic: the same topology and options give the
// same bytes. The fabric token is rendered as a Secret only when VFAB_TOKEN is set (otherwise the user
// creates the Secret, docs/kubernetes.md). Leaves out talking to a cluster: kubectl applies the output.

import fs from 'node:fs';
import path from 'node:path';
import { renderManifests, type K8sObject } from '../../lib/k8s/render.js';
import { DAEMON_V8_FLAGS } from '../common/node-args.js';
import { type CommandTable, defineCommand, printJson, UsageError, EXIT_OK } from '../cli/io.js';
import { k8sDaemons, GATEWAY_SCRIPT } from './plan.js';

export const DEFAULT_IMAGE = 'vfab:0.1.0';
export const DEFAULT_NAMESPACE = 'vfab';

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
    usage: ['render TOPOLOGY [--image IMG] [--namespace NS] [--out DIR|-] [--json]'],
    description: `Writes the Kubernetes manifests of a fabric: one Deployment per host and switch daemon, each array
a StatefulSet with a PersistentVolumeClaim for its LevelDB store, a Service per daemon (links, control
API and block protocol on port 7000), the topology and each daemon's config in the ConfigMap
vfab-config, and the gateway (Deployment + Service vfab-gateway) that connects the links and that the
CLI talks to. Daemons reach each other by Service DNS name over wss:// with the fabric token; they read
the token from the Secret vfab-token and TLS material from the Secret vfab-tls (tls.crt, tls.key,
ca.crt), which you create (docs/kubernetes.md shows how). With VFAB_TOKEN set, the token Secret is
rendered too. The output is the same bytes for the same input; apply it with kubectl apply -f.`,
    options: {
      image: { type: 'string', value: 'IMG', default: DEFAULT_IMAGE, description: 'the container image built from this repository (Dockerfile)' },
      namespace: { type: 'string', value: 'NS', default: DEFAULT_NAMESPACE, description: 'the namespace of every object (a DNS label)' },
      out: { type: 'string', value: 'DIR|-', default: '-', description: "a folder to write one file per object into (created), or '-' for one YAML stream on stdout" },
      json: { type: 'bool', description: 'print the objects as one JSON document (a v1 List) instead of YAML' },
    },
    args: { min: 2, max: 2 },
    verbs: ['render'],
    examples: [
      'k8s render topologies/quickstart.yaml > quickstart.k8s.yaml',
      'k8s render topologies/quickstart.yaml --namespace lab1 --image registry.example/vfab:0.1.0 --out k8s/',
      'k8s render topologies/quickstart.yaml --json | jq ".items[].kind"',
    ],
    exits: { 2: 'bad usage, the topology does not load, or it uses what vfab does not run on Kubernetes (named)' },
  },
  async ({ values, positionals }, io) => {
    const file = positionals[1]!;
    const { loadTopologyFile } = await import('../../lib/topology/load.js');
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

