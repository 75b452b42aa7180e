// Hex fixtures of iSCSI PDUs shared by the test/iscsi tests. Hand-written from the BHS layouts of RFC 7143
// §11 (one 4-byte group per word; the comment says which fields are set). The Login Request carries the
// keys, values and order that libiscsi 1.19 (lib/login.c, lib/init.c) sends for a login without CHAP:
// one PDU, CSG=1 (operational), NSG=3 (full feature), T=1, immediate, random-type ISID. The CRC vector is
// the SCSI Read PDU of RFC 3720 Appendix B.4.

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A BHS (hex, DataSegmentLength 0 in it) followed by the data segment: sets the length and pads to 4. */
export function withData(bhsHex: string, data: Uint8Array | string): Buffer {
  const bhs = hex(bhsHex);
  const d = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  bhs[5] = (d.length >> 16) & 0xff;
  bhs[6] = (d.length >> 8) & 0xff;
  bhs[7] = d.length & 0xff;
  const pad = (4 - (d.length % 4)) % 4;
  return Buffer.concat([bhs, d, Buffer.alloc(pad)]);
}

/** libiscsi 1.19's login text without CHAP (lib/login.c order, lib/init.c defaults), NUL after each pair. */
export const LIBISCSI_LOGIN_KEYS: Array<[string, string]> = [
  ['InitiatorName', 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test'],
  ['TargetName', 'iqn.2026-01.dev.vfab:array1'],
  ['SessionType', 'Normal'],
  ['HeaderDigest', 'None,CRC32C'],
  ['DataDigest', 'None'],
  ['InitialR2T', 'No'],
  ['ImmediateData', 'Yes'],
  ['MaxBurstLength', '262144'],
  ['FirstBurstLength', '262144'],
  ['DefaultTime2Wait', '2'],
  ['DefaultTime2Retain', '0'],
  ['MaxOutstandingR2T', '1'],
  ['ErrorRecoveryLevel', '0'],
  ['IFMarker', 'No'],
  ['OFMarker', 'No'],
  ['MaxConnections', '1'],
  ['MaxRecvDataSegmentLength', '262144'],
  ['DataPDUInOrder', 'Yes'],
  ['DataSequenceInOrder', 'Yes'],
];

export const textOf = (pairs: Array<[string, string]>): string => pairs.map(([k, v]) => `${k}=${v}\0`).join('');

/** Login Request BHS: 0x43 (I, opcode 3), flags 0x87 (T, CSG 1, NSG 3), ISID 80 12 34 56 00 00, TSIH 0, ITT 1, CID 0, CmdSN 0xabcd. */
export const LOGIN_REQUEST_BHS = '43870000 00000000 80123456 00000000 00000001 00000000 0000abcd 00000000 00000000 00000000 00000000 00000000';

export const FIXTURES: Record<string, Buffer> = {
  // NOP-Out ping: I, F; ITT 0x10; TTT 0xffffffff; CmdSN 5; ExpStatSN 7.
  nopOut: hex('40800000 00000000 00000000 00000000 00000010 ffffffff 00000005 00000007 00000000 00000000 00000000 00000000'),
  // NOP-In answer with 4 bytes of ping data; StatSN 7, ExpCmdSN 6, MaxCmdSN 0x25.
  nopIn: hex('20800000 00000004 00000000 00000000 00000010 ffffffff 00000007 00000006 00000025 00000000 00000000 00000000 70696e67'),
  // SCSI Command READ(10) LBA 0x10, 8 blocks: F, R, SIMPLE; LUN 1; ITT 0x11; EDTL 4096; CmdSN 6; ExpStatSN 8.
  scsiRead: hex('01c10000 00000000 00010000 00000000 00000011 00001000 00000006 00000008 28000000 00100000 08000000 00000000'),
  // SCSI Command WRITE(10) with 8 bytes of immediate data: F, W, SIMPLE; ITT 0x12.
  scsiWrite: hex('01a10000 00000008 00000000 00000000 00000012 00000008 00000007 00000008 2a000000 00000000 01000000 00000000 0123456789abcdef'),
  // SCSI Command with an Extended CDB AHS (TotalAHSLength 5 words: length 0x11, type 1, reserved, 16 more CDB bytes).
  scsiExtCdb: hex(
    '01810000 05000000 00000000 00000000 00000013 00000000 00000008 00000008 7f000000 00000018 00000000 00000000 00110100 0102030405060708090a0b0c0d0e0f10',
  ),
  // SCSI Response GOOD with residual underflow (U) of 512; StatSN 8, ExpCmdSN 7, MaxCmdSN 0x26, ExpDataSN 1.
  scsiResponse: hex('21820000 00000000 00000000 00000000 00000011 00000000 00000008 00000007 00000026 00000001 00000000 00000200'),
  // SCSI Response CHECK CONDITION with 18 bytes of fixed sense (ILLEGAL REQUEST, 24/00) after SenseLength 0x12.
  scsiResponseSense: hex(
    '21800002 00000014 00000000 00000000 00000012 00000000 00000009 00000008 00000027 00000000 00000000 00000000 0012 700005000000000a 00000000240000000000',
  ),
  // Task Management ABORT TASK (function 1), immediate; LUN 1; ITT 0x20; RTT 0x11; CmdSN 9; RefCmdSN 6.
  tmfRequest: hex('42810000 00000000 00010000 00000000 00000020 00000011 00000009 00000009 00000006 00000000 00000000 00000000'),
  // Task Management Response "function complete".
  tmfResponse: hex('22800000 00000000 00000000 00000000 00000020 00000000 00000009 0000000a 00000029 00000000 00000000 00000000'),
  loginRequest: withData(LOGIN_REQUEST_BHS, textOf(LIBISCSI_LOGIN_KEYS)),
  // Login Response: T, CSG 1, NSG 3; TSIH 1; StatSN 0x100; ExpCmdSN 0xabcd; MaxCmdSN 0xac0c; success.
  loginResponse: withData(
    '23870000 00000000 80123456 00000001 00000001 00000000 00000100 0000abcd 0000ac0c 00000000 00000000 00000000',
    'TargetPortalGroupTag=1\0MaxRecvDataSegmentLength=262144\0',
  ),
  // Text Request SendTargets=All; ITT 2; TTT 0xffffffff.
  textRequest: withData('04800000 00000000 00000000 00000000 00000002 ffffffff 0000abce 00000101 00000000 00000000 00000000 00000000', 'SendTargets=All\0'),
  textResponse: withData(
    '24800000 00000000 00000000 00000000 00000002 ffffffff 00000101 0000abcf 0000ac0e 00000000 00000000 00000000',
    'TargetName=iqn.2026-01.dev.vfab:array1\0TargetAddress=127.0.0.1:3260,1\0',
  ),
  // Data-Out: F; LUN 1; ITT 0x12; TTT 0x100; ExpStatSN 9; DataSN 0; offset 8; 8 bytes.
  dataOut: hex('05800000 00000008 00010000 00000000 00000012 00000100 00000000 00000009 00000000 00000000 00000008 00000000 fedcba9876543210'),
  // Data-In with status (F, S), GOOD; 5 bytes "hello" padded to 8.
  dataIn: hex('25810000 00000005 00010000 00000000 00000011 ffffffff 00000008 00000007 00000026 00000000 00000000 00000000 68656c6c6f000000'),
  // R2T: LUN 1; ITT 0x12; TTT 0x100; R2TSN 0; offset 8; desired 4096.
  r2t: hex('31800000 00000000 00010000 00000000 00000012 00000100 00000009 00000008 00000027 00000000 00000008 00001000'),
  // Logout Request "close the session" (reason 0), immediate; ITT 0x30; CmdSN 10.
  logoutRequest: hex('46800000 00000000 00000000 00000000 00000030 00000000 0000000a 0000000a 00000000 00000000 00000000 00000000'),
  // Logout Response success; Time2Wait 2, Time2Retain 0.
  logoutResponse: hex('26800000 00000000 00000000 00000000 00000030 00000000 0000000a 0000000a 00000029 00000000 00020000 00000000'),
  // Reject "invalid PDU field" (9) carrying the rejected BHS (the tmfRequest header).
  reject: hex(
    '3f800900 00000030 00000000 00000000 ffffffff 00000000 0000000b 0000000a 00000029 00000000 00000000 00000000 ' +
      '42810000 00000000 00010000 00000000 00000020 00000011 00000009 00000009 00000006 00000000 00000000 00000000',
  ),
  // Async Message event 1 (target asks for logout), Parameter3 = 5 s.
  asyncMessage: hex('32800000 00000000 00000000 00000000 ffffffff 00000000 0000000c 0000000a 00000029 01000000 00000005 00000000'),
  // SNACK (type 0, data); begRun 1, runLength 2.
  snack: hex('10800000 00000000 00000000 00000000 00000040 ffffffff 00000000 0000000c 00000000 00000000 00000001 00000002'),
};

/** RFC 3720 Appendix B.4: a SCSI Read command PDU and its CRC32C. */
export const RFC3720_READ_PDU = hex('01c00000 00000000 00000000 00000000 14000000 00000400 00000014 00000018 28000000 00000000 02000000 00000000');
export const RFC3720_READ_PDU_CRC = 0xd9963a56;
