// An EthernetLink over a transport that carries one frame at a time in its own format: a VXLAN tunnel
// (a UDP datagram per frame, RFC 7348), a QEMU -netdev stream or dgram backend (a length-prefixed frame,
// a datagram). Real guests and VXLAN ports plug into a daemon's links through it (DaemonLinks.attach), so
// admin state, impairments, flaps, counters and captures treat them like WebSocket links. Covers admin
// state, carrier (admin-up, transport attached and the far end up, when the transport can tell), size
// checks, a bounded queue (the transport's unsent bytes) and counters. Leaves out batching (each frame
// leaves at once; the transport may batch) and the transports themselves (daemons/link/, daemons/guests/).
// Such far ends have no CARRIER record: taking this end admin-down stops its frames both ways, and the
// owner tells the far end in its own way if it can (a netns guest sees NO-CARRIER through protodown).

import { ETH_HEADER_BYTES, MAX_FRAME_BYTES } from '../wire/ethernet.js';
import { forEachRunFrame } from './codec.js';
import { LINK_QUEUE_BYTES, zeroCounters, type EthernetLink, type FrameRunHandler, type LinkCounters } from './link.js';

export interface FrameTransport {
  /** Sends one frame now, in the transport's own framing; the frame is a view: copy what must outlive the call. */
  sendFrame(frame: Uint8Array): void;
  /** Bytes handed to sendFrame but not yet to the network. */
  bufferedBytes(): number;
}

export interface FrameLinkOptions {
  /** Tail-drop threshold on the transport's unsent bytes; default LINK_QUEUE_BYTES. */
  queueBytes?: number;
  onClose?: () => void;
}

export class FrameLink implements EthernetLink {
  readonly counters: LinkCounters = zeroCounters();

  clearCounters(): void {
    Object.assign(this.counters, zeroCounters());
  }
  private transport: FrameTransport | undefined;
  private admin = true;
  private farUp = true;
  private carrierUp = false;
  private closed = false;
  private readonly queueBytes: number;
  private frameHandler: ((frame: Buffer) => void) | undefined;
  private frameViewHandler: ((frame: Uint8Array) => void) | undefined;
  private readonly carrierHandlers: Array<(up: boolean, reason: string) => void> = [];
  private readonly sendOne = (frame: Uint8Array) => {
    if (this.send(frame)) this.sentInRun++;
  };
  private sentInRun = 0;

  constructor(readonly name: string, private readonly options: FrameLinkOptions = {}) {
    this.queueBytes = options.queueBytes ?? LINK_QUEUE_BYTES;
  }

  get adminUp(): boolean {
    return this.admin;
  }
  get carrier(): boolean {
    return this.carrierUp;
  }
  get queuedBytes(): number {
    return this.transport?.bufferedBytes() ?? 0;
  }

  onFrame(handler: (frame: Buffer) => void): void {
    this.frameHandler = handler;
    this.frameViewHandler = undefined;
  }
  onFrameView(handler: (frame: Uint8Array) => void): void {
    this.frameViewHandler = handler;
    this.frameHandler = undefined;
  }
  /** Frames arrive one at a time on these transports: every frame goes to the onFrameView handler. */
  onFrameRun(_handler: FrameRunHandler): void {}
  onCarrier(handler: (up: boolean, reason: string) => void): void {
    this.carrierHandlers.push(handler);
  }

  send(frame: Uint8Array): boolean {
    const c = this.counters;
    if (!this.carrierUp) {
      c.txDropsCarrier++;
      return false;
    }
    const length = frame.length;
    if (length < ETH_HEADER_BYTES || length > MAX_FRAME_BYTES) {
      c.txDropsInvalid++;
      return false;
    }
    if (this.transport!.bufferedBytes() + length > this.queueBytes) {
      c.txDropsQueueFull++;
      return false;
    }
    this.transport!.sendFrame(frame);
    c.txFrames++;
    c.txMessages++;
    c.txBytes += length;
    return true;
  }

  sendRun(records: Uint8Array, _count: number, _frameBytes: number): number {
    this.sentInRun = 0;
    forEachRunFrame(records, 0, this.sendOne);
    return this.sentInRun;
  }

  setAdminUp(up: boolean): void {
    if (this.closed || up === this.admin) return;
    this.admin = up;
    this.updateCarrier(up ? 'admin-up' : 'admin-down');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport = undefined;
    this.updateCarrier('closed');
    this.options.onClose?.();
  }

  // ------------------------------------------------------------ transport side

  /** The transport is ready (a socket bound, QEMU connected). */
  attachTransport(transport: FrameTransport): void {
    if (this.closed) return;
    this.transport = transport;
    this.counters.connects++;
    this.updateCarrier('connected');
  }

  /** The transport is gone (QEMU disconnected); `transport`, when given and not the current one, is ignored. */
  detachTransport(reason = 'peer-gone', transport?: FrameTransport): void {
    if (this.transport === undefined || (transport !== undefined && transport !== this.transport)) return;
    this.transport = undefined;
    this.updateCarrier(reason);
  }

  /** The far end's own state, for transports that know it (QEMU's link state); default up. */
  setFarEndUp(up: boolean, reason: string): void {
    if (this.farUp === up) return;
    this.farUp = up;
    this.updateCarrier(reason);
  }

  /** One frame from the far end. A view: valid during the call. Wrong sizes are dropped and counted. */
  receiveFrame(frame: Uint8Array): void {
    const c = this.counters;
    c.rxMessages++;
    const length = frame.length;
    if (length < ETH_HEADER_BYTES) {
      c.rxDropsMalformed++;
      return;
    }
    if (length > MAX_FRAME_BYTES) {
      c.rxDropsOversize++;
      return;
    }
    if (!this.carrierUp) {
      c.rxDropsCarrier++;
      return;
    }
    c.rxFrames++;
    c.rxBytes += length;
    if (this.frameViewHandler !== undefined) this.frameViewHandler(frame);
    else if (this.frameHandler !== undefined) this.frameHandler(Buffer.from(frame.buffer, frame.byteOffset, length));
  }

  /** Input the transport could not make a frame of (a bad VXLAN header, a bad length prefix): counted. */
  receiveMalformed(): void {
    this.counters.rxMessages++;
    this.counters.rxDropsMalformed++;
  }

  private updateCarrier(reason: string): void {
    const up = !this.closed && this.admin && this.farUp && this.transport !== undefined;
    if (up === this.carrierUp) return;
    this.carrierUp = up;
    if (up) this.counters.carrierUps++;
    else this.counters.carrierDowns++;
    for (const h of this.carrierHandlers) h(up, reason);
  }
}
