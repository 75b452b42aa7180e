// Re-exports every codec of lib/wire (MAC, Ethernet/802.1Q, checksum, ARP/RARP, IPv4, ICMP, UDP) so
// callers can import from one place. Adds nothing of its own.

export * from './mac.js';
export * from './ethernet.js';
export * from './checksum.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './icmp.js';
export * from './udp.js';
