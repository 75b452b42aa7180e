// The CLI's option table (daemons/cli/options.ts): every kind of bad value is a usage error that names
// the option as the user typed it; unknown options and actions get "did you mean"; defaults, required
// options, repeatable options and per-verb options; --help generated from the table. Pure, in-process.
// Leaves out the commands themselves (cli-registry.test.ts, test/e2e/fabric/cli-contract.test.ts).

import { expect } from 'chai';
import { type CommandSpec, UsageError, convertValue, parseCommandLine, renderHelp } from '../../daemons/cli/options.js';

const SPEC = {
  usage: ['make|list NAME [options]'],
  description: 'A command for tests.',
  options: {
    vlan: { type: 'int', min: 0, max: 4095, description: 'VLAN ID' },
    count: { type: 'int', short: 'c', min: 1, max: 100, default: 4, description: 'how many' },
    ratio: { type: 'number', min: 0, max: 100, description: 'percent' },
    block: { type: 'size', min: 512, max: 1024 * 1024, default: 4096, description: 'bytes per I/O' },
    wait: { type: 'duration', unit: 'ms', min: 1, max: 60_000, default: 200, description: 'time to wait' },
    format: { type: 'enum', values: ['pcap', 'pcapng'], description: 'file format' },
    out: { type: 'string', short: 'w', required: true, verbs: ['make'], description: 'where' },
    node: { type: 'string', repeatable: true, description: 'a node' },
    json: { type: 'bool', description: 'JSON' },
  },
  args: { min: 1, max: 2 },
  verbs: ['make', 'list'],
  examples: ['test make x -w f'],
} satisfies CommandSpec;

const parse = (argv: string[]) => parseCommandLine('test', SPEC, argv);
function usageError(argv: string[]): string {
  try {
    parse(argv);
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    expect((e as UsageError).code).to.equal('VFAB_USAGE');
    return (e as Error).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

describe('CLI option table: parsing and checking values', () => {
  it('fills defaults and converts every type', () => {
    const p = parse(['make', 'x', '-w', 'f', '--vlan', '10', '--ratio=2.5', '--block', '16k', '--wait', '2s', '--format', 'pcapng', '--node', 'a', '--node=b', '--json']);
    expect(p.positionals).to.deep.equal(['make', 'x']);
    expect(p.values).to.deep.equal({ vlan: 10, count: 4, ratio: 2.5, block: 16384, wait: 2000, format: 'pcapng', out: 'f', node: ['a', 'b'], json: true });
    expect(p.typed.out).to.equal('-w f');
    const d = parse(['list']);
    expect(d.values).to.include({ count: 4, block: 4096, wait: 200, json: false });
    expect(d.values.vlan).to.equal(undefined);
    expect(d.values.node).to.deep.equal([]);
  });

  it('each kind of bad value names the option as typed, with the value and the rule', () => {
    expect(usageError(['list', '--vlan', '5000'])).to.equal('--vlan 5000: must be 0-4095');
    expect(usageError(['list', '--vlan=-1'])).to.equal('--vlan -1: must be 0-4095');
    expect(usageError(['list', '--vlan', '-1'])).to.equal('--vlan -1: must be 0-4095');
    expect(usageError(['list', '-c', 'abc'])).to.equal('-c abc: must be a whole number 1-100');
    expect(usageError(['list', '--count', '2.5'])).to.match(/^--count 2\.5: must be a whole number/);
    expect(usageError(['list', '--count', '0'])).to.equal('--count 0: must be 1-100');
    expect(usageError(['list', '--ratio', '1e3'])).to.match(/^--ratio 1e3: must be a number 0-100/);
    expect(usageError(['list', '--block', '16X'])).to.match(/^--block 16X: not a size/);
    expect(usageError(['list', '--block', '4m'])).to.match(/^--block 4m: must be 512-1M \(4194304 bytes\)/);
    expect(usageError(['list', '--wait', 'soon'])).to.match(/^--wait soon: not a duration/);
    expect(usageError(['list', '--wait', '2m'])).to.match(/^--wait 2m: must be 1-60000/);
    expect(usageError(['list', '--format', 'pcapn'])).to.equal('--format pcapn: must be one of pcap, pcapng (did you mean pcap?)');
    expect(usageError(['list', '--format', 'bogus'])).to.equal('--format bogus: must be one of pcap, pcapng');
    expect(usageError(['list', '--json=yes'])).to.match(/^--json takes no value/);
    expect(usageError(['list', '--vlan'])).to.match(/^--vlan needs a value/);
    expect(usageError(['list', '--vlan', '1', '--vlan', '2'])).to.match(/^--vlan given more than once/);
  });

  it('size and duration accept the usual spellings and nothing else', () => {
    const size = SPEC.options.block;
    expect([convertValue(size, '4k', '--block'), convertValue(size, '4K', '--block'), convertValue(size, '4KiB', '--block'), convertValue(size, '4096', '--block')]).to.deep.equal([4096, 4096, 4096, 4096]);
    expect(() => convertValue(size, ' 4k', '--block')).to.throw(/not a size/);
    expect(() => convertValue(size, '4 kb x', '--block')).to.throw(/not a size/);
    const wait = SPEC.options.wait;
    expect([convertValue(wait, '500', '--wait'), convertValue(wait, '500ms', '--wait'), convertValue(wait, '1.5s', '--wait'), convertValue(wait, '1m', '--wait')]).to.deep.equal([500, 500, 1500, 60_000]);
    expect(() => convertValue({ type: 'duration', unit: 's', description: '' }, '-1', '--seconds')).to.throw(/^--seconds -1: not a duration/);
  });

  it('unknown options are errors with did-you-mean; so are unknown actions', () => {
    expect(usageError(['list', '--vlna', '10'])).to.match(/^unknown option --vlna \(did you mean --vlan\?\)/);
    expect(usageError(['list', '--count-x'])).to.match(/^unknown option --count-x \(did you mean --count\?\)/);
    expect(usageError(['list', '-z'])).to.match(/^unknown option -z /);
    expect(usageError(['mkae', 'x'])).to.match(/unknown action "mkae" for vfab test: one of make, list \(did you mean make\?\)/);
  });

  it('required options, per-verb options and the positional count are checked', () => {
    expect(usageError(['make', 'x'])).to.match(/^-w VALUE is required for vfab test make/);
    expect(parse(['list']).values.out).to.equal(undefined);
    expect(usageError(['list', '-w', 'f'])).to.equal('-w does not apply to vfab test list (it is for: make)');
    expect(usageError([])).to.match(/^vfab test takes 1-2 arguments, got 0/);
    expect(usageError(['list', 'a', 'b'])).to.match(/got 3: unexpected "b"/);
    expect(parse(['list', '--', '--vlan']).positionals).to.deep.equal(['list', '--vlan']);
  });

  it('--help short-circuits the checks; the help lists every option with its range, default and the exit codes', () => {
    expect(parse(['--vlan', '99999', '-h']).help).to.equal(true);
    expect(parse(['--help']).help).to.equal(true);
    const help = renderHelp('test', 'a test command', SPEC);
    for (const name of Object.keys(SPEC.options)) expect(help, name).to.include(`--${name}`);
    expect(help).to.include('-c, --count N').and.include('(1-100; default 4)');
    expect(help).to.include('--vlan N').and.include('(0-4095)');
    expect(help).to.include('(512-1M; default 4096)');
    expect(help).to.include('pcap|pcapng');
    expect(help).to.match(/required; for make/);
    expect(help).to.match(/examples:\n {2}vfab test make x -w f/);
    expect(help).to.match(/exit codes:\n {2}0 {2}success\n {2}1 .*\n {2}2 {2}bad usage.*\n {2}3 {2}no fabric/);
  });
});
