// A daemon's Ethernet links: the ends it listens for (WsLinkServer at /link/<interface>) and the ends it
// dials once told where its peers are (POST /control/peers). Covers binding each link to a local
// interface, carrier and frame callbacks, admin up/down, and status rows. Shared by hostd and switchd.

import { VfabError } from '../../lib/errors.js';
import type { EthernetLink } from '../../lib/link/link.js';
import { WsLinkServer, connectWsLink } from '../link/ws-link.js';
import type { LinkEnd } from '../fabric/plan.js';

export interface LinkCallbacks {
  frame(local: string, frame: Buffer): void;
  carrier(local: string, up: boolean, reason: string): void;
}

interface Slot {
  end: LinkEnd;
  link: EthernetLink | undefined;
  /** Admin state requested before the link existed. */
  adminUp: boolean;
}

export class DaemonLinks {
  readonly server: WsLinkServer;
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly name: string, ends: LinkEnd[], private readonly token: string, private readonly cb: LinkCallbacks) {
    for (const end of ends) this.slots.set(end.local, { end, link: undefined, adminUp: true });
    this.server = new WsLinkServer({
      token,
      onLink: (local, link) => {
        const slot = this.slots.get(local);
        if (!slot || slot.end.role !== 'listen') {
          link.close();
          return;
        }
        this.bind(slot, link);
      },
    });
  }

  private bind(slot: Slot, link: EthernetLink): void {
    slot.link = link;
    const local = slot.end.local;
    link.onFrame((frame) => this.cb.frame(local, frame));
    link.onCarrier((up, reason) => this.cb.carrier(local, up, reason));
    if (!slot.adminUp) link.setAdminUp(false);
    if (link.carrier) this.cb.carrier(local, true, 'connected');
  }

  /** Dials every 'dial' end given a URL (the orchestrator's POST /control/peers). */
  dial(peers: Record<string, string>): string[] {
    const dialled: string[] = [];
    for (const [local, url] of Object.entries(peers)) {
      const slot = this.slots.get(local);
      if (!slot || slot.end.role !== 'dial') throw new VfabError('VFAB_NOT_FOUND', `${this.name} has no link end ${local} that dials out`);
      if (slot.link) slot.link.close();
      this.bind(slot, connectWsLink({ url, token: this.token, name: `${this.name}.${local}` }));
      dialled.push(local);
    }
    return dialled;
  }

  send(local: string, frame: Uint8Array): boolean {
    const link = this.slots.get(local)?.link;
    return link ? link.send(frame) : false;
  }

  /** Link for `local` (undefined until connected or dialled). */
  link(local: string): EthernetLink | undefined {
    return this.slots.get(local)?.link;
  }

  has(local: string): boolean {
    return this.slots.has(local);
  }

  setAdminUp(local: string, up: boolean): void {
    const slot = this.slots.get(local);
    if (!slot) throw new VfabError('VFAB_NOT_FOUND', `${this.name} has no link on ${local} (links: ${[...this.slots.keys()].join(', ') || 'none'})`);
    slot.adminUp = up;
    slot.link?.setAdminUp(up);
  }

  status() {
    return [...this.slots.values()].map((s) => ({
      local: s.end.local,
      peer: s.end.peer,
      role: s.end.role,
      carrier: s.link?.carrier ?? false,
      adminUp: s.adminUp,
      counters: s.link?.counters ?? null,
    }));
  }

  close(): void {
    for (const s of this.slots.values()) s.link?.close();
    this.server.close();
  }
}
