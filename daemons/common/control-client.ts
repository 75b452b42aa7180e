// The CLI's side of the control API: JSON over HTTP (HTTPS with --tls) to a daemon, with the fabric token.
// Covers request/response, typed errors (the daemon's VFAB_* code comes back as a VfabError) and a
// timeout. Leaves out retries: callers decide.

import http from 'node:http';
import https from 'node:https';
import { VfabError } from '../../lib/errors.js';
import { readPemFile, scheme } from './tls.js';

export const CONTROL_TIMEOUT_MS = 30_000;

export interface DaemonAddress {
  port: number;
  host?: string;
  /** When known (a fabric's DaemonRecord), errors name the daemon: "host esx1". */
  name?: string;
  kind?: string;
  /** The daemon serves https:// and wss:// (vfab up --tls, Kubernetes). */
  tls?: boolean;
  /** The CA that signed its certificate (PEM file); default: Node's trusted CAs (and NODE_EXTRA_CA_CERTS). */
  caFile?: string;
  /**
   * A path in front of every control and WebSocket path: a node reached through the Kubernetes gateway
   * (`vfab k8s connect`) is `/daemons/NAME` at the gateway's address.
   */
  basePath?: string;
}

const caCache = new Map<string, Buffer>();
/** The CA file's bytes, read once per process. */
export function caOf(file: string): Buffer {
  let ca = caCache.get(file);
  if (ca === undefined) caCache.set(file, (ca = readPemFile(file, 'CA file')));
  return ca;
}

/** The request options that make a TLS call trust the daemon's CA. */
export function tlsClientOptions(daemon: DaemonAddress): { ca?: Buffer } {
  return daemon.tls && daemon.caFile !== undefined ? { ca: caOf(daemon.caFile) } : {};
}

/** ws://HOST:PORT or wss://HOST:PORT of a daemon, followed by `path`. */
export function daemonWsUrl(daemon: DaemonAddress, path: string): string {
  return `${scheme('ws', daemon.tls)}://${daemon.host ?? '127.0.0.1'}:${daemon.port}${daemon.basePath ?? ''}${path}`;
}

/** "host esx1 (127.0.0.1:4711)" or "daemon at 127.0.0.1:4711". */
export function describeDaemon(d: DaemonAddress): string {
  const at = `${d.host ?? '127.0.0.1'}:${d.port}${d.basePath ? ` via ${d.basePath}` : ''}`;
  return d.name ? `${d.kind ?? 'daemon'} ${d.name} (${at})` : `daemon at ${at}`;
}

/** Largest reply body read from a daemon (a status of a big fabric is a few MB). */
export const MAX_CONTROL_REPLY_BYTES = 64 * 1024 * 1024;

/**
 * One control call. On node:http rather than fetch: fetch loads undici on first use, 60-100 ms of a
 * CLI call that otherwise takes about as long (measured on `vfab status`).
 */
export async function control<T = any>(
  daemon: DaemonAddress,
  token: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = CONTROL_TIMEOUT_MS,
): Promise<T> {
  const url = `${scheme('http', daemon.tls)}://${daemon.host ?? '127.0.0.1'}:${daemon.port}${daemon.basePath ?? ''}${path}`;
  const payload = body !== undefined ? Buffer.from(JSON.stringify(body)) : undefined;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const unreachable = (why: string) => reject(new VfabError('VFAB_CONTROL_UNREACHABLE', `cannot reach ${describeDaemon(daemon)}: ${why}`, { daemon: daemon.name, url }));
    const req = (daemon.tls ? https : http).request(url, {
      ...tlsClientOptions(daemon),
      method,
      headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > MAX_CONTROL_REPLY_BYTES) {
          req.destroy();
          reject(new VfabError('VFAB_CONTROL_BAD_REPLY', `${describeDaemon(daemon)} answered more than ${MAX_CONTROL_REPLY_BYTES} bytes to ${method} ${path}`));
        } else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => unreachable(`the reply broke off (${e.message})`));
    });
    // nothing listening (ECONNREFUSED) means the daemon is gone; a timeout means it does not answer
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => unreachable(e.code === 'ECONNREFUSED' ? 'connection refused (is it running? see: vfab status)' : e.code === 'ETIMEDOUT' ? e.message : (e.code ?? e.message)));
    req.end(payload);
  });
  let value: any;
  try {
    value = text ? JSON.parse(text) : undefined;
  } catch {
    throw new VfabError('VFAB_CONTROL_BAD_REPLY', `${describeDaemon(daemon)} answered ${status} with non-JSON`);
  }
  if (status < 200 || status >= 300) {
    const e = value?.error ?? {};
    throw new VfabError(e.code ?? 'VFAB_CONTROL_FAILED', e.message ?? `HTTP ${status} from ${url}`, e.details);
  }
  return value as T;
}
