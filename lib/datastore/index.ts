// The VMFS-like datastore core (docs/datastore-format.md, docs/vsphere-behaviour.md §7.1-§7.10): on-disk
// format, heartbeat, locks, journal, files, inspection and NAS `.lck` leases, all pure (proc.ts runs the
// decisions; a daemon performs the I/O), VM power-on/off over files (vm.ts) and reclaiming a previous
// mount's slot (reclaim.ts). Leaves out the daemons, CLI and file protocol.
export * from './errors.js';
export * from './format.js';
export * from './proc.js';
export * from './host.js';
export * from './lock.js';
export * from './journal.js';
export * from './files.js';
export * from './inspect.js';
export * from './nas-lease.js';
export * from './vm.js';
export * from './reclaim.js';
export * from './extent-map.js';
