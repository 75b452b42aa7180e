// `npm run bench` options (bench/options.ts): defaults, and strict checking that names what the user
// typed (bench/index.ts turns a BenchUsageError into exit 2). Leaves out running the bench.

import { expect } from 'chai';
import { AREAS, BenchUsageError, MAX_SCALE_HOSTS, MAX_SCALE_SIZES, parseBenchArgs } from '../../bench/options.js';
import { DEFAULT_ROUNDS, MAX_ROUNDS } from '../../bench/harness.js';

function usageError(argv: string[]): string {
  try {
    parseBenchArgs(argv);
  } catch (e) {
    expect(e).to.be.instanceOf(BenchUsageError);
    return (e as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('bench options', () => {
  it('runs every area with the default rounds when given nothing', () => {
    expect(parseBenchArgs([])).to.deep.equal({ json: false, help: false, areas: [...AREAS] }); // rounds: each area's default
    expect(DEFAULT_ROUNDS).to.be.at.least(5);
  });

  it('takes --only as a list of areas, run in the fixed order', () => {
    expect(parseBenchArgs(['--only', 'cli,fabric']).areas).to.deep.equal(['fabric', 'cli']);
    expect(parseBenchArgs(['--only', 'storage']).areas).to.deep.equal(['storage']);
    expect(parseBenchArgs(['--only', 'iscsi,storage']).areas).to.deep.equal(['storage', 'iscsi']);
  });

  it('takes --rounds, --seconds and --json', () => {
    expect(parseBenchArgs(['--rounds', '2', '--seconds', '1.5', '--json'])).to.include({ rounds: 2, seconds: 1.5, json: true });
    expect(parseBenchArgs(['--rounds', String(MAX_ROUNDS)]).rounds).to.equal(MAX_ROUNDS);
  });

  it('names an unknown option or a stray argument', () => {
    expect(usageError(['--round', '3'])).to.equal("unknown option '--round'");
    expect(usageError(['fabric'])).to.match(/unexpected argument 'fabric'/);
  });

  it('rejects --rounds that is not a whole number from 1 to the maximum', () => {
    for (const bad of ['0', String(MAX_ROUNDS + 1), '2.5', 'five', '']) {
      expect(usageError(['--rounds', bad])).to.equal(`--rounds ${bad}: want a whole number from 1 to ${MAX_ROUNDS}`);
    }
    expect(usageError(['--rounds'])).to.equal('--rounds needs a value');
    expect(usageError(['--rounds', '-1'])).to.equal('--rounds needs a value'); // a leading dash reads as the next option
  });

  it('rejects --seconds out of range or not a number, and an unknown area', () => {
    expect(usageError(['--seconds', '0.1'])).to.match(/^--seconds 0.1: want a number of seconds/);
    expect(usageError(['--seconds', '11'])).to.match(/^--seconds 11:/);
    expect(usageError(['--seconds', '1e0'])).to.match(/^--seconds 1e0:/);
    expect(usageError(['--only', 'fabric,nfs'])).to.match(/^--only fabric,nfs: unknown area 'nfs'/);
    expect(usageError(['--only', ''])).to.match(/^--only : unknown area/);
  });

  it('takes --hosts as the scale area\'s sizes: even numbers in range, a bounded list', () => {
    expect(parseBenchArgs(['--only', 'scale', '--hosts', '10, 50,100']).hosts).to.deep.equal([10, 50, 100]);
    expect(parseBenchArgs(['--hosts', String(MAX_SCALE_HOSTS)]).hosts).to.deep.equal([MAX_SCALE_HOSTS]);
    for (const bad of ['11', '0', String(MAX_SCALE_HOSTS + 2), 'ten', '', '2.0']) {
      expect(usageError(['--hosts', bad])).to.match(new RegExp(`^--hosts ${bad}: '`));
    }
    expect(usageError(['--hosts', Array(MAX_SCALE_SIZES + 1).fill('2').join(',')])).to.match(/at most \d+ sizes/);
  });
});
