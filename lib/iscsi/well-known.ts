// iSCSI values that code outside the iSCSI layers needs without loading them (hostd's storage status, the
// topology model): the well-known port and vfab's initiator naming. A host on the block protocol imports
// only this file, not the PDU, text and login code (bench `cli`: a host's idle memory). Leaves out every
// other iSCSI constant (negotiate.ts, pdu.ts).

/** The iSCSI well-known TCP port (IANA: iscsi-target): a portal asked for without a port. */
export const ISCSI_DEFAULT_PORT = 3260;

/** The iSCSI initiator name of a host (its storage identity over both transports): this prefix + host name. */
export const HOST_INITIATOR_PREFIX = 'iqn.2026-11.vfab:';
