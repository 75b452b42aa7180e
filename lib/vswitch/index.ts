// Public surface of the standard vSwitch (spec §1, §2, §4, §6.7, §8): the decision engine, its config,
// limits, drop reasons and the RARP builder. Leaves out teaming policies (lib/teaming), which plug in
// through the UplinkSelector seam re-exported here.

export * from './vswitch.js';
export * from './config.js';
export * from './limits.js';
export * from './drop-reasons.js';
export * from './rarp.js';
export * from './uplink-selector.js';
