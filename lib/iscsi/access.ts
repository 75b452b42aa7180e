// Who may use an iSCSI target: the initiator ACL (a list of iSCSI names, RFC 7143 §4.2.7; absent = every
// initiator) and the CHAP credentials (lib/iscsi/chap.ts bounds), as the topology (`arrays[].iscsi`) and
// stored's config give them. Covers checking an iSCSI name (iqn., eui., naa. forms of RFC 7143 §4.2.7.1-3,
// at most 223 bytes), comparing names without regard to case (RFC 3722 maps them to lower case), the
// problems of an access config (each with the field path where it is, never echoing a secret). Leaves out the login exchange (lib/iscsi/negotiate.ts) and
// RFC 3722's full stringprep (vfab takes ASCII names only). Pure.

import { chapNameProblem, chapSecretProblem, type ChapCredentials, type ChapTargetConfig } from './chap.js';
import { ISCSI_NAME_MAX_BYTES } from './negotiate.js';

/** Initiator names one target's ACL may list. */
export const ISCSI_MAX_ACL_INITIATORS = 256;

/** The access part of a target's configuration (topology `arrays[].iscsi`, minus the port). */
export interface IscsiAccess {
  /** iSCSI names that may log in; every initiator when absent. */
  initiators?: string[];
  chap?: ChapTargetConfig;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const IQN_RE = new RegExp(`^iqn\\.[0-9]{4}-(?:0[1-9]|1[0-2])\\.${LABEL}(?:\\.${LABEL})*(?::[a-z0-9.:-]*)?$`);
const EUI_RE = /^eui\.[0-9a-f]{16}$/;
const NAA_RE = /^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/;

/** An iSCSI name as compared: lower case. */
export function normalizeIscsiName(name: string): string {
  return name.toLowerCase();
}

/** Why `name` is not an iSCSI name, undefined when it is. */
export function iscsiNameProblem(name: string): string | undefined {
  if (Buffer.byteLength(name, 'utf8') > ISCSI_NAME_MAX_BYTES) return `an iSCSI name has at most ${ISCSI_NAME_MAX_BYTES} bytes`;
  const n = normalizeIscsiName(name);
  if (IQN_RE.test(n) || EUI_RE.test(n) || NAA_RE.test(n)) return undefined;
  return 'not an iSCSI name: iqn.YYYY-MM.reversed.domain[:anything] (letters, digits, "-", "." and ":"), eui. and 16 hex digits, or naa. and 16 or 32 hex digits';
}

/** Whether the ACL lets `initiator` in (no ACL: everyone). */
export function initiatorAllowed(acl: readonly string[] | undefined, initiator: string): boolean {
  if (acl === undefined) return true;
  const n = normalizeIscsiName(initiator);
  return acl.some((a) => normalizeIscsiName(a) === n);
}

export interface AccessProblem {
  /** Field path below the access config, e.g. ['chap', 'mutual', 'secret'] or ['initiators', 2]. */
  path: Array<string | number>;
  message: string;
  /** 'type': the value has the wrong shape (a JSON Schema finds these too); 'value': a rule about its content. */
  kind: 'type' | 'value';
}

/**
 * The problems of an access config as read from a file (any shape): initiators a list of distinct iSCSI
 * names, chap a mapping of username and secret in bounds, mutual likewise with a secret other than chap's
 * (RFC 7143 §12.1.3). Messages never contain a secret.
 */
export function accessProblems(raw: { initiators?: unknown; chap?: unknown }): AccessProblem[] {
  const out: AccessProblem[] = [];
  if (raw.initiators !== undefined) {
    if (!Array.isArray(raw.initiators)) out.push({ path: ['initiators'], message: 'initiators must be a list of iSCSI names', kind: 'type' });
    else {
      if (raw.initiators.length > ISCSI_MAX_ACL_INITIATORS) out.push({ path: ['initiators'], message: `at most ${ISCSI_MAX_ACL_INITIATORS} initiators (ISCSI_MAX_ACL_INITIATORS), got ${raw.initiators.length}`, kind: 'type' });
      const seen = new Map<string, number>();
      raw.initiators.forEach((v: unknown, i: number) => {
        if (typeof v !== 'string') return out.push({ path: ['initiators', i], message: 'an initiator is an iSCSI name (text)', kind: 'type' });
        const p = iscsiNameProblem(v);
        if (p) return out.push({ path: ['initiators', i], message: `${JSON.stringify(v)} is ${p.startsWith('not ') ? p : `not usable: ${p}`}`, kind: 'value' });
        const first = seen.get(normalizeIscsiName(v));
        if (first !== undefined) out.push({ path: ['initiators', i], message: `${JSON.stringify(v)} is listed twice (first as initiators[${first}]; names compare without case)`, kind: 'value' });
        else seen.set(normalizeIscsiName(v), i);
      });
    }
  }
  if (raw.chap !== undefined) {
    const chap = credentialsProblems(raw.chap, ['chap'], out);
    const mutualRaw = isRecord(raw.chap) ? raw.chap.mutual : undefined;
    if (mutualRaw !== undefined) {
      const mutual = credentialsProblems(mutualRaw, ['chap', 'mutual'], out);
      if (chap && mutual && chap.secret === mutual.secret) out.push({ path: ['chap', 'mutual', 'secret'], message: 'the mutual secret must differ from the initiator secret (RFC 7143 §12.1.3)', kind: 'value' });
    }
  }
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Checks { username, secret }; returns them when both are usable. */
function credentialsProblems(raw: unknown, path: string[], out: AccessProblem[]): ChapCredentials | undefined {
  if (!isRecord(raw)) {
    out.push({ path, message: `${path.join('.')} must be a mapping { username, secret }`, kind: 'type' });
    return undefined;
  }
  const before = out.length;
  const { username, secret } = raw;
  if (typeof username !== 'string') out.push({ path: [...path, 'username'], message: 'username must be text', kind: 'type' });
  else {
    const p = chapNameProblem(username);
    if (p) out.push({ path: [...path, 'username'], message: p, kind: 'value' });
  }
  if (typeof secret !== 'string') out.push({ path: [...path, 'secret'], message: 'secret must be text (its value is not shown)', kind: 'type' });
  else {
    const p = chapSecretProblem(secret);
    if (p) out.push({ path: [...path, 'secret'], message: p, kind: 'value' });
  }
  return out.length === before ? { username: username as string, secret: secret as string } : undefined;
}
