// The PDUs of the seeded iSCSI fuzzers (test/e2e/fuzz/iscsi.test.ts over TCP, test/iscsi/fuzz.test.ts
// in-process): what an initiator may send after login (RFC 7143 §11: SCSI Command, Data-Out, NOP-Out, Task
// Management, Text, Logout) with fields mutated — flags, lengths, CmdSN, ITT, LUN, CDB, data — and target
// opcodes an initiator never sends; and the bytes of the next input: mostly such a PDU whole, a few
// byte-mutated, a few random bytes. How often the inputs that end a connection come (random bytes, byte
// mutations, Logout, TARGET COLD RESET) is a FuzzRates: the in-process fuzz uses FUZZ_RATES, the TCP fuzz
// fewer per PDU (a login costs round trips there) but every kind still comes. Not a test file.

import { FLAG, OPCODE, RESERVED_TAG, emitPdu, makePdu, type Digests, type Pdu } from '../../lib/iscsi/pdu.js';
import { encodeText } from '../../lib/iscsi/text.js';
import * as cdb from '../../lib/storage/cdb.js';
import type { Fuzz } from '../e2e/fuzz/fuzz-helpers.js';

/** The BHS carries 16 CDB bytes; shorter CDBs are padded with zeros. */
export function cdb16(c: Uint8Array): Buffer {
  const b = Buffer.alloc(16);
  b.set(c.subarray(0, 16));
  return b;
}

/** Chances per input of the kinds that may end the connection (each a probability). */
export interface FuzzRates {
  /** Random bytes instead of a PDU. */
  randomBytes: number;
  /** A whole PDU with a few bytes mutated (its header may no longer frame or match its digest). */
  mutated: number;
  /** A Logout Request, among the wrongly shaped PDUs (a tenth of all). */
  logout: number;
  /** A rare task management function (TARGET WARM/COLD RESET, TASK REASSIGN, undefined), among TMF requests. */
  rareTmf: number;
}
export const FUZZ_RATES: FuzzRates = { randomBytes: 0.001, mutated: 0.005, logout: 0.02, rareTmf: 0.05 };

/** A PDU an initiator could send after login, with some fields mutated (opcode, flags, lengths, CmdSN, ITT, LUN, CDB, data). */
export function fuzzPdu(f: Fuzz, cmdSN: number, rates: FuzzRates = FUZZ_RATES): Pdu {
  const itt = f.chance(0.9) ? f.int(0x1000) : f.pick([RESERVED_TAG, 0, f.int(0x7f000000)]);
  const lun = BigInt(f.pick([0, 0, 1, 1, 7, f.int(0x4000)]));
  const sn = f.chance(0.85) ? cmdSN : f.pick([cmdSN + 1, cmdSN - 1, cmdSN + 64, f.int(0x100000000)]);
  const immediate = f.chance(0.1);
  const data = (n: number): Buffer => (f.chance(0.5) ? Buffer.alloc(n) : f.bytes(n));
  switch (f.int(10)) {
    case 0:
    case 1: {
      const blocks = f.pick([1, 1, 2, 8, 0]);
      const c = cdb16(f.pick([cdb.read10(f.int(1000), blocks), cdb.read16(f.int(1000), blocks), cdb.inquiry(), cdb.readCapacity16(), cdb.testUnitReady(), cdb.reportLuns(4096)]));
      return makePdu(OPCODE.SCSI_COMMAND, { immediate, flags: FLAG.F | FLAG.READ | f.int(8), lun, itt, expectedDataTransferLength: f.chance(0.9) ? blocks * 512 : f.int(1 << 20), cmdSN: sn, cdb: c });
    }
    case 2:
    case 3: {
      const blocks = f.pick([1, 2, 4]);
      const imm = f.pick([0, blocks * 512, f.int(blocks * 512)]);
      return makePdu(OPCODE.SCSI_COMMAND, {
        immediate,
        flags: (f.chance(0.8) ? FLAG.F : 0) | FLAG.WRITE | f.int(8),
        lun,
        itt,
        expectedDataTransferLength: f.chance(0.9) ? blocks * 512 : f.int(1 << 20),
        cmdSN: sn,
        cdb: cdb16(f.pick([cdb.write10(f.int(1000), blocks), cdb.write16(f.int(1000), blocks), f.bytes(16)])),
        data: data(imm),
      });
    }
    case 4:
      return makePdu(OPCODE.SCSI_COMMAND, { immediate, flags: f.int(256), lun, itt, expectedDataTransferLength: f.int(1 << 16), cmdSN: sn, cdb: f.bytes(16), data: f.chance(0.2) ? data(f.int(600)) : Buffer.alloc(0) });
    case 5:
      return makePdu(OPCODE.DATA_OUT, { flags: f.chance(0.7) ? FLAG.F : 0, lun, itt, ttt: f.chance(0.5) ? RESERVED_TAG : f.int(0x1000), dataSN: f.int(3), bufferOffset: f.pick([0, 512, f.int(1 << 20)]), data: data(f.pick([512, 1024, f.int(2048)])) });
    case 6:
      return makePdu(OPCODE.NOP_OUT, { immediate, flags: FLAG.F, itt, ttt: f.chance(0.9) ? RESERVED_TAG : f.int(100), cmdSN: sn, lun, data: data(f.int(64)) });
    case 7:
      return makePdu(OPCODE.TASK_MGMT_REQUEST, { immediate: f.chance(0.5), flags: FLAG.F | (f.chance(rates.rareTmf) ? f.pick([6, 7, 8, f.int(128)]) : f.pick([1, 2, 3, 4, 5])), lun, itt, referencedTaskTag: f.int(0x1000), cmdSN: sn, refCmdSN: sn - f.int(4) });
    case 8:
      return makePdu(OPCODE.TEXT_REQUEST, { immediate, flags: FLAG.F, itt, ttt: RESERVED_TAG, cmdSN: sn, data: encodeText([{ key: f.pick(['SendTargets', 'MaxBurstLength', 'X-fuzz', 'HeaderDigest']), value: f.pick(['All', '', '512', f.text(8, 'abcXYZ=,')]) }]) });
    default:
      // initiator opcodes with the wrong shape, target opcodes, rare logouts (they end the session)
      if (f.chance(rates.logout)) return makePdu(OPCODE.LOGOUT_REQUEST, { immediate: true, flags: FLAG.F | f.int(3), itt, cmdSN: sn });
      return makePdu(f.pick([OPCODE.SNACK_REQUEST, OPCODE.NOP_IN, OPCODE.R2T, OPCODE.REJECT, OPCODE.LOGIN_REQUEST, OPCODE.DATA_IN]) as typeof OPCODE.NOP_IN, { itt, lun } as any);
  }
}

/**
 * The fuzzer's next bytes: random bytes (rates.randomBytes, 0.1 % by default), a byte-mutated PDU
 * (rates.mutated, 0.5 %) or a whole fuzzPdu (none when emitPdu refuses a mutated field). `garbled`: the
 * bytes may leave the stream out of step; `cmdSN`: the next in-order CmdSN after them.
 */
export function nextFuzzInput(f: Fuzz, cmdSN: number, digests: Digests, rates: FuzzRates = FUZZ_RATES): { bytes: Buffer | undefined; garbled: boolean; cmdSN: number } {
  const r = f.random();
  if (r < rates.randomBytes) return { bytes: f.bytes(1 + f.int(200)), garbled: true, cmdSN };
  const pdu = fuzzPdu(f, cmdSN, rates);
  const next = !pdu.immediate && 'cmdSN' in pdu && pdu.cmdSN === cmdSN ? cmdSN + 1 : cmdSN;
  let wire: Buffer;
  try {
    wire = emitPdu(pdu, digests);
  } catch {
    return { bytes: undefined, garbled: false, cmdSN: next }; // a field emitPdu itself refuses (it checks what it writes)
  }
  return r < rates.randomBytes + rates.mutated ? { bytes: f.mutate(wire), garbled: true, cmdSN: next } : { bytes: wire, garbled: false, cmdSN: next };
}
