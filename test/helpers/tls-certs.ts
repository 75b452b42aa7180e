// Throwaway TLS material for tests, made with the openssl CLI (node:crypto cannot sign X.509): a CA, a
// certificate it signs for the given IP addresses and DNS names, laid out like the Secret vfab-tls
// (ca.crt, tls.crt, tls.key), and a second, unrelated CA (an untrusted one). EC P-256, valid one day.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], dir);
}

/** Writes ca.crt, tls.crt, tls.key (and other-ca.crt, a CA that signed nothing here) into `dir`. */
export function makeTlsDir(dir: string, san: { ips?: string[]; dns?: string[] }): void {
  fs.mkdirSync(dir, { recursive: true });
  newCa(dir, 'ca');
  newCa(dir, 'other-ca');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=vfab'], dir);
  const alt = [...(san.ips ?? []).map((ip) => `IP:${ip}`), ...(san.dns ?? []).map((d) => `DNS:${d}`)].join(',');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), `subjectAltName=${alt}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '1', '-extfile', 'ext.cnf'], dir);
}

/** Whether the openssl CLI is installed. */
export function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
