// Public surface of lib/vmotion, the pure vMotion core (docs/vmotion.md): parameters and errors, the
// pre-checks, the memory model, the datagram codec, the windowed transfer, and the source and destination
// state machines the host daemon drives. Adds nothing of its own.

export * from './config.js';
export * from './events.js';
export * from './memory.js';
export * from './precheck.js';
export * from './wire.js';
export * from './transfer.js';
export * from './source.js';
export * from './destination.js';
