// pcapng capture files: writer and reader. Follows draft-ietf-opsawg-pcapng: a Section Header Block,
// one Interface Description Block per capture point (if_name, if_description, if_tsresol = 9, i.e. ns
// timestamps), Enhanced Packet Blocks carrying epb_flags (inbound/outbound) and an optional opt_comment.
// Every block ends with its total length repeated; options are padded to 32 bits and closed by
// opt_endofopt. The writer emits little-endian sections; the reader accepts both byte orders, several
// sections, Simple Packet Blocks, any if_tsresol and if_tsoffset, and skips blocks it does not know
// (their options are kept raw). Leaves out Name Resolution, Interface Statistics, Decryption Secrets and
// custom blocks (skipped), and compressed/encrypted files. Bytes go out exactly as given: 802.1Q tags stay.

import { type Result, ok, err } from '../errors.js';
import {
  CAPTURE_SNAPLEN_BYTES,
  CaptureError,
  type CaptureSink,
  LINKTYPE_ETHERNET,
  MAX_CAPTURE_RECORD_BYTES,
  NS_PER_SECOND,
  pad4,
  toNs,
} from './common.js';

export const PCAPNG_BLOCK_SHB = 0x0a0d0d0a;
export const PCAPNG_BLOCK_IDB = 0x00000001;
export const PCAPNG_BLOCK_SPB = 0x00000003;
export const PCAPNG_BLOCK_EPB = 0x00000006;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_VERSION_MAJOR = 1;
export const PCAPNG_VERSION_MINOR = 0;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const SHB_USERAPPL = 4;
export const IF_NAME = 2;
export const IF_DESCRIPTION = 3;
export const IF_TSRESOL = 9;
export const IF_TSOFFSET = 14;
export const EPB_FLAGS = 2;
/** if_tsresol value meaning 10^-9 s: timestamps are nanoseconds. */
export const TSRESOL_NANOSECONDS = 9;

/** An option value's length is a 16-bit field. */
export const MAX_PCAPNG_OPTION_BYTES = 0xffff;
/** Block header (type, total length) plus the trailing total length. */
const BLOCK_OVERHEAD_BYTES = 12;
const OPTION_HEADER_BYTES = 4;
const EPB_FIXED_BYTES = 20;
const USER_APPLICATION = 'vfab';

export type CaptureDirection = 'inbound' | 'outbound';

export interface PcapngInterfaceOptions {
  name: string;
  description?: string;
  snaplenBytes?: number;
}

export interface PcapngFrameOptions {
  direction?: CaptureDirection;
  comment?: string;
}

interface EncodedOption {
  code: number;
  value: Buffer;
}

function optionsBytes(options: EncodedOption[]): number {
  if (options.length === 0) return 0;
  let total = OPTION_HEADER_BYTES; // opt_endofopt
  for (const o of options) total += OPTION_HEADER_BYTES + o.value.length + pad4(o.value.length);
  return total;
}

/** Writes options (and opt_endofopt) at `offset`, zero padding; returns the offset after them. */
function writeOptions(buf: Buffer, offset: number, options: EncodedOption[]): number {
  if (options.length === 0) return offset;
  for (const o of options) {
    buf.writeUInt16LE(o.code, offset);
    buf.writeUInt16LE(o.value.length, offset + 2);
    buf.set(o.value, offset + OPTION_HEADER_BYTES);
    offset += OPTION_HEADER_BYTES + o.value.length;
    const padding = pad4(o.value.length);
    buf.fill(0, offset, offset + padding);
    offset += padding;
  }
  buf.writeUInt32LE(0, offset); // opt_endofopt, length 0
  return offset + OPTION_HEADER_BYTES;
}

function stringOption(code: number, text: string, what: string): EncodedOption {
  const value = Buffer.from(text, 'utf8');
  if (value.length > MAX_PCAPNG_OPTION_BYTES) {
    throw new CaptureError('VFAB_CAPTURE_OPTION_TOO_LONG', `${what} of ${value.length} bytes exceeds ${MAX_PCAPNG_OPTION_BYTES}`);
  }
  return { code, value };
}

/** Writes a pcapng stream to `sink`; the Section Header Block goes out from the constructor. */
export class PcapngWriter {
  private readonly snaplens: number[] = [];
  private packetsWritten = 0;

  constructor(private readonly sink: CaptureSink) {
    const options = [stringOption(SHB_USERAPPL, USER_APPLICATION, 'shb_userappl')];
    const bodyBytes = 16 + optionsBytes(options);
    const block = Buffer.allocUnsafe(BLOCK_OVERHEAD_BYTES + bodyBytes);
    block.writeUInt32LE(PCAPNG_BLOCK_SHB, 0);
    block.writeUInt32LE(block.length, 4);
    block.writeUInt32LE(PCAPNG_BYTE_ORDER_MAGIC, 8);
    block.writeUInt16LE(PCAPNG_VERSION_MAJOR, 12);
    block.writeUInt16LE(PCAPNG_VERSION_MINOR, 14);
    block.writeBigInt64LE(-1n, 16); // section length not given
    const end = writeOptions(block, 24, options);
    block.writeUInt32LE(block.length, end);
    this.sink(block);
  }

  get packets(): number {
    return this.packetsWritten;
  }

  get interfaceCount(): number {
    return this.snaplens.length;
  }

  /** Emits an Interface Description Block; returns the id to pass to writeFrame. */
  addInterface(options: PcapngInterfaceOptions): number {
    const snaplenBytes = options.snaplenBytes ?? CAPTURE_SNAPLEN_BYTES;
    if (!Number.isInteger(snaplenBytes) || snaplenBytes < 1 || snaplenBytes > MAX_CAPTURE_RECORD_BYTES) {
      throw new CaptureError('VFAB_CAPTURE_BAD_SNAPLEN', `snaplen ${snaplenBytes} is outside 1..${MAX_CAPTURE_RECORD_BYTES} bytes`);
    }
    const opts: EncodedOption[] = [stringOption(IF_NAME, options.name, 'if_name')];
    if (options.description !== undefined) opts.push(stringOption(IF_DESCRIPTION, options.description, 'if_description'));
    opts.push({ code: IF_TSRESOL, value: Buffer.from([TSRESOL_NANOSECONDS]) });
    const bodyBytes = 8 + optionsBytes(opts);
    const block = Buffer.allocUnsafe(BLOCK_OVERHEAD_BYTES + bodyBytes);
    block.writeUInt32LE(PCAPNG_BLOCK_IDB, 0);
    block.writeUInt32LE(block.length, 4);
    block.writeUInt16LE(LINKTYPE_ETHERNET, 8);
    block.writeUInt16LE(0, 10); // reserved
    block.writeUInt32LE(snaplenBytes, 12);
    const end = writeOptions(block, 16, opts);
    block.writeUInt32LE(block.length, end);
    this.sink(block);
    this.snaplens.push(snaplenBytes);
    return this.snaplens.length - 1;
  }

  /** Appends one frame seen on `interfaceId` at `timestampNs` (ns since the Unix epoch) as an EPB. */
  writeFrame(interfaceId: number, timestampNs: bigint | number, frame: Uint8Array, options: PcapngFrameOptions = {}): void {
    const snaplenBytes = this.snaplens[interfaceId];
    if (snaplenBytes === undefined) {
      throw new CaptureError('VFAB_CAPTURE_UNKNOWN_INTERFACE', `interface ${interfaceId} was not added to this capture`);
    }
    const ns = toNs(timestampNs);
    if (ns > 0xffffffffffffffffn) throw new CaptureError('VFAB_CAPTURE_BAD_TIMESTAMP', `timestamp ${ns} ns does not fit 64 bits`);
    const opts: EncodedOption[] = [];
    if (options.comment !== undefined) opts.push(stringOption(OPT_COMMENT, options.comment, 'opt_comment'));
    if (options.direction !== undefined) {
      const flags = Buffer.alloc(4);
      flags.writeUInt32LE(options.direction === 'inbound' ? 1 : 2, 0);
      opts.push({ code: EPB_FLAGS, value: flags });
    }
    const capturedBytes = Math.min(frame.length, snaplenBytes);
    const dataPadding = pad4(capturedBytes);
    const bodyBytes = EPB_FIXED_BYTES + capturedBytes + dataPadding + optionsBytes(opts);
    const block = Buffer.allocUnsafe(BLOCK_OVERHEAD_BYTES + bodyBytes);
    block.writeUInt32LE(PCAPNG_BLOCK_EPB, 0);
    block.writeUInt32LE(block.length, 4);
    block.writeUInt32LE(interfaceId, 8);
    block.writeUInt32LE(Number(ns >> 32n), 12);
    block.writeUInt32LE(Number(ns & 0xffffffffn), 16);
    block.writeUInt32LE(capturedBytes, 20);
    block.writeUInt32LE(frame.length, 24);
    block.set(capturedBytes === frame.length ? frame : frame.subarray(0, capturedBytes), 28);
    let offset = 28 + capturedBytes;
    block.fill(0, offset, offset + dataPadding);
    offset = writeOptions(block, offset + dataPadding, opts);
    block.writeUInt32LE(block.length, offset);
    this.packetsWritten++;
    this.sink(block);
  }
}

// ---------------------------------------------------------------- reader

export interface PcapngOption {
  code: number;
  value: Buffer;
}

export interface PcapngInterface {
  /** Index of the section (0 for the first SHB) this interface belongs to. */
  section: number;
  linkType: number;
  snaplenBytes: number;
  name?: string;
  description?: string;
  /** Raw if_tsresol byte (6 = microseconds when absent). */
  tsresol: number;
  tsoffsetSeconds: bigint;
  options: PcapngOption[];
}

export interface PcapngPacket {
  /** Index into PcapngFile.interfaces (across sections). */
  interfaceId: number;
  /** Nanoseconds since the Unix epoch; undefined for Simple Packet Blocks. */
  timestampNs: bigint | undefined;
  data: Buffer;
  originalLength: number;
  direction?: CaptureDirection;
  flags?: number;
  comment?: string;
  options: PcapngOption[];
}

export interface PcapngFile {
  littleEndian: boolean;
  sections: number;
  userApplication?: string;
  interfaces: PcapngInterface[];
  packets: PcapngPacket[];
}

function captureErr(code: string, message: string, offset: number): { ok: false; error: CaptureError } {
  return err(new CaptureError(code, message, { offset }));
}

/** Converts a timestamp in units of if_tsresol (plus if_tsoffset seconds) to ns. */
function ticksToNs(ticks: bigint, tsresol: number, tsoffsetSeconds: bigint): bigint {
  const exponent = BigInt(tsresol & 0x7f);
  let ns: bigint;
  if (tsresol & 0x80) ns = (ticks * NS_PER_SECOND) >> exponent;
  else if (exponent <= 9n) ns = ticks * 10n ** (9n - exponent);
  else ns = ticks / 10n ** (exponent - 9n);
  return ns + tsoffsetSeconds * NS_PER_SECOND;
}

/** Parses a whole pcapng file from untrusted bytes; never throws. */
export function readPcapng(input: Uint8Array): Result<PcapngFile, CaptureError> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < 28 || buf.readUInt32LE(0) !== PCAPNG_BLOCK_SHB) {
    return captureErr('VFAB_CAPTURE_BAD_MAGIC', 'input does not start with a pcapng Section Header Block', 0);
  }
  const file: PcapngFile = { littleEndian: true, sections: 0, interfaces: [], packets: [] };
  let le = true;
  let sectionFirstInterface = 0;
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));

  /** Parses options in [start, end); returns them or an error. */
  const parseOptions = (start: number, end: number): Result<PcapngOption[], CaptureError> => {
    const options: PcapngOption[] = [];
    let o = start;
    while (o + OPTION_HEADER_BYTES <= end) {
      const code = u16(o);
      const length = u16(o + 2);
      if (code === OPT_ENDOFOPT) return ok(options);
      const valueEnd = o + OPTION_HEADER_BYTES + length;
      if (valueEnd > end) return captureErr('VFAB_CAPTURE_BAD_OPTION', `option ${code} at offset ${o} runs past its block`, o);
      options.push({ code, value: buf.subarray(o + OPTION_HEADER_BYTES, valueEnd) });
      o = valueEnd + pad4(length);
    }
    if (o < end) return captureErr('VFAB_CAPTURE_BAD_OPTION', `${end - o} stray bytes after the options at offset ${o}`, o);
    return ok(options);
  };

  let offset = 0;
  while (offset < buf.length) {
    if (offset + BLOCK_OVERHEAD_BYTES > buf.length) {
      return captureErr('VFAB_CAPTURE_TRUNCATED', `block header at offset ${offset} is cut short`, offset);
    }
    const rawType = buf.readUInt32LE(offset);
    if (rawType === PCAPNG_BLOCK_SHB) {
      // The byte-order magic decides how this section (including its own length field) is read.
      if (offset + 28 > buf.length) return captureErr('VFAB_CAPTURE_TRUNCATED', `section header at offset ${offset} is cut short`, offset);
      const magicLe = buf.readUInt32LE(offset + 8);
      if (magicLe === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (buf.readUInt32BE(offset + 8) === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else return captureErr('VFAB_CAPTURE_BAD_MAGIC', `bad byte-order magic in the section header at offset ${offset}`, offset);
      if (file.sections === 0) file.littleEndian = le;
      file.sections++;
      sectionFirstInterface = file.interfaces.length;
    } else if (file.sections === 0) {
      return captureErr('VFAB_CAPTURE_BAD_BLOCK', 'first block is not a Section Header Block', offset);
    }
    const type = u32(offset);
    const totalBytes = u32(offset + 4);
    if (totalBytes < BLOCK_OVERHEAD_BYTES || (totalBytes & 3) !== 0) {
      return captureErr('VFAB_CAPTURE_BAD_BLOCK', `block at offset ${offset} has invalid total length ${totalBytes}`, offset);
    }
    if (totalBytes > MAX_CAPTURE_RECORD_BYTES + 4096) {
      return captureErr('VFAB_CAPTURE_RECORD_TOO_LARGE', `block of ${totalBytes} bytes at offset ${offset} exceeds the record limit`, offset);
    }
    if (offset + totalBytes > buf.length) {
      return captureErr('VFAB_CAPTURE_TRUNCATED', `block at offset ${offset} claims ${totalBytes} bytes past the end of the file`, offset);
    }
    const end = offset + totalBytes - 4;
    if (u32(end) !== totalBytes) {
      return captureErr('VFAB_CAPTURE_BAD_BLOCK', `block at offset ${offset}: trailing length ${u32(end)} differs from ${totalBytes}`, offset);
    }
    const body = offset + 8;

    if (type === PCAPNG_BLOCK_SHB) {
      if (totalBytes < 28) return captureErr('VFAB_CAPTURE_BAD_BLOCK', `section header at offset ${offset} is too short`, offset);
      const major = u16(body + 4);
      if (major !== PCAPNG_VERSION_MAJOR) {
        return captureErr('VFAB_CAPTURE_BAD_VERSION', `pcapng version ${major}.${u16(body + 6)} is not supported`, offset);
      }
      const options = parseOptions(body + 16, end);
      if (!options.ok) return options;
      const appl = options.value.find((o) => o.code === SHB_USERAPPL);
      if (appl && file.userApplication === undefined) file.userApplication = appl.value.toString('utf8');
    } else if (type === PCAPNG_BLOCK_IDB) {
      if (body + 8 > end) return captureErr('VFAB_CAPTURE_BAD_BLOCK', `interface block at offset ${offset} is too short`, offset);
      const options = parseOptions(body + 8, end);
      if (!options.ok) return options;
      const iface: PcapngInterface = {
        section: file.sections - 1,
        linkType: u16(body),
        snaplenBytes: u32(body + 4),
        tsresol: 6,
        tsoffsetSeconds: 0n,
        options: options.value,
      };
      for (const o of options.value) {
        if (o.code === IF_NAME) iface.name = o.value.toString('utf8');
        else if (o.code === IF_DESCRIPTION) iface.description = o.value.toString('utf8');
        else if (o.code === IF_TSRESOL) {
          if (o.value.length !== 1) return captureErr('VFAB_CAPTURE_BAD_OPTION', `if_tsresol of ${o.value.length} bytes`, offset);
          iface.tsresol = o.value[0]!;
        } else if (o.code === IF_TSOFFSET) {
          if (o.value.length !== 8) return captureErr('VFAB_CAPTURE_BAD_OPTION', `if_tsoffset of ${o.value.length} bytes`, offset);
          iface.tsoffsetSeconds = le ? o.value.readBigInt64LE(0) : o.value.readBigInt64BE(0);
        }
      }
      if ((iface.tsresol & 0x7f) > 63) return captureErr('VFAB_CAPTURE_BAD_OPTION', `if_tsresol ${iface.tsresol} is out of range`, offset);
      file.interfaces.push(iface);
    } else if (type === PCAPNG_BLOCK_EPB) {
      if (body + EPB_FIXED_BYTES > end) return captureErr('VFAB_CAPTURE_BAD_BLOCK', `packet block at offset ${offset} is too short`, offset);
      const localId = u32(body);
      const interfaceId = sectionFirstInterface + localId;
      const iface = file.interfaces[interfaceId];
      if (iface === undefined || iface.section !== file.sections - 1) {
        return captureErr('VFAB_CAPTURE_UNKNOWN_INTERFACE', `packet block at offset ${offset} names undeclared interface ${localId}`, offset);
      }
      const ticks = (BigInt(u32(body + 4)) << 32n) | BigInt(u32(body + 8));
      const capturedBytes = u32(body + 12);
      const originalLength = u32(body + 16);
      const dataStart = body + EPB_FIXED_BYTES;
      if (capturedBytes > end - dataStart) {
        return captureErr('VFAB_CAPTURE_BAD_BLOCK', `packet block at offset ${offset} claims ${capturedBytes} bytes beyond its length`, offset);
      }
      const optionsStart = dataStart + capturedBytes + pad4(capturedBytes);
      const options = optionsStart <= end ? parseOptions(optionsStart, end) : ok([] as PcapngOption[]);
      if (!options.ok) return options;
      const packet: PcapngPacket = {
        interfaceId,
        timestampNs: ticksToNs(ticks, iface.tsresol, iface.tsoffsetSeconds),
        data: buf.subarray(dataStart, dataStart + capturedBytes),
        originalLength,
        options: options.value,
      };
      for (const o of options.value) {
        if (o.code === OPT_COMMENT) packet.comment = o.value.toString('utf8');
        else if (o.code === EPB_FLAGS && o.value.length === 4) {
          const flags = le ? o.value.readUInt32LE(0) : o.value.readUInt32BE(0);
          packet.flags = flags;
          if ((flags & 3) === 1) packet.direction = 'inbound';
          else if ((flags & 3) === 2) packet.direction = 'outbound';
        }
      }
      file.packets.push(packet);
    } else if (type === PCAPNG_BLOCK_SPB) {
      const iface = file.interfaces[sectionFirstInterface];
      if (iface === undefined || iface.section !== file.sections - 1) {
        return captureErr('VFAB_CAPTURE_UNKNOWN_INTERFACE', `simple packet block at offset ${offset} before any interface`, offset);
      }
      if (body + 4 > end) return captureErr('VFAB_CAPTURE_BAD_BLOCK', `simple packet block at offset ${offset} is too short`, offset);
      const originalLength = u32(body);
      const capturedBytes = Math.min(originalLength, iface.snaplenBytes, end - body - 4);
      file.packets.push({
        interfaceId: sectionFirstInterface,
        timestampNs: undefined,
        data: buf.subarray(body + 4, body + 4 + capturedBytes),
        originalLength,
        options: [],
      });
    }
    // Other block types (name resolution, statistics, custom...) are skipped.
    offset += totalBytes;
  }
  return ok(file);
}
