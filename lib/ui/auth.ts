// Who may use `vfab ui`: the one-time login code, the session cookie, and the Host/Origin check that
// keeps other web sites out (DNS rebinding, cross-site requests). Pure: the server passes in the random
// source and the wall clock. Leaves out HTTP itself (daemons/ui/server.ts); docs/ui.md "Access".

import { LOGIN_CODE_TTL_MS, SESSION_COOKIE } from './protocol.js';

/** Length in bytes of the random code and of each session id (hex-encoded: twice as many characters). */
export const SECRET_BYTES = 32;

/** Equal strings in time independent of where they differ (both are hex of the same length here). */
export function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Why a request may not be served, or undefined when it may: Host must name this server on loopback
 * (127.0.0.1:PORT or localhost:PORT), and Origin, when present, the same.
 */
export function originProblem(host: string | undefined, origin: string | undefined, port: number): string | undefined {
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`];
  if (!host || !allowed.includes(host.toLowerCase())) return `Host ${JSON.stringify(host ?? '')} is not ${allowed.join(' or ')}`;
  if (origin !== undefined && !allowed.map((a) => `http://${a}`).includes(origin.toLowerCase())) return `Origin ${JSON.stringify(origin)} is not http://${allowed.join(' or http://')}`;
  return undefined;
}

export interface AuthOptions {
  /** SECRET_BYTES random bytes as hex (crypto.randomBytes in the server, seeded in tests). */
  random: () => string;
  /** Wall ms. */
  now: () => number;
}

/** One login code (used once, expires) and the one session it opened: one browser per `vfab ui` run. */
export class UiAuth {
  private code: string | undefined;
  private readonly codeExpiresAt: number;
  private session: string | undefined;

  constructor(private readonly opts: AuthOptions) {
    this.code = opts.random();
    this.codeExpiresAt = opts.now() + LOGIN_CODE_TTL_MS;
  }

  /** The code to print (undefined once used). */
  get loginCode(): string | undefined {
    return this.code;
  }

  /** Trades the code for a new session id; undefined when the code is wrong, used or expired. */
  login(code: string | null | undefined): string | undefined {
    if (this.code === undefined || !code || !sameSecret(code, this.code) || this.opts.now() > this.codeExpiresAt) return undefined;
    this.code = undefined;
    this.session = this.opts.random();
    return this.session;
  }

  /** Whether the Cookie header carries a live session. */
  authorized(cookieHeader: string | undefined): boolean {
    const v = cookieValue(cookieHeader, SESSION_COOKIE);
    return v !== undefined && this.session !== undefined && sameSecret(this.session, v);
  }

  /** The Set-Cookie header value for a session. */
  static cookie(session: string): string {
    return `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`;
  }
}
