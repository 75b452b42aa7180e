// A real Linux guest under QEMU on a vfab port (kind: qemu; docs/guests.md "QEMU guests"): Debian's kernel
// boots an initramfs built here (busybox-static, the kernel's virtio-net or e1000 modules, an /init script)
// with the arguments `vfab qemu-args` prints, and pings a built-in VM through the vSwitch. The stream guest
// also shows that the vNIC's link state applies to it (vfab link down: its pings fail; up: they pass); a
// second boot uses the older `-netdev socket,connect=` form (an e1000 NIC) on the same port and shows that
// an impairment on the vNIC (`vfab fault impair q1.nic0 --loss 100`) reaches the guest; the dgram guest
// shows QEMU's -netdev dgram against vfab's UDP backend, and a capture at its vSwitch port holds its frames.
// QEMU runs without KVM (TCG): a boot takes 10-60 s. Skips without qemu-system-x86_64, /bin/busybox or a
// kernel with modules (packages qemu-system-x86, busybox-static, linux-image-amd64); fails in CI, which
// installs them.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startFabric, useFabric, runCli, makeTempDir, waitFor, FABRIC_UP_TIMEOUT_MS, FABRIC_DOWN_TIMEOUT_MS, type TestFabric } from '../helpers/fabric.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { BUSYBOX, buildInitramfs, findKernel, moduleLoadOrder } from './initramfs.js';

const QEMU = 'qemu-system-x86_64';
/** One guest's whole run (boot, pings, power off) is bounded by this; then QEMU is killed by PID. */
const GUEST_RUN_LIMIT_MS = 150_000;
/** Serial console output kept per guest. */
const MAX_CONSOLE_BYTES = 1 << 20;
const WEB1 = '192.0.2.11';

function onPath(file: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, file)));
}

/** The guest's /init: modules, address, then one ping phase per `phases` entry; between phases it waits for a console line. */
function initScript(modules: string[], ip: string, phases: Array<{ count: number; deadlineS: number }>): string {
  const ping = phases.map((p, i) => `${i > 0 ? 'read -r go\n' : ''}ping -c ${p.count} -w ${p.deadlineS} ${WEB1}\necho "VFAB-PHASE${i + 1} rc=$?"`).join('\n');
  return `#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
${modules.map((m) => `insmod /lib/modules/${path.basename(m)}`).join('\n')}
ip link set eth0 up
ip addr add ${ip}/24 dev eth0
echo "VFAB-MAC $(cat /sys/class/net/eth0/address)"
${ping}
poweroff -f
`;
}

interface Guest {
  child: ChildProcess;
  console(): string;
  exited: Promise<number | null>;
}

function bootGuest(vmlinuz: string, initrd: string, netArgs: string[]): Guest {
  const child = spawn(QEMU, ['-display', 'none', '-nodefaults', '-serial', 'stdio', '-no-reboot', '-m', '256', '-kernel', vmlinuz, '-initrd', initrd,
    '-append', 'console=ttyS0 quiet panic=-1', ...netArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    if (out.length < MAX_CONSOLE_BYTES) out += d.toString('latin1');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.stdin!.on('error', () => {});
  const limit = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  }, GUEST_RUN_LIMIT_MS);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    clearTimeout(limit);
    resolve(code);
  }));
  return { child, console: () => out, exited };
}

function kill(g: Guest | undefined): void {
  if (g?.child.pid !== undefined && isAlive(g.child.pid) && g.child.exitCode === null) g.child.kill('SIGKILL');
}

/** The exit status of the guest's ping phase n (from its console), once printed. */
async function phase(g: Guest, n: number): Promise<string> {
  return (await waitFor<string | undefined>(() => {
    const m = new RegExp(`VFAB-PHASE${n} rc=(\\d+)`).exec(g.console());
    if (m) return m[1]!;
    if (g.child.exitCode !== null || g.child.signalCode !== null) throw new Error(`QEMU ended (${g.child.exitCode ?? g.child.signalCode}) before ping phase ${n}`);
    return undefined;
  }, `ping phase ${n} of the guest`, GUEST_RUN_LIMIT_MS, 200))!;
}

describe('e2e guests/qemu: a Linux guest under QEMU on a vfab port', function () {
  this.timeout(GUEST_RUN_LIMIT_MS + 30_000);
  let fab: TestFabric | undefined;
  let kernel: { vmlinuz: string; modules: string };
  let modules: string[];
  let dir: string;
  const guests: Guest[] = [];

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    const k = findKernel();
    const missing = [!onPath(QEMU) ? `${QEMU} (package qemu-system-x86)` : '', !fs.existsSync(BUSYBOX) ? `${BUSYBOX} (package busybox-static)` : '', typeof k === 'string' ? k : ''].filter(Boolean);
    if (missing.length) {
      if (process.env.CI === 'true') throw new Error(`CI installs the QEMU guest's packages; missing: ${missing.join(', ')}`);
      this.skip(); // a newcomer's machine without QEMU, busybox-static or a kernel: see the file's opening comment
    }
    kernel = k as { vmlinuz: string; modules: string };
    modules = moduleLoadOrder(kernel.modules, ['virtio_pci', 'virtio_net']);
    dir = makeTempDir('vfab-e2e-qemu-');
    fab = await startFabric('topologies/e2e/qemu-guest.yaml');
  });
  afterEach(() => guests.splice(0).forEach(kill));
  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function qemuArgs(vm: string, ...more: string[]): Promise<string[]> {
    const r = await runCli(['qemu-args', vm, '--json', ...more], { stateDir: fab!.stateDir });
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.out).args;
  }

  it('stream: the guest pings web1; vfab sees its MAC; an admin-down vNIC cuts it off and up lets it through again', async () => {
    const args = await qemuArgs('q1');
    expect(args.join(' ')).to.match(/^-netdev stream,id=nic0,server=off,addr\.type=inet,addr\.host=127\.0\.0\.1,addr\.port=\d+ -device virtio-net-pci,netdev=nic0,mac=00:50:56:00:a0:01$/);
    const initrd = path.join(dir, 'q1.img');
    fs.writeFileSync(initrd, buildInitramfs({ modulesDir: kernel.modules, modules, init: initScript(modules, '192.0.2.31', [{ count: 3, deadlineS: 60 }, { count: 3, deadlineS: 4 }, { count: 3, deadlineS: 30 }]) }));
    const g = bootGuest(kernel.vmlinuz, initrd, args);
    guests.push(g);
    try {
      expect(await phase(g, 1), 'pings through the fabric').to.equal('0');
      expect(g.console()).to.include('VFAB-MAC 00:50:56:00:a0:01');
      expect(g.console()).to.match(/3 packets transmitted, 3 packets received/);
      const st = await fab!.status('esx1');
      const nic = st.guests.q1.nics[0];
      expect(nic.peer, 'QEMU is connected').to.match(/^127\.0\.0\.1:\d+$/);
      expect(nic.counters.rxFrames).to.be.greaterThan(0);
      const macs = JSON.stringify((await fab!.call('esx1', 'GET', '/control/mac-table')).entries);
      expect(macs).to.include('00:50:56:00:a0:01');
      const down = await runCli(['link', 'down', 'q1.nic0'], { stateDir: fab!.stateDir });
      expect(down.code, down.stderr).to.equal(0);
      g.child.stdin!.write('go\n');
      expect(await phase(g, 2), 'pings while the vNIC is admin-down').to.equal('1');
      const up = await runCli(['link', 'up', 'q1.nic0'], { stateDir: fab!.stateDir });
      expect(up.code, up.stderr).to.equal(0);
      g.child.stdin!.write('go\n');
      expect(await phase(g, 3), 'pings after admin-up').to.equal('0');
      expect(await g.exited, 'QEMU powers off').to.equal(0);
      const after = (await fab!.status('esx1')).guests.q1.nics[0];
      expect(after.peer, 'QEMU gone').to.equal(null);
      expect(after.counters).to.include({ connects: 1, disconnects: 1, refused: 0, protocolErrors: 0 });
    } catch (e) {
      (e as Error).message += `\n--- guest console:\n${g.console().slice(-3000)}`;
      throw e;
    }
  });

  it('socket: the older -netdev socket,connect= form reaches the same port; a new QEMU after the first is taken; an impairment applies', async () => {
    const args = await qemuArgs('q1', '--form', 'socket', '--model', 'e1000');
    expect(args[1]).to.match(/^socket,id=nic0,connect=127\.0\.0\.1:\d+$/);
    const e1000 = moduleLoadOrder(kernel.modules, ['e1000']);
    const initrd = path.join(dir, 'q1-socket.img');
    fs.writeFileSync(initrd, buildInitramfs({ modulesDir: kernel.modules, modules: e1000, init: initScript(e1000, '192.0.2.31', [{ count: 2, deadlineS: 60 }, { count: 2, deadlineS: 4 }]) }));
    const before = (await fab!.status('esx1')).guests.q1.nics[0].counters.connects;
    const g = bootGuest(kernel.vmlinuz, initrd, args);
    guests.push(g);
    try {
      expect(await phase(g, 1), 'pings through the fabric').to.equal('0');
      expect(g.console()).to.include('VFAB-MAC 00:50:56:00:a0:01');
      // an impairment on the guest's vNIC, as on any cable: all its frames lost
      const impair = await runCli(['fault', 'impair', 'q1.nic0', '--loss', '100'], { stateDir: fab!.stateDir });
      expect(impair.code, impair.stderr).to.equal(0);
      g.child.stdin!.write('go\n');
      expect(await phase(g, 2), 'pings with 100 % loss on the vNIC').to.equal('1');
      expect(await g.exited, 'QEMU powers off').to.equal(0);
      expect((await fab!.status('esx1')).guests.q1.nics[0].counters.connects).to.equal(before + 1);
    } catch (e) {
      (e as Error).message += `\n--- guest console:\n${g.console().slice(-3000)}`;
      throw e;
    } finally {
      await runCli(['fault', 'impair', 'q1.nic0', '--loss', '0'], { stateDir: fab!.stateDir });
    }
  });

  it('dgram: the guest pings web1 over -netdev dgram; vfab learns QEMU\'s port', async () => {
    const args = await qemuArgs('q2');
    expect(args[1]).to.match(/^dgram,id=nic0,local\.type=inet,local\.host=127\.0\.0\.1,local\.port=0,remote\.type=inet,remote\.host=127\.0\.0\.1,remote\.port=\d+$/);
    const initrd = path.join(dir, 'q2.img');
    fs.writeFileSync(initrd, buildInitramfs({ modulesDir: kernel.modules, modules, init: initScript(modules, '192.0.2.32', [{ count: 3, deadlineS: 60 }]) }));
    // a capture at the guest's vSwitch port, like any VM's: its ARP and pings are in it
    const pcap = path.join(dir, 'q2.pcap');
    const capture = runCli(['capture', 'q2.nic0', '-w', pcap, '--count', '4'], { stateDir: fab!.stateDir, timeoutMs: GUEST_RUN_LIMIT_MS });
    await waitFor(() => fs.existsSync(pcap), 'the capture to start');
    const g = bootGuest(kernel.vmlinuz, initrd, args);
    guests.push(g);
    try {
      expect(await phase(g, 1), 'pings through the fabric').to.equal('0');
      expect(g.console()).to.include('VFAB-MAC 00:50:56:00:a0:02');
      const cap = await capture;
      expect(cap.code, cap.stderr).to.equal(0);
      expect(fs.readFileSync(pcap).includes(Buffer.from('005056' + '00a002', 'hex')), "the guest's MAC in the capture").to.equal(true);
      const nic = (await fab!.status('esx1')).guests.q2.nics[0];
      expect(nic.peer).to.match(/^127\.0\.0\.1:\d+$/);
      expect(nic.counters.rxDatagrams).to.be.greaterThan(0);
      expect(await g.exited, 'QEMU powers off').to.equal(0);
    } catch (e) {
      (e as Error).message += `\n--- guest console:\n${g.console().slice(-3000)}`;
      throw e;
    }
  });
});

describe('e2e guests/qemu: vfab qemu-args (no QEMU needed)', () => {
  let fab: TestFabric;
  useFabric('topologies/e2e/qemu-guest.yaml', (f) => (fab = f));
  const cli = (...args: string[]) => runCli(args, { stateDir: fab.stateDir });

  it('prints the arguments on one line with the port the host listens on; exit 2 for bad input, naming it', async () => {
    const st = (await fab.status('esx1')).guests.q1.nics[0];
    const ok = await cli('qemu-args', 'q1', '--form', 'socket', '--model', 'e1000');
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.out.trim()).to.equal(`-netdev socket,id=nic0,connect=${st.address} -device e1000,netdev=nic0,mac=00:50:56:00:a0:01`);
    for (const [args, msg] of [
      [['qemu-args', 'web1'], /web1 is not a qemu guest/],
      [['qemu-args', 'q2', '--form', 'stream'], /--form stream: q2's backend is netdev dgram/],
      [['qemu-args', 'q9'], /no VM named "q9"/],
      [['qemu-args', 'q1', '--model', 'a b'], /--model "a b"/],
      [['qemu-args', 'q1', '--form', 'tap'], /--form/],
    ] as Array<[string[], RegExp]>) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(msg);
    }
  });

  it('exit 3 without a fabric', async () => {
    const empty = makeTempDir('vfab-e2e-qemu-none-');
    try {
      const r = await runCli(['qemu-args', 'q1'], { stateDir: empty });
      expect(r.code, r.stderr).to.equal(3);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
