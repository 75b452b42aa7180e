// The conformance runner's pure parts (bench/tools/iscsi-conformance.ts): the suite list of `iscsi-test-cu -l`,
// CUnit's verbose output per test (libiscsi's indented "[FAILED]" log lines are not results), unreported tests
// counted as failed, the table, and option parsing. The run itself is in test/e2e/storage/iscsi-conformance.test.ts.
import { expect } from 'chai';
import { UsageError, formatTable, parseArgs, parseCunitOutput, parseTestList, suiteResult, totalsOf } from '../../bench/tools/iscsi-conformance.js';

const LISTING = ['ALL', 'ALL.Read6', 'ALL.Read6.Simple', 'ALL.Read6.BeyondEol', 'ALL.OrWrite', 'ALL.OrWrite.Simple', 'SCSI', 'SCSI.Read6', 'SCSI.Read6.Simple'].join('\n');

const OUTPUT = `
     CUnit - A unit testing framework for C - Version 2.1-3

Suite: Read6
  Test: Simple ...
    Send INQUIRY (Expecting SUCCESS) evpd:1 page_code:b1 alloc_len:255
    [FAILED] INQUIRY command failed with status 2
    [SKIPPED] READ6 is not implemented.
passed    Send PRIN/READ_KEYS
  Test: BeyondEol ...
    [OK] READ6 returned CHECK_CONDITION
FAILED
    1. test_read6_beyond_eol.c:55  - CU_ASSERT_EQUAL(ret,0)
  Test: Partial ...
    [SKIPPED] Logical unit is fully provisioned. Skipping test
passed
    [FAILED] a log line of the next test's setup is not this test's result
  Test: Crashed ...
    Send READ6

Run Summary:    Type  Total    Ran Passed Failed Inactive
               tests      3      3      1      1        0
`;

describe('bench/tools/iscsi-conformance: parsing and options', () => {
  it('lists the suites and tests of the ALL family only', () => {
    const suites = parseTestList(LISTING);
    expect([...suites.entries()]).to.deep.equal([
      ['Read6', ['Simple', 'BeyondEol']],
      ['OrWrite', ['Simple']],
    ]);
  });

  it('reads each test result from the unindented passed/FAILED word, and the skips in its section', () => {
    expect(parseCunitOutput(OUTPUT)).to.deep.equal([
      { name: 'Simple', outcome: 'passed', skippedChecks: true, notImplemented: true },
      { name: 'BeyondEol', outcome: 'failed', skippedChecks: false, notImplemented: false },
      { name: 'Partial', outcome: 'passed', skippedChecks: true, notImplemented: false },
    ]); // Crashed has no result word: not reported
  });

  it('a listed test the run did not report is a failure, with why the run ended', () => {
    const row = suiteResult('Read6', ['Simple', 'BeyondEol', 'Partial', 'Crashed'], parseCunitOutput(OUTPUT), 1.5, 'killed after 120 s');
    expect(row).to.include({ tests: 4, passed: 2, failed: 2, skippedChecks: 2, notImplemented: 1 });
    expect(row.failures).to.deep.equal(['BeyondEol: FAILED', 'Crashed: not reported (killed after 120 s)']);
    const kind = totalsOf('thin', [row, suiteResult('OrWrite', ['Simple'], [{ name: 'Simple', outcome: 'passed', skippedChecks: false, notImplemented: false }], 0.5)]);
    expect(kind.totals).to.deep.equal({ tests: 5, passed: 3, failed: 2, skippedChecks: 2, notImplemented: 1, seconds: 2 });
    const table = formatTable([kind]);
    expect(table.split('\n').at(-1)).to.match(/^total\s+5\s+3\s+2\s+2$/);
    expect(formatTable([kind], true)).to.contain('| **total** | **5** | **3** | **2** | **2** |');
  });

  it('options: defaults, values, and usage errors that name the option as typed', () => {
    const d = parseArgs([]);
    expect([d.kinds, d.jobs, d.json, d.suites]).to.deep.equal([['thin', 'thick'], 1, false, []]);
    const o = parseArgs(['--lun', 'thick', '--suite', 'Read6', '--suite', 'OrWrite', '--jobs', '2', '--json', '--suite-timeout', '30']);
    expect([o.kinds, o.suites, o.jobs, o.json, o.suiteTimeoutS]).to.deep.equal([['thick'], ['Read6', 'OrWrite'], 2, true, 30]);
    const bad = (args: string[], text: string): void => {
      expect(() => parseArgs(args)).to.throw(UsageError, text);
    };
    bad(['--lun', 'fat'], '--lun fat');
    bad(['--lun'], '--lun needs a value');
    bad(['--jobs', '0'], '--jobs 0');
    bad(['--jobs', '99'], '--jobs 99');
    bad(['--suite', 'ALL.Read6'], '--suite ALL.Read6');
    bad(['--fast'], 'unknown option --fast');
  });
});
