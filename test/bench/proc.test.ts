// CPU and memory accounting of the benchmark harness from /proc (bench/harness.ts): a child's CPU counts
// in the bench's process tree while it runs and, through cutime, after it has ended, exactly once; a
// pid that is gone reads as null. Each child burns a fixed amount of its own CPU time (not wall time),
// so the checks hold however loaded the machine is. Without /proc only the null answers are checked.

import { expect } from 'chai';
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { cpuSecondsOf, machineBusySeconds, OwnCpuMeter, OWN_CPU_SAMPLE_MS, processCpuSeconds, processRssBytes, reapedChildrenCpuSeconds, treeCpuSeconds, USER_HZ } from '../../bench/harness.js';

const BURN_MS = 300;
const TICK_S = 1 / USER_HZ;
/** Bound on how long a child may take to burn its CPU (a loaded machine gives it less than a CPU). */
const CHILD_TIMEOUT_MS = 15_000;

/** A node child that spends BURN_MS of its own CPU, says 'burnt', then waits for SIGTERM (or exits at once). */
function burner(exitWhenDone: boolean): { child: ChildProcess; burnt: Promise<void>; exited: Promise<void> } {
  const code = `const s=process.cpuUsage();while(true){const u=process.cpuUsage(s);if((u.user+u.system)/1000>=${BURN_MS})break;}process.stdout.write('burnt\\n');${exitWhenDone ? 'process.exit(0)' : 'setInterval(()=>{},1000)'}`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const burnt = new Promise<void>((resolve) => child.stdout!.on('data', () => resolve()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, burnt, exited };
}

const HAS_PROC = fs.existsSync('/proc/self/stat');

// Without /proc (not Linux) the harness has no CPU figures: it must say null, never a made-up number.
if (!HAS_PROC) {
  describe('bench harness without /proc', () => {
    it('reports CPU and RSS figures as null', () => {
      expect(processCpuSeconds(process.pid)).to.equal(null);
      expect(processRssBytes(process.pid)).to.equal(null);
    });
  });
}

if (HAS_PROC) describe('bench harness: /proc accounting', function () {
  this.timeout(CHILD_TIMEOUT_MS + 5000);

  it('counts a running child in the process tree, and a finished one through cutime, once', async () => {
    const tree0 = treeCpuSeconds()!;
    const reaped0 = reapedChildrenCpuSeconds()!;
    const live = burner(false);
    try {
      await live.burnt;
      const liveCpu = processCpuSeconds(live.child.pid)!;
      expect(liveCpu).to.be.at.least(BURN_MS / 1000 - TICK_S);
      expect(cpuSecondsOf([live.child.pid])).to.equal(liveCpu);
      const treeLive = treeCpuSeconds()!;
      expect(treeLive - tree0).to.be.at.least(liveCpu - TICK_S);
      live.child.kill('SIGTERM');
      await live.exited;
      // gone: read as null, and its CPU moved into our cutime (the tree total does not drop)
      expect(processCpuSeconds(live.child.pid)).to.equal(null);
      expect(cpuSecondsOf([live.child.pid])).to.equal(null);
      expect(reapedChildrenCpuSeconds()! - reaped0).to.be.at.least(liveCpu - TICK_S);
      const treeAfter = treeCpuSeconds()!;
      expect(treeAfter).to.be.at.least(treeLive - TICK_S);
      // and not twice: what the tree gained is about one child's worth, plus this process's own work
      expect(treeAfter - tree0).to.be.below(2 * liveCpu);
    } finally {
      if (live.child.exitCode === null && live.child.signalCode === null) live.child.kill('SIGKILL'); // a failed check must not leave it running
    }
  });

  it('counts a child that started and ended between two readings', async () => {
    const tree0 = treeCpuSeconds()!;
    const short = burner(true);
    await short.exited;
    expect(treeCpuSeconds()! - tree0).to.be.at.least(BURN_MS / 1000 - TICK_S);
  });

  it('counts a process a child left running (re-parented out of the tree) through the owner mark, after it ends too', async () => {
    const meter = new OwnCpuMeter().start();
    const done = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-own-cpu-')), 'done');
    let orphan: number | undefined;
    try {
      const own0 = meter.seconds()!;
      const tree0 = treeCpuSeconds()!;
      // the child starts a detached grandchild and exits at once, as `vfab up --detach` leaves its daemons:
      // the grandchild burns BURN_MS of CPU, stays a few samples long, writes `done` and exits
      const grand = `const s=process.cpuUsage();while(true){const u=process.cpuUsage(s);if((u.user+u.system)/1000>=${BURN_MS})break;}setTimeout(()=>{require('fs').writeFileSync(${JSON.stringify(done)},'');process.exit(0)},${4 * OWN_CPU_SAMPLE_MS})`;
      const code = `const c=require('child_process').spawn(process.execPath,['-e',${JSON.stringify(grand)}],{detached:true,stdio:'ignore'});c.unref();process.stdout.write(String(c.pid))`;
      const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve) => child.once('close', () => resolve()));
      orphan = Number(out);
      const until = Date.now() + CHILD_TIMEOUT_MS;
      while (!fs.existsSync(done) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(fs.existsSync(done), 'the grandchild finished').to.equal(true);
      while (processCpuSeconds(orphan) !== null && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      // the tree lost it when its parent exited; the meter kept its last reading
      expect(treeCpuSeconds()! - tree0).to.be.below(BURN_MS / 1000 - TICK_S);
      expect(meter.seconds()! - own0).to.be.at.least(BURN_MS / 1000 - TICK_S);
    } finally {
      meter.stop();
      if (orphan !== undefined && processCpuSeconds(orphan) !== null) process.kill(orphan, 'SIGKILL');
      fs.rmSync(path.dirname(done), { recursive: true, force: true });
    }
  });

  it('reads the machine busy time and a process RSS', () => {
    expect(machineBusySeconds()).to.be.a('number').and.above(0);
    expect(processRssBytes(process.pid)).to.be.a('number').and.above(1 << 20);
    expect(processRssBytes(2 ** 22 + 12345)).to.equal(null); // above pid_max's default: no such process
  });
});
