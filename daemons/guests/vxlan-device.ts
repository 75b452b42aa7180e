// Linux VXLAN devices for vfab's real guests and VXLAN tests: creates a kernel `vxlan` device whose UDP
// socket lives in the namespace where it is created (the root namespace, next to vfab's daemons) and that
// sends every frame to one userspace VXLAN endpoint on loopback (a host daemon's guest socket, a switch's
// VXLAN port). The device can then be moved into another network namespace: its socket stays behind, so
// the guest sees an ordinary Ethernet interface and vfab sees VXLAN datagrams on 127.0.0.1.
//
// Why a small netlink request and not `ip link add ... type vxlan`: a VXLAN device whose remote is a
// local address (127.0.0.1) hands its frames straight to another local VXLAN *device* ("local bypass")
// and drops them when there is none; only IFLA_VXLAN_LOCALBYPASS = 0 (Linux >= 6.6) makes it send real
// datagrams to a userspace socket, and Debian 12's iproute2 (6.1) cannot set it. Python's standard
// library speaks netlink, so the request is a short python3 program run once per device (no compiler,
// no npm addon). The forwarding entry (remote address and port) is added with iproute2's `bridge`.
//
// Leaves out: IPv6 underlays, multicast groups, learning (off: one remote per device). Needs root
// (CAP_NET_ADMIN); callers check that first and say so (VFAB_GUEST_NEEDS_ROOT).

import { execFile } from 'node:child_process';
import { VfabError } from '../../lib/errors.js';
import { VXLAN_VNI_MAX } from '../../lib/wire/vxlan.js';

export interface VxlanDeviceSpec {
  /** Interface name in the creating namespace (1-15 bytes, IFNAMSIZ). */
  name: string;
  vni: number;
  /** The UDP port the kernel listens on (0.0.0.0:listenPort in the creating namespace) and sends from. */
  listenPort: number;
  /** Where the device sends every frame: the userspace VXLAN endpoint. */
  remote: string;
  remotePort: number;
  /** Source address of the device's datagrams; default 127.0.0.1. */
  local?: string;
  mtu?: number;
  /** aa:bb:cc:dd:ee:ff */
  mac?: string;
}

/** IFNAMSIZ - 1: the longest Linux interface name. */
export const MAX_IFNAME_BYTES = 15;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

// Builds and sends one RTM_NEWLINK (create, exclusive) for a vxlan device; prints nothing on success,
// "errno N message" and exits 1 on failure. Attribute numbers: include/uapi/linux/if_link.h.
const NETLINK_PROGRAM = String.raw`
import json, socket, struct, sys, os
spec = json.loads(sys.argv[1])
def attr(t, data):
    n = 4 + len(data)
    return struct.pack('HH', n, t) + data + b'\0' * ((4 - n % 4) % 4)
NESTED = 0x8000
vx = attr(1, struct.pack('I', spec['vni']))                       # IFLA_VXLAN_ID
vx += attr(4, socket.inet_aton(spec['local']))                    # IFLA_VXLAN_LOCAL
vx += attr(15, struct.pack('!H', spec['listenPort']))             # IFLA_VXLAN_PORT (network order)
vx += attr(7, b'\0')                                              # IFLA_VXLAN_LEARNING off
vx += attr(31, b'\0')                                             # IFLA_VXLAN_LOCALBYPASS off
info = attr(1, b'vxlan') + attr(2 | NESTED, vx)                   # IFLA_INFO_KIND, IFLA_INFO_DATA
body = struct.pack('BxHiII', 0, 0, 0, 0, 0)                       # struct ifinfomsg
body += attr(3, spec['name'].encode() + b'\0')                    # IFLA_IFNAME
if spec.get('mtu'): body += attr(4, struct.pack('I', spec['mtu']))  # IFLA_MTU
if spec.get('mac'): body += attr(1, bytes.fromhex(spec['mac'].replace(':', '')))  # IFLA_ADDRESS
body += attr(18 | NESTED, info)                                   # IFLA_LINKINFO
RTM_NEWLINK, F = 16, 0x1 | 0x4 | 0x400 | 0x200                    # REQUEST ACK CREATE EXCL
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.bind((0, 0))
s.send(struct.pack('IHHII', 16 + len(body), RTM_NEWLINK, F, 1, 0) + body)
reply = s.recv(65536)
code = -struct.unpack('i', reply[16:20])[0]
if code:
    print('errno %d %s' % (code, os.strerror(code)))
    sys.exit(1)
`;

export function checkVxlanDeviceSpec(s: VxlanDeviceSpec): void {
  const bad = (what: string) => {
    throw new VfabError('VFAB_GUEST_BAD_DEVICE', `vxlan device ${JSON.stringify(s.name)}: ${what}`);
  };
  if (!IFNAME_RE.test(s.name)) bad(`the name must be 1-${MAX_IFNAME_BYTES} of A-Z a-z 0-9 _ . -`);
  if (!Number.isInteger(s.vni) || s.vni < 1 || s.vni > VXLAN_VNI_MAX) bad(`VNI ${s.vni} is outside 1..${VXLAN_VNI_MAX}`);
  for (const [k, p] of [['listenPort', s.listenPort], ['remotePort', s.remotePort]] as const) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) bad(`${k} ${p} is outside 1..65535`);
  }
  for (const [k, a] of [['remote', s.remote], ['local', s.local ?? '127.0.0.1']] as const) {
    const m = IPV4_RE.exec(a);
    if (!m || m.slice(1).some((o) => Number(o) > 255)) bad(`${k} ${a} is not an IPv4 address`);
  }
  if (s.mtu !== undefined && (!Number.isInteger(s.mtu) || s.mtu < 68 || s.mtu > 65535)) bad(`MTU ${s.mtu} is outside 68..65535`);
  if (s.mac !== undefined && !MAC_RE.test(s.mac)) bad(`MAC ${s.mac} is not aa:bb:cc:dd:ee:ff`);
}

/** Runs a program; resolves with stdout, rejects with VFAB_GUEST_COMMAND naming the command and its stderr. */
export function run(file: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (e, stdout, stderr) => {
      if (!e) return resolve(stdout);
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      const text = missing ? `${file} is not installed` : (String(stderr).trim() || String(stdout).trim() || e.message);
      reject(new VfabError(missing ? 'VFAB_GUEST_TOOL_MISSING' : 'VFAB_GUEST_COMMAND', `${[file, ...args].join(' ')}: ${text}`, { file }));
    });
  });
}

/**
 * Creates the device in the caller's namespace, sends all its frames to remote:remotePort and sets it
 * up. The caller may then move it (`ip link set NAME netns NS`). Rejects (and leaves nothing behind) if
 * any step fails.
 */
export async function createVxlanDevice(spec: VxlanDeviceSpec): Promise<void> {
  checkVxlanDeviceSpec(spec);
  const full = { ...spec, local: spec.local ?? '127.0.0.1' };
  await run('python3', ['-c', NETLINK_PROGRAM, JSON.stringify(full)]);
  try {
    await run('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', spec.name, 'dst', spec.remote, 'port', String(spec.remotePort)]);
  } catch (e) {
    await deleteLink(spec.name).catch(() => undefined);
    throw e;
  }
}

/** Removes a link (in namespace `netns` if given); resolves false if there was none. */
export async function deleteLink(name: string, netns?: string): Promise<boolean> {
  try {
    await run('ip', [...(netns ? ['-n', netns] : []), 'link', 'del', name]);
    return true;
  } catch (e) {
    if (/Cannot find device|does not exist|No such/i.test((e as Error).message)) return false;
    throw e;
  }
}

/**
 * True when this process may create namespaces and links (root). VFAB_ASSUME_NOT_ROOT=1 makes it false,
 * so tests running as root can check what a user without root sees.
 */
export function canManageNetworks(): boolean {
  if (process.env.VFAB_ASSUME_NOT_ROOT === '1') return false;
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** What a netns VM needs before its fabric may start: root. The message names the VMs. */
export function netnsNeedsRoot(vms: readonly string[]): VfabError {
  const many = vms.length > 1;
  return new VfabError('VFAB_GUEST_NEEDS_ROOT', `VM${many ? 's' : ''} ${vms.join(', ')} ${many ? 'are' : 'is'} kind: netns: creating network namespaces and links needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN); run vfab up as root (e.g. sudo vfab up FILE), or make ${many ? 'them' : 'it'} builtin VMs`, { vms });
}
