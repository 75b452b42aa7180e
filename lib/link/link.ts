// Ethernet links between vfab daemons: the EthernetLink interface, the transport-independent endpoint
// (admin state, carrier, batching, tail drop, counters) and an in-process pair. Every link carries raw
// Ethernet frames (no FCS) in the record format of lib/link/codec.ts (docs/link-protocol.md). Carrier is
// up when both ends are admin-up and the transport is connected, like a cable between two NICs: taking
// one end down is seen at both. Sends never block: a frame that does not fit the queue is tail-dropped
// and counted. Leaves out sockets: daemons/link/ws-link.ts supplies the WebSocket transport. The flush
// is deferred to the end of the event-loop turn through an injected scheduler (setImmediate by default),
// so frames sent within one turn travel together in one message. Receivers may take same-header runs in
// one call (onFrameRun) and forward a run's records unchanged (sendRun); on a transport that releases
// written bytes (a socket) the encoder reuses its chunk once everything is written.

import { ETH_HEADER_BYTES, MAX_FRAME_BYTES } from '../wire/ethernet.js';
import {
  CarrierReason,
  LINK_PROTOCOL_VERSION,
  LinkEncoder,
  LinkError,
  type LinkRecordHandler,
  RECORD_HEADER_BYTES,
  decodeLinkMessage,
  RunCursor,
  ZERO_COPY_RUN_BYTES,
} from './codec.js';

/** Bytes a link may hold unsent (batch being built + transport buffer) before it tail-drops frames. */
export const LINK_QUEUE_BYTES = 1024 * 1024;

export interface LinkCounters {
  txFrames: number;
  rxFrames: number;
  txBytes: number;
  rxBytes: number;
  txMessages: number;
  rxMessages: number;
  /** Frames refused by send() because carrier was down. */
  txDropsCarrier: number;
  /** Frames refused by send() because the queue was full (tail drop). */
  txDropsQueueFull: number;
  /** Frames refused by send() for being shorter than an Ethernet header or longer than MAX_FRAME_BYTES. */
  txDropsInvalid: number;
  /** Received records or messages that were malformed (bad lengths, text messages, bad control records, runts). */
  rxDropsMalformed: number;
  /** Received frames longer than MAX_FRAME_BYTES. */
  rxDropsOversize: number;
  /** Received messages longer than MAX_LINK_MESSAGE_BYTES (the transport closes the connection). */
  rxDropsOversizeMessage: number;
  /** Frames that arrived while carrier was down (in flight when the link went down). */
  rxDropsCarrier: number;
  /** Records of a type this version does not know (skipped). */
  rxUnknownRecords: number;
  carrierUps: number;
  carrierDowns: number;
  /** Transport connections made (1 for an in-process pair; grows with each WebSocket reconnection). */
  connects: number;
}

export interface EthernetLink {
  readonly name: string;
  /** Queues `frame` (copied) for the peer. false = dropped: carrier down, queue full or invalid size; counted. */
  send(frame: Uint8Array): boolean;
  /** "link down" at this end: the peer sees carrier down too (like pulling a cable). */
  setAdminUp(up: boolean): void;
  readonly adminUp: boolean;
  /** True when both ends are admin-up and the transport is connected. */
  readonly carrier: boolean;
  /** The single frame handler (a later call replaces it). The Buffer is a view valid during the call; copy to keep it. */
  onFrame(handler: (frame: Buffer) => void): void;
  /**
   * Like onFrame, with a plain Uint8Array view (cheaper per frame than a Buffer view); replaces any
   * onFrame handler, and onFrame replaces it. Valid during the call only.
   */
  onFrameView(handler: (frame: Uint8Array) => void): void;
  /**
   * Receives runs of frames that share their first RUN_KEY_BYTES bytes (see LinkRecordHandler.frameRun)
   * as one call; frames outside runs still go to the onFrameView handler, which must be set too.
   * Views valid during the call only. Counters count every frame of a run.
   */
  onFrameRun(handler: FrameRunHandler): void;
  /**
   * Queues a run's encoded FRAME records (as received from onFrameRun) unchanged, with one copy. Returns
   * the number of frames queued: all of them, or, when the whole run does not fit the queue, as many as
   * send() would have taken one by one (the rest are tail-dropped and counted).
   */
  sendRun(records: Uint8Array, count: number, frameBytes: number): number;
  /** Adds a carrier listener: reason is 'admin-down', 'peer-admin-down', 'peer-gone', 'closed', 'connected'... */
  onCarrier(handler: (up: boolean, reason: string) => void): void;
  readonly counters: Readonly<LinkCounters>;
  /** Zeroes every counter (`vfab counters --reset`). */
  clearCounters(): void;
  /** Bytes waiting to leave (encoder batch + transport buffer): a sender that respects it never tail-drops. */
  readonly queuedBytes: number;
  close(): void;
}

/** What an endpoint needs from a connection. */
export interface LinkTransport {
  write(message: Buffer): void;
  /** Bytes accepted by write() but not yet handed to the network. */
  bufferedBytes(): number;
  /** Closes the connection once written messages are out. */
  end(): void;
  /**
   * True when the transport keeps no reference to a written message once bufferedBytes() is 0 (a socket:
   * the kernel has its own copy), so the sender may reuse those bytes. An in-process transport hands the
   * bytes themselves to the peer, which may keep views of them: false (the default).
   */
  readonly releasesWrittenBytes?: boolean;
  /**
   * Optional: hold back writes until uncork() (a socket's cork): a flush of several messages then
   * reaches the network in one system call (one writev, fewer TCP segments and receiver wake-ups).
   */
  cork?(): void;
  uncork?(): void;
}

export type FlushScheduler = (flush: () => void) => void;
export const setImmediateScheduler: FlushScheduler = (flush) => {
  setImmediate(flush);
};

export interface LinkEndpointOptions {
  /** Tail-drop threshold; default LINK_QUEUE_BYTES. */
  queueBytes?: number;
  /** Defers the flush to the end of the turn; default setImmediate. */
  schedule?: FlushScheduler;
  /** Called once when close() is called (the owner forgets the link). */
  onClose?: () => void;
}

/** Link counters all zero (every field a LinkCounters has: the one list of link counter names). */
export function zeroCounters(): LinkCounters {
  return {
    txFrames: 0,
    rxFrames: 0,
    txBytes: 0,
    rxBytes: 0,
    txMessages: 0,
    rxMessages: 0,
    txDropsCarrier: 0,
    txDropsQueueFull: 0,
    txDropsInvalid: 0,
    rxDropsMalformed: 0,
    rxDropsOversize: 0,
    rxDropsOversizeMessage: 0,
    rxDropsCarrier: 0,
    rxUnknownRecords: 0,
    carrierUps: 0,
    carrierDowns: 0,
    connects: 0,
  };
}

export type FrameRunHandler = (first: Uint8Array, count: number, records: Uint8Array, frameBytes: number, maxFrameBytes: number) => void;

export type CaptureFrameHandler = (timestampNs: bigint, direction: number, capturePointId: number, frame: Buffer) => void;

/** One end of a link, independent of the transport that carries its messages. */
export class LinkEndpoint implements EthernetLink {
  readonly counters: LinkCounters = zeroCounters();

  clearCounters(): void {
    Object.assign(this.counters, zeroCounters());
  }
  /** Name the peer announced in its HELLO. */
  peerName: string | undefined;
  peerVersion: number | undefined;
  /** The last malformed-input error seen (for diagnostics). */
  lastRxError: LinkError | undefined;

  private transport: LinkTransport | undefined;
  private admin = true;
  private peerAdmin = false;
  private carrierUp = false;
  private closed = false;
  private endAfterFlush = false;
  private flushScheduled = false;
  /** transport.bufferedBytes() read once at the start of each batch. */
  private batchBaseBytes = 0;
  private readonly queueBytes: number;
  private readonly schedule: FlushScheduler;
  private readonly encoder = new LinkEncoder();
  private readonly flushBound = () => this.flush();
  private readonly handler: LinkRecordHandler;
  /** The same handler plus frameView: used while an onFrameView handler is registered. */
  private readonly viewHandler: LinkRecordHandler;
  /** viewHandler plus frameRun: used while an onFrameRun handler is registered too. */
  private readonly runHandler: LinkRecordHandler;
  private frameRunHandler: FrameRunHandler | undefined;
  private frameHandler: ((frame: Buffer) => void) | undefined;
  private frameViewHandler: ((frame: Uint8Array) => void) | undefined;
  private captureHandler: CaptureFrameHandler | undefined;
  private readonly carrierHandlers: Array<(up: boolean, reason: string) => void> = [];

  constructor(
    readonly name: string,
    private readonly options: LinkEndpointOptions = {},
  ) {
    this.queueBytes = options.queueBytes ?? LINK_QUEUE_BYTES;
    if (!(this.queueBytes > 0)) throw new RangeError(`queueBytes ${this.queueBytes} must be positive`);
    this.schedule = options.schedule ?? setImmediateScheduler;
    const counters = this.counters;
    this.handler = {
      frame: (frame) => {
        if (!this.carrierUp) {
          counters.rxDropsCarrier++;
          return;
        }
        counters.rxFrames++;
        counters.rxBytes += frame.length;
        if (this.frameHandler !== undefined) this.frameHandler(frame);
      },
      carrier: (up, reasonCode) => {
        this.peerAdmin = up;
        const reason = up
          ? reasonCode === CarrierReason.ADMIN_UP ? 'peer-admin-up' : 'connected'
          : reasonCode === CarrierReason.SHUTDOWN ? 'peer-closed' : 'peer-admin-down';
        this.updateCarrier(reason);
      },
      hello: (version, endpointName) => {
        this.peerName = endpointName;
        this.peerVersion = version;
        if (version !== LINK_PROTOCOL_VERSION) {
          this.rxError(new LinkError('VFAB_LINK_VERSION', `peer ${endpointName} speaks link protocol ${version}, not ${LINK_PROTOCOL_VERSION}`));
        }
      },
      captureFrame: (timestampNs, direction, capturePointId, frame) => {
        if (this.captureHandler !== undefined) this.captureHandler(timestampNs, direction, capturePointId, frame);
      },
      recordError: (error) => {
        if (error.code === 'VFAB_LINK_FRAME_OVERSIZE') counters.rxDropsOversize++;
        else counters.rxDropsMalformed++;
        this.lastRxError = error;
      },
      unknownRecord: () => {
        counters.rxUnknownRecords++;
      },
    };
    this.viewHandler = {
      ...this.handler,
      frameView: (frame) => {
        if (!this.carrierUp) {
          counters.rxDropsCarrier++;
          return;
        }
        counters.rxFrames++;
        counters.rxBytes += frame.length;
        if (this.frameViewHandler !== undefined) this.frameViewHandler(frame);
      },
    };
    this.runHandler = {
      ...this.viewHandler,
      frameRun: (first, count, records, frameBytes, maxFrameBytes) => {
        if (!this.carrierUp) {
          counters.rxDropsCarrier += count;
          return;
        }
        counters.rxFrames += count;
        counters.rxBytes += frameBytes;
        if (this.frameRunHandler !== undefined) this.frameRunHandler(first, count, records, frameBytes, maxFrameBytes);
      },
    };
  }

  get adminUp(): boolean {
    return this.admin;
  }

  get queuedBytes(): number {
    return this.encoder.pendingBytes + (this.transport?.bufferedBytes() ?? 0);
  }

  get carrier(): boolean {
    return this.carrierUp;
  }

  get connected(): boolean {
    return this.transport !== undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onFrame(handler: (frame: Buffer) => void): void {
    this.frameHandler = handler;
    this.frameViewHandler = undefined;
  }

  onFrameView(handler: (frame: Uint8Array) => void): void {
    this.frameViewHandler = handler;
    this.frameHandler = undefined;
  }

  onFrameRun(handler: FrameRunHandler): void {
    this.frameRunHandler = handler;
  }

  sendRun(records: Uint8Array, count: number, frameBytes: number): number {
    const counters = this.counters;
    if (!this.carrierUp) {
      counters.txDropsCarrier += count;
      return 0;
    }
    if (records.length > this.encoder.maxAppendBytes) {
      // larger than a run from decodeLinkMessage can be: frame by frame
      let sent = 0;
      const cursor = new RunCursor().reset(records);
      while (cursor.next()) if (this.send(cursor.view())) sent++;
      return sent;
    }
    const pending = this.encoder.pendingBytes;
    if (pending === 0) this.batchBaseBytes = this.transport!.bufferedBytes();
    const roomBytes = this.queueBytes - this.batchBaseBytes - pending;
    // send() takes a frame when the queue plus the frame fits: for the run's last frame that is the
    // records before it plus its own length, so the whole run fits when records.length - 3 does
    if (records.length - RECORD_HEADER_BYTES <= roomBytes) {
      if (records.length >= ZERO_COPY_RUN_BYTES) this.encoder.appendRecordsMessage(records);
      else this.encoder.appendFrameRecords(records);
      counters.txFrames += count;
      counters.txBytes += frameBytes;
      this.requestFlush();
      return count;
    }
    return this.sendRunPartly(records, roomBytes);
  }

  /**
   * The queue takes part of a run: what send() would take frame by frame (tail drop, counted): the
   * longest fitting prefix with one copy, then any later frame that still fits on its own.
   */
  private sendRunPartly(records: Uint8Array, roomBytes: number): number {
    const counters = this.counters;
    let offset = 0;
    let queued = 0; // record bytes of this run in the queue
    let sent = 0;
    let inPrefix = true;
    while (offset + RECORD_HEADER_BYTES <= records.length) {
      const length = (records[offset + 1]! << 8) | records[offset + 2]!;
      const next = offset + RECORD_HEADER_BYTES + length;
      if (queued + length <= roomBytes) {
        if (!inPrefix) this.encoder.appendFrameRecords(records.subarray(offset, next));
        queued += next - offset;
        sent++;
        counters.txFrames++;
        counters.txBytes += length;
      } else {
        if (inPrefix) {
          inPrefix = false;
          if (offset > 0) this.encoder.appendFrameRecords(records.subarray(0, offset));
        }
        counters.txDropsQueueFull++;
      }
      offset = next;
    }
    if (inPrefix && queued > 0) this.encoder.appendFrameRecords(records.subarray(0, queued));
    if (sent > 0) this.requestFlush();
    return sent;
  }

  onCarrier(handler: (up: boolean, reason: string) => void): void {
    this.carrierHandlers.push(handler);
  }

  /** Receives CAPTURE_FRAME records (live capture streams from a daemon to the CLI). */
  onCaptureFrame(handler: CaptureFrameHandler): void {
    this.captureHandler = handler;
  }

  send(frame: Uint8Array): boolean {
    const counters = this.counters;
    if (!this.carrierUp) {
      counters.txDropsCarrier++;
      return false;
    }
    const length = frame.length;
    if (length < ETH_HEADER_BYTES || length > MAX_FRAME_BYTES) {
      counters.txDropsInvalid++;
      return false;
    }
    const pending = this.encoder.pendingBytes;
    if (pending === 0) this.batchBaseBytes = this.transport!.bufferedBytes();
    if (this.batchBaseBytes + pending + length > this.queueBytes) {
      counters.txDropsQueueFull++;
      return false;
    }
    this.encoder.appendFrame(frame);
    counters.txFrames++;
    counters.txBytes += length;
    this.requestFlush();
    return true;
  }

  /** Sends a CAPTURE_FRAME record (capture streams; subject to carrier and the queue like frames). */
  sendCaptureFrame(timestampNs: bigint, direction: number, capturePointId: number, frame: Uint8Array): boolean {
    if (!this.carrierUp) {
      this.counters.txDropsCarrier++;
      return false;
    }
    const pending = this.encoder.pendingBytes;
    if (pending === 0) this.batchBaseBytes = this.transport!.bufferedBytes();
    if (this.batchBaseBytes + pending + frame.length > this.queueBytes) {
      this.counters.txDropsQueueFull++;
      return false;
    }
    if (!this.encoder.appendCaptureFrame(timestampNs, direction, capturePointId, frame)) {
      this.counters.txDropsInvalid++;
      return false;
    }
    this.requestFlush();
    return true;
  }

  /**
   * Sends raw message bytes as they are (after anything already batched). For tests and tools that must
   * produce malformed input; bypasses carrier and queue checks. Returns false when not connected.
   */
  sendRaw(message: Buffer): boolean {
    if (this.transport === undefined) return false;
    this.flush();
    this.transport.write(message);
    return true;
  }

  setAdminUp(up: boolean): void {
    if (this.closed || up === this.admin) return;
    this.admin = up;
    if (this.transport !== undefined) {
      this.encoder.appendCarrier(up, up ? CarrierReason.ADMIN_UP : CarrierReason.ADMIN_DOWN);
      this.requestFlush();
    }
    this.updateCarrier(up ? 'admin-up' : 'admin-down');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.transport !== undefined) {
      this.encoder.appendCarrier(false, CarrierReason.SHUTDOWN);
      this.endAfterFlush = true;
      this.requestFlush();
    }
    this.updateCarrier('closed');
    this.options.onClose?.();
  }

  // ------------------------------------------------------------ transport side

  /** The transport connected: announce ourselves; carrier comes up when the peer's CARRIER(up) arrives. */
  attachTransport(transport: LinkTransport): void {
    if (this.closed) {
      transport.end();
      return;
    }
    if (this.transport !== undefined) this.detachTransport('replaced');
    this.transport = transport;
    this.counters.connects++;
    this.peerAdmin = false;
    this.encoder.take(); // anything left from a previous connection is stale
    this.encoder.appendHello(LINK_PROTOCOL_VERSION, this.name);
    this.encoder.appendCarrier(this.admin, CarrierReason.NONE);
    this.requestFlush();
  }

  /** The transport is gone (or `transport` is given and is not the current one: ignored). */
  detachTransport(reason = 'peer-gone', transport?: LinkTransport): void {
    if (this.transport === undefined || (transport !== undefined && transport !== this.transport)) return;
    this.transport = undefined;
    this.peerAdmin = false;
    this.encoder.take();
    this.updateCarrier(reason);
  }

  /** One binary message from the peer. */
  receiveMessage(message: Buffer): void {
    this.counters.rxMessages++;
    const result = decodeLinkMessage(
      message,
      this.frameViewHandler === undefined ? this.handler : this.frameRunHandler === undefined ? this.viewHandler : this.runHandler,
    );
    if (!result.ok) {
      if (result.error.code === 'VFAB_LINK_MESSAGE_TOO_LARGE') this.counters.rxDropsOversizeMessage++;
      else this.counters.rxDropsMalformed++;
      this.lastRxError = result.error;
    }
  }

  /** Input the transport could not pass on (a text message, an oversize message): counted. */
  receiveInvalid(error: LinkError): void {
    if (error.code === 'VFAB_LINK_MESSAGE_TOO_LARGE') this.counters.rxDropsOversizeMessage++;
    else this.counters.rxDropsMalformed++;
    this.lastRxError = error;
  }

  // ------------------------------------------------------------ internals

  private rxError(error: LinkError): void {
    this.counters.rxDropsMalformed++;
    this.lastRxError = error;
  }

  private requestFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.schedule(this.flushBound);
  }

  private flush(): void {
    this.flushScheduled = false;
    const messages = this.encoder.take();
    const transport = this.transport;
    if (transport === undefined) return;
    const corked = messages.length > 1 && transport.cork !== undefined;
    if (corked) transport.cork!();
    for (let i = 0; i < messages.length; i++) {
      this.counters.txMessages++;
      transport.write(messages[i]!);
    }
    if (corked) transport.uncork!();
    // everything written is in the kernel: the next batch reuses the encoder's chunk instead of a new one
    if (transport.releasesWrittenBytes === true && transport.bufferedBytes() === 0) this.encoder.rewind();
    if (this.endAfterFlush) {
      this.endAfterFlush = false;
      this.transport = undefined;
      transport.end();
    }
  }

  private updateCarrier(reason: string): void {
    const up = !this.closed && this.transport !== undefined && this.admin && this.peerAdmin && this.peerVersion === LINK_PROTOCOL_VERSION;
    if (up === this.carrierUp) return;
    this.carrierUp = up;
    if (up) this.counters.carrierUps++;
    else this.counters.carrierDowns++;
    for (const handler of this.carrierHandlers) handler(up, reason);
  }
}

// ---------------------------------------------------------------- in-process pair

class InProcessTransport implements LinkTransport {
  constructor(
    private readonly self: LinkEndpoint,
    private readonly peer: LinkEndpoint,
    private readonly schedule: FlushScheduler,
  ) {}
  write(message: Buffer): void {
    this.peer.receiveMessage(message);
  }
  bufferedBytes(): number {
    return 0;
  }
  end(): void {
    const self = this.self;
    self.detachTransport('closed', this);
    // The peer notices the "cable" is gone after the messages already written.
    this.schedule(() => this.peer.detachTransport('peer-gone'));
  }
}

export interface InProcessLinkOptions {
  queueBytes?: number;
  schedule?: FlushScheduler;
}

/**
 * Two connected ends in one process. Same semantics as a WebSocket link: frames sent in one turn are
 * delivered together, asynchronously (the receiver decodes the same messages a socket would carry).
 * Carrier comes up after one turn, once the ends have exchanged HELLO and CARRIER.
 */
export function createInProcessLinkPair(nameA: string, nameB: string, options: InProcessLinkOptions = {}): [LinkEndpoint, LinkEndpoint] {
  const schedule = options.schedule ?? setImmediateScheduler;
  const endpointOptions = { schedule, ...(options.queueBytes !== undefined ? { queueBytes: options.queueBytes } : {}) };
  const a = new LinkEndpoint(nameA, endpointOptions);
  const b = new LinkEndpoint(nameB, endpointOptions);
  a.attachTransport(new InProcessTransport(a, b, schedule));
  b.attachTransport(new InProcessTransport(b, a, schedule));
  return [a, b];
}
