// Raw HTTP/1.1 over TCP for tests that send what a well-behaved client never would (odd request targets,
// broken request lines, pipelined batches): write bytes, read back responses one by one (status line,
// headers, Content-Length or chunked body). Also reads a process's resident set size from /proc and checks
// that a daemon still runs and serves. Not a test file.

import net from 'node:net';
import fs from 'node:fs';
import { expect } from 'chai';
import { checkDaemonPid } from '../../../daemons/fabric/pid-identity.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Parses every complete response at the start of `buf` (Content-Length or chunked bodies); returns them
 * and the bytes consumed. Throws on bytes that are not an HTTP response.
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
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      // chunked (Node's own answers, e.g. 400 for a missing Host): size line, data, CRLF ... 0 CRLF CRLF
      let p = end + 4;
      let body = '';
      let complete = false;
      for (;;) {
        const eol = buf.indexOf('\r\n', p, 'latin1');
        if (eol < 0) break;
        const size = parseInt(buf.toString('latin1', p, eol), 16);
        if (!Number.isFinite(size)) throw new Error('bad chunk size');
        if (eol + 2 + size + 2 > buf.length) break;
        body += buf.toString('utf8', eol + 2, eol + 2 + size);
        p = eol + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
      responses.push({ status: Number(m[1]), headers, body });
      at = p;
      continue;
    }
    const length = Number(headers['content-length'] ?? 0);
    if (end + 4 + length > buf.length) break;
    responses.push({ status: Number(m[1]), headers, body: buf.toString('utf8', end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return { responses, used: at };
}

/**
 * Writes `data` on a fresh connection (then half-closes it when `endAfterWrite`) and collects responses
 * until `expect` of them arrived or the server closed the connection (or `timeoutMs` passed). Never
 * rejects on connection errors: a reset is a close.
 */
export function rawExchange(port: number, data: string | Buffer, expect = 1, timeoutMs = 10_000, endAfterWrite = false): Promise<{ responses: RawResponse[]; closed: boolean }> {
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
    socket.on('connect', () => (endAfterWrite ? socket.end(data) : socket.write(data)));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      try {
        const { responses: got, used } = parseResponses(buf);
        responses.push(...got);
        buf = buf.subarray(used);
      } catch {
        // not HTTP: reported as status 0 with the bytes, for the caller to judge
        responses.push({ status: 0, headers: {}, body: buf.toString('latin1', 0, 2000) });
        finish(false);
        return;
      }
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

/** The daemon `name` (pid) is still the same live process and answers GET /control/status with 200. */
export async function expectServing(what: string, pid: number, name: string, port: number, token: string): Promise<void> {
  expect(checkDaemonPid({ name, pid }).state, `${what} is still running`).to.equal('running');
  const r = await rawExchange(port, `GET /control/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  expect(r.responses[0]?.status, `${what} answers GET /control/status`).to.equal(200);
}
