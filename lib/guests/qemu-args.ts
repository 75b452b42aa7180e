// The QEMU command-line arguments that put a qemu guest's vNICs on their vfab backends (docs/guests.md
// "QEMU guests"): per vNIC one `-netdev` (stream, the older socket form of the same framing, or dgram) and
// one `-device` with the vNIC's MAC, so the guest's frames carry the address the topology gives it (the
// vSwitch's security policy checks it). Covers QEMU 7.2's option syntax. Leaves out the rest of the QEMU
// command line (kernel, disks, memory) and running QEMU. Pure code.

/** How the arguments reach vfab: stream and socket speak the same framing to the same TCP port. */
export type QemuArgsForm = 'stream' | 'socket' | 'dgram';
export const QEMU_ARGS_FORMS: readonly QemuArgsForm[] = ['stream', 'socket', 'dgram'];

/** QEMU's default network device on x86; any QEMU NIC model works (e1000, rtl8139...). */
export const DEFAULT_QEMU_NIC_MODEL = 'virtio-net-pci';

export interface QemuNicBackend {
  /** The vNIC's name in the topology (nic0...). */
  name: string;
  mac: string;
  /** vfab's end on 127.0.0.1. */
  port: number;
}

/** A QEMU id for the vNIC: its name when QEMU takes it as an id (a letter, then letters, digits, - . _), else nic<index>. */
export function qemuNetdevId(name: string, index: number): string {
  return /^[A-Za-z][A-Za-z0-9._-]{0,63}$/.test(name) ? name : `nic${index}`;
}

/** The `-netdev` value for one vNIC (dgram: QEMU binds a free port of its own, vfab learns it). */
export function qemuNetdevValue(form: QemuArgsForm, id: string, port: number): string {
  switch (form) {
    case 'stream':
      return `stream,id=${id},server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=${port}`;
    case 'socket':
      return `socket,id=${id},connect=127.0.0.1:${port}`;
    case 'dgram':
      return `dgram,id=${id},local.type=inet,local.host=127.0.0.1,local.port=0,remote.type=inet,remote.host=127.0.0.1,remote.port=${port}`;
  }
}

/** `-netdev X -device Y` for each vNIC, as an argument vector. */
export function qemuNetArgs(form: QemuArgsForm, nics: readonly QemuNicBackend[], model = DEFAULT_QEMU_NIC_MODEL): string[] {
  return nics.flatMap((n, i) => {
    const id = qemuNetdevId(n.name, i);
    return ['-netdev', qemuNetdevValue(form, id, n.port), '-device', `${model},netdev=${id},mac=${n.mac}`];
  });
}
