// `vfab ha status` and `vfab fault isolate|no-isolate` checks that need no running fabric: unknown
// actions and options are usage errors (exit 2) naming what was typed, --help teaches with examples and
// exit codes, and without a fabric the command exits 3. The running fabric: test/e2e/ha/ha.test.ts.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exitCodeFor, runCommand } from '../../daemons/cli.js';

async function failure(cmd: string, argv: string[]): Promise<{ code: number; message: string }> {
  try {
    await runCommand(cmd, argv, { out: () => {}, err: () => {} });
  } catch (e) {
    return { code: exitCodeFor(e), message: (e as Error).message.split('\n')[0]! };
  }
  throw new Error(`vfab ${cmd} ${argv.join(' ')} did not fail`);
}

describe('vfab ha / fault isolate (usage)', () => {
  it('unknown actions, options and extra arguments are usage errors naming what was typed', async () => {
    expect(await failure('ha', ['stats'])).to.deep.include({ code: 2 });
    expect((await failure('ha', ['stats'])).message).to.contain('stats');
    expect(await failure('ha', ['status', '--verbose'])).to.deep.include({ code: 2 });
    expect((await failure('ha', ['status', '--verbose'])).message).to.contain('--verbose');
    expect((await failure('ha', ['status', 'esx1'])).code).to.equal(2);
    expect((await failure('fault', ['isolate'])).code).to.equal(2);
    expect((await failure('fault', ['isolate', 'esx1', 'esx2'])).message).to.contain('unexpected "esx2"');
  });

  it('--help teaches with examples and exit codes', async () => {
    const lines: string[] = [];
    expect(await runCommand('ha', ['--help'], { out: (t) => lines.push(t), err: () => {} })).to.equal(0);
    const help = lines.join('\n');
    expect(help).to.contain('vfab ha status --json');
    expect(help).to.match(/heartbeats/);
    expect(help).to.match(/exit/i);
    const fault: string[] = [];
    await runCommand('fault', ['--help'], { out: (t) => fault.push(t), err: () => {} });
    expect(fault.join('\n')).to.contain('isolate HOST');
  });

  it('without a running fabric, ha status exits 3', async () => {
    const saved = process.env.VFAB_STATE_DIR;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-ha-cli-'));
    process.env.VFAB_STATE_DIR = dir;
    try {
      expect((await failure('ha', ['status'])).code).to.equal(3);
      expect((await failure('fault', ['isolate', 'esx1'])).code).to.equal(3);
    } finally {
      if (saved === undefined) delete process.env.VFAB_STATE_DIR;
      else process.env.VFAB_STATE_DIR = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
