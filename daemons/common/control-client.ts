// The CLI's side of the control API: JSON over HTTP to a daemon on loopback, with the fabric token.
// Covers request/response, typed errors (the daemon's VFAB_* code comes back as a VfabError) and a
// timeout. Leaves out retries: callers decide.

import { VfabError } from '../../lib/errors.js';

export const CONTROL_TIMEOUT_MS = 30_000;

export interface DaemonAddress {
  port: number;
  host?: string;
}

export async function control<T = any>(
  daemon: DaemonAddress,
  token: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = CONTROL_TIMEOUT_MS,
): Promise<T> {
  const url = `http://${daemon.host ?? '127.0.0.1'}:${daemon.port}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new VfabError('VFAB_CONTROL_UNREACHABLE', `cannot reach daemon at ${url}: ${(e as Error).message}`);
  }
  const text = await res.text();
  let value: any;
  try {
    value = text ? JSON.parse(text) : undefined;
  } catch {
    throw new VfabError('VFAB_CONTROL_BAD_REPLY', `daemon at ${url} answered ${res.status} with non-JSON`);
  }
  if (!res.ok) {
    const e = value?.error ?? {};
    throw new VfabError(e.code ?? 'VFAB_CONTROL_FAILED', e.message ?? `HTTP ${res.status} from ${url}`, e.details);
  }
  return value as T;
}
