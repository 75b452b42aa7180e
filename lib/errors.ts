// Error classes with stable codes (VFAB_*). Covers the base class every module extends; each module
// defines its own codes next to its code and docs/errors.md lists them all. Hot paths never throw these
// for bad frames: they drop and count (see the drop reasons of lib/vswitch and lib/pswitch).

export class VfabError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'VfabError';
    this.code = code;
    this.details = details;
  }
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Result of parsing untrusted bytes: a value, or a typed error (never a throw). */
export type Result<T, E = VfabError> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}
