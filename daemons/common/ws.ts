// The `ws` package for every daemon and client, loaded with require(). ws is CommonJS: an ESM `import`
// of a CommonJS package makes Node start its WebAssembly export scanner (cjs-module-lexer), about 6 MiB
// of resident memory in every process that does it (measured: node importing ipaddr.js 40 -> 46-48 MiB
// VmRSS, required 40 MiB). Same classes and types as `import ... from 'ws'`.

import { createRequire } from 'node:module';

const ws = createRequire(import.meta.url)('ws') as typeof import('ws');

export const WebSocket = ws.WebSocket;
export type WebSocket = import('ws').WebSocket;
export const WebSocketServer = ws.WebSocketServer;
export type WebSocketServer = import('ws').WebSocketServer;
export type RawData = import('ws').RawData;
