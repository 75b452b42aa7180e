// What a qemu guest vNIC's backend (daemons/guests/qemu-stream-server.ts, qemu-dgram.ts) offers the
// attachment (daemons/guests/qemu.ts): its link, where QEMU reaches it, its status, and closing it.
import type { FrameLink } from '../../lib/link/frame-link.js';

export interface QemuBackend {
  readonly kind: 'stream' | 'dgram';
  readonly link: FrameLink;
  /** vfab's end on 127.0.0.1. */
  readonly address: string;
  readonly port: number;
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

/** What a backend reports to the host's event stream (a refused connection, bad framing). */
export type QemuBackendEvent = (type: string, fields: Record<string, unknown>) => void;
