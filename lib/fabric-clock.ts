// The fabric clock: one time base for every event and every captured frame of a running fabric.
// `vfab up` reads the machine's monotonic clock (CLOCK_MONOTONIC, which every process on one Linux
// machine shares) and the wall clock once, together, and records both as the anchor in the state file and
// in every daemon's config. Fabric time is then (monotonic now - anchor) x timeScale, the same number in
// every process; wall time is the anchor's wall time plus fabric time. Events carry fabric ms; capture
// records carry wall ns on the same line, so a frame and an event that happened together print together.
// Pure: the monotonic reading is passed in (daemons/common/fabric-clock.ts reads it). Leaves out clocks
// of other machines: on Kubernetes each daemon runs its own clock and the gateway measures the offsets
// (lib/k8s/clock-offset.ts, docs/kubernetes.md).

/** Recorded once by `vfab up`: the monotonic and wall clocks read at the same instant. */
export interface FabricClockAnchor {
  /** CLOCK_MONOTONIC in ns, as a decimal string (JSON has no 64-bit integers). */
  monotonicNs: string;
  /** Unix epoch ms at the same instant. */
  wallMs: number;
}

export const NS_PER_MS = 1_000_000;
/** Event times are kept to the microsecond: finer than any hop between daemons (tens of µs). */
export const EVENT_TIME_DECIMALS = 3;

/** The anchor's monotonic reading as a number to subtract (parse once, read the clock often). */
export function anchorOriginNs(anchor: FabricClockAnchor): bigint {
  return BigInt(anchor.monotonicNs);
}

/** Fabric ns since the anchor for a monotonic reading (scaled: time runs `timeScale` times faster). */
export function fabricNsAt(originNs: bigint, monotonicNs: bigint, timeScale = 1): number {
  return Number(monotonicNs - originNs) * timeScale;
}

/** Fabric ms rounded to the microsecond, as events carry it. */
export function eventTimeMs(fabricMs: number): number {
  const f = 10 ** EVENT_TIME_DECIMALS;
  return Math.round(fabricMs * f) / f;
}

/** A capture timestamp (ns since the Unix epoch) for a fabric time: the anchor's wall time plus it. */
export function captureTimestampNs(anchor: FabricClockAnchor, fabricNs: number): bigint {
  return BigInt(Math.round(anchor.wallMs)) * BigInt(NS_PER_MS) + BigInt(Math.round(fabricNs));
}

/** The fabric ms of a capture timestamp (the inverse of captureTimestampNs). */
export function fabricMsOfCapture(anchor: FabricClockAnchor, timestampNs: bigint): number {
  return Number(timestampNs - BigInt(Math.round(anchor.wallMs)) * BigInt(NS_PER_MS)) / NS_PER_MS;
}

/** Wall time of a fabric time, UTC, to the microsecond: `2026-12-06T07:15:27.123456Z`. */
export function wallTimeText(anchor: FabricClockAnchor, fabricMs: number): string {
  const totalUs = Math.round((anchor.wallMs + fabricMs) * 1000);
  const ms = Math.floor(totalUs / 1000);
  const us = totalUs - ms * 1000;
  return new Date(ms).toISOString().replace(/Z$/, `${String(us).padStart(3, '0')}Z`);
}

/** Time of day of a fabric time, UTC, to the microsecond: `07:15:27.123456`. */
export function wallClockText(anchor: FabricClockAnchor, fabricMs: number): string {
  return wallTimeText(anchor, fabricMs).slice(11, -1);
}
