// The contract between a SCSI target (lib/storage: the command model over a block store) and whatever
// carries commands to it (the WebSocket block protocol now, an iSCSI portal later). Commands travel as
// CDBs exactly as SBC-3/SPC-4 define them, so a transport never interprets them. Covers opcodes, status
// codes, sense keys and the ASC/ASCQ pairs vfab reports. Leaves out task management and ACA.

export const SCSI_OP = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  START_STOP_UNIT: 0x1b,
  INQUIRY: 0x12,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  READ_16: 0x88,
  COMPARE_AND_WRITE: 0x89,
  ORWRITE_16: 0x8b,
  WRITE_16: 0x8a,
  WRITE_AND_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  SERVICE_ACTION_IN_16: 0x9e, // READ CAPACITY (16) is service action 0x10, GET LBA STATUS 0x12
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3, // REPORT SUPPORTED OPERATION CODES is service action 0x0c
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
} as const;

export const SCSI_STATUS = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  /** SAM-5: the task was aborted (here: its connection closed before it reached the medium). */
  TASK_ABORTED: 0x40,
} as const;
export type ScsiStatus = (typeof SCSI_STATUS)[keyof typeof SCSI_STATUS];

export const SENSE_KEY = {
  NO_SENSE: 0x0,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;

/** Additional sense code + qualifier pairs (SPC-4 Annex D) that vfab uses. */
export const ASC = {
  INVALID_COMMAND_OPCODE: [0x20, 0x00],
  LBA_OUT_OF_RANGE: [0x21, 0x00],
  INVALID_FIELD_IN_CDB: [0x24, 0x00],
  INVALID_FIELD_IN_PARAMETER_LIST: [0x26, 0x00],
  PARAMETER_LIST_LENGTH_ERROR: [0x1a, 0x00],
  LOGICAL_UNIT_NOT_SUPPORTED: [0x25, 0x00],
  MISCOMPARE_DURING_VERIFY: [0x1d, 0x00],
  UNRECOVERED_READ_ERROR: [0x11, 0x00],
  LOGICAL_BLOCK_GUARD_CHECK_FAILED: [0x10, 0x01],
  WRITE_ERROR: [0x0c, 0x00],
  RESERVATIONS_PREEMPTED: [0x2a, 0x03],
  RESERVATIONS_RELEASED: [0x2a, 0x04],
  REGISTRATIONS_PREEMPTED: [0x2a, 0x05],
  INSUFFICIENT_REGISTRATION_RESOURCES: [0x55, 0x04],
  INVALID_FIELD_IN_INFORMATION_UNIT: [0x0e, 0x03],
} as const;

/** Decoded sense data; `toFixedSense` in lib/storage renders it as fixed-format (0x70) bytes. */
export interface Sense {
  key: number;
  asc: number;
  ascq: number;
  /** INFORMATION field: for MISCOMPARE the offset of the first differing byte (SBC-3 COMPARE AND WRITE). */
  information?: number;
  /**
   * Sense-key specific field pointer (SPC-4 §4.5.2.4.2) of an ILLEGAL REQUEST: the CDB byte (or parameter
   * list byte when `inCdb` is false) in error and, when given, the bit within it.
   */
  field?: { inCdb: boolean; byte: number; bit?: number };
}

export interface ScsiCommand {
  /** Who sends it: stable per connection (an IQN-like name); reservations are held by initiators. */
  initiator: string;
  /** Which logical unit, by its number on the target. */
  lun: number;
  /** The CDB, 6 to 16 bytes. */
  cdb: Uint8Array;
  /** Data-out buffer (WRITE, COMPARE AND WRITE, PERSISTENT RESERVE OUT, UNMAP parameter list, ...). */
  dataOut?: Uint8Array;
  /**
   * Set by the transport when the command's connection is gone (SAM-5 I_T nexus loss aborts its tasks).
   * The target looks at it before a command touches the medium (after any range-lock wait) and then
   * answers TASK ABORTED without reading or writing; a command already at the medium finishes.
   */
  readonly aborted?: boolean;
  /**
   * Set by a transport that reports residuals (iSCSI, RFC 7143 §11.4.5). A WRITE (10)/(16) whose data-out
   * length differs from its CDB's transfer length then writes the whole blocks both agree on and answers
   * with `dataOutWanted`; without it (the block protocol has no residual field) such a WRITE is CHECK
   * CONDITION PARAMETER LIST LENGTH ERROR and writes nothing.
   */
  residualsReported?: boolean;
  /**
   * Set by a transport whose initiators handle unit attentions (iSCSI): its nexus is told, once, of a
   * LOGICAL UNIT RESET and of reservation changes made by others (CHECK CONDITION UNIT ATTENTION, SPC-4 §5.9).
   * Without it (the block protocol's hosts do not retry them yet) the nexus is never sent one.
   */
  reportsUnitAttentions?: boolean;
}

export interface ScsiResult {
  status: ScsiStatus;
  /** Data-in buffer (READ, READ CAPACITY, INQUIRY, PERSISTENT RESERVE IN, ...). */
  dataIn?: Uint8Array;
  /** Present exactly when status is CHECK_CONDITION. */
  sense?: Sense;
  /**
   * Bytes of data-out the CDB asked for, present when a command with `residualsReported` got a different
   * amount: the transport reports the difference as an overflow (wanted more) or underflow (got more).
   */
  dataOutWanted?: number;
}

/** Anything that executes SCSI commands. Must never throw for a bad command: it answers CHECK CONDITION. */
export interface ScsiTarget {
  execute(cmd: ScsiCommand): Promise<ScsiResult>;
}
