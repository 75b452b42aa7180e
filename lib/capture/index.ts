// Capture writers and readers (libpcap and pcapng), re-exported. See docs/capture.md.
export * from './common.js';
export * from './pcap.js';
export * from './pcapng.js';
export * from './replay.js';
