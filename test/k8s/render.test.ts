// `vfab k8s render`: the quickstart's manifests validate offline against the Kubernetes API schemas
// (kubernetes-models: the published OpenAPI schemas, checked on construction) plus the server-side rules
// those schemas leave out (lib/k8s/api-rules.ts), a broken manifest is rejected by each (so the check
// bites), the output is deterministic, each daemon starts with the arguments `vfab up` gives it plus
// the pod's address and TLS, and what does not run on Kubernetes is refused (exit 2, named).

import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Service, ConfigMap, Secret } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { exitCodeFor, runCommand } from '../../daemons/cli.js';
import { apiRuleProblems } from '../../lib/k8s/api-rules.js';
import { k8sName, renderManifests, type K8sObject } from '../../lib/k8s/render.js';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { planFabric } from '../../daemons/fabric/plan.js';
import { daemonArgs } from '../../daemons/fabric/lifecycle.js';
import { k8sDaemons, unsupportedOnK8s } from '../../daemons/k8s/plan.js';

const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
};

/** Throws on the first object the schemas or the API rules refuse. */
function validateObjects(objects: K8sObject[]): void {
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
    new Model(structuredClone(o)).validate();
    const problems = apiRuleProblems(o);
    if (problems.length > 0) throw new Error(problems.join('; '));
  }
}

async function render(argv: string[]): Promise<{ out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCommand('k8s', argv, { out: (s) => { out += `${s}\n`; }, err: (s) => { err += `${s}\n`; } });
  expect(code, err).to.equal(0);
  return { out, err };
}

async function failure(argv: string[]): Promise<{ exit: number; message: string }> {
  try {
    await runCommand('k8s', argv, { out: () => {}, err: () => {} });
  } catch (e) {
    return { exit: exitCodeFor(e), message: (e as Error).message };
  }
  throw new Error(`vfab k8s ${argv.join(' ')} did not fail`);
}

describe('vfab k8s render', () => {
  const savedToken = process.env.VFAB_TOKEN;
  before(() => delete process.env.VFAB_TOKEN);
  after(() => {
    if (savedToken !== undefined) process.env.VFAB_TOKEN = savedToken;
  });

  it('renders the quickstart as manifests that validate against the Kubernetes API schemas', async () => {
    const { out, err } = await render(['render', 'topologies/quickstart.yaml']);
    const docs = parseAllDocuments(out).map((d) => {
      expect(d.errors, 'YAML errors').to.deep.equal([]);
      return d.toJS() as K8sObject;
    });
    validateObjects(docs);
    const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    expect(kinds).to.include.members([
      'ConfigMap/vfab-config', 'Service/switch-sw1', 'Service/switch-sw2', 'Service/array-array1', 'Service/host-esx1', 'Service/host-esx2',
      'Deployment/switch-sw1', 'Deployment/switch-sw2', 'StatefulSet/array-array1', 'Deployment/host-esx1', 'Deployment/host-esx2',
      'Service/vfab-gateway', 'Deployment/vfab-gateway',
    ]);
    expect(kinds).to.have.length(13);
    expect(err).to.match(/create secret generic vfab-token/);
    // the array keeps its LevelDB on a volume claimed per replica
    const array = docs.find((d) => d.kind === 'StatefulSet') as any;
    expect(array.spec.volumeClaimTemplates[0].spec.resources.requests.storage).to.equal('4Gi');
    expect(array.spec.template.spec.containers[0].volumeMounts.map((m: any) => m.name)).to.include('data');
  });

  it('starts each daemon with the arguments vfab up gives it, plus its pod address, port and TLS', async () => {
    const topology = await loadTopologyFile('topologies/quickstart.yaml');
    const daemons = k8sDaemons(topology, 'lab');
    const planned = planFabric(topology);
    expect(daemons.map((d) => d.name).sort()).to.deep.equal(planned.map((d) => d.name).sort());
    const objects = renderManifests({ fabric: 'quickstart', topologyText: 'x', daemons, image: 'vfab:t', namespace: 'lab', nodeFlags: ['--flag'], gatewayScript: 'gw.js' });
    for (const p of planned) {
      const cfgFile = `/etc/vfab/config/${p.name}.json`;
      const expected = daemonArgs(p.name, p.kind === 'array' ? { ...p.config, dataDir: '/var/lib/vfab/store' } as any : p.config, cfgFile);
      const w = objects.find((o) => o.metadata.name === k8sName(p.kind as any, p.name) && o.kind !== 'Service') as any;
      const command: string[] = w.spec.template.spec.containers[0].command;
      expect(command.slice(0, 3)).to.deep.equal(['node', '--flag', `dist/daemons/${p.kind === 'host' ? 'hostd' : p.kind === 'switch' ? 'switchd' : 'stored'}.js`]);
      expect(command.slice(3, 3 + expected.length), p.name).to.deep.equal(expected);
      expect(command.join(' ')).to.contain('--host 0.0.0.0 --port 7000 --tls-cert /etc/vfab/tls/tls.crt --tls-key /etc/vfab/tls/tls.key');
      const cm = objects.find((o) => o.kind === 'ConfigMap') as any;
      expect(JSON.parse(cm.data[`${p.name}.json`]).kind).to.equal(p.kind);
    }
  });

  it('is deterministic: the same input gives the same bytes; a token is rendered only from VFAB_TOKEN', async () => {
    const a = await render(['render', 'topologies/quickstart.yaml', '--namespace', 'lab1']);
    const b = await render(['render', 'topologies/quickstart.yaml', '--namespace', 'lab1']);
    expect(a.out).to.equal(b.out);
    expect(a.out).not.to.match(/kind: Secret/);
    process.env.VFAB_TOKEN = 'feedface';
    try {
      const c = await render(['render', 'topologies/quickstart.yaml', '--json']);
      const list = JSON.parse(c.out);
      validateObjects(list.items);
      expect(list.items[0]).to.deep.include({ kind: 'Secret', stringData: { token: 'feedface' } });
    } finally {
      delete process.env.VFAB_TOKEN;
    }
  });

  it('writes one file per object in apply order with --out DIR', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-k8s-'));
    try {
      await render(['render', 'topologies/quickstart.yaml', '--out', dir]);
      const files = fs.readdirSync(dir).sort();
      expect(files[0]).to.equal('01-configmap-vfab-config.yaml');
      expect(files).to.have.length(13);
      for (const f of files) validateObjects([parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))[0]!.toJS()]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the validation bites: a broken manifest is rejected by the schemas or by the API rules', async () => {
    const { out } = await render(['render', 'topologies/quickstart.yaml']);
    const docs = parseAllDocuments(out).map((d) => d.toJS() as any);
    const svc = () => structuredClone(docs.find((d) => d.kind === 'Service'));
    const dep = () => structuredClone(docs.find((d) => d.kind === 'Deployment'));
    const broken: Array<[string, any]> = [];
    let o = svc(); o.spec.ports[0].port = 70000; broken.push(['Service port out of range', o]);
    o = svc(); o.spec.ports[0].port = '7000'; broken.push(['Service port as a string', o]);
    o = svc(); delete o.spec.ports[0].port; broken.push(['Service port missing', o]);
    o = svc(); o.metadata.name = 'Host_esx1'; broken.push(['Service name not a DNS label', o]);
    o = dep(); delete o.spec.selector; broken.push(['Deployment without selector', o]);
    o = dep(); o.spec.template.spec.containers[0].ports[0].containerPort = 0; broken.push(['container port 0', o]);
    o = dep(); o.metadata.labels['vfab.dev/daemon'] = 'x'.repeat(64); broken.push(['label value too long', o]);
    for (const [what, obj] of broken) expect(() => validateObjects([obj]), what).to.throw();
  });

  it('names the bad option or what does not run on Kubernetes, exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['render', 'topologies/quickstart.yaml', '--namespace', 'Lab_1'], /--namespace Lab_1: must be a DNS label/],
      [['render', 'topologies/quickstart.yaml', '--image', 'a b'], /--image "a b"/],
      [['render', 'topologies/quickstart.yaml', '--json', '--out', 'x'], /--json prints to stdout/],
      [['render', 'no-such-topology.yaml'], /no-such-topology.yaml/],
      [['render', 'scenarios/topologies/ha-lab.yaml'], /HA clusters: /],
    ];
    for (const [argv, message] of cases) {
      const f = await failure(argv);
      expect(f.message, argv.join(' ')).to.match(message);
      expect(f.exit, argv.join(' ')).to.equal(2);
    }
  });

  it('renders every shipped topology that runs on Kubernetes into valid manifests, and names what does not', async () => {
    const files = ['topologies', 'topologies/e2e', 'scenarios/topologies'].flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.yaml')).map((f) => path.join(d, f)));
    let rendered = 0;
    for (const file of files) {
      const topology = await loadTopologyFile(file);
      const refused = unsupportedOnK8s(topology);
      if (refused.length > 0) {
        expect((await failure(['render', file])).message, file).to.contain(refused[0]!);
        continue;
      }
      const objects = renderManifests({ fabric: topology.name, topologyText: fs.readFileSync(file, 'utf8'), daemons: k8sDaemons(topology, 'vfab'), image: 'vfab:t', namespace: 'vfab', nodeFlags: [], gatewayScript: 'gw.js' });
      validateObjects(objects);
      rendered++;
    }
    expect(rendered, 'most shipped designs run on Kubernetes').to.be.at.least(15);
    // the iSCSI design: hosts reach the portal at the array's Service, which publishes port 3260
    const iscsi = k8sDaemons(await loadTopologyFile('topologies/e2e/iscsi-paths.yaml'), 'lab');
    const host = JSON.parse(iscsi.find((d) => d.kind === 'host')!.configJson);
    expect(Object.values(host.iscsiTargets).map((t: any) => `${t.address}:${t.port}`)).to.deep.equal(['array-array1.lab.svc:3260']);
  });

  it('gives every daemon a distinct DNS-label name, also for names Kubernetes does not allow as they are', () => {
    const names = ['esx1', 'ESX1', 'esx_1', 'esx-1', 'a'.repeat(64)].map((n) => k8sName('host', n));
    expect(new Set(names).size).to.equal(names.length);
    for (const n of names) expect(n).to.match(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(names[0]).to.equal('host-esx1');
  });
});
