// Raw HTTP/1.1 over TCP for tests that send what a well-behaved client never would (odd request targets,
// broken request lines, pipelined batches): write bytes, read back responses one by one (status line,
// headers, Content-Length body). Also reads a process's resident set size from /proc. Not a test file.

import net from 'node:net';
import fs from 'node:fs';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Parses every complete response at the start of `buf`; returns them and the bytes consumed. Responses
 * without Content-Length (none of ours) end the parse.
 */
export function parseResponses(buf: Buffer): { responses: RawResponse[]; used: number } {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const head = buf.toString('latin1', at, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(head[0])}`);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (end + 4 + length > buf.length) break;
    responses.push({ status: Number(m[1]), headers, body: buf.toString('utf8', end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return { responses, used: at };
}

/**
 * Writes `data` on a fresh connection and collects responses until `expect` of them arrived or the server
 * closed the connection (or `timeoutMs` passed). Never rejects on connection errors: a reset is a close.
 */
export function rawExchange(port: number, data: string | Buffer, expect = 1, timeoutMs = 10_000): Promise<{ responses: RawResponse[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const responses: RawResponse[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const { responses: got, used } = parseResponses(buf);
      responses.push(...got);
      buf = buf.subarray(used);
      if (responses.length >= expect) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

/** Resident set size of process `pid` in bytes (Linux /proc), or undefined elsewhere. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
