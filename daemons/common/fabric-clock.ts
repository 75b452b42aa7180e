// Reading the fabric clock (lib/fabric-clock.ts) in a process: process.hrtime.bigint() is libuv's
// uv_hrtime, CLOCK_MONOTONIC on Linux, one clock for every process of the machine, so readings taken in
// different daemons compare directly (test/e2e/fabric/clock.test.ts checks that across processes).
// Covers taking the anchor (`vfab up`) and a Clock on it for daemons and the CLI. Leaves out the math.

import type { Clock } from '../../lib/clock.js';
import { type FabricClockAnchor, anchorOriginNs, captureTimestampNs, fabricNsAt, NS_PER_MS } from '../../lib/fabric-clock.js';

/** The monotonic and wall clocks read together (wall first, then monotonic: a few hundred ns apart). */
export function takeClockAnchor(): FabricClockAnchor {
  const wallMs = Date.now();
  return { monotonicNs: String(process.hrtime.bigint()), wallMs };
}

/** Fabric time in this process. Without an anchor (a daemon started by hand) the anchor is taken now. */
export class FabricClock implements Clock {
  readonly anchor: FabricClockAnchor;
  private readonly originNs: bigint;

  constructor(anchor: FabricClockAnchor | undefined, private readonly timeScale = 1) {
    this.anchor = anchor ?? takeClockAnchor();
    this.originNs = anchorOriginNs(this.anchor);
  }

  /** Fabric ns since the anchor (scaled). */
  nowNs(): number {
    return fabricNsAt(this.originNs, process.hrtime.bigint(), this.timeScale);
  }

  nowMs(): number {
    return this.nowNs() / NS_PER_MS;
  }

  /** Now as a capture timestamp: ns since the Unix epoch on the fabric's line. */
  captureNowNs(): bigint {
    return captureTimestampNs(this.anchor, this.nowNs());
  }
}
