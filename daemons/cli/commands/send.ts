// vfab send: crafted frames onto the wire at a VM's vNIC (as the guest), a host uplink (as if received
// from the physical side) or a physical-switch port (as if received on it); given as hex, as a capture
// file to replay (with or without its timing), or as fields. Thin CLI over daemons/fabric/send.ts; the
// bounds are lib/traffic/crafted.ts's. See docs/send.md.

import { VfabError } from '../../../lib/errors.js';
import { parseMac } from '../../../lib/wire/mac.js';
import { MAX_FRAME_BYTES, ETH_HEADER_BYTES } from '../../../lib/wire/ethernet.js';
import { MAX_SEND_FRAMES, MAX_SEND_RATE_PPS, MAX_SEND_DURATION_MS, ETHERTYPE_LOCAL_EXPERIMENTAL, type FrameFields } from '../../../lib/traffic/crafted.js';
import { readState } from '../../fabric/state.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, UsageError, EXIT_OK } from '../io.js';

/** Progress lines go out at most this often (and only once a send has run this long). */
const PROGRESS_EVERY_MS = 1000;

/** "0x0800", "0800" (hex) or "2048" is not accepted: EtherTypes are written in hex. */
export function parseEtherType(text: string, asTyped: string): number {
  const m = /^(?:0x)?([0-9a-fA-F]{1,4})$/.exec(text);
  if (!m) throw new UsageError(`${asTyped} ${text}: write the EtherType in hex, 0x0000-0xffff (e.g. 0x0800, 0x88b5)`);
  return parseInt(m[1]!, 16);
}

const send = defineCommand(
  {
    usage: [
      'POINT --hex HEX [--hex HEX...] [--count N] [--rate PPS] [--json]',
      'POINT --pcap FILE [--timing | --rate PPS] [--count N] [--json]',
      'POINT --dst MAC --src MAC [--vlan N] [--ethertype 0xNNNN] [--payload HEX] [--size BYTES] [--count N] [--rate PPS] [--json]',
    ],
    description: `Puts crafted Ethernet frames on the wire at POINT, and reports how many went out. POINT is one of:
  web1.nic0      a VM vNIC: the guest sends them; the vSwitch port's policy applies (a forged
                 source MAC is dropped under Forged Transmits = Reject, counted in vfab status)
  esx1.vmnic0    a host uplink: the vSwitch receives them as if they came off the cable, 802.1Q tag
                 and all (the frame's tag decides its VLAN)
  sw1.Gi1/0/1    a physical-switch port: the switch receives them on that port (learning, VLANs)
The frames: --hex (each a whole frame without FCS, ${ETH_HEADER_BYTES}-${MAX_FRAME_BYTES} bytes), --pcap (every frame of a pcap or
pcapng file, Ethernet link type; with --timing the file's gaps between frames are kept), or fields
(--dst, --src and optional --vlan, --ethertype, --payload, --size; EtherType defaults to
0x${ETHERTYPE_LOCAL_EXPERIMENTAL.toString(16)}, the IEEE local experimental type no guest stack answers). --count sends the
whole set that many times. Without --rate or --timing frames go out as fast as the daemon takes them.
A paced send takes at most ${MAX_SEND_DURATION_MS / 1000} s; see what arrives with vfab capture.`,
    options: {
      hex: { type: 'string', value: 'HEX', repeatable: true, description: 'a whole frame as hex digits (spaces and colons allowed)' },
      pcap: { type: 'string', value: 'FILE', description: 'replay the frames of this pcap/pcapng file' },
      timing: { type: 'bool', description: "with --pcap: keep the file's gaps between frames" },
      dst: { type: 'string', value: 'MAC', description: 'destination MAC of a frame built from fields' },
      src: { type: 'string', value: 'MAC', description: 'source MAC of a frame built from fields' },
      vlan: { type: 'int', min: 0, max: 4094, description: 'add an 802.1Q tag with this VLAN ID' },
      ethertype: { type: 'string', value: '0xNNNN', description: `EtherType after the tag (default 0x${ETHERTYPE_LOCAL_EXPERIMENTAL.toString(16)})` },
      payload: { type: 'string', value: 'HEX', description: 'payload bytes after the EtherType, as hex' },
      size: { type: 'int', value: 'BYTES', min: ETH_HEADER_BYTES, max: MAX_FRAME_BYTES, description: 'whole frame size without FCS; the payload is zero-padded (default 60)' },
      count: { type: 'int', short: 'c', min: 1, max: MAX_SEND_FRAMES, default: 1, description: 'send the frames this many times' },
      rate: { type: 'number', value: 'PPS', min: 0.01, max: MAX_SEND_RATE_PPS, description: 'frames per second' },
      json: JSON_OPTION,
    },
    args: { min: 1, max: 1 },
    examples: [
      'send web1.nic0 --dst 00:50:56:00:00:12 --src 00:50:56:3f:ee:01 --count 3   # forged source: see vfab status',
      'send sw1.Gi1/0/1 --pcap lab.pcapng --timing',
      'send esx1.vmnic0 --dst ff:ff:ff:ff:ff:ff --src 00:11:22:33:44:55 --vlan 10 --size 1518 -c 1000 --rate 500',
    ],
    exits: { 2: 'bad usage: an unknown point, a bad value, a frame out of range, an unreadable capture file (named)' },
  },
  async ({ values, positionals, typed }, io) => {
    const point = positionals[0]!;
    const fieldOptions = (['dst', 'src', 'vlan', 'ethertype', 'payload', 'size'] as const).filter((o) => values[o] !== undefined);
    const sources = [values.hex.length ? '--hex' : '', values.pcap !== undefined ? '--pcap' : '', fieldOptions.length ? '--dst/--src' : ''].filter(Boolean);
    if (sources.length !== 1) throw new UsageError(sources.length ? `${sources.join(' and ')}: give the frames one way` : 'give the frames: --hex HEX, --pcap FILE, or --dst MAC --src MAC (see: vfab send --help)');
    if (values.timing && values.pcap === undefined) throw new UsageError('--timing applies to --pcap only');
    if (values.timing && values.rate !== undefined) throw new UsageError(`${typed.rate}: --timing keeps the file's own pace; give one of them`);
    let fields: FrameFields | undefined;
    if (fieldOptions.length) {
      if (values.dst === undefined || values.src === undefined) throw new UsageError(`a frame built from fields needs --dst MAC and --src MAC (missing ${values.dst === undefined ? '--dst' : '--src'})`);
      const mac = (text: string, opt: string) => {
        try {
          return parseMac(text);
        } catch {
          throw new UsageError(`${opt} ${text}: not a MAC address (write e.g. 00:50:56:01:02:03)`);
        }
      };
      let payload: Buffer | undefined;
      if (values.payload !== undefined) {
        const clean = values.payload.replace(/^0x/i, '').replace(/[\s:]/g, '');
        if (!/^([0-9a-fA-F]{2})*$/.test(clean) || clean.length > 2 * MAX_FRAME_BYTES) throw new UsageError(`--payload: write pairs of hex digits, at most ${MAX_FRAME_BYTES} bytes`);
        payload = Buffer.from(clean, 'hex');
      }
      fields = {
        dst: mac(values.dst, '--dst'),
        src: mac(values.src, '--src'),
        ...(values.vlan !== undefined ? { vlan: values.vlan } : {}),
        ...(values.ethertype !== undefined ? { etherType: parseEtherType(values.ethertype, '--ethertype') } : {}),
        ...(payload ? { payload } : {}),
        ...(values.size !== undefined ? { sizeBytes: values.size } : {}),
      };
    }
    const { sendFrames, planSend } = await import('../../fabric/send.js');
    const spec = { point, ...(values.hex.length ? { hex: values.hex } : {}), ...(values.pcap !== undefined ? { pcap: values.pcap, timing: values.timing } : {}), ...(fields ? { fields } : {}), count: values.count, ...(values.rate !== undefined ? { ratePps: values.rate } : {}) };
    let requests;
    try {
      requests = planSend(spec, (s) => (s === 'hex' ? '--hex' : s === 'pcap' ? '--pcap' : '--dst/--src/--size'));
    } catch (e) {
      // over a bound of the whole send: name the options that set it
      if (e instanceof VfabError && (e.code === 'VFAB_SEND_TOO_MANY_FRAMES' || e.code === 'VFAB_SEND_TOO_LONG')) {
        throw new UsageError(`${[typed.count, typed.rate, values.timing ? '--timing' : ''].filter(Boolean).join(' ') || '--count'}: ${e.message}`);
      }
      throw e;
    }
    const state = readState();
    let lastProgress = performance.now();
    const result = await sendFrames(state, point, requests, (sent, total) => {
      const now = performance.now();
      if (now - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = now;
        io.err(`sent ${sent}/${total} frames to ${point}`);
      }
    });
    if (values.json) printJson(io, result);
    else io.out(`sent ${result.frames} frames (${result.bytes} bytes) to ${result.point} via ${result.daemon} in ${result.seconds.toFixed(2)} s`);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { send };
