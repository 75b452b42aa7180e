// vfab NAS protocol codec: an NFS-v3-like file protocol carried in WebSocket binary messages
// (docs/nas-protocol.md). Covers the record layouts (HELLO, HELLO_ACK, REQUEST, REPLY, ERROR), several
// records in one message, the named limits and the VFAB_NAS_* error codes. The operations (LOOKUP, CREATE
// with UNCHECKED/GUARDED/EXCLUSIVE modes, READ, WRITE with a stable flag, COMMIT, REMOVE, RENAME, GETATTR,
// SETATTR size, READDIR with a cookie, MKDIR) and the status numbers follow NFS version 3 (RFC 1813 §3.3 and
// §2.6 nfsstat3); the framing is our own: no XDR, no RPC, no MOUNT protocol, no permissions or owners.
// Leaves out the socket, authentication and flow control (daemons/storage/nas-server.ts, nas-client.ts)
// and the file store (share-store.ts). Pure: parse validates untrusted bytes and returns a Result, emit
// writes into a sized buffer. The `.lck-<fileid>` lock files of docs/vsphere-behaviour.md §7.10 are made
// with CREATE EXCLUSIVE and refreshed with small stable WRITEs (the lease logic is lib/datastore/nas-lease.ts).
//
// Every record starts with an 8-byte header: type u8, flags u8 (0), reserved u16 (0), recordBytes u32
// (header included). All integers are big-endian; 64-bit fields other than mtime carry values below 2^53.

import { VfabError, type Result, ok, err } from '../errors.js';
import { decodeText, dv, truncateUtf8 } from '../storage/protocol.js';

export const NAS_PROTOCOL_VERSION = 1;
/** WebSocket path of the NAS protocol on the `stored` daemon. */
export const NAS_WS_PATH = '/nas';

/** Longest file or directory name, in UTF-8 bytes (NFS servers commonly use 255). */
export const NAS_MAX_NAME_BYTES = 255;
/** Deepest directory nesting below a share's root (root = depth 0); MKDIR deeper answers NAMETOOLONG. */
export const NAS_MAX_PATH_DEPTH = 32;
/** Largest READ count and WRITE data of one request, in bytes. */
export const NAS_MAX_IO_BYTES = 1024 * 1024;
/** Most entries one READDIR reply carries. */
export const NAS_MAX_READDIR_ENTRIES = 1024;
/** Files plus directories (the root included) in one share; CREATE/MKDIR beyond answers NOSPC. */
export const NAS_MAX_FILES_PER_SHARE = 65_536;
/** Largest window (requests in flight per connection) a server grants. */
export const NAS_MAX_IN_FLIGHT = 128;
/** Window a client asks for when it does not say. */
export const NAS_DEFAULT_IN_FLIGHT = 16;
/** Largest file, in bytes; WRITE or SETATTR past it answers FBIG. */
export const NAS_MAX_FILE_BYTES = 2 ** 40;
/** Share names (HELLO) and client names are 1..this many UTF-8 bytes. */
export const NAS_MAX_SHARE_NAME_BYTES = 64;
export const NAS_MAX_CLIENT_NAME_BYTES = 223;
export const NAS_MAX_ERROR_CODE_BYTES = 64;
export const NAS_MAX_ERROR_MESSAGE_BYTES = 1024;
/** Bytes of one READDIR entry before its name: fileId u64, type u8, nameBytes u8. */
export const DIRENT_FIXED_BYTES = 10;
/** Largest WebSocket message (all records of one batch together). */
export const NAS_MAX_MESSAGE_BYTES = 4 * NAS_MAX_IO_BYTES;

export const NAS_RECORD_HEADER_BYTES = 8;

export const NAS_RECORD = { HELLO: 1, HELLO_ACK: 2, REQUEST: 3, REPLY: 4, ERROR: 5 } as const;

/** Operations; numbers are NFS v3 procedure numbers (RFC 1813 §3.3) where one exists. */
export const NAS_OP = {
  GETATTR: 1,
  SETATTR: 2,
  LOOKUP: 3,
  READ: 6,
  WRITE: 7,
  CREATE: 8,
  MKDIR: 9,
  REMOVE: 12,
  RENAME: 14,
  READDIR: 16,
  COMMIT: 21,
} as const;
export type NasOp = (typeof NAS_OP)[keyof typeof NAS_OP];
const OPS = new Set<number>(Object.values(NAS_OP));

/** Status of a REPLY: the nfsstat3 numbers of RFC 1813 §2.6 for the ones used here. */
export const NAS_STATUS = {
  OK: 0,
  NOENT: 2,
  IO: 5,
  EXIST: 17,
  NOTDIR: 20,
  ISDIR: 21,
  INVAL: 22,
  FBIG: 27,
  NOSPC: 28,
  NAMETOOLONG: 63,
  NOTEMPTY: 66,
  STALE: 70,
  /** Server busy (window exceeded far beyond the queue bound); retry later. NFS3ERR_JUKEBOX. */
  JUKEBOX: 10008,
} as const;
export type NasStatus = (typeof NAS_STATUS)[keyof typeof NAS_STATUS];
const STATUSES = new Set<number>(Object.values(NAS_STATUS));

export const NAS_STATUS_NAME: Record<number, string> = Object.fromEntries(Object.entries(NAS_STATUS).map(([k, v]) => [v, k]));

/** CREATE modes (RFC 1813 §3.3.8 createmode3). EXCLUSIVE carries an 8-byte verifier in `arg`. */
export const NAS_CREATE = { UNCHECKED: 0, GUARDED: 1, EXCLUSIVE: 2 } as const;
/** WRITE: opFlags bit 0 = stable (FILE_SYNC: on disk before the reply); clear = UNSTABLE until COMMIT. */
export const NAS_WRITE_STABLE = 0x01;
/** REPLY flags: bit 0 = end of file (READ) or end of directory (READDIR); bit 1 = attributes valid. */
export const NAS_REPLY_EOF = 0x01;
export const NAS_REPLY_ATTRS = 0x02;

export const NAS_FILE_TYPE = { FILE: 1, DIR: 2 } as const;
export type NasFileType = (typeof NAS_FILE_TYPE)[keyof typeof NAS_FILE_TYPE];

/** Field offsets inside a record (from the start of the record). */
export const NAS_OFF = {
  type: 0,
  flags: 1,
  reserved: 2,
  recordBytes: 4,
  // HELLO
  helloVersion: 8,
  helloMaxInFlight: 10,
  helloShareBytes: 12,
  helloClientBytes: 14,
  helloShare: 16,
  // HELLO_ACK
  ackVersion: 8,
  ackMaxInFlight: 10,
  ackSessionId: 12,
  ackMaxIoBytes: 16,
  ackMaxReaddirEntries: 20,
  ackRootId: 24, // u64
  ackCapacityBytes: 32, // u64
  // REQUEST
  reqId: 8,
  reqOp: 12,
  reqOpFlags: 13,
  reqReserved: 14,
  reqFileId: 16, // u64: the file or directory the op works on
  reqArg: 24, // u64: offset (READ/WRITE), size (SETATTR), cookie (READDIR), target dir (RENAME), verifier (CREATE)
  reqCount: 32, // u32: bytes (READ) or entries (READDIR)
  reqNameBytes: 36, // u16
  reqName2Bytes: 38, // u16 (RENAME target name)
  reqDataBytes: 40, // u32 (WRITE)
  reqName: 44,
  // REPLY
  repId: 8,
  repOp: 12,
  repFlags: 13,
  repStatus: 14, // u16
  repFileId: 16, // u64
  repSize: 24, // u64
  repMtimeNs: 32, // u64
  repFileType: 40, // u8
  repReserved: 41, // 3 bytes
  repDataBytes: 44, // u32
  repValue: 48, // u64: bytes written (WRITE), next cookie (READDIR)
  repData: 56,
  // ERROR
  errId: 8,
  errCodeBytes: 12,
  errMessageBytes: 14,
  errCode: 16,
} as const;

export const NAS_HELLO_FIXED_BYTES = 16;
export const NAS_HELLO_ACK_BYTES = 40;
export const NAS_REQUEST_FIXED_BYTES = 44;
export const NAS_REPLY_FIXED_BYTES = 56;
export const NAS_ERROR_FIXED_BYTES = 16;

/** Stable error codes of the NAS protocol (parse, session and client errors). */
export const NAS_ERROR = {
  /** Fewer bytes than a header or than the record claims. */
  TRUNCATED: 'VFAB_NAS_TRUNCATED',
  /** A length field inconsistent with the record, or a value outside its field's range. */
  BAD_LENGTH: 'VFAB_NAS_BAD_LENGTH',
  /** Non-zero reserved/flags field. */
  BAD_RESERVED: 'VFAB_NAS_BAD_RESERVED',
  /** A message with no records, or larger than NAS_MAX_MESSAGE_BYTES. */
  BAD_MESSAGE: 'VFAB_NAS_BAD_MESSAGE',
  /** Unknown record type or operation, or an unknown status in a REPLY. */
  UNKNOWN: 'VFAB_NAS_UNKNOWN',
  /** A name that is empty, too long, not UTF-8, or holds '/', NUL, or is "." or "..". */
  BAD_NAME: 'VFAB_NAS_BAD_NAME',
  /** Protocol version the peer does not speak, or a window of 0 or above NAS_MAX_IN_FLIGHT. */
  BAD_HELLO: 'VFAB_NAS_BAD_HELLO',
  /** The HELLO names a share this array does not export. */
  NO_SUCH_SHARE: 'VFAB_NAS_NO_SUCH_SHARE',
  /** A record not allowed in this direction or state (REQUEST before HELLO, second HELLO, ...). */
  UNEXPECTED_RECORD: 'VFAB_NAS_UNEXPECTED_RECORD',
  /** A REQUEST reusing the id of a request still in flight. */
  DUPLICATE_ID: 'VFAB_NAS_DUPLICATE_ID',
  /** The connection closed or failed while requests were in flight, or before the handshake. */
  DISCONNECTED: 'VFAB_NAS_DISCONNECTED',
  /** Missing or wrong fabric token (HTTP 401). */
  UNAUTHORIZED: 'VFAB_NAS_UNAUTHORIZED',
  /** The server holds its most NAS connections already (HTTP 503). */
  TOO_MANY_SESSIONS: 'VFAB_NAS_TOO_MANY_SESSIONS',
  /** The handshake did not complete in time. */
  HANDSHAKE_TIMEOUT: 'VFAB_NAS_HANDSHAKE_TIMEOUT',
  /** A client call refused before sending (bad argument), or a sender bug in emit. */
  BAD_REQUEST: 'VFAB_NAS_BAD_REQUEST',
  /** A convenience call got a status other than OK (details.status holds the NAS_STATUS name). */
  STATUS: 'VFAB_NAS_STATUS',
} as const;

export interface NasHello {
  type: typeof NAS_RECORD.HELLO;
  version: number;
  maxInFlight: number;
  share: string;
  client: string;
}

export interface NasHelloAck {
  type: typeof NAS_RECORD.HELLO_ACK;
  version: number;
  maxInFlight: number;
  sessionId: number;
  maxIoBytes: number;
  maxReaddirEntries: number;
  rootId: number;
  capacityBytes: number;
}

export interface NasRequest {
  type: typeof NAS_RECORD.REQUEST;
  id: number;
  op: NasOp;
  opFlags: number;
  fileId: number;
  arg: number;
  count: number;
  name: string;
  name2: string;
  data: Uint8Array | undefined;
}

export interface NasAttrs {
  fileId: number;
  fileType: NasFileType;
  size: number;
  /** Modification time in nanoseconds since the Unix epoch (needs 64 bits, hence bigint). */
  mtimeNs: bigint;
}

export interface NasReply {
  type: typeof NAS_RECORD.REPLY;
  id: number;
  op: NasOp;
  flags: number;
  status: NasStatus;
  /** Present when flags has NAS_REPLY_ATTRS. */
  attrs: NasAttrs | undefined;
  value: number;
  data: Uint8Array | undefined;
}

export interface NasErrorRecord {
  type: typeof NAS_RECORD.ERROR;
  /** Request id it concerns, or 0 for the connection. */
  id: number;
  code: string;
  message: string;
}

export type NasRecord = NasHello | NasHelloAck | NasRequest | NasReply | NasErrorRecord;

export interface NasDirent {
  fileId: number;
  fileType: NasFileType;
  name: string;
}

function fail(code: string, message: string, details?: Record<string, unknown>): { ok: false; error: VfabError } {
  return err(new VfabError(code, message, details));
}

const textEncoder = new TextEncoder();

/** A u64 field as a number, or undefined when it is 2^53 or above. */
function getU53(view: DataView, at: number): number | undefined {
  const hi = view.getUint32(at);
  if (hi >= 0x200000) return undefined;
  return hi * 0x100000000 + view.getUint32(at + 4);
}

function setU53(view: DataView, at: number, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) badEmit(`64-bit field value ${v} is not a whole number 0..2^53-1`);
  view.setUint32(at, Math.floor(v / 0x100000000));
  view.setUint32(at + 4, v >>> 0);
}

/** Why a file name is refused, or undefined when it is fine (1..NAS_MAX_NAME_BYTES, no '/', NUL, '.', '..'). */
export function nameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) return 'name is empty';
  if (bytes > NAS_MAX_NAME_BYTES) return `name of ${bytes} bytes exceeds ${NAS_MAX_NAME_BYTES}`;
  if (name === '.' || name === '..') return `name "${name}" is reserved`;
  if (/[/\u0000]/.test(name)) return 'name holds "/" or NUL';
  return undefined;
}

/** Reads the request id of a REQUEST/REPLY/ERROR if its header and id field are present; else 0. */
export function peekNasId(buf: Uint8Array, offset = 0): number {
  if (buf.length - offset < 12) return 0;
  const t = buf[offset];
  if (t !== NAS_RECORD.REQUEST && t !== NAS_RECORD.REPLY && t !== NAS_RECORD.ERROR) return 0;
  return dv(buf).getUint32(offset + 8);
}

/** Ops whose REQUEST must carry a name (name2 too for RENAME). */
const NAMED_OPS = new Set<number>([NAS_OP.LOOKUP, NAS_OP.CREATE, NAS_OP.MKDIR, NAS_OP.REMOVE, NAS_OP.RENAME]);

/**
 * Parses one record at `offset`; returns it and its length. WRITE data is a view into `buf` (no copy).
 * Names are checked here (length, UTF-8, no '/'), so the store sees only well-formed names; a REQUEST
 * with a name it should not carry is refused too.
 */
export function parseNasRecord(buf: Uint8Array, offset = 0): Result<{ record: NasRecord; bytes: number }> {
  const left = buf.length - offset;
  if (left < NAS_RECORD_HEADER_BYTES) return fail(NAS_ERROR.TRUNCATED, `record header needs ${NAS_RECORD_HEADER_BYTES} bytes, ${left} left`);
  const view = dv(buf);
  const type = buf[offset + NAS_OFF.type]!;
  const recordBytes = view.getUint32(offset + NAS_OFF.recordBytes);
  if (recordBytes < NAS_RECORD_HEADER_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `record length ${recordBytes} is below the header size`);
  if (recordBytes > left) return fail(NAS_ERROR.TRUNCATED, `record claims ${recordBytes} bytes, ${left} left`);
  if (type < NAS_RECORD.HELLO || type > NAS_RECORD.ERROR) return fail(NAS_ERROR.UNKNOWN, `unknown record type ${type}`);
  if (buf[offset + NAS_OFF.flags] !== 0 || view.getUint16(offset + NAS_OFF.reserved) !== 0) {
    return fail(NAS_ERROR.BAD_RESERVED, 'record header flags/reserved must be 0');
  }
  const end = offset + recordBytes;
  const at = (o: number): number => offset + o;
  switch (type) {
    case NAS_RECORD.REQUEST: {
      if (recordBytes < NAS_REQUEST_FIXED_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `REQUEST needs ${NAS_REQUEST_FIXED_BYTES} bytes, has ${recordBytes}`);
      const id = view.getUint32(at(NAS_OFF.reqId));
      const op = buf[at(NAS_OFF.reqOp)]!;
      const opFlags = buf[at(NAS_OFF.reqOpFlags)]!;
      if (view.getUint16(at(NAS_OFF.reqReserved)) !== 0) return fail(NAS_ERROR.BAD_RESERVED, 'REQUEST reserved field must be 0', { id });
      if (!OPS.has(op)) return fail(NAS_ERROR.UNKNOWN, `unknown operation ${op}`, { id });
      const fileId = getU53(view, at(NAS_OFF.reqFileId));
      const arg = getU53(view, at(NAS_OFF.reqArg));
      if (fileId === undefined || arg === undefined) return fail(NAS_ERROR.BAD_LENGTH, 'file id or argument is 2^53 or more', { id });
      const count = view.getUint32(at(NAS_OFF.reqCount));
      const nameBytes = view.getUint16(at(NAS_OFF.reqNameBytes));
      const name2Bytes = view.getUint16(at(NAS_OFF.reqName2Bytes));
      const dataBytes = view.getUint32(at(NAS_OFF.reqDataBytes));
      if (nameBytes > NAS_MAX_NAME_BYTES || name2Bytes > NAS_MAX_NAME_BYTES) return fail(NAS_ERROR.BAD_NAME, `name of ${Math.max(nameBytes, name2Bytes)} bytes exceeds ${NAS_MAX_NAME_BYTES}`, { id });
      if (dataBytes > NAS_MAX_IO_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `WRITE data of ${dataBytes} bytes exceeds ${NAS_MAX_IO_BYTES}`, { id });
      if (NAS_REQUEST_FIXED_BYTES + nameBytes + name2Bytes + dataBytes !== recordBytes) {
        return fail(NAS_ERROR.BAD_LENGTH, `REQUEST length ${recordBytes} != ${NAS_REQUEST_FIXED_BYTES} + names ${nameBytes}+${name2Bytes} + data ${dataBytes}`, { id });
      }
      const wantsName = NAMED_OPS.has(op);
      const wantsName2 = op === NAS_OP.RENAME;
      if (wantsName !== nameBytes > 0 || wantsName2 !== name2Bytes > 0) return fail(NAS_ERROR.BAD_NAME, `operation ${op} ${wantsName ? 'needs' : 'takes no'} name`, { id });
      if (dataBytes > 0 && op !== NAS_OP.WRITE) return fail(NAS_ERROR.BAD_LENGTH, `operation ${op} carries no data`, { id });
      if (op === NAS_OP.READ && count > NAS_MAX_IO_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `READ of ${count} bytes exceeds ${NAS_MAX_IO_BYTES}`, { id });
      if (op === NAS_OP.READDIR && (count === 0 || count > NAS_MAX_READDIR_ENTRIES)) return fail(NAS_ERROR.BAD_LENGTH, `READDIR of ${count} entries (1..${NAS_MAX_READDIR_ENTRIES})`, { id });
      const p = at(NAS_OFF.reqName);
      const name = decodeText(buf.subarray(p, p + nameBytes));
      const name2 = decodeText(buf.subarray(p + nameBytes, p + nameBytes + name2Bytes));
      if (name === undefined || name2 === undefined) return fail(NAS_ERROR.BAD_NAME, 'name is not UTF-8', { id });
      const problem = (wantsName ? nameProblem(name) : undefined) ?? (wantsName2 ? nameProblem(name2) : undefined);
      if (problem !== undefined) return fail(NAS_ERROR.BAD_NAME, problem, { id });
      const dStart = p + nameBytes + name2Bytes;
      return ok({
        record: { type: NAS_RECORD.REQUEST, id, op: op as NasOp, opFlags, fileId, arg, count, name, name2, data: dataBytes > 0 ? buf.subarray(dStart, end) : undefined },
        bytes: recordBytes,
      });
    }
    case NAS_RECORD.REPLY: {
      if (recordBytes < NAS_REPLY_FIXED_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `REPLY needs ${NAS_REPLY_FIXED_BYTES} bytes, has ${recordBytes}`);
      const id = view.getUint32(at(NAS_OFF.repId));
      const op = buf[at(NAS_OFF.repOp)]!;
      const flags = buf[at(NAS_OFF.repFlags)]!;
      const status = view.getUint16(at(NAS_OFF.repStatus));
      if (!OPS.has(op)) return fail(NAS_ERROR.UNKNOWN, `unknown operation ${op}`, { id });
      if (!STATUSES.has(status)) return fail(NAS_ERROR.UNKNOWN, `unknown status ${status}`, { id });
      if ((flags & ~(NAS_REPLY_EOF | NAS_REPLY_ATTRS)) !== 0 || buf[at(NAS_OFF.repReserved)] !== 0 || view.getUint16(at(NAS_OFF.repReserved + 1)) !== 0) {
        return fail(NAS_ERROR.BAD_RESERVED, 'REPLY flags/reserved bits must be 0', { id });
      }
      const dataBytes = view.getUint32(at(NAS_OFF.repDataBytes));
      if (dataBytes > NAS_MAX_IO_BYTES + NAS_MAX_READDIR_ENTRIES * (DIRENT_FIXED_BYTES + NAS_MAX_NAME_BYTES)) return fail(NAS_ERROR.BAD_LENGTH, `REPLY data of ${dataBytes} bytes`, { id });
      if (NAS_REPLY_FIXED_BYTES + dataBytes !== recordBytes) return fail(NAS_ERROR.BAD_LENGTH, `REPLY length ${recordBytes} != ${NAS_REPLY_FIXED_BYTES} + data ${dataBytes}`, { id });
      const fileId = getU53(view, at(NAS_OFF.repFileId));
      const size = getU53(view, at(NAS_OFF.repSize));
      const mtimeNs = view.getBigUint64(at(NAS_OFF.repMtimeNs));
      const value = getU53(view, at(NAS_OFF.repValue));
      const fileType = buf[at(NAS_OFF.repFileType)]!;
      if (fileId === undefined || size === undefined || value === undefined) return fail(NAS_ERROR.BAD_LENGTH, 'REPLY 64-bit field is 2^53 or more', { id });
      let attrs: NasAttrs | undefined;
      if ((flags & NAS_REPLY_ATTRS) !== 0) {
        if (fileType !== NAS_FILE_TYPE.FILE && fileType !== NAS_FILE_TYPE.DIR) return fail(NAS_ERROR.UNKNOWN, `unknown file type ${fileType}`, { id });
        attrs = { fileId, fileType, size, mtimeNs };
      } else if (fileId !== 0 || size !== 0 || mtimeNs !== 0n || fileType !== 0) return fail(NAS_ERROR.BAD_RESERVED, 'REPLY without attributes must zero them', { id });
      return ok({
        record: { type: NAS_RECORD.REPLY, id, op: op as NasOp, flags, status: status as NasStatus, attrs, value, data: dataBytes > 0 ? buf.subarray(at(NAS_OFF.repData), end) : undefined },
        bytes: recordBytes,
      });
    }
    case NAS_RECORD.HELLO: {
      if (recordBytes < NAS_HELLO_FIXED_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `HELLO needs ${NAS_HELLO_FIXED_BYTES} bytes, has ${recordBytes}`);
      const shareBytes = view.getUint16(at(NAS_OFF.helloShareBytes));
      const clientBytes = view.getUint16(at(NAS_OFF.helloClientBytes));
      if (NAS_HELLO_FIXED_BYTES + shareBytes + clientBytes !== recordBytes) return fail(NAS_ERROR.BAD_LENGTH, `HELLO length ${recordBytes} != ${NAS_HELLO_FIXED_BYTES} + ${shareBytes} + ${clientBytes}`);
      if (shareBytes === 0 || shareBytes > NAS_MAX_SHARE_NAME_BYTES || clientBytes === 0 || clientBytes > NAS_MAX_CLIENT_NAME_BYTES) {
        return fail(NAS_ERROR.BAD_NAME, `share (${shareBytes} bytes, 1..${NAS_MAX_SHARE_NAME_BYTES}) or client name (${clientBytes} bytes, 1..${NAS_MAX_CLIENT_NAME_BYTES})`);
      }
      const p = at(NAS_OFF.helloShare);
      const share = decodeText(buf.subarray(p, p + shareBytes));
      const client = decodeText(buf.subarray(p + shareBytes, end));
      if (share === undefined || client === undefined || /[\u0000-\u001f\u007f]/.test(share + client)) return fail(NAS_ERROR.BAD_NAME, 'share or client name is not printable UTF-8');
      return ok({ record: { type: NAS_RECORD.HELLO, version: view.getUint16(at(NAS_OFF.helloVersion)), maxInFlight: view.getUint16(at(NAS_OFF.helloMaxInFlight)), share, client }, bytes: recordBytes });
    }
    case NAS_RECORD.HELLO_ACK: {
      if (recordBytes !== NAS_HELLO_ACK_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `HELLO_ACK is ${NAS_HELLO_ACK_BYTES} bytes, has ${recordBytes}`);
      const rootId = getU53(view, at(NAS_OFF.ackRootId));
      const capacityBytes = getU53(view, at(NAS_OFF.ackCapacityBytes));
      if (rootId === undefined || capacityBytes === undefined) return fail(NAS_ERROR.BAD_LENGTH, 'HELLO_ACK 64-bit field is 2^53 or more');
      return ok({
        record: {
          type: NAS_RECORD.HELLO_ACK,
          version: view.getUint16(at(NAS_OFF.ackVersion)),
          maxInFlight: view.getUint16(at(NAS_OFF.ackMaxInFlight)),
          sessionId: view.getUint32(at(NAS_OFF.ackSessionId)),
          maxIoBytes: view.getUint32(at(NAS_OFF.ackMaxIoBytes)),
          maxReaddirEntries: view.getUint32(at(NAS_OFF.ackMaxReaddirEntries)),
          rootId,
          capacityBytes,
        },
        bytes: recordBytes,
      });
    }
    default: {
      if (recordBytes < NAS_ERROR_FIXED_BYTES) return fail(NAS_ERROR.BAD_LENGTH, `ERROR needs ${NAS_ERROR_FIXED_BYTES} bytes, has ${recordBytes}`);
      const id = view.getUint32(at(NAS_OFF.errId));
      const codeBytes = view.getUint16(at(NAS_OFF.errCodeBytes));
      const messageBytes = view.getUint16(at(NAS_OFF.errMessageBytes));
      if (codeBytes > NAS_MAX_ERROR_CODE_BYTES || messageBytes > NAS_MAX_ERROR_MESSAGE_BYTES) return fail(NAS_ERROR.BAD_LENGTH, 'ERROR code or message too long', { id });
      if (NAS_ERROR_FIXED_BYTES + codeBytes + messageBytes !== recordBytes) return fail(NAS_ERROR.BAD_LENGTH, `ERROR length ${recordBytes} != ${NAS_ERROR_FIXED_BYTES} + ${codeBytes} + ${messageBytes}`, { id });
      const p = at(NAS_OFF.errCode);
      const code = decodeText(buf.subarray(p, p + codeBytes));
      const message = decodeText(buf.subarray(p + codeBytes, end));
      if (code === undefined || message === undefined) return fail(NAS_ERROR.BAD_NAME, 'ERROR code/message is not UTF-8', { id });
      return ok({ record: { type: NAS_RECORD.ERROR, id, code, message }, bytes: recordBytes });
    }
  }
}

/**
 * Parses a whole message (one or more records). All-or-nothing: one malformed record rejects the message,
 * so a server never runs part of a corrupt batch. The error carries `details.id` when known.
 */
export function parseNasMessage(buf: Uint8Array): Result<NasRecord[]> {
  if (buf.length > NAS_MAX_MESSAGE_BYTES) return fail(NAS_ERROR.BAD_MESSAGE, `message of ${buf.length} bytes exceeds ${NAS_MAX_MESSAGE_BYTES}`);
  if (buf.length === 0) return fail(NAS_ERROR.BAD_MESSAGE, 'message holds no records');
  const records: NasRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const r = parseNasRecord(buf, offset);
    if (!r.ok) {
      const id = (r.error.details?.id as number | undefined) ?? peekNasId(buf, offset);
      return fail(r.error.code, r.error.message, { id, recordIndex: records.length, offset });
    }
    records.push(r.value.record);
    offset += r.value.bytes;
  }
  return ok(records);
}

// ---------------------------------------------------------------------------------------------------------
// Emit. A value that cannot be represented throws a VfabError (a sender bug, never untrusted input).

function badEmit(message: string): never {
  throw new VfabError(NAS_ERROR.BAD_REQUEST, message);
}

function textBytes(s: string): Uint8Array {
  return textEncoder.encode(s);
}

export function nasRecordSize(r: NasRecord): number {
  switch (r.type) {
    case NAS_RECORD.REQUEST:
      return NAS_REQUEST_FIXED_BYTES + Buffer.byteLength(r.name, 'utf8') + Buffer.byteLength(r.name2, 'utf8') + (r.data?.length ?? 0);
    case NAS_RECORD.REPLY:
      return NAS_REPLY_FIXED_BYTES + (r.data?.length ?? 0);
    case NAS_RECORD.HELLO:
      return NAS_HELLO_FIXED_BYTES + Buffer.byteLength(r.share, 'utf8') + Buffer.byteLength(r.client, 'utf8');
    case NAS_RECORD.HELLO_ACK:
      return NAS_HELLO_ACK_BYTES;
    default:
      return NAS_ERROR_FIXED_BYTES + Buffer.byteLength(r.code, 'utf8') + Buffer.byteLength(r.message, 'utf8');
  }
}

/** Writes `r` at `offset` into `buf` (which must have room: see nasRecordSize); returns the bytes written. */
export function emitNasRecord(buf: Uint8Array, offset: number, r: NasRecord): number {
  const size = nasRecordSize(r);
  if (buf.length - offset < size) badEmit(`emit needs ${size} bytes at offset ${offset}, buffer has ${buf.length - offset}`);
  const view = dv(buf);
  const at = (o: number): number => offset + o;
  buf.fill(0, offset, offset + Math.min(size, NAS_REPLY_FIXED_BYTES));
  buf[at(NAS_OFF.type)] = r.type;
  view.setUint32(at(NAS_OFF.recordBytes), size);
  switch (r.type) {
    case NAS_RECORD.REQUEST: {
      const name = textBytes(r.name);
      const name2 = textBytes(r.name2);
      const dataBytes = r.data?.length ?? 0;
      if (name.length > NAS_MAX_NAME_BYTES || name2.length > NAS_MAX_NAME_BYTES) badEmit(`name longer than ${NAS_MAX_NAME_BYTES} bytes`);
      if (dataBytes > NAS_MAX_IO_BYTES) badEmit(`WRITE data of ${dataBytes} bytes exceeds ${NAS_MAX_IO_BYTES}`);
      view.setUint32(at(NAS_OFF.reqId), r.id >>> 0);
      buf[at(NAS_OFF.reqOp)] = r.op;
      buf[at(NAS_OFF.reqOpFlags)] = r.opFlags;
      setU53(view, at(NAS_OFF.reqFileId), r.fileId);
      setU53(view, at(NAS_OFF.reqArg), r.arg);
      view.setUint32(at(NAS_OFF.reqCount), r.count >>> 0);
      view.setUint16(at(NAS_OFF.reqNameBytes), name.length);
      view.setUint16(at(NAS_OFF.reqName2Bytes), name2.length);
      view.setUint32(at(NAS_OFF.reqDataBytes), dataBytes);
      buf.set(name, at(NAS_OFF.reqName));
      buf.set(name2, at(NAS_OFF.reqName) + name.length);
      if (r.data) buf.set(r.data, at(NAS_OFF.reqName) + name.length + name2.length);
      return size;
    }
    case NAS_RECORD.REPLY: {
      view.setUint32(at(NAS_OFF.repId), r.id >>> 0);
      buf[at(NAS_OFF.repOp)] = r.op;
      buf[at(NAS_OFF.repFlags)] = (r.flags & NAS_REPLY_EOF) | (r.attrs ? NAS_REPLY_ATTRS : 0);
      view.setUint16(at(NAS_OFF.repStatus), r.status);
      if (r.attrs) {
        setU53(view, at(NAS_OFF.repFileId), r.attrs.fileId);
        setU53(view, at(NAS_OFF.repSize), r.attrs.size);
        view.setBigUint64(at(NAS_OFF.repMtimeNs), r.attrs.mtimeNs);
        buf[at(NAS_OFF.repFileType)] = r.attrs.fileType;
      }
      view.setUint32(at(NAS_OFF.repDataBytes), r.data?.length ?? 0);
      setU53(view, at(NAS_OFF.repValue), r.value);
      if (r.data) buf.set(r.data, at(NAS_OFF.repData));
      return size;
    }
    case NAS_RECORD.HELLO: {
      const share = textBytes(r.share);
      const client = textBytes(r.client);
      if (share.length === 0 || share.length > NAS_MAX_SHARE_NAME_BYTES) badEmit(`share name of ${share.length} bytes (1..${NAS_MAX_SHARE_NAME_BYTES})`);
      if (client.length === 0 || client.length > NAS_MAX_CLIENT_NAME_BYTES) badEmit(`client name of ${client.length} bytes (1..${NAS_MAX_CLIENT_NAME_BYTES})`);
      view.setUint16(at(NAS_OFF.helloVersion), r.version);
      view.setUint16(at(NAS_OFF.helloMaxInFlight), r.maxInFlight);
      view.setUint16(at(NAS_OFF.helloShareBytes), share.length);
      view.setUint16(at(NAS_OFF.helloClientBytes), client.length);
      buf.set(share, at(NAS_OFF.helloShare));
      buf.set(client, at(NAS_OFF.helloShare) + share.length);
      return size;
    }
    case NAS_RECORD.HELLO_ACK: {
      view.setUint16(at(NAS_OFF.ackVersion), r.version);
      view.setUint16(at(NAS_OFF.ackMaxInFlight), r.maxInFlight);
      view.setUint32(at(NAS_OFF.ackSessionId), r.sessionId >>> 0);
      view.setUint32(at(NAS_OFF.ackMaxIoBytes), r.maxIoBytes);
      view.setUint32(at(NAS_OFF.ackMaxReaddirEntries), r.maxReaddirEntries);
      setU53(view, at(NAS_OFF.ackRootId), r.rootId);
      setU53(view, at(NAS_OFF.ackCapacityBytes), r.capacityBytes);
      return size;
    }
    default: {
      const code = textBytes(r.code);
      const message = textBytes(r.message);
      if (code.length > NAS_MAX_ERROR_CODE_BYTES || message.length > NAS_MAX_ERROR_MESSAGE_BYTES) badEmit('ERROR code or message too long (use nasErrorRecord())');
      view.setUint32(at(NAS_OFF.errId), r.id >>> 0);
      view.setUint16(at(NAS_OFF.errCodeBytes), code.length);
      view.setUint16(at(NAS_OFF.errMessageBytes), message.length);
      buf.set(code, at(NAS_OFF.errCode));
      buf.set(message, at(NAS_OFF.errCode) + code.length);
      return size;
    }
  }
}

/** Encodes records into one freshly allocated message of exactly the right size. */
export function encodeNasMessage(records: readonly NasRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += nasRecordSize(r);
  const buf = Buffer.alloc(total);
  let offset = 0;
  for (const r of records) offset += emitNasRecord(buf, offset, r);
  return buf;
}

/** An ERROR record whose message is cut to NAS_MAX_ERROR_MESSAGE_BYTES (on a character boundary). */
export function nasErrorRecord(id: number, code: string, message: string): NasErrorRecord {
  return { type: NAS_RECORD.ERROR, id: id >>> 0, code, message: truncateUtf8(message, NAS_MAX_ERROR_MESSAGE_BYTES) };
}

// ---- READDIR entries (the data of a READDIR reply) ----------------------------------------------------

export function emitDirents(entries: readonly NasDirent[]): Buffer {
  const names = entries.map((e) => textBytes(e.name));
  let total = 0;
  for (const n of names) total += DIRENT_FIXED_BYTES + n.length;
  const buf = Buffer.alloc(total);
  const view = dv(buf);
  let p = 0;
  entries.forEach((e, i) => {
    const n = names[i]!;
    if (n.length === 0 || n.length > NAS_MAX_NAME_BYTES) badEmit(`entry name of ${n.length} bytes`);
    setU53(view, p, e.fileId);
    buf[p + 8] = e.fileType;
    buf[p + 9] = n.length;
    buf.set(n, p + DIRENT_FIXED_BYTES);
    p += DIRENT_FIXED_BYTES + n.length;
  });
  return buf;
}

export function parseDirents(buf: Uint8Array): Result<NasDirent[]> {
  const view = dv(buf);
  const out: NasDirent[] = [];
  let p = 0;
  while (p < buf.length) {
    if (out.length >= NAS_MAX_READDIR_ENTRIES) return fail(NAS_ERROR.BAD_LENGTH, `more than ${NAS_MAX_READDIR_ENTRIES} entries`);
    if (buf.length - p < DIRENT_FIXED_BYTES) return fail(NAS_ERROR.TRUNCATED, `entry ${out.length} header overruns the data`);
    const fileId = getU53(view, p);
    const fileType = buf[p + 8]!;
    const nameBytes = buf[p + 9]!;
    if (fileId === undefined || (fileType !== NAS_FILE_TYPE.FILE && fileType !== NAS_FILE_TYPE.DIR)) return fail(NAS_ERROR.BAD_LENGTH, `entry ${out.length} has a bad id or type`);
    if (nameBytes === 0 || buf.length - p - DIRENT_FIXED_BYTES < nameBytes) return fail(NAS_ERROR.TRUNCATED, `entry ${out.length} name overruns the data`);
    const name = decodeText(buf.subarray(p + DIRENT_FIXED_BYTES, p + DIRENT_FIXED_BYTES + nameBytes));
    if (name === undefined) return fail(NAS_ERROR.BAD_NAME, `entry ${out.length} name is not UTF-8`);
    out.push({ fileId, fileType, name });
    p += DIRENT_FIXED_BYTES + nameBytes;
  }
  return ok(out);
}
