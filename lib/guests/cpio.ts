// A writer of "newc" cpio archives (the format the Linux kernel unpacks as an initramfs): directories,
// regular files and symbolic links, each a 110-byte ASCII header (magic 070701, thirteen 8-digit hex
// fields), the NUL-terminated name and the data, both padded to 4 bytes, closed by a TRAILER!!! entry.
// Used to build a QEMU guest's initramfs at test time (test/e2e/guests/qemu.test.ts). Leaves out reading
// archives, hard links, device nodes (the kernel's devtmpfs makes them) and compression (node:zlib).
// Pure code: entries in, bytes out.

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
/** Largest member a newc header can describe, bytes (its size field is 8 hex digits). */
export const MAX_CPIO_MEMBER_BYTES = 0xffff_ffff;

const pad4 = (n: number) => (4 - (n % 4)) % 4;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

function member(ino: number, mode: number, nlink: number, name: string, data: Uint8Array): Buffer {
  if (data.length > MAX_CPIO_MEMBER_BYTES) throw new RangeError(`cpio member ${name}: ${data.length} bytes is above ${MAX_CPIO_MEMBER_BYTES}`);
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  const fields = [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
  return Buffer.concat([header, nameBytes, Buffer.alloc(pad4(header.length + nameBytes.length)), data, Buffer.alloc(pad4(data.length))]);
}

/** The archive: entries in the order given (a directory before what it holds), then the trailer. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => {
    const path = e.path.replace(/^\/+/, '');
    if (path === '' || path.split('/').includes('..')) throw new RangeError(`cpio entry path ${JSON.stringify(e.path)}: must name something below the root`);
    const ino = i + 1;
    if (e.type === 'dir') parts.push(member(ino, S_IFDIR | (e.mode ?? 0o755), 2, path, new Uint8Array(0)));
    else if (e.type === 'file') parts.push(member(ino, S_IFREG | (e.mode ?? 0o644), 1, path, e.data));
    else parts.push(member(ino, S_IFLNK | 0o777, 1, path, Buffer.from(e.target, 'utf8')));
  });
  parts.push(member(0, 0, 1, 'TRAILER!!!', new Uint8Array(0)));
  return Buffer.concat(parts);
}
