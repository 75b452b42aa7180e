// The pure parts of the guests benchmark (bench/guests.ts, docs/guests.md "Measured"): reading iperf3's
// JSON (throughput, retransmissions, the receiver's short intervals), the longest stall of a TCP flow
// (consecutive receiver intervals that carried nothing) and the time a dip cost, ping's per-reply round
// trip times and their percentiles. No I/O: the bench runs the
// tools and hands their output here; test/bench/guests.test.ts checks these against fixtures.
// Leaves out UDP tests, several streams (-P) and reverse mode: the bench runs one TCP flow.

/** One reporting interval of iperf3 (seconds since the test started, bytes carried in it). */
export interface IperfInterval {
  start: number;
  end: number;
  bytes: number;
}

export interface IperfRun {
  /** Payload bits per second the receiver got over the whole test. */
  receivedBitsPerSecond: number;
  receivedBytes: number;
  seconds: number;
  /** TCP retransmissions the sender's kernel counted (null when iperf3 did not report them). */
  retransmits: number | null;
  /** The connection's MSS (start.tcp_mss_default; 1448 on a 1500-byte MTU with timestamps). */
  mss: number;
  /** Full-size data segments the payload took: receivedBytes / mss, rounded up (ACKs not counted). */
  segments: number;
  /** The receiver's intervals (from --get-server-output), else the sender's. */
  intervals: IperfInterval[];
  intervalsFrom: 'receiver' | 'sender';
}

/** TCP payload per segment on a 1500-byte MTU with timestamps, when iperf3 does not say. */
export const DEFAULT_MSS = 1448;

export class GuestBenchParseError extends Error {}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new GuestBenchParseError(`iperf3 JSON: ${what} is not a number`);
  return v;
}

function intervalsOf(doc: any): IperfInterval[] {
  if (!Array.isArray(doc?.intervals)) return [];
  return doc.intervals.filter((i: any) => i?.sum && !i.sum.omitted).map((i: any) => ({ start: num(i.sum.start, 'interval start'), end: num(i.sum.end, 'interval end'), bytes: num(i.sum.bytes, 'interval bytes') }));
}

/** Reads a client's `iperf3 -c ... -J [--get-server-output]` document; throws GuestBenchParseError when it is not one. */
export function parseIperfJson(text: string): IperfRun {
  let doc: any;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new GuestBenchParseError(`iperf3 output is not JSON: ${text.slice(0, 200)}`);
  }
  if (typeof doc?.error === 'string') throw new GuestBenchParseError(`iperf3: ${doc.error}`);
  const recv = doc?.end?.sum_received;
  const sent = doc?.end?.sum_sent;
  if (!recv || !sent) throw new GuestBenchParseError('iperf3 JSON: no end.sum_received / end.sum_sent (not a TCP client run?)');
  const server = doc.server_output_json;
  const fromServer = intervalsOf(server);
  const mss = typeof doc.start?.tcp_mss_default === 'number' && doc.start.tcp_mss_default > 0 ? doc.start.tcp_mss_default : DEFAULT_MSS;
  const receivedBytes = num(recv.bytes, 'end.sum_received.bytes');
  return {
    receivedBitsPerSecond: num(recv.bits_per_second, 'end.sum_received.bits_per_second'),
    receivedBytes,
    mss,
    segments: Math.ceil(receivedBytes / mss),
    seconds: num(recv.seconds, 'end.sum_received.seconds'),
    retransmits: typeof sent.retransmits === 'number' ? sent.retransmits : null,
    intervals: fromServer.length > 0 ? fromServer : intervalsOf(doc),
    intervalsFrom: fromServer.length > 0 ? 'receiver' : 'sender',
  };
}

/**
 * The longest run of consecutive intervals that carried no byte, in ms (0 when every interval carried
 * something). A run still open at the last interval counts to its end: a flow that never recovered.
 */
export function longestStallMs(intervals: readonly IperfInterval[]): number {
  let best = 0;
  let runStart: number | null = null;
  for (const i of intervals) {
    if (i.bytes === 0) {
      runStart ??= i.start;
      best = Math.max(best, i.end - runStart);
    } else runStart = null;
  }
  return +(best * 1000).toFixed(1);
}

/**
 * The time a dip in throughput cost, in ms: over the intervals from `fromSeconds` on, the sum of each
 * interval's shortfall against the median interval rate of the whole run (an interval at half the rate
 * for 100 ms costs 50 ms). Catches stalls shorter than one interval, which longestStallMs cannot see.
 */
export function dipMs(intervals: readonly IperfInterval[], fromSeconds: number, toSeconds = Infinity): number {
  const rates = intervals.filter((i) => i.end > i.start).map((i) => i.bytes / (i.end - i.start)).sort((a, b) => a - b);
  if (rates.length === 0) return 0;
  const typical = rates[rates.length >> 1]!;
  if (typical <= 0) return 0;
  let lost = 0;
  for (const i of intervals) {
    if (i.end <= fromSeconds || i.start >= toSeconds || i.end <= i.start) continue;
    lost += Math.max(0, (i.end - i.start) * (1 - i.bytes / (i.end - i.start) / typical));
  }
  return +(lost * 1000).toFixed(1);
}

/** The round trip times (ms) of each reply in ping's output (`... time=0.673 ms`); duplicates and errors are left out. */
export function parsePingRtts(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (line.includes('(DUP!)')) continue;
    const m = /\btime[=<]([\d.]+) ?ms\b/.exec(line);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

/** Value at quantile q (0..1) by nearest rank, or null for no samples. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
