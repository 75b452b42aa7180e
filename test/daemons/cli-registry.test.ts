// Every vfab command (daemons/cli/registry.ts): each is registered, loads, and has a --help generated from
// its option table that lists every option, examples and the exit codes; errors map to exit codes in one
// place (daemons/cli.ts exitCodeFor). In-process; the same contract across processes is in
// test/e2e/fabric/cli-contract.test.ts.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { exitCodeFor, main } from '../../daemons/cli.js';
import { COMMANDS } from '../../daemons/cli/registry.js';
import { type OptionTable, renderHelp } from '../../daemons/cli/options.js';
import type { CliIo, CommandTable } from '../../daemons/cli/io.js';

function captured(): CliIo & { out: (t: string) => void; text: () => string; errText: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (t) => out.push(t), err: (t) => err.push(t), text: () => out.join('\n'), errText: () => err.join('\n') };
}

describe('CLI commands: registry, generated --help, exit codes', () => {
  it('every module that exports commands has each of them in the registry (a new command cannot be forgotten)', async () => {
    const dir = path.resolve('daemons/cli');
    const modules = [
      ...fs.readdirSync(path.join(dir, 'commands')).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, 'commands', f)),
      ...fs.readdirSync(dir).filter((f) => /-commands?\.ts$/.test(f)).map((f) => path.join(dir, f)),
    ];
    expect(modules.length).to.be.at.least(8);
    let seen = 0;
    for (const file of modules) {
      const mod = (await import(file)) as { commands?: CommandTable };
      for (const [name, def] of Object.entries(mod.commands ?? {})) {
        expect(COMMANDS, `${name} from ${path.relative(dir, file)}`).to.have.property(name);
        expect(await COMMANDS[name]!.load(), name).to.equal(def);
        seen++;
      }
    }
    expect(seen).to.equal(Object.keys(COMMANDS).length);
  });

  for (const [name, entry] of Object.entries(COMMANDS)) {
    it(`vfab ${name} --help is generated from its table: every option, examples, exit codes`, async () => {
      const command = await entry.load();
      const help = renderHelp(name, entry.summary, command.spec);
      for (const [option, d] of Object.entries(command.spec.options as OptionTable)) {
        expect(help, `--${option}`).to.match(new RegExp(`(^|[ ,])--${option}\\b`, 'm'));
        if (d.short) expect(help).to.include(`-${d.short}, --${option}`);
        if (d.default !== undefined && d.type !== 'bool') expect(help.replace(/\s+/g, ' ')).to.include(`default ${d.default}`);
      }
      expect(help).to.include(`vfab ${name} — ${entry.summary}`);
      expect(help).to.match(/\nusage: vfab /);
      expect(command.spec.examples.length, 'examples').to.be.within(2, 3);
      expect(help).to.match(/\nexamples:\n {2}vfab /);
      expect(help).to.match(/\nexit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 .*/);
      const io = captured();
      expect(await main([name, '--help'], io)).to.equal(0);
      expect(io.text()).to.equal(help);
    });
  }

  it('errors become exit codes in one place: 3 no fabric / daemon unreachable, 2 bad input, else 1', () => {
    const code = (c: string) => exitCodeFor(new VfabError(c, 'x'));
    expect(['VFAB_NO_FABRIC', 'VFAB_CONTROL_UNREACHABLE', 'VFAB_DAEMON_DOWN'].map(code)).to.deep.equal([3, 3, 3]);
    expect(['VFAB_USAGE', 'VFAB_BAD_ENDPOINT', 'VFAB_NOT_FOUND', 'VFAB_HOSTSTORAGE_DISK_NOT_FOUND', 'VFAB_STORAGE_NO_SUCH_LUN', 'VFAB_TOPOLOGY_INVALID', 'VFAB_SIZE_SYNTAX', 'VFAB_STORED_BAD_REQUEST'].map(code)).to.deep.equal([2, 2, 2, 2, 2, 2, 2, 2]);
    expect(['VFAB_CONTROL_BAD_REPLY', 'VFAB_LINKS_TIMEOUT', 'VFAB_DAEMON_START', 'VFAB_VDISK_IO'].map(code)).to.deep.equal([1, 1, 1, 1]);
    // a corrupt record on a LUN is a failed check, not bad input, although its code says BAD
    expect(['VFAB_DATASTORE_BAD_CHECKSUM', 'VFAB_DATASTORE_BAD_MAGIC', 'VFAB_DATASTORE_BAD_FIELD', 'VFAB_DATASTORE_FOREIGN_DATA'].map(code)).to.deep.equal([1, 1, 1, 1]);
    expect(exitCodeFor(new Error('boom'))).to.equal(1);
  });

  it('vfab alone, vfab --help and unknown commands (with did-you-mean)', async () => {
    let io = captured();
    expect(await main([], io)).to.equal(2);
    expect(io.errText()).to.include('usage: vfab COMMAND');
    io = captured();
    expect(await main(['--help'], io)).to.equal(0);
    for (const name of Object.keys(COMMANDS)) expect(io.text()).to.match(new RegExp(`\\n {2}${name} +\\S`));
    expect(io.text()).to.match(/exit codes \(every command\):\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 .*/);
    io = captured();
    expect(await main(['stauts'], io)).to.equal(2);
    expect(io.errText()).to.match(/unknown command "stauts" \(did you mean status\?\)/);
    io = captured();
    expect(await main(['help', 'ping'], io)).to.equal(0);
    expect(io.text()).to.match(/^vfab ping — /);
  });
});
