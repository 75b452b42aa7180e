// The fabric as Kubernetes runs it (`vfab k8s render`): the same plan `vfab up` makes
// (daemons/fabric/plan.ts) and the same daemon arguments (daemonArgs), adapted to pods. Each daemon
// listens on 0.0.0.0:K8S_DAEMON_PORT with TLS (lib/k8s/render.ts adds those arguments), its config comes
// from the ConfigMap, an array's store is on its volume, a host's iSCSI targets are the arrays' Service
// names, and no clock anchor is shared (each machine has its own monotonic clock: the gateway measures
// the offsets, docs/kubernetes.md). Pure apart from reading nothing: no I/O.
// Leaves out what needs one machine: external VMs (vmd), real guests (netns, qemu), VXLAN switch ports
// and HA clusters are refused with the names of what uses them.

import { VfabError } from '../../lib/errors.js';
import { isRealGuest, type Topology } from '../../lib/topology/model.js';
import { K8S_ERROR, K8S_ISCSI_PORT, K8S_PATHS, configKey, serviceHost, type K8sDaemon } from '../../lib/k8s/render.js';
import { planFabric, type DaemonConfig } from '../fabric/plan.js';
import { daemonArgs } from '../fabric/lifecycle.js';

const SCRIPTS = { host: 'dist/daemons/hostd.js', switch: 'dist/daemons/switchd.js', array: 'dist/daemons/stored.js' } as const;
export const GATEWAY_SCRIPT = 'dist/daemons/k8s/gateway.js';
const GIB = 1024 ** 3;

/** What a topology uses that the Kubernetes rendering does not run, one line each (empty: all fine). */
export function unsupportedOnK8s(topology: Topology): string[] {
  const out: string[] = [];
  const external = topology.hosts.flatMap((h) => h.vms.filter((vm) => vm.external).map((vm) => vm.name));
  const real = topology.hosts.flatMap((h) => h.vms.filter((vm) => isRealGuest(vm)).map((vm) => vm.name));
  if (external.length > 0) out.push(`external VMs (their own vm daemon): ${external.join(', ')}`);
  if (real.length > 0) out.push(`real guests (kind: netns or qemu need the machine's kernel): ${real.join(', ')}`);
  const vxlan = topology.switches.flatMap((sw) => sw.ports.filter((p) => p.vxlan !== undefined).map((p) => `${sw.name}.${p.name}`));
  if (vxlan.length > 0) out.push(`VXLAN switch ports (UDP on the machine's loopback): ${vxlan.join(', ')}`);
  if ((topology.clusters ?? []).length > 0) out.push(`HA clusters: ${(topology.clusters ?? []).map((c) => c.name).join(', ')}`);
  return out;
}

/** The daemons of `topology` with the configs and arguments their pods run with. */
export function k8sDaemons(topology: Topology, namespace: string): K8sDaemon[] {
  const problems = unsupportedOnK8s(topology);
  if (problems.length > 0) throw new VfabError(K8S_ERROR.BAD_INPUT, `topology ${topology.name} uses what vfab does not run on Kubernetes yet (docs/kubernetes.md): ${problems.join('; ')}`);
  return planFabric(topology).map((d) => {
    const config: DaemonConfig = structuredClone(d.config);
    if (config.kind === 'array') config.dataDir = `${K8S_PATHS.data}/store`;
    if (config.kind === 'host' && config.iscsiTargets) {
      for (const [array, t] of Object.entries(config.iscsiTargets)) {
        config.iscsiTargets[array] = { ...t, address: serviceHost('array', array, namespace), port: K8S_ISCSI_PORT };
      }
    }
    if (config.kind === 'vm') throw new VfabError(K8S_ERROR.BAD_INPUT, `external VM ${d.name} is not run on Kubernetes`);
    const kind = config.kind;
    const array = config.kind === 'array' ? config.array : undefined;
    return {
      name: d.name,
      kind,
      script: SCRIPTS[kind],
      args: daemonArgs(d.name, config, `${K8S_PATHS.config}/${configKey(d.name)}`),
      configJson: JSON.stringify(config),
      ...(array ? { volumeGiB: array.luns.reduce((n, l) => n + l.sizeBytes, 0) / GIB } : {}),
      ...(array?.iscsi ? { iscsi: true } : {}),
    };
  });
}
