// The pure parts of the benchmark harness (bench/harness.ts, docs/benchmarks.md): medians and spreads,
// the interleaved order of the sides, ratios taken per round (not of two medians), the noise verdict and
// target verdicts, and runComparison's bookkeeping with fake sides and a fake machine (no timing, no /proc).
// Leaves out the real measurements (npm run bench).

import { expect } from 'chai';
import {
  FOREIGN_LOAD_LIMIT_CORES,
  MACHINE_SPEED_TOLERANCE_PERCENT,
  formatComparison,
  judgeTarget,
  median,
  noiseVerdict,
  ratioOf,
  roundOrder,
  roundRatios,
  runComparison,
  spread,
  summarizeRounds,
  type FigureSpec,
  type MachineMeters,
  type RoundRecord,
  type Side,
} from '../../bench/harness.js';

const FIGS: FigureSpec[] = [
  { id: 'rate', label: 'frames/s', better: 'higher' },
  { id: 'cpu', label: 'CPU ns/frame', better: 'lower' },
  { id: 'hits', label: 'cache hits', better: 'higher', ratio: false },
];

function rec(round: number, values: RoundRecord['values'], baseline = 'b'): RoundRecord {
  return { round, order: Object.keys(values), values, ratio: roundRatios(FIGS, values, baseline), wallSeconds: 1, foreignCores: 0 };
}

/** A machine whose probe returns the given timings in turn and whose CPU counters the test sets. */
function fakeMachine(probes: number[], foreignPerRound = 0): MachineMeters {
  let i = 0;
  let now = 0;
  let machine = 0;
  return {
    probe: () => probes[Math.min(i++, probes.length - 1)]!,
    cpu: () => {
      machine += foreignPerRound / 2; // read twice a round: foreignPerRound / 2 CPU seconds in between
      return { machine, ours: 0 };
    },
    nowMs: () => (now += 500), // read twice a round: a round lasts 0.5 s
  };
}

describe('bench harness: stats', () => {
  it('median of odd and even counts, and of nothing', () => {
    expect(median([5, 1, 3])).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([])).to.equal(null);
  });

  it('spread leaves out missing and non-finite values', () => {
    expect(spread([3, null, 1, NaN, 2, undefined, Infinity])).to.deep.equal({ median: 2, min: 1, max: 3 });
    expect(spread([null, NaN])).to.deep.equal({ median: null, min: null, max: null });
  });

  it('ratioOf is null when a side is missing or the baseline is 0', () => {
    expect(ratioOf(3, 4)).to.equal(0.75);
    expect(ratioOf(3, 0)).to.equal(null);
    expect(ratioOf(null, 4)).to.equal(null);
    expect(ratioOf(3, undefined)).to.equal(null);
  });
});

describe('bench harness: interleaving', () => {
  it('runs the sides as given in even rounds and reversed in odd ones (A B, B A, A B ...)', () => {
    expect([0, 1, 2, 3].map((r) => roundOrder(['A', 'B'], r).join(''))).to.deep.equal(['AB', 'BA', 'AB', 'BA']);
    expect(roundOrder(['A', 'B', 'C'], 1)).to.deep.equal(['C', 'B', 'A']);
  });

  it('does not reorder the caller array', () => {
    const sides = ['A', 'B'];
    roundOrder(sides, 1);
    expect(sides).to.deep.equal(['A', 'B']);
  });
});

describe('bench harness: per-round ratios', () => {
  it('divides every non-baseline side by the baseline of the same round, skipping figures without a ratio', () => {
    const r = roundRatios(FIGS, { a: { rate: 8, cpu: 300, hits: 1 }, b: { rate: 10, cpu: 200, hits: null }, c: { rate: 5, cpu: null, hits: null } }, 'b');
    expect(r).to.deep.equal({ a: { rate: 0.8, cpu: 1.5 }, c: { rate: 0.5, cpu: null } });
  });

  it('the ratio summary is the median of the per-round ratios, not the ratio of the medians', () => {
    // a: 10, 20, 40; b: 10, 10, 80 -> per-round ratios 1, 2, 0.5 (median 1); medians 20 / 10 = 2
    const rounds = [rec(1, { a: { rate: 10 }, b: { rate: 10 } }), rec(2, { a: { rate: 20 }, b: { rate: 10 } }), rec(3, { a: { rate: 40 }, b: { rate: 80 } })];
    const s = summarizeRounds(FIGS, ['a', 'b'], 'b', rounds);
    expect(s.rate!.sides.a).to.deep.equal({ median: 20, min: 10, max: 40 });
    expect(s.rate!.sides.b).to.deep.equal({ median: 10, min: 10, max: 80 });
    expect(s.rate!.ratio.a).to.deep.equal({ median: 1, min: 0.5, max: 2 });
    expect(s.rate!.ratio).to.not.have.property('b');
    expect(s.hits!.ratio).to.deep.equal({});
  });

  it('a series (no baseline) has spreads and no ratios', () => {
    const s = summarizeRounds(FIGS, ['a'], undefined, [rec(1, { a: { rate: 3 } }, undefined as unknown as string)]);
    expect(s.rate!.sides.a!.median).to.equal(3);
    expect(s.rate!.ratio).to.deep.equal({});
  });
});

describe('bench harness: noise verdict', () => {
  it('is steady while the probe stays within the tolerance and other load below the limit', () => {
    const v = noiseVerdict([10, 10 * (1 + MACHINE_SPEED_TOLERANCE_PERCENT / 100), 10.5], [0, FOREIGN_LOAD_LIMIT_CORES, 0.1]);
    expect(v.verdict).to.equal('steady');
    expect(v.speedMovedPercent).to.equal(MACHINE_SPEED_TOLERANCE_PERCENT);
    expect(v.reasons).to.deep.equal([]);
  });

  it('is noisy when the machine speed moved more than the tolerance between any two probes', () => {
    const moved = MACHINE_SPEED_TOLERANCE_PERCENT + 2;
    const v = noiseVerdict([10, 10.2, 10 * (1 + moved / 100), 10.1], [0, 0]);
    expect(v.verdict).to.equal('noisy');
    expect(v.speedMovedPercent).to.equal(moved);
    expect(v.reasons[0]).to.include(`machine speed moved ${moved} %`);
  });

  it('is noisy when other processes used more than the limit (median over the rounds)', () => {
    const v = noiseVerdict([10, 10], [0.1, 0.5, 0.6]);
    expect(v.verdict).to.equal('noisy');
    expect(v.foreignCores.median).to.equal(0.5);
    expect(v.reasons[0]).to.match(/other processes used 0.50 CPUs/);
    // one disturbed round out of three does not make the comparison noisy (the medians absorb it)
    expect(noiseVerdict([10, 10], [0, 1.5, 0.1]).verdict).to.equal('steady');
  });

  it('without /proc (no foreign load known) it judges on the probe alone', () => {
    const v = noiseVerdict([10, 10], [null, null]);
    expect(v.verdict).to.equal('steady');
    expect(v.foreignCores.median).to.equal(null);
  });
});

describe('bench harness: targets', () => {
  const figures = summarizeRounds(FIGS, ['a', 'b'], 'b', [rec(1, { a: { rate: 7, cpu: 10 }, b: { rate: 10, cpu: 10 } })]);
  const base = { text: 't', why: 'w', side: 'a' };

  it('judges a ratio target on the median per-round ratio, at the limit included', () => {
    expect(judgeTarget({ ...base, figure: 'rate', on: 'ratio', atLeast: 0.7 }, figures)).to.include({ value: 0.7, met: true });
    expect(judgeTarget({ ...base, figure: 'rate', on: 'ratio', atLeast: 0.71 }, figures).met).to.equal(false);
  });

  it('judges a value target on the side median', () => {
    expect(judgeTarget({ ...base, figure: 'cpu', on: 'value', atMost: 10 }, figures)).to.include({ value: 10, met: true });
    expect(judgeTarget({ ...base, figure: 'cpu', on: 'value', atMost: 9.9 }, figures).met).to.equal(false);
  });

  it('is not measured when the figure has no value', () => {
    expect(judgeTarget({ ...base, figure: 'missing', on: 'value', atMost: 1 }, figures)).to.include({ value: null, met: null });
  });
});

describe('bench harness: runComparison', () => {
  function side(id: string, seq: string[], values: number[]): Side {
    return {
      id,
      label: id.toUpperCase(),
      measure: async (round) => {
        seq.push(id);
        return { rate: values[round]!, cpu: 100 };
      },
    };
  }

  it('measures every side every round in the interleaved order and keeps every round', async () => {
    const seq: string[] = [];
    const res = await runComparison({ name: 'x', figures: FIGS.slice(0, 2), sides: [side('a', seq, [8, 9, 10]), side('b', seq, [10, 10, 10])], baseline: 'b', rounds: 3, machine: fakeMachine([10]) });
    expect(seq).to.deep.equal(['a', 'b', 'b', 'a', 'a', 'b']);
    expect(res.rounds.map((r) => r.order)).to.deep.equal([['a', 'b'], ['b', 'a'], ['a', 'b']]);
    expect(res.rounds.map((r) => r.ratio.a!.rate)).to.deep.equal([0.8, 0.9, 1]);
    expect(Object.keys(res.rounds[1]!.values)).to.deep.equal(['a', 'b']);
    expect(res.figures.rate!.ratio.a).to.deep.equal({ median: 0.9, min: 0.8, max: 1 });
    expect(res.baseline).to.equal('b');
  });

  it('probes the machine before the rounds and after each, and marks the comparison noisy when it moved', async () => {
    const seq: string[] = [];
    const steady = await runComparison({ name: 'x', figures: FIGS.slice(0, 1), sides: [side('a', seq, [1, 1]), side('b', seq, [1, 1])], baseline: 'b', rounds: 2, machine: fakeMachine([10, 10.4, 10.2]) });
    expect(steady.noise.probeMs).to.deep.equal([10, 10.4, 10.2]);
    expect(steady.noise.verdict).to.equal('steady');
    const moved = await runComparison({ name: 'x', figures: FIGS.slice(0, 1), sides: [side('a', seq, [1, 1]), side('b', seq, [1, 1])], baseline: 'b', rounds: 2, machine: fakeMachine([10, 10, 13]) });
    expect(moved.noise.verdict).to.equal('noisy');
  });

  it('counts the CPU the machine spent outside the bench per round as foreign load', async () => {
    const seq: string[] = [];
    const res = await runComparison({ name: 'x', figures: FIGS.slice(0, 1), sides: [side('a', seq, [1, 1]), side('b', seq, [1, 1])], baseline: 'b', rounds: 2, machine: fakeMachine([10], 1) });
    expect(res.rounds.map((r) => r.foreignCores)).to.deep.equal([1, 1]);
    expect(res.noise.verdict).to.equal('noisy');
  });

  it('warms every side up once, unmeasured, before the first round', async () => {
    const seq: string[] = [];
    const a = { ...side('a', seq, [1, 1]), warmUp: async () => void seq.push('warm a') };
    const b = { ...side('b', seq, [1, 1]), warmUp: async () => void seq.push('warm b') };
    const res = await runComparison({ name: 'x', figures: FIGS.slice(0, 1), sides: [a, b], baseline: 'b', rounds: 2, machine: fakeMachine([10]) });
    expect(seq).to.deep.equal(['warm a', 'warm b', 'a', 'b', 'b', 'a']);
    expect(res.rounds).to.have.length(2);
  });

  it('rejects a baseline that is not one of the sides', async () => {
    let err: unknown;
    try {
      await runComparison({ name: 'x', figures: FIGS, sides: [side('a', [], [1])], baseline: 'z', rounds: 1, machine: fakeMachine([10]) });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/baseline z is not a side/);
  });

  it('prints each ratio with its range and says when not to trust the comparison', async () => {
    const seq: string[] = [];
    const res = await runComparison({ name: 'fabric 64 B', figures: FIGS.slice(0, 1), sides: [side('a', seq, [5, 8, 10]), side('b', seq, [10, 10, 10])], baseline: 'b', rounds: 3, machine: fakeMachine([10, 10, 20, 10]), targets: [{ text: 'A >= 0.7 x B', figure: 'rate', side: 'a', on: 'ratio', atLeast: 0.7, why: 'w' }] });
    const text = formatComparison(res).join('\n');
    expect(text).to.match(/ratio frames\/s\s+0\.80 \(0\.50-1\.00\)/);
    expect(text).to.include('A >= 0.7 x B: 0.80 met');
    expect(text).to.match(/NOISY, do not trust/);
  });
});
