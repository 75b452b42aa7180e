// A netns guest's vNIC attached by a TAP device (docs/guests.md "How a netns guest is attached"): hostd
// starts daemons/guests/tap-helper.py inside the guest's namespace, which creates the tap there and moves
// its frames over the helper's stdin/stdout (Unix stream sockets from Node), many frames per read and per
// write. Frames from the guest are parsed with lib/guests/qemu-stream.ts (each a view of the read chunk,
// handed to the vNIC's FrameLink); frames to the guest are gathered per event-loop turn into one write
// (lib/guests/tap-framing.ts). Carrier is a control record the helper turns into TUNSETCARRIER. A bad
// length from the helper, or the helper ending, takes the link's transport away (carrier down, counted,
// an event): the vNIC stays down until the guest is attached again; nothing it sends ends hostd. The
// helper is ended by its PID; it also ends on its own when hostd goes (EOF on stdin), and the kernel
// removes the tap with it. Leaves out restarting a helper, the vnet header and offloads.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { VfabError } from '../../lib/errors.js';
import { packageFile } from '../common/paths.js';
import type { FrameLink, FrameTransport } from '../../lib/link/frame-link.js';
import { QemuStreamParser } from '../../lib/guests/qemu-stream.js';
import { TapBatcher, TAP_CONTROL_CARRIER_DOWN, TAP_CONTROL_CARRIER_UP } from '../../lib/guests/tap-framing.js';

/** Bound on the helper creating its tap and saying so, ms. */
export const TAP_HELPER_START_TIMEOUT_MS = 5000;
/** How long a helper gets after its stdin closes (and SIGTERM) before SIGKILL, ms. */
export const TAP_HELPER_STOP_GRACE_MS = 1000;
/** The helper's exit code for a bad record from hostd (tap-helper.py EXIT_BAD_FRAMING). */
export const TAP_HELPER_EXIT_BAD_FRAMING = 3;
/** Bytes of the helper's stderr kept for an error message. */
const STDERR_KEEP_BYTES = 2000;

/** The helper program, in the package's source tree (found from the package root, so the same from the
 * sources, from dist/ and from hostd's bundle, whose import.meta.url is dist/daemons/hostd.js). */
export function tapHelperPath(): string | null {
  const p = packageFile('daemons', 'guests', 'tap-helper.py');
  return fs.existsSync(p) ? p : null;
}

/** Whether this machine can attach netns guests by TAP (the helper ships, /dev/net/tun exists). */
export function tapAttachAvailable(): boolean {
  return tapHelperPath() !== null && fs.existsSync('/dev/net/tun');
}

export interface TapHelperCounters {
  /** Frames from the guest, and the reads that brought them. */
  rxFrames: number;
  rxReads: number;
  /** Frames to the guest, and the writes that took them. */
  txFrames: number;
  txWrites: number;
  /** Bad length prefixes from the helper (the transport is then taken away). */
  protocolErrors: number;
}

export interface TapHelperOptions {
  netns: string;
  ifname: string;
  mtu: number;
  link: FrameLink;
  event(type: string, fields: Record<string, unknown>): void;
  /** The helper program to run (tests run a misbehaving one); default tapHelperPath(). */
  helperFile?: string;
}

export class TapHelper {
  readonly counters: TapHelperCounters = { rxFrames: 0, rxReads: 0, txFrames: 0, txWrites: 0, protocolErrors: 0 };
  private readonly batcher = new TapBatcher();
  private flushScheduled = false;
  private stopping = false;
  private exited: Promise<void>;
  private stderr = '';
  private readonly transport: FrameTransport;

  private constructor(private readonly child: ChildProcess, private readonly o: TapHelperOptions) {
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const counters = this.counters;
    const write = (b: Buffer) => {
      counters.txWrites++;
      child.stdin!.write(b);
    };
    const flush = () => {
      this.flushScheduled = false;
      const b = this.batcher.take();
      if (b !== undefined) write(b);
    };
    this.flushSoon = () => {
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      queueMicrotask(flush);
    };
    this.write = write;
    this.transport = {
      sendFrame: (frame) => {
        counters.txFrames++;
        this.batcher.addFrame(frame, write);
        this.flushSoon();
      },
      bufferedBytes: () => child.stdin!.writableLength + this.batcher.pendingBytes,
    };
  }

  private readonly flushSoon: () => void;
  private readonly write: (b: Buffer) => void;

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts the helper in `netns`; resolves once its tap exists, and binds it to the link. */
  static async start(o: TapHelperOptions): Promise<TapHelper> {
    const file = o.helperFile ?? tapHelperPath();
    if (file === null) throw new VfabError('VFAB_GUEST_TOOL_MISSING', `${o.link.name}: the TAP helper tap-helper.py is not installed with vfab (daemons/guests/)`, { file: 'tap-helper.py' });
    // ip netns exec execs python3: the child's PID is the helper's
    const child = spawn('ip', ['netns', 'exec', o.netns, 'python3', file, o.ifname, String(o.mtu)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const h = new TapHelper(child, o);
    child.on('error', () => undefined);
    child.stdin!.on('error', () => undefined); // EPIPE once the helper is gone: its exit says why
    await h.waitReady();
    h.bind();
    return h;
  }

  private waitReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (e?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (e) {
          this.child.kill('SIGKILL');
          reject(e);
        } else resolve();
      };
      const timer = setTimeout(() => finish(this.fail(`gave no sign of its tap within ${TAP_HELPER_START_TIMEOUT_MS} ms`)), TAP_HELPER_START_TIMEOUT_MS);
      this.child.stderr!.on('data', (d: Buffer) => {
        this.stderr = (this.stderr + d.toString()).slice(-STDERR_KEEP_BYTES);
        if (this.stderr.includes('ready\n')) {
          this.stderr = this.stderr.replace('ready\n', '');
          finish();
        }
      });
      this.child.once('exit', (code, sig) => finish(this.fail(`exited ${code ?? sig} before its tap was up`)));
      this.child.once('error', (e) => finish(this.fail(e.message)));
    });
  }

  private fail(what: string): VfabError {
    return new VfabError('VFAB_GUEST_COMMAND', `${this.o.link.name}: the TAP helper for ${this.o.ifname} in ${this.o.netns} ${what}: ${this.stderr.trim()}`, { file: 'tap-helper.py' });
  }

  private bind(): void {
    const { link, event } = this.o;
    const counters = this.counters;
    const parser = new QemuStreamParser();
    const onFrame = (frame: Uint8Array) => {
      counters.rxFrames++;
      link.receiveFrame(frame);
    };
    this.child.stdout!.on('data', (chunk: Buffer) => {
      counters.rxReads++;
      if (parser.push(chunk, onFrame)) return;
      counters.protocolErrors++;
      link.receiveMalformed();
      event('guest-error', { link: link.name, error: `TAP helper sent a bad length prefix (${parser.error}); the vNIC is down until the guest is attached again` });
      link.detachTransport('bad-framing', this.transport);
      this.child.kill('SIGKILL');
    });
    this.child.once('exit', (code, sig) => {
      link.detachTransport('helper-exited', this.transport);
      if (!this.stopping) event('guest-error', { link: link.name, error: `TAP helper for ${this.o.ifname} in ${this.o.netns} exited ${code ?? sig}: ${this.stderr.trim()}` });
    });
    link.attachTransport(this.transport);
  }

  /** Shows carrier (or NO-CARRIER) to the guest, in order with the frames sent before. */
  setCarrier(up: boolean): void {
    this.batcher.addControl(up ? TAP_CONTROL_CARRIER_UP : TAP_CONTROL_CARRIER_DOWN, this.write);
    this.flushSoon();
  }

  /** Ends the helper (stdin closed and SIGTERM, SIGKILL after the grace time) by its PID; the tap goes with it. */
  async close(): Promise<void> {
    this.stopping = true;
    this.o.link.detachTransport('closed', this.transport);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), TAP_HELPER_STOP_GRACE_MS);
    await this.exited;
    clearTimeout(t);
  }
}
