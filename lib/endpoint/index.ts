// Public surface of lib/endpoint: the guest VM endpoint (VmEndpoint, its actions and counters) and the
// per-vNIC ARP cache with its limits, the hand-over snapshot. Adds nothing of its own.

export * from './arp-cache.js';
export * from './vm-endpoint.js';
export * from './snapshot.js';
