// The verdicts of the quickstart's failover check (what `npm start` promises a new user): a measured
// stream's frames lost and longest gap against a stated bound, and the reasons of the notify-switches
// RARPs one VM port sent. Pure: the caller (daemons/cli/commands/quickstart.ts) measures — frames sent
// counted by the sending host, frames delivered and arrival gaps counted by the receiving VM's sink
// (lib/traffic/stream.ts) — and this decides and words the summary row. Leaves out how the numbers are
// taken. Follows spec §3.7 (failover) and §3.10 (notify switches, one burst per event).

/** At most this share of the frames sent may be lost across the failover (%). */
export const FAILOVER_MAX_LOSS_PERCENT = 1;
/** The longest time between two frames arriving at the receiver must stay under this (ms). */
export const FAILOVER_MAX_GAP_MS = 100;
/** The sender must have reached this share of its target rate, or the run did not measure that rate. */
export const FAILOVER_MIN_SENT_RATIO = 0.95;

export interface FailoverMeasurement {
  /** Target rate of the stream (frames/s) and how long it ran (s). */
  ratePps: number;
  seconds: number;
  /** Frames the sending VM put on the wire (its host's count). */
  sent: number;
  /** Distinct frames the receiving VM got (its sink's count). */
  received: number;
  /** Longest time between two arrivals at the receiver (ms). */
  maxGapMs: number;
  /** Where that gap began, in ms after the uplink was pulled (negative: before), when known. */
  maxGapStartMsAfterPull?: number | null;
  /** The receiving port's uplink after the failover, and the one it should be on. */
  uplinkAfter: string | null;
  standby: string;
}

export interface CheckRow {
  expected: string;
  got: string;
  ok: boolean;
}

export interface FailoverVerdict extends CheckRow {
  lost: number;
  lossPercent: number;
}

function fmtPercent(p: number): string {
  return p === 0 ? '0 %' : `${p < 0.1 ? p.toFixed(2) : p.toFixed(1)} %`;
}

/** Judges a failover under traffic against FAILOVER_MAX_LOSS_PERCENT and FAILOVER_MAX_GAP_MS. */
export function judgeFailover(m: FailoverMeasurement): FailoverVerdict {
  const lost = Math.max(0, m.sent - m.received);
  const lossPercent = m.sent > 0 ? (lost / m.sent) * 100 : 100;
  const target = m.ratePps * m.seconds;
  const misses: string[] = [];
  if (m.sent < target * FAILOVER_MIN_SENT_RATIO) misses.push(`the sender reached only ${Math.round(m.sent / m.seconds)} of ${m.ratePps} frames/s`);
  if (m.received === 0) misses.push('nothing arrived');
  else {
    if (lossPercent > FAILOVER_MAX_LOSS_PERCENT) misses.push(`over ${FAILOVER_MAX_LOSS_PERCENT} % lost`);
    if (!(m.maxGapMs < FAILOVER_MAX_GAP_MS)) {
      // say where it was: a gap far from the pull is the machine pausing the fabric, not the failover
      const at = m.maxGapStartMsAfterPull;
      const where = at === undefined || at === null ? '' : `, from ${Math.round(Math.abs(at))} ms ${at < 0 ? 'before' : 'after'} the pull`;
      misses.push(`gap not under ${FAILOVER_MAX_GAP_MS} ms${where}`);
    }
  }
  if (m.uplinkAfter !== m.standby) misses.push(`not on ${m.standby}`);
  const got =
    `${m.received}/${m.sent} frames delivered, ${lost} lost (${fmtPercent(lossPercent)}), ` +
    `longest gap ${m.maxGapMs.toFixed(1)} ms, now on ${m.uplinkAfter ?? 'no uplink'}` +
    (misses.length > 0 ? ` (${misses.join('; ')})` : '');
  return {
    expected: `on ${m.standby}, <= ${FAILOVER_MAX_LOSS_PERCENT} % lost, gap < ${FAILOVER_MAX_GAP_MS} ms`,
    got,
    ok: misses.length === 0,
    lost,
    lossPercent,
  };
}

/** One notify event of a host's log, as far as this check reads it. */
export interface NotifySeen {
  port: string;
  uplink: string;
  reason: string;
}

/**
 * The RARPs one port sent from fabric start to just after one failover: `startup` bursts only (one per
 * uplink that took the port as uplinks got their first carrier), then exactly one `failover` burst on
 * `standby`. A start-up burst labelled `failback`, or a missing or extra burst, fails.
 */
export function judgeNotifyReasons(events: NotifySeen[], port: string, standby: string): CheckRow {
  const mine = events.filter((e) => e.port === port);
  const last = mine[mine.length - 1];
  const before = mine.slice(0, -1);
  const ok = before.length > 0 && before.every((e) => e.reason === 'startup') && last !== undefined && last.reason === 'failover' && last.uplink === standby;
  const runs: string[] = [];
  for (const e of mine) {
    const prev = runs.length > 0 ? runs[runs.length - 1]! : '';
    if (prev.startsWith(`${e.reason} on `)) runs[runs.length - 1] = `${prev}+${e.uplink}`;
    else runs.push(`${e.reason} on ${e.uplink}`);
  }
  return {
    expected: `startup, then failover on ${standby}`,
    got: mine.length > 0 ? runs.join(', ') : 'no RARPs',
    ok,
  };
}
