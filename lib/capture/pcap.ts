// Classic libpcap capture files: writer and reader. Follows draft-ietf-opsawg-pcap (the tcpdump.org file
// format): a 24-byte file header, then per packet a 16-byte record header and the captured bytes.
// Covers LINKTYPE_ETHERNET, microsecond (magic 0xa1b2c3d4) and nanosecond (0xa1b23c4d) resolution; the
// writer emits little-endian files, the reader accepts both byte orders. Leaves out other link types
// (the reader reports them, it does not decode them), the FCS-length bits and modified/"Kuznetzov" pcap.
// Bytes are written exactly as given, so 802.1Q tags on trunk captures survive.

import { type Result, ok, err } from '../errors.js';
import {
  CAPTURE_SNAPLEN_BYTES,
  CaptureError,
  type CaptureSink,
  LINKTYPE_ETHERNET,
  MAX_CAPTURE_RECORD_BYTES,
  NS_PER_SECOND,
  toNs,
} from './common.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_FILE_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
/** Seconds are an unsigned 32-bit field. */
const MAX_PCAP_SECONDS = 0xffffffffn;

export type TimestampResolution = 'us' | 'ns';

export interface PcapWriterOptions {
  /** 'us' (default, readable by every tool) or 'ns'. */
  resolution?: TimestampResolution;
  /** Longer frames are truncated to this many bytes (their original length is kept). */
  snaplenBytes?: number;
}

/** Writes a classic pcap stream to `sink`; the file header goes out from the constructor. */
export class PcapWriter {
  readonly resolution: TimestampResolution;
  readonly snaplenBytes: number;
  private packetsWritten = 0;

  constructor(
    private readonly sink: CaptureSink,
    options: PcapWriterOptions = {},
  ) {
    this.resolution = options.resolution ?? 'us';
    this.snaplenBytes = options.snaplenBytes ?? CAPTURE_SNAPLEN_BYTES;
    if (!Number.isInteger(this.snaplenBytes) || this.snaplenBytes < 1 || this.snaplenBytes > MAX_CAPTURE_RECORD_BYTES) {
      throw new CaptureError('VFAB_CAPTURE_BAD_SNAPLEN', `snaplen ${this.snaplenBytes} is outside 1..${MAX_CAPTURE_RECORD_BYTES} bytes`);
    }
    const header = Buffer.alloc(PCAP_FILE_HEADER_BYTES);
    header.writeUInt32LE(this.resolution === 'ns' ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
    header.writeUInt16LE(PCAP_VERSION_MAJOR, 4);
    header.writeUInt16LE(PCAP_VERSION_MINOR, 6);
    header.writeInt32LE(0, 8); // thiszone (always 0)
    header.writeUInt32LE(0, 12); // sigfigs (always 0)
    header.writeUInt32LE(this.snaplenBytes, 16);
    header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    this.sink(header);
  }

  get packets(): number {
    return this.packetsWritten;
  }

  /**
   * Appends one frame captured at `timestampNs` (ns since the Unix epoch). `originalLength` is the length
   * on the wire when `frame` is already a truncated copy; frames longer than snaplen are truncated here.
   */
  writeFrame(timestampNs: bigint | number, frame: Uint8Array, originalLength?: number): void {
    const ns = toNs(timestampNs);
    const seconds = ns / NS_PER_SECOND;
    if (seconds > MAX_PCAP_SECONDS) {
      throw new CaptureError('VFAB_CAPTURE_BAD_TIMESTAMP', `timestamp ${ns} ns does not fit pcap's 32-bit seconds`);
    }
    const remainderNs = Number(ns - seconds * NS_PER_SECOND);
    const fraction = this.resolution === 'ns' ? remainderNs : Math.floor(remainderNs / 1000);
    const capturedBytes = Math.min(frame.length, this.snaplenBytes);
    const wireBytes = Math.max(originalLength ?? frame.length, frame.length);
    const record = Buffer.allocUnsafe(PCAP_RECORD_HEADER_BYTES + capturedBytes);
    record.writeUInt32LE(Number(seconds), 0);
    record.writeUInt32LE(fraction, 4);
    record.writeUInt32LE(capturedBytes, 8);
    record.writeUInt32LE(wireBytes, 12);
    record.set(capturedBytes === frame.length ? frame : frame.subarray(0, capturedBytes), PCAP_RECORD_HEADER_BYTES);
    this.packetsWritten++;
    this.sink(record);
  }
}

// ---------------------------------------------------------------- reader

export interface PcapFileHeader {
  resolution: TimestampResolution;
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplenBytes: number;
  linkType: number;
}

export interface PcapPacket {
  /** Nanoseconds since the Unix epoch. */
  timestampNs: bigint;
  /** Captured bytes (a view into the input buffer). */
  data: Buffer;
  originalLength: number;
}

export interface PcapFile {
  header: PcapFileHeader;
  packets: PcapPacket[];
}

/** Parses a whole pcap file from untrusted bytes; never throws. */
export function readPcap(input: Uint8Array): Result<PcapFile, CaptureError> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < PCAP_FILE_HEADER_BYTES) {
    return err(new CaptureError('VFAB_CAPTURE_TRUNCATED', `pcap file of ${buf.length} bytes is shorter than its ${PCAP_FILE_HEADER_BYTES}-byte header`));
  }
  const magicLe = buf.readUInt32LE(0);
  const magicBe = buf.readUInt32BE(0);
  let littleEndian: boolean;
  let resolution: TimestampResolution;
  if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) {
    littleEndian = true;
    resolution = magicLe === PCAP_MAGIC_NS ? 'ns' : 'us';
  } else if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS) {
    littleEndian = false;
    resolution = magicBe === PCAP_MAGIC_NS ? 'ns' : 'us';
  } else {
    return err(new CaptureError('VFAB_CAPTURE_BAD_MAGIC', `0x${magicBe.toString(16).padStart(8, '0')} is not a pcap magic number`));
  }
  const u16 = (o: number) => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const header: PcapFileHeader = {
    resolution,
    littleEndian,
    versionMajor: u16(4),
    versionMinor: u16(6),
    snaplenBytes: u32(16),
    // The upper bits hold FCS information; the link type is the low 28 bits.
    linkType: u32(20) & 0x0fffffff,
  };
  if (header.versionMajor !== PCAP_VERSION_MAJOR) {
    return err(new CaptureError('VFAB_CAPTURE_BAD_VERSION', `pcap version ${header.versionMajor}.${header.versionMinor} is not supported`));
  }
  const packets: PcapPacket[] = [];
  let offset = PCAP_FILE_HEADER_BYTES;
  const fractionNs = resolution === 'ns' ? 1n : 1000n;
  while (offset < buf.length) {
    if (offset + PCAP_RECORD_HEADER_BYTES > buf.length) {
      return err(new CaptureError('VFAB_CAPTURE_TRUNCATED', `record header at offset ${offset} is cut short`, { offset }));
    }
    const seconds = u32(offset);
    const fraction = u32(offset + 4);
    const capturedBytes = u32(offset + 8);
    const originalLength = u32(offset + 12);
    if (fraction >= (resolution === 'ns' ? 1_000_000_000 : 1_000_000)) {
      return err(new CaptureError('VFAB_CAPTURE_BAD_TIMESTAMP', `sub-second field ${fraction} at offset ${offset} is out of range`, { offset }));
    }
    if (capturedBytes > MAX_CAPTURE_RECORD_BYTES) {
      return err(new CaptureError('VFAB_CAPTURE_RECORD_TOO_LARGE', `record of ${capturedBytes} bytes at offset ${offset} exceeds ${MAX_CAPTURE_RECORD_BYTES}`, { offset }));
    }
    const dataOffset = offset + PCAP_RECORD_HEADER_BYTES;
    if (dataOffset + capturedBytes > buf.length) {
      return err(new CaptureError('VFAB_CAPTURE_TRUNCATED', `record at offset ${offset} claims ${capturedBytes} bytes past the end of the file`, { offset }));
    }
    packets.push({
      timestampNs: BigInt(seconds) * NS_PER_SECOND + BigInt(fraction) * fractionNs,
      data: buf.subarray(dataOffset, dataOffset + capturedBytes),
      originalLength,
    });
    offset = dataOffset + capturedBytes;
  }
  return ok({ header, packets });
}
