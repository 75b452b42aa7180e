// One ESX-style host as pure logic: its standard vSwitches, the VMs on them (each a VmEndpoint with a
// small IP stack) and the frame flow between them: guest -> vSwitch port -> local ports or uplinks, and
// uplink -> vSwitch -> guests. Uplink transmission, time and capture are passed in (the host daemon does
// the I/O), so whole hosts run in tests without sockets. Follows spec §1 (forwarding), §2 (VLANs), §4
// (security) through lib/vswitch; teaming is the vSwitch's uplink selector. Also: measured traffic streams
// (lib/traffic) for benchmarks and failover numbers. Leaves out vmkernel ports and vMotion.

import { VfabError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { Host as HostModel, Vm as VmModel } from '../topology/model.js';
import { VSwitch, type VSwitchEvent } from '../vswitch/vswitch.js';
import type { SecurityPolicy } from '../vswitch/config.js';
import { VmEndpoint, type EndpointAction, type EndpointActions } from '../endpoint/vm-endpoint.js';
import { ethIsTagged, ETHERTYPE_IPV4, VLAN_TAG_BYTES } from '../wire/ethernet.js';
import { parseIpv4Address, prefixMask, sameSubnet } from '../wire/ipv4.js';
import { macToString } from '../wire/mac.js';
import { StreamReceiver, readStreamHeader, writeStreamHeader, STREAM_HEADER_BYTES } from '../traffic/stream.js';

/** Streams a host measures at once (senders and receivers each). */
export const MAX_STREAMS_PER_HOST = 64;
/** A guest's burst of actions is processed iteratively; this bounds one burst (a storm guard). */
export const MAX_FRAMES_PER_BURST = 100_000;
const IPV4_PROTO_UDP = 17;

export type CaptureDirection = 'in' | 'out';
/** Called for every frame at a tapped point; `direction` is relative to the point's owner. */
export type CaptureTap = (point: string, direction: CaptureDirection, frame: Uint8Array) => void;

export interface HostIo {
  /** Put `frame` on the wire of uplink `vmnic`. */
  uplinkTx(vmnic: string, frame: Uint8Array): void;
  /** Something worth a line in the event stream happened. */
  event?(event: HostEvent): void;
  /** Capture hook, called only for points registered with `setTap`. */
  tap?: CaptureTap;
}

export type HostEvent =
  | { kind: 'vswitch'; vswitch: string; event: VSwitchEvent }
  | { kind: 'endpoint'; vm: string; action: EndpointAction }
  | { kind: 'power'; vm: string; on: boolean };

interface NicBinding {
  vm: VmState;
  nic: number;
  vs: VSwitch;
  portId: number;
  point: string; // "vm.nic"
  tapped: boolean;
}

interface VmState {
  model: VmModel;
  endpoint: VmEndpoint;
  poweredOn: boolean;
  nics: NicBinding[];
  /** The daemon registers a listener to see this VM's actions (ping replies, ...). */
  listeners: Set<(action: EndpointAction) => void>;
}

interface UplinkBinding {
  vmnic: string;
  vs: VSwitch;
  index: number;
  up: boolean;
  tapped: boolean;
}

interface StreamSink {
  receiver: StreamReceiver;
  udpPort: number;
}

export interface StreamSender {
  streamId: number;
  vm: string;
  nic: number;
  frame: Buffer;
  stampOffset: number;
  sent: number;
  binding: NicBinding;
}

export class EsxHost {
  readonly name: string;
  private readonly vswitches = new Map<string, VSwitch>();
  private readonly vms = new Map<string, VmState>();
  private readonly uplinks = new Map<string, UplinkBinding>();
  /** By vSwitch, then port ID. */
  private readonly ports = new Map<VSwitch, Map<number, NicBinding>>();
  private readonly sinks = new Map<string, StreamSink[]>(); // vm name -> sinks
  private sinkCount = 0;
  private readonly queue: Array<{ binding: NicBinding; frame: Uint8Array }> = [];
  private draining = false;

  constructor(readonly model: HostModel, clock: Clock, private readonly io: HostIo) {
    this.name = model.name;
    for (const vsm of model.vswitches) {
      const vs = new VSwitch({
        name: vsm.name,
        mtuBytes: vsm.mtu,
        uplinks: vsm.uplinks,
        security: toSecurity(vsm.security),
        portGroups: vsm.portGroups.map((pg) => ({ name: pg.name, vlanId: pg.vlan, security: toSecurity(pg.security), notifySwitches: pg.teaming.notifySwitches })),
        notifySwitches: vsm.teaming.notifySwitches,
      });
      this.vswitches.set(vsm.name, vs);
      this.ports.set(vs, new Map());
      vsm.uplinks.forEach((vmnic, index) => {
        this.uplinks.set(vmnic, { vmnic, vs, index, up: false, tapped: false });
        vs.setUplinkUp(index, false);
      });
    }
    for (const vm of model.vms) {
      const endpoint = new VmEndpoint({
        name: vm.name,
        clock,
        nics: vm.nics.map((n) => ({
          name: n.name,
          mac: n.mac,
          ...(n.ip ? { ipv4: n.ip.address, prefixLength: n.ip.prefixLength } : {}),
          ...(n.gateway ? { gateway: n.gateway } : {}),
          ...(n.guestVlan !== undefined ? { guestVlanId: n.guestVlan } : {}),
        })),
      });
      this.vms.set(vm.name, { model: vm, endpoint, poweredOn: false, nics: [], listeners: new Set() });
    }
  }

  // ------------------------------------------------------------------ power and ports

  powerOn(vmName: string): void {
    const vm = this.vm(vmName);
    if (vm.poweredOn) return;
    vm.poweredOn = true;
    vm.nics = vm.model.nics.map((n, i) => {
      const vs = this.vswitches.get(n.vswitch)!;
      const portId = vs.connectPort({ portGroup: n.portGroup, initialMac: n.mac, name: `${vm.model.name}.${n.name}` });
      const binding: NicBinding = { vm, nic: i, vs, portId, point: `${vm.model.name}.${n.name}`, tapped: false };
      this.ports.get(vs)!.set(portId, binding);
      return binding;
    });
    this.io.event?.({ kind: 'power', vm: vmName, on: true });
    this.takeVSwitchEvents();
    this.runActions(vm, vm.endpoint.powerOn());
  }

  powerOff(vmName: string): void {
    const vm = this.vm(vmName);
    if (!vm.poweredOn) return;
    this.runActions(vm, vm.endpoint.powerOff());
    vm.poweredOn = false;
    for (const b of vm.nics) {
      b.vs.disconnectPort(b.portId);
      this.ports.get(b.vs)!.delete(b.portId);
    }
    vm.nics = [];
    this.io.event?.({ kind: 'power', vm: vmName, on: false });
  }

  powerOnAll(): void {
    for (const name of this.vms.keys()) this.powerOn(name);
  }

  isPoweredOn(vmName: string): boolean {
    return this.vm(vmName).poweredOn;
  }

  // ------------------------------------------------------------------ frames

  /** A frame arrived on uplink `vmnic` from the physical network. */
  receiveUplink(vmnic: string, frame: Uint8Array): void {
    const up = this.uplinks.get(vmnic);
    if (!up) return;
    if (up.tapped) this.io.tap?.(`${this.name}.${vmnic}`, 'in', frame);
    const result = up.vs.fromUplink(up.index, frame);
    this.deliverToPorts(up.vs, result.portCount, result.portIds, result.portFrames);
    this.drain();
  }

  /** Link state of an uplink changed (carrier). */
  setUplinkLink(vmnic: string, up: boolean): void {
    const b = this.uplinks.get(vmnic);
    if (!b || b.up === up) return;
    b.up = up;
    b.vs.setUplinkUp(b.index, up);
    this.takeVSwitchEvents();
  }

  /** Performs actions a guest produced outside a frame (MAC change, promiscuous mode, ...). */
  applyGuestActions(vmName: string, actions: EndpointActions): void {
    this.runActions(this.vm(vmName), actions);
  }

  /** A frame the guest of `vmName` sends on vNIC `nic` (used by sendRaw-style injections). */
  transmitFromVm(vmName: string, nic: number, frame: Uint8Array): void {
    const vm = this.vm(vmName);
    this.runActions(vm, vm.endpoint.sendRaw(nic, frame));
  }

  private deliverToPorts(vs: VSwitch, count: number, portIds: Int32Array, frames: Uint8Array[]): void {
    if (count === 0) return;
    const table = this.ports.get(vs)!;
    // copy out first: the ForwardResult is reused by the next vSwitch call
    const pending: Array<[NicBinding, Uint8Array]> = [];
    for (let i = 0; i < count; i++) {
      const b = table.get(portIds[i]!);
      if (b) pending.push([b, frames[i]!]);
    }
    for (const [b, frame] of pending) {
      if (b.tapped) this.io.tap?.(b.point, 'in', frame);
      if (this.sinkCount > 0 && this.trySink(b, frame)) continue;
      this.runActions(b.vm, b.vm.endpoint.receive(b.nic, frame));
    }
  }

  /** Guest actions: transmissions go through the vSwitch (queued, so a burst never recurses). */
  private runActions(vm: VmState, actions: EndpointActions): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'transmit': {
          const b = vm.nics[a.nic];
          if (b) this.queue.push({ binding: b, frame: a.frame });
          break;
        }
        case 'macChanged': {
          const b = vm.nics[a.nic];
          if (b) {
            const events = b.vs.setEffectiveMac(b.portId, a.mac);
            for (const e of events) this.onVSwitchEvent(b.vs, e);
          }
          break;
        }
        case 'promiscuous': {
          const b = vm.nics[a.nic];
          if (b) b.vs.setGuestPromiscuous(b.portId, a.on);
          break;
        }
        default:
          break;
      }
      if (a.kind !== 'transmit') {
        for (const l of vm.listeners) l(a);
        if (a.kind !== 'udp' && a.kind !== 'sniffed') this.io.event?.({ kind: 'endpoint', vm: vm.model.name, action: a });
      }
    }
    this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      let n = 0;
      while (this.queue.length > 0 && n++ < MAX_FRAMES_PER_BURST) {
        const { binding, frame } = this.queue.shift()!;
        this.forwardFromPort(binding, frame);
      }
      this.queue.length = 0;
    } finally {
      this.draining = false;
    }
  }

  private forwardFromPort(b: NicBinding, frame: Uint8Array): void {
    if (b.tapped) this.io.tap?.(b.point, 'out', frame);
    const r = b.vs.fromPort(b.portId, frame);
    const mask = r.uplinkMask;
    const upFrame = r.uplinkFrame;
    if (mask !== 0 && upFrame) {
      const names = b.vs.uplinkNames;
      for (let i = 0; i < names.length; i++) {
        if (mask & (1 << i)) this.sendUplink(names[i]!, upFrame);
      }
    }
    this.deliverToPorts(b.vs, r.portCount, r.portIds, r.portFrames);
  }

  private sendUplink(vmnic: string, frame: Uint8Array): void {
    const up = this.uplinks.get(vmnic);
    if (up?.tapped) this.io.tap?.(`${this.name}.${vmnic}`, 'out', frame);
    this.io.uplinkTx(vmnic, frame);
  }

  private takeVSwitchEvents(): void {
    for (const vs of this.vswitches.values()) for (const e of vs.takeEvents()) this.onVSwitchEvent(vs, e);
  }

  private onVSwitchEvent(vs: VSwitch, e: VSwitchEvent): void {
    if (e.kind === 'notify_switches') {
      const names = vs.uplinkNames;
      for (let i = 0; i < names.length; i++) if (e.uplinkMask & (1 << i)) this.sendUplink(names[i]!, e.frame);
    }
    this.io.event?.({ kind: 'vswitch', vswitch: vs.name, event: e });
  }

  // ------------------------------------------------------------------ time

  /** Runs every guest's due timers (ARP retries, ping timeouts). */
  tick(): void {
    for (const vm of this.vms.values()) if (vm.poweredOn) this.runActions(vm, vm.endpoint.tick());
  }

  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const vm of this.vms.values()) {
      if (!vm.poweredOn) continue;
      const d = vm.endpoint.nextDeadlineMs();
      if (d !== undefined && (next === undefined || d < next)) next = d;
    }
    return next;
  }

  // ------------------------------------------------------------------ guest operations

  /** Sends one echo request; replies and timeouts reach `listen` listeners as actions. */
  ping(vmName: string, nic: number, target: string, opts: { id: number; seq: number; sizeBytes?: number; timeoutMs?: number }): void {
    const vm = this.poweredVm(vmName);
    this.runActions(vm, vm.endpoint.ping(nic, target, opts));
  }

  listen(vmName: string, listener: (action: EndpointAction) => void): () => void {
    const vm = this.vm(vmName);
    vm.listeners.add(listener);
    return () => vm.listeners.delete(listener);
  }

  /** The vNIC of `vmName` that reaches `target` on-link, else its first vNIC with an address. */
  pickNic(vmName: string, target: string, nicName?: string): number {
    const vm = this.vm(vmName);
    if (nicName !== undefined) {
      const i = vm.model.nics.findIndex((n) => n.name === nicName);
      if (i < 0) throw new VfabError('VFAB_NOT_FOUND', `VM ${vmName} has no vNIC ${nicName} (has: ${vm.model.nics.map((n) => n.name).join(', ')})`);
      return i;
    }
    const t = ipToNumber(target);
    const onLink = vm.model.nics.findIndex((n) => n.ip && t !== undefined && sameSubnet(ipToNumber(n.ip.address)!, t, prefixMask(n.ip.prefixLength)));
    if (onLink >= 0) return onLink;
    const any = vm.model.nics.findIndex((n) => n.ip);
    return any >= 0 ? any : 0;
  }

  endpoint(vmName: string): VmEndpoint {
    return this.vm(vmName).endpoint;
  }

  // ------------------------------------------------------------------ measured streams

  /** Makes `vmName` count stream frames arriving on UDP `udpPort` without passing them to its stack. */
  addStreamSink(vmName: string, streamId: number, udpPort: number): StreamReceiver {
    this.vm(vmName);
    if (this.sinkCount >= MAX_STREAMS_PER_HOST) throw new VfabError('VFAB_HOST_TOO_MANY_STREAMS', `a host measures at most ${MAX_STREAMS_PER_HOST} streams`);
    const receiver = new StreamReceiver(streamId);
    const list = this.sinks.get(vmName) ?? [];
    list.push({ receiver, udpPort });
    this.sinks.set(vmName, list);
    this.sinkCount++;
    return receiver;
  }

  removeStreamSinks(vmName: string): void {
    this.sinkCount -= this.sinks.get(vmName)?.length ?? 0;
    this.sinks.delete(vmName);
  }

  private trySink(b: NicBinding, frame: Uint8Array): boolean {
    const list = this.sinks.get(b.vm.model.name);
    if (!list) return false;
    const l2 = ethIsTagged(frame) ? 14 + VLAN_TAG_BYTES : 14;
    if (((frame[l2 - 2]! << 8) | frame[l2 - 1]!) !== ETHERTYPE_IPV4 || frame[l2 + 9] !== IPV4_PROTO_UDP) return false;
    const ihl = (frame[l2]! & 0x0f) * 4;
    const dstPort = (frame[l2 + ihl + 2]! << 8) | frame[l2 + ihl + 3]!;
    for (const s of list) {
      if (s.udpPort !== dstPort) continue;
      const stamp = readStreamHeader(frame, l2 + ihl + 8);
      if (!stamp || stamp.streamId !== s.receiver.streamId) return false;
      s.receiver.record(stamp.seq, stamp.sentAtNs, (performance.timeOrigin + performance.now()) * 1e6);
      return true;
    }
    return false;
  }

  /**
   * Prepares a stream sender: resolves the next hop (ARP) through the fabric first; returns undefined
   * while unresolved (call again after the ARP reply arrived).
   */
  streamSender(vmName: string, nic: number, dstIp: string, udpPort: number, frameBytes: number, streamId: number): StreamSender | undefined {
    const vm = this.poweredVm(vmName);
    const payloadBytes = Math.max(STREAM_HEADER_BYTES, frameBytes - 42 - (vm.model.nics[nic]?.guestVlan !== undefined ? 4 : 0));
    const frame = vm.endpoint.udpFrameTemplate(nic, dstIp, udpPort, udpPort, payloadBytes);
    if (!frame) {
      this.runActions(vm, vm.endpoint.resolve(nic, dstIp));
      return undefined;
    }
    const l2 = ethIsTagged(frame) ? 18 : 14;
    const ihl = (frame[l2]! & 0x0f) * 4;
    // the stream header changes per frame; a zero UDP checksum means "none" (RFC 768), so receivers accept it
    frame[l2 + ihl + 6] = 0;
    frame[l2 + ihl + 7] = 0;
    return { streamId, vm: vmName, nic, frame, stampOffset: l2 + ihl + 8, sent: 0, binding: vm.nics[nic]! };
  }

  /** Sends `count` stamped frames of a stream through the vSwitch (the hot path of benchmarks). */
  sendStreamFrames(s: StreamSender, count: number, nowNs: number): void {
    for (let i = 0; i < count; i++) {
      writeStreamHeader(s.frame, s.stampOffset, s.streamId, s.sent++, nowNs);
      this.forwardFromPort(s.binding, s.frame);
    }
  }

  // ------------------------------------------------------------------ capture

  /** Starts or stops calling io.tap for a capture point: "vm.nic" or "<host>.<vmnic>". */
  setTap(point: string, on: boolean): boolean {
    const dot = point.indexOf('.');
    const node = point.slice(0, dot);
    const iface = point.slice(dot + 1);
    if (node === this.name) {
      const up = this.uplinks.get(iface);
      if (!up) return false;
      up.tapped = on;
      return true;
    }
    const vm = this.vms.get(node);
    if (!vm) return false;
    const i = vm.model.nics.findIndex((n) => n.name === iface);
    if (i < 0) return false;
    const b = vm.nics[i];
    if (b) b.tapped = on;
    return true;
  }

  capturePoints(): string[] {
    return [...[...this.uplinks.keys()].map((u) => `${this.name}.${u}`), ...[...this.vms.values()].flatMap((vm) => vm.model.nics.map((n) => `${vm.model.name}.${n.name}`))];
  }

  // ------------------------------------------------------------------ status

  status() {
    return {
      vswitches: [...this.vswitches.values()].map((vs) => ({
        name: vs.name,
        mtu: vs.mtuBytes,
        uplinks: vs.uplinkNames.map((n, i) => ({ name: n, up: vs.isUplinkUp(i) })),
        ports: vs.ports().map((p) => ({ ...p, uplink: p.egressUplinks.join('+') || null, uplinkReason: p.egressUplinks.length ? 'first uplink with link up' : 'no uplink with link up' })),
        counters: vs.counters(),
      })),
      vms: [...this.vms.values()].map((vm) => ({
        name: vm.model.name,
        poweredOn: vm.poweredOn,
        nics: vm.model.nics.map((n, i) => ({
          name: n.name,
          mac: macToString(vm.endpoint.nicMac(i)),
          ip: n.ip?.text,
          portGroup: n.portGroup,
          vswitch: n.vswitch,
          portId: vm.nics[i]?.portId ?? null,
        })),
        counters: vm.endpoint.counters,
        arp: vm.endpoint.arpTable(),
      })),
    };
  }

  macTable() {
    return [...this.vswitches.values()].flatMap((vs) => vs.macTable().map((e) => ({ vswitch: vs.name, vlan: e.vlanId, mac: e.macText, portId: e.portId, portGroup: e.portGroup, active: e.active })));
  }

  vswitch(name: string): VSwitch | undefined {
    return this.vswitches.get(name);
  }

  private vm(name: string): VmState {
    const vm = this.vms.get(name);
    if (!vm) throw new VfabError('VFAB_NOT_FOUND', `no VM ${name} on host ${this.name} (has: ${[...this.vms.keys()].join(', ') || 'none'})`);
    return vm;
  }

  private poweredVm(name: string): VmState {
    const vm = this.vm(name);
    if (!vm.poweredOn) throw new VfabError('VFAB_VM_POWERED_OFF', `VM ${name} is powered off`);
    return vm;
  }
}

function toSecurity(p: { promiscuous: string; macChanges: string; forgedTransmits: string }): SecurityPolicy {
  return { allowPromiscuous: p.promiscuous === 'accept', allowMacChanges: p.macChanges === 'accept', allowForgedTransmits: p.forgedTransmits === 'accept' };
}

function ipToNumber(text: string): number | undefined {
  try {
    return parseIpv4Address(text);
  } catch {
    return undefined;
  }
}
