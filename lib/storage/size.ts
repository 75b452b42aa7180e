// Byte sizes as people type them on the command line: "4G", "512M", "1.5GiB", "4k", "4096" (bytes).
// Units are binary (K = 1024, M = 1024^2, G = 1024^3, T = 1024^4), with optional "i" and "B"
// ("4GiB" = "4GB" = "4G"), case-insensitive. Pure; used by `vfab lun` and `vfab disk`. Leaves out
// decimal (SI) units: storage here is counted in blocks, so binary units avoid silent rounding.

import { VfabError, ok, err, type Result } from '../errors.js';

export const SIZE_ERROR = {
  /** Not a size: empty, negative, unknown unit, or not a whole number of bytes. */
  BAD_SIZE: 'VFAB_SIZE_SYNTAX',
} as const;

const UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i;

/** Parses "4G" / "512M" / "4096" into bytes (a safe integer). */
export function parseSizeBytes(text: string): Result<number> {
  const m = SIZE_RE.exec(text.trim());
  if (!m) {
    return err(new VfabError(SIZE_ERROR.BAD_SIZE, `bad size ${JSON.stringify(text)}: write a number with an optional unit K, M, G or T (binary), e.g. 4G, 512M, 1.5G, 4096`));
  }
  const bytes = Number(m[1]) * UNIT[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(bytes)) {
    return err(new VfabError(SIZE_ERROR.BAD_SIZE, `size ${JSON.stringify(text)} is not a whole number of bytes (${bytes})`));
  }
  return ok(bytes);
}

/** For display: 536870912 -> "512M", 4294967296 -> "4G", 1536 -> "1.5K", 1000 -> "1000" (2 decimals at most). */
export function formatSize(bytes: number): string {
  for (const [u, n] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= n) return `${+(bytes / n).toFixed(2)}${u}`;
  }
  return String(bytes);
}
