// Rules the Kubernetes API server enforces that its published OpenAPI schemas (and so schema-based
// validators such as kubernetes-models) leave out: object names are DNS labels or subdomains, label
// values are at most 63 characters of [-._a-zA-Z0-9], and every port is 1-65535. `vfab k8s render`
// checks its own output with these (a renderer bug is an error, not a manifest the cluster refuses) and
// the tests add the schemas. Pure. Leaves out every other server-side rule (immutability, quotas).

export const MIN_PORT = 1;
export const MAX_PORT = 65535;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Problems of one object, each "Kind/name: path: what" (empty: none found). */
export function apiRuleProblems(obj: Record<string, any>): string[] {
  const out: string[] = [];
  const where = `${obj?.kind ?? '?'}/${obj?.metadata?.name ?? '?'}`;
  const bad = (path: string, what: string) => out.push(`${where}: ${path}: ${what}`);
  const name = obj?.metadata?.name;
  const needLabel = obj?.kind === 'Service' || obj?.kind === 'Namespace';
  if (typeof name !== 'string' || name.length > (needLabel ? 63 : 253) || !(needLabel ? /^[a-z]([-a-z0-9]*[a-z0-9])?$/ : DNS_SUBDOMAIN).test(name)) {
    bad('metadata.name', `${JSON.stringify(name)} is not a DNS ${needLabel ? 'label' : 'subdomain'}`);
  }
  const ns = obj?.metadata?.namespace;
  if (ns !== undefined && (typeof ns !== 'string' || ns.length > 63 || !DNS_LABEL.test(ns))) bad('metadata.namespace', `${JSON.stringify(ns)} is not a DNS label`);
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      if ((k === 'labels' || k === 'matchLabels' || (k === 'selector' && obj.kind === 'Service')) && typeof x === 'object' && x !== null) {
        for (const [lk, lv] of Object.entries(x)) if (typeof lv !== 'string' || lv.length > 63 || !LABEL_VALUE.test(lv)) bad(`${p}.${lk}`, `${JSON.stringify(lv)} is not a label value`);
      }
      if ((k === 'port' || k === 'containerPort' || k === 'targetPort' || k === 'nodePort') && typeof x === 'number' && (!Number.isInteger(x) || x < MIN_PORT || x > MAX_PORT)) {
        bad(p, `${x} is not a port (${MIN_PORT}-${MAX_PORT})`);
      }
      walk(x, p);
    }
  };
  walk(obj, '');
  return out;
}
