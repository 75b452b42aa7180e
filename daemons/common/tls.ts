// TLS for a daemon's one listening port and for the orchestrator's and CLI's control calls: the
// certificate and key a daemon serves with (--tls-cert FILE --tls-key FILE, PEM), and the CA file a
// client trusts. Daemons trust the fabric's CA for their own wss:// dials (links, block protocol)
// through NODE_EXTRA_CA_CERTS, which `vfab up --tls` and the Kubernetes manifests set; the CLI passes
// the CA per request (control-client.ts). Leaves out client certificates: the fabric token still
// authenticates every link and control request (docs/security.md, docs/kubernetes.md).

import fs from 'node:fs';
import { VfabError } from '../../lib/errors.js';

/** A PEM certificate chain or key is a few KiB; anything larger is refused before it is read. */
export const MAX_TLS_FILE_BYTES = 256 * 1024;

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export const TLS_ERROR = { BAD_FILE: 'VFAB_TLS_BAD_FILE' } as const;

/** The file's bytes (a PEM file, checked for size and for a PEM header). */
export function readPemFile(file: string, what: string): Buffer {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    throw new VfabError(TLS_ERROR.BAD_FILE, `${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > MAX_TLS_FILE_BYTES) throw new VfabError(TLS_ERROR.BAD_FILE, `${what} ${file}: ${size} bytes, more than ${MAX_TLS_FILE_BYTES}`);
  const bytes = fs.readFileSync(file);
  if (!bytes.includes('-----BEGIN ')) throw new VfabError(TLS_ERROR.BAD_FILE, `${what} ${file}: not a PEM file`);
  return bytes;
}

/** The certificate and key of --tls-cert/--tls-key: both or neither (undefined: plain ws:// and http://). */
export function daemonTlsFiles(certFile: string | undefined, keyFile: string | undefined): TlsFiles | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new VfabError(TLS_ERROR.BAD_FILE, 'give both --tls-cert FILE and --tls-key FILE, or neither');
  return { cert: readPemFile(certFile, '--tls-cert'), key: readPemFile(keyFile, '--tls-key') };
}

/** The parseArgs options every daemon takes for TLS. */
export const TLS_ARG_OPTIONS = { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' } } as const;

/** A directory of TLS material, laid out like the Kubernetes Secret vfab-tls: ca.crt, tls.crt, tls.key. */
export function tlsDirFiles(dir: string): { ca: string; cert: string; key: string } {
  return { ca: `${dir}/ca.crt`, cert: `${dir}/tls.crt`, key: `${dir}/tls.key` };
}

/** http:// or https://, ws:// or wss://, for a daemon listening with or without TLS. */
export function scheme(kind: 'http' | 'ws', tls: boolean | undefined): string {
  return tls ? `${kind}s` : kind;
}
