// `vfab fault storage-stall|storage-paths|ats` checks that need no running fabric: argument counts per
// action, ARRAY[/LUN] and down|up / off|on named as typed, --seconds required, in range and only for
// storage-stall, --help with the storage examples; and applyStorageFault refusing bad fields before it
// asks any daemon (VFAB_FAULT_BAD_STORAGE, exit 2).
import { expect } from 'chai';
import { exitCodeFor, runCommand } from '../../daemons/cli.js';
import { applyStorageFault, type StorageFault } from '../../daemons/fabric/storage-faults.js';
import type { FabricState } from '../../daemons/fabric/state.js';

async function usageLine(argv: string[]): Promise<string> {
  try {
    await runCommand('fault', argv, { out: () => {}, err: () => {} });
  } catch (e) {
    expect((e as { code?: string }).code, argv.join(' ')).to.equal('VFAB_USAGE');
    return (e as Error).message.split('\n')[0]!;
  }
  throw new Error(`vfab fault ${argv.join(' ')} did not fail`);
}

describe('vfab fault: storage actions (usage)', () => {
  it('names the bad argument or value as typed', async () => {
    expect(await usageLine(['storage-stall', 'esx1', 'array1'])).to.contain('--seconds');
    expect(await usageLine(['storage-stall', 'esx1', 'array1', '--seconds', 'soon'])).to.contain('--seconds soon');
    expect(await usageLine(['storage-stall', 'esx1', 'array1', '--seconds', '601'])).to.contain('--seconds 601');
    expect(await usageLine(['storage-stall', 'esx1', 'array1/', '--seconds', '1'])).to.contain('"array1/"');
    expect(await usageLine(['storage-stall', 'esx1', 'a/b/c', '--seconds', '1'])).to.contain('"a/b/c"');
    expect(await usageLine(['storage-stall', 'esx1', '--seconds', '1'])).to.contain('takes 2 arguments');
    expect(await usageLine(['storage-paths', 'esx1', 'array1', 'sideways'])).to.contain('"sideways": write down or up');
    expect(await usageLine(['storage-paths', 'esx1', 'array1/shared1', 'down'])).to.contain('"array1/shared1"');
    expect(await usageLine(['storage-paths', 'esx1', 'array1'])).to.contain('takes 3 arguments');
    expect(await usageLine(['ats', 'array1', 'off'])).to.contain('"array1": write ARRAY/LUN');
    expect(await usageLine(['ats', 'array1/shared1', 'disabled'])).to.contain('"disabled": write off or on');
    expect(await usageLine(['ats', 'array1/shared1', 'off', 'now'])).to.contain('unexpected "now"');
    expect(await usageLine(['impair', 'esx1.vmnic0', '--seconds', '2'])).to.contain('--seconds does not apply to vfab fault impair');
    expect(await usageLine(['kill', 'sw1', 'sw2'])).to.contain('unexpected "sw2"');
  });

  it('--help lists the storage actions with examples', async () => {
    const lines: string[] = [];
    expect(await runCommand('fault', ['--help'], { out: (t) => lines.push(t), err: () => {} })).to.equal(0);
    const help = lines.join('\n');
    for (const s of ['storage-stall HOST ARRAY[/LUN] --seconds N', 'storage-paths HOST ARRAY down|up', 'ats ARRAY/LUN off|on', 'vfab fault storage-stall esx1 array1/shared1 --seconds 20']) {
      expect(help).to.contain(s);
    }
  });

  it('applyStorageFault refuses bad fields before asking a daemon', async () => {
    const state = {
      fabric: 'f', token: 't',
      daemons: [{ name: 'esx1', kind: 'host', pid: 1, port: 1, logFile: '' }, { name: 'array1', kind: 'array', pid: 2, port: 2, logFile: '' }],
    } as unknown as FabricState;
    const cases: Array<[unknown, RegExp]> = [
      [{ kind: 'stall', host: 'esx1', array: 'array1', ms: -1 }, /"ms" must be 0\.\.600000/],
      [{ kind: 'stall', host: 'esx1', array: 'array1', ms: Number.NaN }, /"ms"/],
      [{ kind: 'stall', host: 'esx1', array: 'array1', lun: '', ms: 10 }, /"lun"/],
      [{ kind: 'stall', host: 'array1', array: 'array1', ms: 10 }, /array1 is an array, not a host/],
      [{ kind: 'paths', host: 'esx1', array: 'esx1', up: false }, /esx1 is a host, not an array/],
      [{ kind: 'paths', host: 'esx1', array: 'array1', up: 'no' }, /"up" must be true or false/],
      [{ kind: 'ats', array: 'array1', lun: 'shared1', enabled: 1 }, /"enabled" must be true or false/],
      [{ kind: 'ats', array: 'array1', enabled: true }, /"lun"/],
      [{ kind: 'reboot' }, /"kind" must be stall, paths or ats/],
    ];
    for (const [fault, message] of cases) {
      const e = await applyStorageFault(state, fault as StorageFault).then(() => undefined, (x: unknown) => x);
      expect(e, JSON.stringify(fault)).to.be.instanceOf(Error);
      expect((e as Error).message).to.match(message);
      expect(exitCodeFor(e), JSON.stringify(fault)).to.equal(2);
    }
    const unknown = await applyStorageFault(state, { kind: 'stall', host: 'esx9', array: 'array1', ms: 1 }).then(() => undefined, (x: unknown) => x);
    expect(exitCodeFor(unknown)).to.equal(2);
  });
});
