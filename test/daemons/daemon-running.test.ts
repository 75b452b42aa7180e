// daemonRunning (daemons/fabric/state.ts), the check commands make before they call a daemon: a packed
// host whose worker was killed is not running though its group's PID is alive; a PID that is no longer
// the daemon it recorded (reused) is not running; a node killed in a simulated fabric is not running.
// One child process stands for a host group; it is ended by PID in `after`.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { daemonRunning, type DaemonRecord, type FabricState } from '../../daemons/fabric/state.js';

describe('daemonRunning', function () {
  this.timeout(10_000);
  let group: ChildProcess;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-running-'));
    // a process whose command line names it as hostgroupd does (--name hostgroup.1)
    group = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)', '--', '--name', 'hostgroup.1'], { stdio: 'ignore' });
    await new Promise<void>((r) => group.once('spawn', () => r()));
    fs.writeFileSync(path.join(dir, 'workers.json'), JSON.stringify({ pid: group.pid, hosts: { esx1: 'running', esx2: 'killed' } }));
  });
  after(() => {
    if (group.exitCode === null) group.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const packed = (name: string): DaemonRecord => ({ name, kind: 'host', pid: group.pid!, port: 1, logFile: '/dev/null', group: 'hostgroup.1', groupFile: path.join(dir, 'workers.json') }) as DaemonRecord;
  const state = (daemons: DaemonRecord[], killed?: string[]) => ({ daemons, ...(killed ? { sim: { killed } } : {}) }) as unknown as FabricState;

  it('a packed host runs while its worker does; a killed worker is not running though the group lives', () => {
    expect(daemonRunning(state([packed('esx1')]), packed('esx1'))).to.equal(true);
    expect(daemonRunning(state([packed('esx2')]), packed('esx2'))).to.equal(false);
  });

  it('a PID that is alive but not the recorded daemon is not running', () => {
    const reused = { name: 'esx3', kind: 'host', pid: process.pid, port: 1, logFile: '/dev/null' } as DaemonRecord;
    expect(daemonRunning(state([reused]), reused)).to.equal(false);
  });

  it('a node killed in a simulated fabric is not running though the sim process lives', () => {
    const simNode = { name: 'esx1', kind: 'host', pid: group.pid!, port: 1, logFile: '/dev/null', process: 'hostgroup.1' } as DaemonRecord;
    expect(daemonRunning(state([simNode]), simNode)).to.equal(true);
    expect(daemonRunning(state([simNode], ['esx1']), simNode)).to.equal(false);
  });
});
