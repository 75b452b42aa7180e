// `vfab datastore` and `vfab vm` usage checks that need no running fabric: unknown actions, options of
// the wrong action, bad values (named as typed), a missing --host, and --help with examples.
import { expect } from 'chai';
import { runCommand } from '../../daemons/cli.js';
import type { CliIo } from '../../daemons/cli/io.js';

type Command = (args: string[], io: CliIo) => Promise<number>;
const datastoreCommand: Command = (args, io) => runCommand('datastore', args, io);
const vmCommand: Command = (args, io) => runCommand('vm', args, io);

async function usage(fn: (argv: string[], io: CliIo) => Promise<number>, argv: string[]): Promise<string> {
  try {
    await fn(argv, { out: () => {}, err: () => {} });
  } catch (e) {
    expect((e as { code?: string }).code, argv.join(' ')).to.equal('VFAB_USAGE');
    return (e as Error).message.split('\n')[0]!;
  }
  throw new Error(`${argv.join(' ')} did not fail`);
}

describe('vfab datastore / vfab vm usage', () => {
  it('names the bad action, option or value as typed', async () => {
    expect(await usage(datastoreCommand, ['frobnicate', 'ds1'])).to.contain('"frobnicate"');
    expect(await usage(datastoreCommand, ['list', '--force'])).to.contain('--force');
    expect(await usage(datastoreCommand, ['format', 'ds1', '--locking', 'scsi-only'])).to.contain('--locking scsi-only');
    expect(await usage(datastoreCommand, ['list', '--bogus'])).to.contain('--bogus');
    expect(await usage(vmCommand, ['power-on', 'web1'])).to.contain('--host');
    expect(await usage(vmCommand, ['power-on', 'web1', '--host', 'esx1', '--wait', 'soon'])).to.contain('--wait soon');
    expect(await usage(vmCommand, ['power-on', 'web1', '--host', 'esx1', '--wait', '601'])).to.contain('--wait');
    expect(await usage(vmCommand, ['power-off', 'web1', '--host', 'esx1', '--wait', '3'])).to.contain('--wait');
    expect(await usage(vmCommand, ['reboot', 'web1'])).to.contain('"reboot"');
    expect(await usage(vmCommand, ['power-on'])).to.contain('takes 2-3 arguments');
    expect(await usage(vmCommand, ['power-on', 'web1', 'esx1', '--host', 'esx1'])).to.contain('vm power-on takes one VM: unexpected "esx1"');
    expect(await usage(vmCommand, ['mtu', 'web1.nic0'])).to.contain('vm mtu needs a value');
    expect(await usage(vmCommand, ['mtu', 'web1.nic0', '9001'])).to.contain('MTU "9001": give bytes 68-9000');
    expect(await usage(vmCommand, ['mtu', 'web1.nic0', 'jumbo'])).to.contain('MTU "jumbo"');
    expect(await usage(vmCommand, ['mac', 'web1', '00:50:56'])).to.contain('MAC "00:50:56"');
    expect(await usage(vmCommand, ['promiscuous', 'web1', 'yes'])).to.contain('promiscuous "yes": give on or off');
  });

  it('--help teaches with examples', async () => {
    for (const fn of [datastoreCommand, vmCommand]) {
      const lines: string[] = [];
      expect(await fn(['--help'], { out: (t) => lines.push(t), err: () => {} })).to.equal(0);
      expect(lines.join('\n')).to.match(/examples:\n {2}vfab (datastore|vm) /);
    }
  });
});
