// The fabric clock across machines: each daemon on Kubernetes runs its own clock (no shared monotonic
// clock between machines), so the gateway measures how far each daemon's clock is from its own with a
// request round trip, NTP-like (RFC 5905's offset estimate with one exchange): the daemon reads its clock
// while answering, somewhere between the gateway's send and receive times; assuming the middle gives the
// offset, wrong by at most half the round trip. Of several samples the one with the shortest round trip
// wins (least room for error). An event stamped with its daemon's clock is put on the gateway's clock by
// subtracting that daemon's offset. Pure: the times are passed in. Leaves out clock drift (samples are
// retaken periodically by the gateway) and NTP's filtering over many exchanges.

/** One exchange: gateway clock at send and receive, the daemon's clock in its reply (all ms). */
export interface OffsetSample {
  sentMs: number;
  daemonMs: number;
  receivedMs: number;
}

export interface ClockOffset {
  /** daemon clock - gateway clock, ms. */
  offsetMs: number;
  /** The round trip of the sample used: the offset is exact to within half of it. */
  rttMs: number;
}

/** Samples kept per daemon: enough to find one quick round trip, bounded. */
export const MAX_OFFSET_SAMPLES = 16;

/** The offset one exchange implies (undefined when the times go backwards: a broken sample). */
export function offsetOf(s: OffsetSample): ClockOffset | undefined {
  const rttMs = s.receivedMs - s.sentMs;
  if (!Number.isFinite(rttMs) || rttMs < 0 || !Number.isFinite(s.daemonMs)) return undefined;
  return { offsetMs: s.daemonMs - (s.sentMs + rttMs / 2), rttMs };
}

/** The offset of the sample with the shortest round trip (undefined: no usable sample). */
export function bestOffset(samples: readonly OffsetSample[]): ClockOffset | undefined {
  let best: ClockOffset | undefined;
  for (const s of samples.slice(-MAX_OFFSET_SAMPLES)) {
    const o = offsetOf(s);
    if (o !== undefined && (best === undefined || o.rttMs < best.rttMs)) best = o;
  }
  return best;
}

/** A time on a daemon's clock, on the gateway's clock. */
export function toGatewayMs(daemonMs: number, offset: ClockOffset): number {
  return daemonMs - offset.offsetMs;
}
