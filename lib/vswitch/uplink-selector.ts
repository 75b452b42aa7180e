// The seam between the vSwitch (forwarding, spec §1, §2, §4) and NIC teaming (spec §3). The vSwitch asks
// a selector which uplinks carry a port's frame out and whether a port may receive from an uplink (the
// reverse-path rule, §1.10). Uplinks are indices into the vSwitch's uplink list; a set of uplinks is a
// 32-bit mask (bit i = uplink i), so the per-frame call allocates nothing. A vSwitch has at most
// MAX_UPLINKS_PER_VSWITCH uplinks. Leaves out how the choice is made: lib/teaming implements policies;
// FirstActiveUplinkSelector below is the simple default (pin to the first uplink whose link is up).

import type { Mac } from '../wire/mac.js';

/** Masks are 32-bit, so a team has at most 32 uplinks (spec §8: up to 32 1 GbE pNICs per host). */
export const MAX_UPLINKS_PER_VSWITCH = 32;

export interface PortTeamingView {
  /** vSwitch port ID (stable while the port is connected; the input of "originating port ID"). */
  portId: number;
  /** Port group name; teaming policy may be overridden per port group. */
  portGroup: string;
  /** The port's effective MAC (source-MAC hash input, RARP source). */
  mac: Mac;
}

export interface UplinkSelector {
  /**
   * Uplinks that carry `frame`, sent by `port`, out of the vSwitch: one bit for one uplink, several only
   * for beacon-probing "shotgun" (§3.9), 0 when no uplink is usable. Called per frame; must not allocate.
   */
  selectEgress(port: PortTeamingView, frame: Uint8Array): number;
  /**
   * Reverse-path rule (§1.10): may `port` receive `frame` that arrived on uplink `uplinkIndex`? Decided by
   * port and uplink (at most the frame's first 16 bytes): VSwitch.fromUplinkRun applies one answer to a
   * run of frames that share those bytes.
   */
  acceptsIngress(port: PortTeamingView, uplinkIndex: number, frame: Uint8Array): boolean;
}

/** Link state the default selector reads; the vSwitch owns it. */
export interface UplinkLinkState {
  readonly uplinkCount: number;
  isUplinkUp(uplinkIndex: number): boolean;
}

/**
 * Default until teaming is configured: every port uses the first uplink whose link is up, in order.
 * Inbound frames are accepted only from that uplink, so a broadcast flooded on every uplink reaches each
 * port once (§1.10).
 */
export class FirstActiveUplinkSelector implements UplinkSelector {
  constructor(private readonly links: UplinkLinkState) {}
  private first(): number {
    for (let i = 0; i < this.links.uplinkCount; i++) if (this.links.isUplinkUp(i)) return i;
    return -1;
  }
  selectEgress(): number {
    const i = this.first();
    return i < 0 ? 0 : 1 << i;
  }
  acceptsIngress(_port: PortTeamingView, uplinkIndex: number): boolean {
    return this.first() === uplinkIndex;
  }
}
