// One ESX-style host as pure logic: its standard vSwitches, the VMs on them (each a VmEndpoint with a
// small IP stack) and the frame flow between them: guest -> vSwitch port -> local ports or uplinks, and
// uplink -> vSwitch -> guests. Uplink transmission, time and capture are passed in (the host daemon does
// the I/O), so whole hosts run in tests without sockets. Follows spec §1 (forwarding), §2 (VLANs), §4
// (security) through lib/vswitch. Teaming (spec §3): one lib/teaming TeamingEngine per vSwitch is its uplink
// selector; the host performs the engine's actions (RARPs on notify, beacons, failover events) and diverts
// beacons (EtherType 0x8922) arriving on uplinks to it. The engine is the ONE source of notify-switches RARPs
// (the vSwitch's own notify is turned off), so each event sends its RARPs exactly once (§3.10). Traffic
// shaping (spec §5): a token bucket per port on VM egress when the port group enables it, queue released
// on tick(), drops counted. Also: measured traffic streams (lib/traffic) for benchmarks and failover
// numbers. VMkernel ports (hosts[].vmkernels): the host's own IP interfaces are vSwitch ports exactly like
// a VM's vNICs (same port, VLAN, security, shaping, teaming and notify code), behind one kernel VmEndpoint
// with a vNIC per vmk; lib/host/vmkernel.ts gives them a UDP/ping API. Live reconfiguration
// (reconfigure(): MTU, security, VLANs, teaming, shaping, vNIC port group and MAC; docs/reconfigure.md).
// Leaves out vMotion and changing a running host's uplinks, port-group list, VMs and vmkernel ports.
// External VMs (`external: true`, run by daemons/vmd.ts): see the "external VMs" section below; their
// vSwitch ports are the same, only the guest side is a link (io.vmTx / receiveFromVm) instead of a VmEndpoint.

import { VfabError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { Host as HostModel, Vm as VmModel, VSwitch as VSwitchModel, TeamingPolicy as TeamingModel, TrafficShapingPolicy } from '../topology/model.js';
import { TeamingEngine, type TeamingAction, type PortDescription, type NotifyReason } from '../teaming/engine.js';
import type { TeamingPolicy } from '../teaming/policy.js';
import { TokenBucketShaper, kbitToBps, kbToBytes, validateShapingPolicy, type ShaperStats } from '../shaping/token-bucket.js';
import { buildRarpAnnounce } from '../wire/arp.js';
import { VSwitch, type VSwitchEvent } from '../vswitch/vswitch.js';
import { validateVSwitchConfig, type SecurityPolicy, type VSwitchConfig } from '../vswitch/config.js';
import { VmEndpoint, frameTooLargeMessage, nicConfigsOf, type EndpointAction, type EndpointActions } from '../endpoint/vm-endpoint.js';
import { ethIsTagged, ETHERTYPE_IPV4, ETH_HEADER_BYTES, VLAN_TAG_BYTES } from '../wire/ethernet.js';
import { macToString } from '../wire/mac.js';
import { RunCursor } from '../link/codec.js';
import { VmkernelStack, type KernelHost, type VmkernelPort } from './vmkernel.js';
import type { VmkernelService } from '../topology/model.js';
import { isRealGuest } from '../topology/model.js';
import { defaultNicIndex } from '../topology/nic-choice.js';
import { StreamReceiver, readStreamHeaderInto, sharedNowNs, writeStreamHeader, STREAM_HEADER_BYTES, type StreamStamp } from '../traffic/stream.js';

/** Streams a host measures at once (senders and receivers each). */
export const MAX_STREAMS_PER_HOST = 64;
/** A guest's burst of actions is processed iteratively; this bounds one burst (a storm guard). */
export const MAX_FRAMES_PER_BURST = 100_000;
const IPV4_PROTO_UDP = 17;
/** Beacon EtherType (spec §3.9); frames of this type arriving on an uplink go to the teaming engine. */
const ETHERTYPE_BEACON = 0x8922;
const ETHERTYPE_VLAN_TPID = 0x8100;
/** A port that keeps dropping to its shaper logs at most one shaping-drop event per this interval. */
export const SHAPING_DROP_EVENT_INTERVAL_MS = 1000;
/** Prefix of the burned-in uplink MACs a host derives (locally administered, 02:56:...). */
const UPLINK_MAC_BASE = 0x025600000000;

/**
 * Spacing of the RARPs of one notify (§3.10: "about 5 per VM per link event"; their timing is not
 * documented [INF]). The first leaves at once, the rest one every NOTIFY_RARP_SPACING_MS. A newer notify
 * for the same port cancels what is left of the older one, so when a port moves twice in quick succession
 * (link up, then failback a moment later) the last RARPs the switches see come from the current uplink,
 * even if the older burst took a longer path through the physical network.
 */
export const NOTIFY_RARP_SPACING_MS = 50;

export type CaptureDirection = 'in' | 'out';
/** Called for every frame at a tapped point; `direction` is relative to the point's owner. Valid during the call only. */
export type CaptureTap = (point: string, direction: CaptureDirection, frame: Uint8Array) => void;

export interface HostIo {
  /**
   * Put `frame` on the wire of uplink `vmnic`. The frame is valid during the call only (it may be the
   * vSwitch's scratch copy, rewritten by the next frame): copy to keep it.
   */
  uplinkTx(vmnic: string, frame: Uint8Array): void;
  /** Something worth a line in the event stream happened. */
  event?(event: HostEvent): void;
  /**
   * The vSwitch dropped `frame` whole (nothing delivered) for `reason` (a DropReason, spec §1/§2/§4) where
   * it entered: `point` is the VM port ("vm.nic") or the uplink ("<host>.<vmnic>"); a tap there saw the
   * frame just before. Valid during the call only.
   */
  drop?(point: string, reason: string, frame: Uint8Array): void;
  /** Capture hook, called only for points registered with `setTap`. */
  tap?: CaptureTap;
  /**
   * A frame the vSwitch delivers to vNIC `nic` of an external VM (one that runs outside the host and is
   * attached over a link). The frame is valid during the call only: copy to keep it.
   */
  vmTx?(vm: string, nic: number, frame: Uint8Array): void;
  /**
   * Arrival time of a stream frame in ns on the time line all processes share (default: sharedNowNs()
   * per frame). A daemon may read the clock once per received link message and return that instant for
   * every frame of it, as the bare relay peer's receiver does.
   */
  streamNowNs?(): number;
}

/**
 * A teaming or shaping fact for the event log. `type`: failover | failback | shotgun | mac-change (ports
 * moved: details from, to, ports), pinned (ports got their first uplink), notify (RARPs sent: details
 * port, mac, uplink, vlan, count, reason), link-down | link-up | beacon-failed | beacon-restored |
 * shotgun-on | shotgun-off | no-uplink (the engine's own events), shaping-drop (details port, droppedFrames).
 */
export interface TeamingHostEvent {
  kind: 'teaming';
  vswitch: string;
  type: string;
  message: string;
  details: Record<string, unknown>;
}

export interface HostOptions {
  /** RARPs per notify (default: the engine's NOTIFY_RARP_COUNT). */
  notifyCount?: number;
}

export type HostEvent =
  | { kind: 'vswitch'; vswitch: string; event: VSwitchEvent }
  | TeamingHostEvent
  | { kind: 'endpoint'; vm: string; action: EndpointAction }
  /** An action of a vmkernel port's stack (ARP resolved/failed, IP conflict, send failure...). */
  | { kind: 'vmkernel'; vmk: string; action: EndpointAction }
  | { kind: 'power'; vm: string; on: boolean };

interface NicBinding {
  vm: VmState;
  nic: number;
  vs: VSwitch;
  portId: number;
  point: string; // "vm.nic"
  tapped: boolean;
  /** Its vSwitch's uplinks by uplink index (resolved once, so egress needs no lookup per frame). */
  uplinks: UplinkBinding[];
  /** Egress shaper (spec §5), null when the port group does not shape. */
  shaper: TokenBucketShaper | null;
  lastDropEventMs: number;
  droppedAtLastEvent: number;
}

interface VsState {
  vs: VSwitch;
  model: VSwitchModel;
  engine: TeamingEngine;
}

interface VmState {
  model: VmModel;
  /**
   * The guest's IP stack. For an external VM a never-powered shadow: it only holds the vNIC settings the
   * guest programmed (MAC, promiscuous), which the host turns into vSwitch port state; it sends nothing.
   */
  endpoint: VmEndpoint;
  /** True: the guest runs outside the host (vmd) and is attached over a link per vNIC. */
  external: boolean;
  /** True: the host's own kernel stack, one "vNIC" per vmkernel port (model.name is the host's name). */
  kernel: boolean;
  /** External VMs: carrier of each vNIC's link (false = the port is blocked). */
  linkUp: boolean[];
  poweredOn: boolean;
  nics: NicBinding[];
  /** The daemon registers a listener to see this VM's actions (ping replies, ...). */
  listeners: Set<(action: EndpointAction) => void>;
  /** Measured streams counted at this VM (addStreamSink). */
  sinks: StreamSink[];
  /** Stopped by a vMotion (stunVm): ports off, state kept. */
  stunned?: boolean;
}

interface UplinkBinding {
  vmnic: string;
  /** Capture point "<host>.<vmnic>". */
  point: string;
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
  private readonly teams = new Map<VSwitch, VsState>();
  private readonly shaped = new Set<NicBinding>();
  private readonly clock: Clock;
  private readonly vms = new Map<string, VmState>();
  /** The same VMs and teaming states as arrays (nextDeadlineMs runs per frame). */
  private readonly vmList: VmState[] = [];
  private readonly teamList: VsState[] = [];
  private readonly uplinks = new Map<string, UplinkBinding>();
  /** By vSwitch, then port ID. */
  private readonly ports = new Map<VSwitch, Map<number, NicBinding>>();
  private sinkCount = 0;
  /** trySink reads each stream header into this (no allocation per frame). */
  private readonly stamp: StreamStamp = { streamId: 0, seq: 0, sentAtNs: 0 };
  private readonly runCursor = new RunCursor();
  /** Arrival time (ns) of the run being delivered, -1 outside a run. */
  private arrivalNs = -1;
  /** sendStreamFrames' copy of the bytes a stream's first frame left with (grown on demand). */
  private streamScratch: Buffer = Buffer.allocUnsafe(2048);
  /** RARPs still to send per port (key: vSwitch name + port ID), one burst per port at a time. */
  /** Uplink bindings per vSwitch, by uplink index. */
  private readonly uplinksOf = new Map<VSwitch, UplinkBinding[]>();
  private readonly pendingNotify = new Map<string, { uplink: UplinkBinding; frame: Uint8Array; remaining: number; nextAtMs: number }>();
  private readonly queue: Array<{ binding: NicBinding; frame: Uint8Array }> = [];
  private draining = false;
  /** The host's kernel stack (vmkernel ports), null when the topology gives the host none. */
  private kernel: VmState | null = null;
  private vmkStack: VmkernelStack | null = null;

  constructor(public model: HostModel, clock: Clock, private readonly io: HostIo, opts: HostOptions = {}) {
    this.name = model.name;
    this.clock = clock;
    const hostHash = fnv16(model.name);
    let uplinkSerial = 0;
    for (const vsm of model.vswitches) {
      const vs = new VSwitch(vswitchConfig(vsm), {
        // tag push/pop copies go to the vSwitch's scratch areas: every consumer below (uplinkTx, taps,
        // guests, sinks, external VMs) is done with the bytes before the next vSwitch call, except the
        // several deliveries of one frame, which deliverToPorts copies out first
        reuseOutputBuffers: true,
      });
      const engine = new TeamingEngine({
        uplinks: vsm.uplinks,
        ...teamingConfig(vsm),
        clock,
        uplinkMacs: vsm.uplinks.map(() => UPLINK_MAC_BASE + hostHash * 256 + (uplinkSerial++ & 0xff)),
        initialLinkDown: [...vsm.uplinks],
        ...(opts.notifyCount !== undefined ? { notifyCount: opts.notifyCount } : {}),
      });
      vs.setUplinkSelector(engine);
      this.teams.set(vs, { vs, model: vsm, engine });
      this.teamList.push(this.teams.get(vs)!);
      this.vswitches.set(vsm.name, vs);
      this.ports.set(vs, new Map());
      this.uplinksOf.set(vs, vsm.uplinks.map((vmnic, index) => {
        const up: UplinkBinding = { vmnic, point: `${model.name}.${vmnic}`, vs, index, up: false, tapped: false };
        this.uplinks.set(vmnic, up);
        vs.setUplinkUp(index, false);
        return up;
      }));
    }
    for (const vm of model.vms) {
      const endpoint = new VmEndpoint({
        name: vm.name,
        clock,
        nics: nicConfigsOf(vm.nics),
      });
      const state: VmState = { model: vm, endpoint, external: vm.external === true || isRealGuest(vm), kernel: false, linkUp: vm.nics.map(() => false), poweredOn: false, nics: [], listeners: new Set(), sinks: [] };
      this.vms.set(vm.name, state);
      this.vmList.push(state);
    }
    const vmks = model.vmkernels ?? [];
    if (vmks.length > 0) {
      // the kernel's ports are vNICs of a pseudo-VM named after the host, so each port's point is "<host>.<vmk>"
      const kernelModel: VmModel = {
        name: model.name, host: model.name, disks: [], external: false, memoryMB: 0, dirtyRateMBps: 0, loc: model.loc,
        nics: vmks.map((k) => ({ ...k, guestVlan: undefined })),
      };
      const endpoint = new VmEndpoint({
        name: `${model.name} vmkernel`,
        clock,
        nics: vmks.map((k) => ({ name: k.name, mac: k.mac, ipv4: k.ip.address, prefixLength: k.ip.prefixLength, mtuBytes: k.mtu, ...(k.gateway ? { gateway: k.gateway } : {}) })),
      });
      const kernel: VmState = { model: kernelModel, endpoint, external: false, kernel: true, linkUp: [], poweredOn: false, nics: [], listeners: new Set(), sinks: [] };
      this.kernel = kernel;
      this.vmList.push(kernel);
      const ops: KernelHost = {
        endpoint,
        run: (actions) => this.runActions(kernel, actions),
        checkUp: () => {
          if (!kernel.poweredOn) throw new VfabError('VFAB_VMK_DOWN', `the vmkernel ports of ${this.name} are not up yet`);
        },
        listen: (listener) => {
          kernel.listeners.add(listener);
          return () => kernel.listeners.delete(listener);
        },
      };
      this.vmkStack = new VmkernelStack(vmks, ops);
    }
  }

  // ------------------------------------------------------------------ power and ports

  powerOn(vmName: string): void {
    this.connect(this.vm(vmName));
  }

  /** Connects the vmkernel ports to their port groups (the host is up): they ARP-announce and answer. */
  startVmkernels(): void {
    if (this.kernel) this.connect(this.kernel);
  }

  /** Connects a VM's vNICs (or the kernel's vmk ports) to vSwitch ports and starts its stack. */
  private connect(vm: VmState, powerEvent = true, notifyReason: NotifyReason = 'power-on'): void {
    const vmName = vm.model.name;
    if (vm.poweredOn) return;
    vm.poweredOn = true;
    vm.nics = vm.model.nics.map((_, i) => this.bindNic(vm, i));
    if (!vm.kernel && powerEvent) this.io.event?.({ kind: 'power', vm: vmName, on: true });
    this.takeVSwitchEvents();
    // §3.10: power-on notify on the port's uplink (nothing when no uplink is up yet; link-up pins and notifies)
    for (const b of vm.nics) this.pinNic(b, notifyReason);
    if (!vm.external) this.runActions(vm, vm.endpoint.powerOn());
  }

  /** Connects vNIC `i` of `vm` to a new port of its port group (with the port group's shaper). */
  private bindNic(vm: VmState, i: number): NicBinding {
    const n = vm.model.nics[i]!;
    const vs = this.vswitches.get(n.vswitch)!;
    const portId = vs.connectPort({ portGroup: n.portGroup, initialMac: n.mac, name: `${vm.model.name}.${n.name}` });
    const binding: NicBinding = { vm, nic: i, vs, portId, point: `${vm.model.name}.${n.name}`, tapped: false, uplinks: this.uplinksOf.get(vs)!, shaper: null, lastDropEventMs: -Infinity, droppedAtLastEvent: 0 };
    this.ports.get(vs)!.set(portId, binding);
    this.setShaper(binding, this.portGroupModel(vs, n.portGroup).trafficShaping);
    if (vm.external && !vm.linkUp[i]) vs.setPortBlocked(portId, true);
    return binding;
  }

  /** The teaming engine pins a connected port and notifies the switches with `reason` (§3.10). */
  private pinNic(b: NicBinding, reason: NotifyReason): void {
    this.performTeaming(b.vs, this.teams.get(b.vs)!.engine.portConnected({ portId: b.portId, portGroup: b.vm.model.nics[b.nic]!.portGroup, mac: b.vm.endpoint.nicMac(b.nic) }, reason));
  }

  /** Takes one vNIC's binding off its port. */
  private unbindNic(b: NicBinding): void {
    this.teams.get(b.vs)!.engine.portDisconnected(b.portId);
    b.vs.disconnectPort(b.portId);
    this.ports.get(b.vs)!.delete(b.portId);
    this.shaped.delete(b);
  }

  private portGroupModel(vs: VSwitch, portGroup: string) {
    return this.teams.get(vs)!.model.portGroups.find((pg) => pg.name === portGroup)!;
  }

  /**
   * Gives a port the shaper its port group asks for (spec §5): a new token bucket (full) when shaping is
   * on, none when off. Frames queued in a replaced bucket are dropped (counted in the old bucket's stats).
   */
  private setShaper(b: NicBinding, p: TrafficShapingPolicy): void {
    b.shaper = p.enabled ? new TokenBucketShaper(toShaping(p), this.clock.nowMs()) : null;
    if (b.shaper) this.shaped.add(b);
    else this.shaped.delete(b);
  }

  // ------------------------------------------------------------------ live reconfiguration (docs/reconfigure.md)

  /**
   * Applies a new model of this host to the running host, the way vSphere applies an edited setting
   * under running VMs: per vSwitch its MTU, security, port-group VLANs and overrides (lib/vswitch
   * reconfigure), teaming (ports re-pinned, RARPs where a port's uplink changed: TeamingEngine
   * reconfigure) and shaping (a port group whose shaping changed gets new buckets); per vNIC a new port
   * group (the vNIC is disconnected and connected again: a new port ID, notify like a connect) or a new
   * configured MAC (like editing the VM's settings: the port is connected again with it as its initial
   * MAC). Everything is checked before anything changes; what cannot change live (uplinks, port groups
   * added or removed, VMs, vmkernel ports) is refused with VFAB_HOST_LIVE_UNSUPPORTED. Returns what
   * changed, one line each. `checked` is called once everything is checked, before the first change (the
   * daemon logs the cause there, so it precedes the events the change causes).
   */
  reconfigure(next: HostModel, checked?: () => void): string[] {
    if (next.name !== this.name) throw new VfabError('VFAB_HOST_LIVE_UNSUPPORTED', `this is host ${this.name}, not ${next.name}`);
    const plans = this.checkReconfigure(next);
    checked?.();
    const changes: string[] = [];
    // 1. vSwitches: forwarding state, then teaming
    for (const { t, vsm, teaming } of plans.vswitches) {
      changes.push(...t.vs.reconfigure(vswitchConfig(vsm, next)).map((c) => `${vsm.name}: ${c}`));
      const before = t.model;
      t.model = vsm;
      this.takeVSwitchEvents();
      if (teaming) {
        if (describeTeaming(before) !== describeTeaming(vsm)) changes.push(`${vsm.name}: teaming ${describeTeaming(vsm)}`);
        this.performTeaming(t.vs, teaming());
      }
      for (const pg of vsm.portGroups) {
        const old = before.portGroups.find((x) => x.name === pg.name)!;
        if (JSON.stringify(old.trafficShaping) === JSON.stringify(pg.trafficShaping)) continue;
        changes.push(`${vsm.name}: ${pg.name} shaping ${pg.trafficShaping.enabled ? `on (average ${pg.trafficShaping.averageKbps} Kbit/s, peak ${pg.trafficShaping.peakKbps} Kbit/s, burst ${pg.trafficShaping.burstKB} KB)` : 'off'}`);
        for (const b of this.ports.get(t.vs)!.values()) if (b.vm.model.nics[b.nic]!.portGroup === pg.name) this.setShaper(b, pg.trafficShaping);
      }
    }
    // 2. vNICs: a new port group or a new configured MAC reconnects the vNIC
    for (const { vm, vmm, nics } of plans.vms) {
      vm.model = vmm;
      for (const i of nics) {
        const n = vmm.nics[i]!;
        changes.push(`${vmm.name}.${n.name}: ${n.portGroup} (${n.vswitch}), MAC ${n.macText}`);
        vm.endpoint.setConfiguredMac(i, n.mac);
        if (!vm.poweredOn) continue;
        this.unbindNic(vm.nics[i]!);
        const b = this.bindNic(vm, i);
        vm.nics[i] = b;
        this.takeVSwitchEvents();
        this.pinNic(b, 'reconnect');
        // the guest sees its link come back and announces itself (a gratuitous ARP), as a real guest does
        if (!vm.external) this.runActions(vm, vm.endpoint.announce(i));
      }
    }
    this.model = next;
    this.drain();
    return changes;
  }

  /** Everything reconfigure() checks before it changes anything; throws on the first problem. */
  private checkReconfigure(next: HostModel) {
    const unsupported = (what: string): never => {
      throw new VfabError('VFAB_HOST_LIVE_UNSUPPORTED', `host ${this.name}: ${what} cannot change while the host runs`);
    };
    const names = (xs: Array<{ name: string }>): string => xs.map((x) => x.name).join(',');
    if (names(next.vswitches) !== names(this.model.vswitches)) unsupported('the list of vSwitches');
    if (names(next.vms) !== names(this.model.vms)) unsupported('the list of VMs');
    if (JSON.stringify(next.vmkernels.map((k) => [k.name, k.portGroup, k.macText])) !== JSON.stringify(this.model.vmkernels.map((k) => [k.name, k.portGroup, k.macText]))) unsupported('the vmkernel ports');
    const vswitches = next.vswitches.map((vsm) => {
      const t = this.teams.get(this.vswitches.get(vsm.name)!)!;
      if (vsm.uplinks.join(',') !== t.model.uplinks.join(',')) unsupported(`the uplinks of ${vsm.name}`);
      if (names(vsm.portGroups) !== names(t.model.portGroups)) unsupported(`the port groups of ${vsm.name}`);
      validateVSwitchConfig(vswitchConfig(vsm, next));
      for (const pg of vsm.portGroups) if (pg.trafficShaping.enabled) validateShapingPolicy(toShaping(pg.trafficShaping));
      const c = teamingConfig(vsm);
      const teaming = JSON.stringify(teamingConfig(t.model)) === JSON.stringify(c) ? null : t.engine.planReconfigure(c.vswitchPolicy, c.portGroupPolicies, c.portGroupVlans);
      return { t, vsm, teaming };
    });
    const vms = next.vms.map((vmm) => {
      const vm = this.vms.get(vmm.name)!;
      const before = vm.model;
      if (before.nics.length !== vmm.nics.length) unsupported(`the vNICs of ${vmm.name}`);
      const nics: number[] = [];
      vmm.nics.forEach((n, i) => {
        const o = before.nics[i]!;
        // the MTU is the guest's own setting: the caller sets it in the guest (vfab set vnic --mtu)
        if (JSON.stringify({ ...n, portGroup: 0, vswitch: 0, mac: 0, macText: 0, macGenerated: 0, mtu: 0, loc: 0 }) !== JSON.stringify({ ...o, portGroup: 0, vswitch: 0, mac: 0, macText: 0, macGenerated: 0, mtu: 0, loc: 0 })) {
          unsupported(`${vmm.name}.${n.name} (only its port group, MAC and MTU can)`);
        }
        if (vm.external && n.mac !== o.mac) unsupported(`the MAC of ${vmm.name}.${n.name} (its guest runs outside the host and owns its MAC)`);
        if (n.portGroup !== o.portGroup || n.vswitch !== o.vswitch || n.mac !== o.mac) nics.push(i);
      });
      return { vm, vmm, nics };
    });
    return { vswitches, vms };
  }

  powerOff(vmName: string): void {
    const vm = this.vm(vmName);
    if (!vm.poweredOn) return;
    if (!vm.external) this.runActions(vm, vm.endpoint.powerOff());
    this.disconnect(vm);
    this.io.event?.({ kind: 'power', vm: vmName, on: false });
  }

  /** Takes a VM's vNICs off their vSwitch ports (its stack keeps its state). */
  private disconnect(vm: VmState): void {
    vm.poweredOn = false;
    for (const b of vm.nics) this.unbindNic(b);
    vm.nics = [];
  }

  // ------------------------------------------------------------------ vMotion (docs/vmotion.md)

  /**
   * Stuns a running VM for a vMotion: its vNICs leave their ports (no frame in or out) and its timers
   * stop, but its stack keeps every state (ARP entries, pings awaiting replies) for the snapshot or a
   * resume here. No power event: the VM is not powered off.
   */
  stunVm(vmName: string): void {
    const vm = this.poweredVm(vmName);
    this.notExternal(vm);
    this.disconnect(vm);
    vm.stunned = true;
  }

  /** Runs a stunned VM again on this host (a failed switchover); its ports come back as at power-on. */
  resumeVm(vmName: string): void {
    const vm = this.vm(vmName);
    if (!vm.stunned) return;
    vm.stunned = false;
    this.connect(vm, false);
  }

  isStunned(vmName: string): boolean {
    return this.vm(vmName).stunned === true;
  }

  /**
   * A VM arriving by vMotion: registered with the endpoint rebuilt from its state and connected at once
   * (its ports notify the physical switches when their port group has notify on, as at power-on).
   * Throws VFAB_HOST_VM_EXISTS when a VM of that name is registered here.
   */
  addMigratedVm(model: VmModel, endpoint: VmEndpoint): void {
    if (this.vms.has(model.name)) throw new VfabError('VFAB_HOST_VM_EXISTS', `host ${this.name} already has a VM named ${model.name}`);
    for (const n of model.nics) {
      const vs = this.vswitches.get(n.vswitch);
      if (vs === undefined || !this.teams.get(vs)!.model.portGroups.some((pg) => pg.name === n.portGroup)) {
        throw new VfabError('VFAB_NOT_FOUND', `host ${this.name} has no port group ${n.portGroup} on ${n.vswitch} for ${model.name}.${n.name}`);
      }
    }
    const state: VmState = { model: { ...model, host: this.name }, endpoint, external: false, kernel: false, linkUp: model.nics.map(() => false), poweredOn: false, nics: [], listeners: new Set(), sinks: [] };
    this.vms.set(model.name, state);
    this.vmList.push(state);
    this.connect(state, false, 'vmotion');
  }

  /** Removes a VM from this host (it runs elsewhere now): ports, stack, listeners and stream sinks. */
  forgetVm(vmName: string): void {
    const vm = this.vms.get(vmName);
    if (vm === undefined || vm.kernel) return;
    if (vm.poweredOn) this.disconnect(vm);
    this.sinkCount -= vm.sinks.length;
    this.vms.delete(vmName);
    const i = this.vmList.indexOf(vm);
    if (i >= 0) this.vmList.splice(i, 1);
    vm.listeners.clear();
  }

  /** The topology model of a VM registered here. */
  vmModel(vmName: string): VmModel {
    return this.vm(vmName).model;
  }

  /** Stream sinks of a VM (their receivers travel with it in a vMotion), and adding restored ones. */
  streamSinks(vmName: string): ReadonlyArray<{ receiver: StreamReceiver; udpPort: number }> {
    return this.vm(vmName).sinks;
  }

  adoptStreamSink(vmName: string, receiver: StreamReceiver, udpPort: number): void {
    const vm = this.internalVm(vmName);
    if (this.sinkCount >= MAX_STREAMS_PER_HOST) throw new VfabError('VFAB_HOST_TOO_MANY_STREAMS', `a host measures at most ${MAX_STREAMS_PER_HOST} streams`);
    vm.sinks.push({ receiver, udpPort });
    this.sinkCount++;
  }

  /** The vmkernel ports, then every VM. */
  powerOnAll(): void {
    this.startVmkernels();
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
    if (up.tapped) this.io.tap?.(up.point, 'in', frame);
    // §3.9: beacons go to the teaming engine, never to VMs
    if (isBeacon(frame)) {
      this.teams.get(up.vs)!.engine.onBeacon(up.index, frame);
      return;
    }
    const result = up.vs.fromUplink(up.index, frame);
    if (result.dropCode >= 0) this.io.drop?.(up.point, result.dropReason!, frame);
    this.deliverToPorts(up.vs, result.portCount, result.portIds, result.portFrames);
    this.drain();
  }

  /**
   * A run of frames arrived on uplink `vmnic` (lib/link/codec.ts: back to back, same first RUN_KEY_BYTES
   * bytes; `records` as handed to a frameRun handler, `first` its first frame). When the vSwitch decides
   * the run at once (VSwitch.fromUplinkRun), each frame is delivered to that one port with only its
   * bytes converted; the moment a delivery makes the guest act (anything but a passive measuring sink, a
   * tap or an external VM's link), the rest goes through receiveUplink() frame by frame, so a guest's
   * reply or MAC change is seen by the frames after it exactly as without runs.
   */
  receiveUplinkRun(vmnic: string, first: Uint8Array, records: Uint8Array, maxFrameBytes: number): void {
    const up = this.uplinks.get(vmnic);
    if (!up) return;
    const cursor = this.runCursor.reset(records);
    cursor.next(); // the first frame (given as `first`)
    if (up.tapped || isBeacon(first) || !up.vs.fromUplinkRun(up.index, first, maxFrameBytes)) {
      const r = up.vs.lastResult;
      if (!up.tapped && !isBeacon(first)) {
        // decided above for the first frame alone: perform that, then the others one by one
        if (r.dropCode >= 0) this.io.drop?.(up.point, r.dropReason!, first);
        this.deliverToPorts(up.vs, r.portCount, r.portIds, r.portFrames);
        this.drain();
      } else {
        this.receiveUplink(vmnic, first);
      }
      while (cursor.next()) this.receiveUplink(vmnic, cursor.view());
      return;
    }
    const vs = up.vs;
    const b = this.ports.get(vs)!.get(vs.lastResult.portIds[0]!);
    let passive = b === undefined || this.deliverPassive(b, vs.lastResult.portFrames[0]!);
    // a measuring sink reads the frame where it lies (tagged or not), without a view or an untagged copy;
    // the frames of a run arrived together: one arrival time for all of them
    const direct = b !== undefined && !b.tapped && !b.vm.external && b.vm.sinks.length > 0;
    if (direct) this.arrivalNs = this.io.streamNowNs !== undefined ? this.io.streamNowNs() : sharedNowNs();
    // (a frame the sink does not take is looked at below like any other)
    while (passive && cursor.next()) {
      if (direct && this.trySinkAt(b, cursor.records, cursor.offset, cursor.offset + cursor.length)) {
        vs.countRepeatFromUplink(cursor.length);
        continue;
      }
      const frame = cursor.view();
      if (isBeacon(frame)) {
        // the run key ends before a tagged frame's inner EtherType: a beacon among the run goes to the
        // teaming engine as per frame, and may change its state: the rest is decided frame by frame
        this.receiveUplink(vmnic, frame);
        passive = false;
      } else if (b === undefined) {
        vs.countRepeatFromUplink(cursor.length);
      } else {
        passive = this.deliverPassive(b, vs.repeatFromUplink(frame));
      }
    }
    this.arrivalNs = -1;
    if (passive) {
      this.forgetRun(vs);
      return;
    }
    this.drain();
    while (cursor.next()) this.receiveUplink(vmnic, cursor.view());
    this.forgetRun(vs);
  }

  /**
   * Drops the references this host and the vSwitch keep to the message a run came in: held past the
   * call they keep a received WebSocket message (tens of KiB outside the JS heap) alive through young
   * collections into old space, which then needs full collections to free it.
   */
  private forgetRun(vs: VSwitch): void {
    this.runCursor.reset(EMPTY_RECORDS);
    vs.forgetFrame();
  }

  /** Link state of an uplink changed (carrier). */
  setUplinkLink(vmnic: string, up: boolean): void {
    const b = this.uplinks.get(vmnic);
    if (!b || b.up === up) return;
    b.up = up;
    b.vs.setUplinkUp(b.index, up);
    this.takeVSwitchEvents();
    this.performTeaming(b.vs, this.teams.get(b.vs)!.engine.setLinkState(b.index, up));
  }

  /** Performs actions a guest produced outside a frame (MAC change, promiscuous mode, ...). */
  applyGuestActions(vmName: string, actions: EndpointActions): void {
    this.runActions(this.vm(vmName), actions);
  }

  /** A frame the guest of `vmName` sends on vNIC `nic` (used by sendRaw-style injections). */
  transmitFromVm(vmName: string, nic: number, frame: Uint8Array): void {
    const vm = this.internalVm(vmName);
    this.runActions(vm, vm.endpoint.sendRaw(nic, frame));
  }

  private deliverToPorts(vs: VSwitch, count: number, portIds: Int32Array, frames: Uint8Array[]): void {
    if (count === 0) return;
    const table = this.ports.get(vs)!;
    if (count === 1) {
      // the common case (known unicast): nothing to copy out of the reused ForwardResult
      const b = table.get(portIds[0]!);
      if (b) this.deliverToNic(b, frames[0]!);
      return;
    }
    // copy out first: the ForwardResult (and the vSwitch's scratch bytes) are reused by the next vSwitch
    // call a guest's reply makes; destinations sharing one scratch frame share one copy
    const bindings: NicBinding[] = [];
    const copies: Uint8Array[] = [];
    let lastScratch: Uint8Array | null = null;
    let lastCopy: Uint8Array | null = null;
    for (let i = 0; i < count; i++) {
      const b = table.get(portIds[i]!);
      if (b) {
        bindings.push(b);
        let frame = frames[i]!;
        if (vs.isScratch(frame)) {
          if (frame !== lastScratch) {
            lastScratch = frame;
            lastCopy = Buffer.from(frame);
          }
          frame = lastCopy!;
        }
        copies.push(frame);
      }
    }
    for (let i = 0; i < bindings.length; i++) this.deliverToNic(bindings[i]!, copies[i]!);
  }

  /**
   * deliverToNic for a run: true when the frame went to a tap, an external VM's link or a measuring sink
   * only (nothing on the host changed); false when the guest's stack took it (it may have acted).
   */
  private deliverPassive(b: NicBinding, frame: Uint8Array): boolean {
    if (b.tapped) this.io.tap?.(b.point, 'in', frame);
    if (b.vm.external) {
      this.io.vmTx?.(b.vm.model.name, b.nic, frame);
      return true;
    }
    if (this.sinkCount > 0 && this.trySink(b, frame)) return true;
    this.runActions(b.vm, b.vm.endpoint.receive(b.nic, frame));
    return false;
  }

  private deliverToNic(b: NicBinding, frame: Uint8Array): void {
    if (b.tapped) this.io.tap?.(b.point, 'in', frame);
    if (b.vm.external) {
      this.io.vmTx?.(b.vm.model.name, b.nic, frame);
      return;
    }
    if (this.sinkCount > 0 && this.trySink(b, frame)) return;
    this.runActions(b.vm, b.vm.endpoint.receive(b.nic, frame));
  }

  /** Guest actions: transmissions go through the vSwitch (queued, so a burst never recurses). */
  private runActions(vm: VmState, actions: EndpointActions): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'transmit': {
          const b = vm.nics[a.nic];
          // an external VM's shadow endpoint never transmits; its frames arrive through receiveFromVm
          if (b && !vm.external) this.queue.push({ binding: b, frame: a.frame });
          break;
        }
        case 'macChanged': {
          const b = vm.nics[a.nic];
          if (b) {
            const events = b.vs.setEffectiveMac(b.portId, a.mac);
            for (const e of events) this.onVSwitchEvent(b.vs, e);
            // §3.10 / §4.3 Accept: the port's MAC moved in the table: re-pin (srcMac) and notify
            const moved = events.find((e) => e.kind === 'mac_changed' && e.portId === b.portId) as Extract<VSwitchEvent, { kind: 'mac_changed' }> | undefined;
            if (moved) this.performTeaming(b.vs, this.teams.get(b.vs)!.engine.portMacChanged({ portId: b.portId, portGroup: vm.model.nics[b.nic]!.portGroup, mac: moved.newMac }));
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
        if (vm.kernel) {
          if (a.kind === 'udp') this.vmkStack!.deliver(a);
          else {
            for (const l of vm.listeners) l(a);
            if (a.kind !== 'sniffed') this.io.event?.({ kind: 'vmkernel', vmk: vm.model.nics[a.nic]!.name, action: a });
          }
          continue;
        }
        for (const l of vm.listeners) l(a);
        if (a.kind !== 'udp' && a.kind !== 'sniffed') this.io.event?.({ kind: 'endpoint', vm: vm.model.name, action: a });
      }
    }
    this.drain();
  }

  private drain(): void {
    if (this.draining || this.queue.length === 0) return;
    this.draining = true;
    try {
      let n = 0;
      while (this.queue.length > 0 && n++ < MAX_FRAMES_PER_BURST) {
        const { binding, frame } = this.queue.shift()!;
        if (binding.shaper === null) this.forwardFromPort(binding, frame);
        else this.shapeFromPort(binding, frame, false);
      }
      this.queue.length = 0;
    } finally {
      this.draining = false;
    }
  }

  private forwardFromPort(b: NicBinding, frame: Uint8Array): void {
    if (b.tapped) this.io.tap?.(b.point, 'out', frame);
    const r = b.vs.fromPort(b.portId, frame);
    if (r.dropCode >= 0) this.io.drop?.(b.point, r.dropReason!, frame);
    const mask = r.uplinkMask;
    const upFrame = r.uplinkFrame;
    if (mask !== 0 && upFrame) {
      const ups = b.uplinks;
      for (let i = 0; i < ups.length; i++) {
        if (mask & (1 << i)) this.sendUplink(ups[i]!, upFrame);
      }
    }
    this.deliverToPorts(b.vs, r.portCount, r.portIds, r.portFrames);
  }

  /** §5.1: VM egress through the port's token bucket. `reused`: the caller reuses `frame`, so queue a copy. */
  private shapeFromPort(b: NicBinding, frame: Uint8Array, reused: boolean): void {
    const shaper = b.shaper!;
    const nowMs = this.clock.nowMs();
    const verdict = shaper.offer(reused ? Buffer.from(frame) : frame, nowMs);
    if (verdict === 'send') this.forwardFromPort(b, frame);
    else if (verdict === 'dropped') this.noteShapingDrop(b, nowMs);
  }

  private noteShapingDrop(b: NicBinding, nowMs: number): void {
    if (nowMs - b.lastDropEventMs < SHAPING_DROP_EVENT_INTERVAL_MS) return;
    const st = b.shaper!.stats;
    this.io.event?.({
      kind: 'teaming', vswitch: b.vs.name, type: 'shaping-drop',
      message: `${b.point}: traffic shaping queue full, ${st.droppedFrames - b.droppedAtLastEvent} frames dropped since the last report (${st.droppedFrames} in all)`,
      details: { port: b.point, portId: b.portId, droppedFrames: st.droppedFrames, droppedBytes: st.droppedBytes, newDrops: st.droppedFrames - b.droppedAtLastEvent },
    });
    b.lastDropEventMs = nowMs;
    b.droppedAtLastEvent = st.droppedFrames;
  }

  /** Releases shaped frames that are due (called from tick()). */
  private releaseShaped(nowMs: number): void {
    for (const b of this.shaped) {
      const due = b.shaper!.nextReleaseMs();
      if (due === null || due > nowMs) continue;
      for (const f of b.shaper!.dequeueDue(nowMs)) this.forwardFromPort(b, f);
    }
    this.drain();
  }

  // ------------------------------------------------------------------ teaming actions

  /**
   * Carries out what a teaming engine decided. Events first (engine events, then port moves grouped by
   * reason/from/to), so a timeline shows "failover" before the RARPs it caused; then beacons and RARPs.
   */
  private performTeaming(vs: VSwitch, actions: TeamingAction[]): void {
    if (actions.length === 0) return;
    const names = vs.uplinkNames;
    const ups = this.uplinksOf.get(vs)!;
    const bindings = this.ports.get(vs)!;
    const moves = new Map<string, { reason: string; from: string | null; to: string | null; ports: Array<{ portId: number; port: string }> }>();
    for (const a of actions) {
      if (a.kind === 'event') {
        this.io.event?.({
          kind: 'teaming', vswitch: vs.name, type: a.type, message: a.message,
          details: { ...(a.uplink !== undefined ? { uplink: names[a.uplink] } : {}), ...(a.portGroup !== undefined ? { portGroup: a.portGroup } : {}) },
        });
      } else if (a.kind === 'repin') {
        const from = a.from === null ? null : names[a.from]!;
        const to = a.to === null ? (a.toMask ? bitNames(a.toMask, names).join('+') : null) : names[a.to]!;
        const reason = from === null && to !== null && a.reason !== 'shotgun' ? 'pinned' : a.reason;
        const key = `${reason}|${from}|${to}`;
        let m = moves.get(key);
        if (!m) moves.set(key, (m = { reason, from, to, ports: [] }));
        m.ports.push({ portId: a.portId, port: bindings.get(a.portId)?.point ?? `port ${a.portId}` });
      }
    }
    for (const m of moves.values()) {
      this.io.event?.({
        kind: 'teaming', vswitch: vs.name, type: m.reason,
        message: `${m.reason}: ${m.ports.map((p) => p.port).join(', ')} ${m.from ? `moved from ${m.from} ` : ''}to ${m.to ?? 'no uplink'}`,
        details: { from: m.from, to: m.to, ports: m.ports },
      });
    }
    for (const a of actions) {
      if (a.kind === 'beacon') {
        this.sendUplink(ups[a.uplink]!, a.frame);
      } else if (a.kind === 'notify') {
        // §3.10/§3.11: `count` RARPs on the port's (new) uplink, one frame built once
        const frame = buildRarpAnnounce(a.mac, a.vlanId);
        const up = ups[a.uplink]!;
        const uplink = up.vmnic;
        this.sendUplink(up, frame);
        const key = `${vs.name}\u0000${a.portId}`;
        if (a.count > 1) this.pendingNotify.set(key, { uplink: up, frame, remaining: a.count - 1, nextAtMs: this.clock.nowMs() + NOTIFY_RARP_SPACING_MS });
        else this.pendingNotify.delete(key);
        const port = bindings.get(a.portId)?.point ?? `port ${a.portId}`;
        this.io.event?.({
          kind: 'teaming', vswitch: vs.name, type: 'notify',
          message: `${a.count} RARPs for ${macToString(a.mac)} (${port}) sent on ${uplink}${a.vlanId ? ` VLAN ${a.vlanId}` : ''} (${a.reason}), one every ${NOTIFY_RARP_SPACING_MS} ms`,
          details: { portId: a.portId, port, mac: macToString(a.mac), uplink, vlan: a.vlanId ?? 0, count: a.count, reason: a.reason },
        });
      }
    }
  }

  private sendUplink(up: UplinkBinding, frame: Uint8Array): void {
    if (up.tapped) this.io.tap?.(up.point, 'out', frame);
    this.io.uplinkTx(up.vmnic, frame);
  }

  private takeVSwitchEvents(): void {
    for (const vs of this.vswitches.values()) for (const e of vs.takeEvents()) this.onVSwitchEvent(vs, e);
  }

  private onVSwitchEvent(vs: VSwitch, e: VSwitchEvent): void {
    // (the vSwitch's own notify_switches events never come: its notify is off, the teaming engine sends RARPs)
    this.io.event?.({ kind: 'vswitch', vswitch: vs.name, event: e });
  }

  // ------------------------------------------------------------------ time

  /** Runs everything due: beacon rounds and their failovers, shaper releases, guest timers (ARP, ping). */
  tick(): void {
    for (const t of this.teams.values()) {
      const d = t.engine.nextDeadlineMs();
      if (d !== null && d <= this.clock.nowMs()) this.performTeaming(t.vs, t.engine.tick());
    }
    if (this.shaped.size > 0) this.releaseShaped(this.clock.nowMs());
    if (this.pendingNotify.size > 0) this.sendDueNotifies(this.clock.nowMs());
    for (const vm of this.vmList) if (vm.poweredOn && !vm.external) this.runActions(vm, vm.endpoint.tick());
  }

  private sendDueNotifies(nowMs: number): void {
    for (const [key, n] of this.pendingNotify) {
      if (n.nextAtMs > nowMs) continue;
      this.sendUplink(n.uplink, n.frame);
      if (--n.remaining <= 0) this.pendingNotify.delete(key);
      else n.nextAtMs = nowMs + NOTIFY_RARP_SPACING_MS;
    }
  }

  nextDeadlineMs(): number | undefined {
    // daemons ask after every frame: plain arrays, no iterator per call
    let next: number | undefined;
    const teams = this.teamList;
    for (let i = 0; i < teams.length; i++) {
      const d = teams[i]!.engine.nextDeadlineMs();
      if (d !== null && (next === undefined || d < next)) next = d;
    }
    if (this.shaped.size > 0) {
      for (const b of this.shaped) {
        const d = b.shaper!.nextReleaseMs();
        if (d !== null && (next === undefined || d < next)) next = d;
      }
    }
    if (this.pendingNotify.size > 0) {
      for (const n of this.pendingNotify.values()) if (next === undefined || n.nextAtMs < next) next = n.nextAtMs;
    }
    const vms = this.vmList;
    for (let i = 0; i < vms.length; i++) {
      const vm = vms[i]!;
      if (!vm.poweredOn || vm.external) continue;
      const d = vm.endpoint.nextDeadlineMs();
      if (d !== undefined && (next === undefined || d < next)) next = d;
    }
    return next;
  }

  // ------------------------------------------------------------------ guest operations

  /** Sends one echo request; replies and timeouts reach `listen` listeners as actions. */
  ping(vmName: string, nic: number, target: string, opts: { id: number; seq: number; sizeBytes?: number; timeoutMs?: number }): void {
    const vm = this.poweredVm(vmName);
    this.notExternal(vm);
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
    return defaultNicIndex(vm.model.nics, target);
  }

  endpoint(vmName: string): VmEndpoint {
    return this.vm(vmName).endpoint;
  }

  // ------------------------------------------------------------------ measured streams

  /** Makes `vmName` count stream frames arriving on UDP `udpPort` without passing them to its stack. */
  addStreamSink(vmName: string, streamId: number, udpPort: number): StreamReceiver {
    const vm = this.internalVm(vmName);
    if (this.sinkCount >= MAX_STREAMS_PER_HOST) throw new VfabError('VFAB_HOST_TOO_MANY_STREAMS', `a host measures at most ${MAX_STREAMS_PER_HOST} streams`);
    const receiver = new StreamReceiver(streamId);
    vm.sinks.push({ receiver, udpPort });
    this.sinkCount++;
    return receiver;
  }

  removeStreamSinks(vmName: string): void {
    const vm = this.vms.get(vmName);
    if (vm === undefined) return;
    this.sinkCount -= vm.sinks.length;
    vm.sinks = [];
  }

  private trySink(b: NicBinding, frame: Uint8Array): boolean {
    return this.trySinkAt(b, frame, 0, frame.length);
  }

  /**
   * A measuring sink of the VM takes the frame starting at `buf[at]` (tagged or untagged: the sink reads
   * the same UDP port and stamp either way), or false. The frame ends at `end` (exclusive) in `buf`.
   */
  private trySinkAt(b: NicBinding, buf: Uint8Array, at: number, end: number): boolean {
    const list = b.vm.sinks;
    if (list.length === 0 || end - at < 14 + VLAN_TAG_BYTES) return false;
    const l2 = at + (((buf[at + 12]! << 8) | buf[at + 13]!) === ETHERTYPE_VLAN_TPID ? 14 + VLAN_TAG_BYTES : 14);
    if (((buf[l2 - 2]! << 8) | buf[l2 - 1]!) !== ETHERTYPE_IPV4 || buf[l2 + 9] !== IPV4_PROTO_UDP) return false;
    const ihl = (buf[l2]! & 0x0f) * 4;
    if (l2 + ihl + 8 + STREAM_HEADER_BYTES > end) return false;
    const dstPort = (buf[l2 + ihl + 2]! << 8) | buf[l2 + ihl + 3]!;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.udpPort !== dstPort) continue;
      const stamp = this.stamp;
      if (!readStreamHeaderInto(buf, l2 + ihl + 8, stamp) || stamp.streamId !== s.receiver.streamId) return false;
      s.receiver.record(stamp.seq, stamp.sentAtNs, this.arrivalNs >= 0 ? this.arrivalNs : this.io.streamNowNs !== undefined ? this.io.streamNowNs() : sharedNowNs());
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
    this.notExternal(vm);
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

  /**
   * Refuses a stream whose frames the VM's vNIC cannot send (larger than its MTU plus the Ethernet header
   * and the guest's tag): VFAB_STREAM_FRAME_TOO_LARGE naming the vNIC, the size and the limit, before
   * anything is sent, rather than a stream that quietly sends nothing.
   */
  checkStreamFrame(vmName: string, nic: number, frameBytes: number): void {
    const ep = this.vm(vmName).endpoint;
    const limit = ep.nicMaxFrameBytes(nic);
    if (frameBytes > limit) {
      throw new VfabError('VFAB_STREAM_FRAME_TOO_LARGE', frameTooLargeMessage(`${vmName}.${ep.nicName(nic)}`, frameBytes, ep.nicMtu(nic), limit - ep.nicMtu(nic) > ETH_HEADER_BYTES),
        { vm: vmName, nic: ep.nicName(nic), frameBytes, limit });
    }
  }

  /** Sends `count` stamped frames of a stream through the vSwitch (the hot path of benchmarks). */
  sendStreamFrames(s: StreamSender, count: number, nowNs: number): void {
    const b = s.binding;
    if (b.shaper !== null || b.tapped || count < 2) {
      for (let i = 0; i < count; i++) {
        writeStreamHeader(s.frame, s.stampOffset, s.streamId, s.sent++, nowNs);
        if (b.shaper === null) this.forwardFromPort(b, s.frame);
        else this.shapeFromPort(b, s.frame, true);
      }
      return;
    }
    // The frames of a stream differ only in the stamp (payload): the vSwitch decides the first one, and
    // when that is "out of these uplinks only" the others leave the same way, stamped in a copy of the
    // bytes it sent (tag included), without a vSwitch decision or tag copy each.
    writeStreamHeader(s.frame, s.stampOffset, s.streamId, s.sent++, nowNs);
    this.forwardFromPort(b, s.frame);
    const vs = b.vs;
    const r = vs.lastResult;
    if (this.queue.length > 0 || !vs.fromPortRepeatable(b.portId)) {
      for (let i = 1; i < count; i++) {
        writeStreamHeader(s.frame, s.stampOffset, s.streamId, s.sent++, nowNs);
        this.forwardFromPort(b, s.frame);
      }
      return;
    }
    const mask = r.uplinkMask;
    const sent = r.uplinkFrame!;
    let tpl = this.streamScratch;
    if (tpl.length < sent.length) tpl = this.streamScratch = Buffer.allocUnsafe(Math.max(sent.length, 2 * tpl.length));
    const out = tpl.subarray(0, sent.length);
    out.set(sent);
    const stampAt = s.stampOffset + (sent.length - s.frame.length); // after the tag the vSwitch added
    const ups = b.uplinks;
    const frameBytes = s.frame.length;
    for (let i = 1; i < count; i++) {
      writeStreamHeader(out, stampAt, s.streamId, s.sent++, nowNs);
      vs.countRepeatFromPort(frameBytes, mask);
      for (let k = 0; k < ups.length; k++) if (mask & (1 << k)) this.sendUplink(ups[k]!, out);
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
      if (up) {
        up.tapped = on;
        return true;
      }
      const k = this.kernel?.model.nics.findIndex((n) => n.name === iface) ?? -1;
      if (k < 0) return false;
      const b = this.kernel!.nics[k];
      if (b) b.tapped = on;
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
    return [...[...this.uplinks.keys()].map((u) => `${this.name}.${u}`), ...this.vmList.flatMap((vm) => vm.model.nics.map((n) => `${vm.model.name}.${n.name}`))];
  }

  // ------------------------------------------------------------------ external VMs

  /** True if `vmName` runs outside the host (topology `external: true`). */
  isExternal(vmName: string): boolean {
    return this.vm(vmName).external;
  }

  /**
   * A frame from an external VM's vNIC `nic` (its link). It enters the vSwitch exactly like an internal
   * guest's transmission: captures, shaping (spec §5), security policy (§4), VLANs (§2) and teaming (§3)
   * apply. `frame` may be a view valid only during the call. Dropped silently (the link counts nothing
   * extra) when the VM is powered off; a blocked port counts port_blocked in the vSwitch.
   */
  receiveFromVm(vmName: string, nic: number, frame: Uint8Array): void {
    const vm = this.vms.get(vmName);
    const b = vm?.external ? vm.nics[nic] : undefined;
    if (b === undefined) return;
    if (b.shaper === null) this.forwardFromPort(b, frame);
    else this.shapeFromPort(b, frame, true);
    this.drain();
  }

  /** Carrier of an external VM's vNIC link: down blocks its vSwitch port (frames to it dropped, counted port_blocked). */
  setVmLink(vmName: string, nic: number, up: boolean): void {
    const vm = this.vm(vmName);
    if (!vm.external || nic < 0 || nic >= vm.linkUp.length || vm.linkUp[nic] === up) return;
    vm.linkUp[nic] = up;
    const b = vm.nics[nic];
    if (b) b.vs.setPortBlocked(b.portId, !up);
  }

  /**
   * Blocks (down) or unblocks a vmkernel port's vSwitch port: no frame passes it either way, like a
   * pulled virtual cable; the host's VMs, its other vmk ports and its storage go on (`vfab fault
   * isolate` cuts the management vmk this way). Throws VFAB_NOT_FOUND for an unknown vmk.
   */
  setVmkernelLink(vmkName: string, up: boolean): void {
    const k = this.vmkernel(vmkName);
    const b = this.kernel?.nics[k.index];
    if (b) b.vs.setPortBlocked(b.portId, !up);
  }

  // ------------------------------------------------------------------ status

  status() {
    return {
      vswitches: [...this.vswitches.values()].map((vs) => {
        const t = this.teams.get(vs)!;
        const bindings = this.ports.get(vs)!;
        const uplinkDrops = vs.uplinkCounters();
        return {
          name: vs.name,
          mtu: vs.mtuBytes,
          teaming: t.model.teaming,
          security: t.model.security,
          portGroups: t.model.portGroups.map((pg) => ({ name: pg.name, vlan: pg.vlan, security: pg.security, teaming: pg.teaming, trafficShaping: pg.trafficShaping })),
          uplinks: t.engine.uplinkStatus().map((u, i) => ({ ...u, up: vs.isUplinkUp(i), drops: uplinkDrops[i]!.drops })),
          ports: vs.ports().map((p) => {
            const d: PortDescription = t.engine.describePort(p.portId);
            const shaper = bindings.get(p.portId)?.shaper;
            return { ...p, uplink: d.uplink ?? (d.uplinks.join('+') || null), uplinks: d.uplinks, uplinkReason: d.reason, shaping: shaper ? shapingStatus(shaper) : null };
          }),
          counters: vs.counters(),
        };
      }),
      vms: [...this.vms.values()].map((vm) => ({
        name: vm.model.name,
        poweredOn: vm.poweredOn || vm.stunned === true,
        ...(vm.stunned ? { stunned: true } : {}),
        ...(isRealGuest(vm.model) ? { kind: vm.model.kind } : {}),
        ...(vm.external ? { external: true, links: vm.model.nics.map((n, i) => ({ nic: n.name, carrier: vm.linkUp[i]! })) } : {}),
        nics: vm.model.nics.map((n, i) => ({
          name: n.name,
          mac: macToString(vm.endpoint.nicMac(i)),
          ip: n.ip?.text,
          portGroup: n.portGroup,
          vswitch: n.vswitch,
          portId: vm.nics[i]?.portId ?? null,
          // what the guest set (vfab vm mtu|promiscuous); an external guest's own are in its vmd
          ...(vm.external ? {} : { mtu: vm.endpoint.nicMtu(i), promiscuous: vm.endpoint.isPromiscuous(i) }),
        })),
        // an external guest's counters and ARP table live in its vmd (GET /control/status there)
        counters: vm.external ? null : vm.endpoint.counters,
        arp: vm.external ? [] : vm.endpoint.arpTable(),
      })),
      vmkernels: this.vmkernelStatus(),
      advanced: { reversePathFwdCheckPromisc: this.model.advanced?.reversePathFwdCheckPromisc ?? 0 },
    };
  }

  /** Zeroes every vSwitch's counters (switch, ports, uplinks); the links' own are the daemon's (`vfab counters --reset`). */
  clearCounters(): void {
    for (const vs of this.vswitches.values()) vs.clearCounters();
  }

  /** Each vmkernel port: address, MAC, port and where it egresses now (`vfab status`). */
  private vmkernelStatus() {
    const k = this.kernel;
    if (!k) return [];
    return this.vmkStack!.ports.map((p) => {
      const b = k.nics[p.index];
      const d = b ? this.teams.get(b.vs)!.engine.describePort(b.portId) : undefined;
      return {
        name: p.name,
        endpoint: `${this.name}.${p.name}`,
        mac: macToString(p.mac),
        ip: `${p.ip}/${p.prefixLength}`,
        gateway: p.gateway ?? null,
        mtu: p.mtu,
        services: [...p.services],
        portGroup: p.portGroup,
        vswitch: p.vswitch,
        portId: b?.portId ?? null,
        up: b !== undefined,
        uplink: d ? d.uplink ?? (d.uplinks.join('+') || null) : null,
        uplinkReason: d?.reason ?? null,
        udpPorts: p.boundUdpPorts(),
      };
    });
  }

  // ------------------------------------------------------------------ vmkernel ports

  /** The vmkernel port `name` (vmk0...); throws VFAB_NOT_FOUND naming the host's ports. */
  vmkernel(name: string): VmkernelPort {
    const p = this.vmkStack?.ports.find((x) => x.name === name);
    if (!p) throw new VfabError('VFAB_NOT_FOUND', `host ${this.name} has no vmkernel port ${name} (has: ${this.vmkernels().map((x) => x.name).join(', ') || 'none'})`);
    return p;
  }

  vmkernels(): readonly VmkernelPort[] {
    return this.vmkStack?.ports ?? [];
  }

  /** The first vmkernel port that carries `service` (e.g. management for HA heartbeats), if any. */
  vmkernelFor(service: VmkernelService): VmkernelPort | undefined {
    return this.vmkernels().find((p) => p.services.includes(service));
  }

  /** Where a vmkernel port egresses now, and why (spec §3), like describeNic for a vNIC. */
  describeVmkernel(name: string): PortDescription & { portId: number | null } {
    const p = this.vmkernel(name);
    const b = this.kernel!.nics[p.index];
    if (!b) return { uplink: null, uplinks: [], reason: `${this.name}.${name} is not up`, portId: null };
    return { ...this.teams.get(b.vs)!.engine.describePort(b.portId), portId: b.portId };
  }

  /** The kernel stack (one vNIC per vmk, in vmkernels() order); throws VFAB_NOT_FOUND on a host without vmks. */
  vmkernelEndpoint(): VmEndpoint {
    if (!this.kernel) throw new VfabError('VFAB_NOT_FOUND', `host ${this.name} has no vmkernel ports (see hosts[].vmkernels)`);
    return this.kernel.endpoint;
  }

  /** The kernel stack's counters (ARP, ICMP, UDP, drops) and its UDP dispatch counters. */
  vmkernelCounters() {
    return this.kernel ? { stack: this.kernel.endpoint.counters, udp: { ...this.vmkStack!.counters }, arp: this.kernel.endpoint.arpTable() } : null;
  }

  macTable() {
    return [...this.vswitches.values()].flatMap((vs) => vs.macTable().map((e) => ({ vswitch: vs.name, vlan: e.vlanId, mac: e.macText, portId: e.portId, portGroup: e.portGroup, active: e.active })));
  }

  vswitch(name: string): VSwitch | undefined {
    return this.vswitches.get(name);
  }

  /** The teaming engine of a vSwitch (status, tests). */
  teaming(vswitchName: string): TeamingEngine | undefined {
    const vs = this.vswitches.get(vswitchName);
    return vs ? this.teams.get(vs)?.engine : undefined;
  }

  /** Where a VM's vNIC egresses now, and why (spec §3; `vfab status`). */
  describeNic(vmName: string, nic = 0): PortDescription & { portId: number | null } {
    const b = this.vm(vmName).nics[nic];
    if (!b) return { uplink: null, uplinks: [], reason: `${vmName} nic ${nic} is not connected`, portId: null };
    return { ...this.teams.get(b.vs)!.engine.describePort(b.portId), portId: b.portId };
  }

  /** Shaper counters of a VM's vNIC (null when its port group does not shape). */
  shapingStats(vmName: string, nic = 0): ShaperStats | null {
    const s = this.vm(vmName).nics[nic]?.shaper;
    return s ? { ...s.stats } : null;
  }

  private vm(name: string): VmState {
    const vm = this.vms.get(name);
    if (!vm) throw new VfabError('VFAB_NOT_FOUND', `no VM ${name} on host ${this.name} (has: ${[...this.vms.keys()].join(', ') || 'none'})`);
    return vm;
  }

  /** The VM, refusing external ones (their guest runs in a vmd, which serves guest operations). */
  private internalVm(name: string): VmState {
    const vm = this.vm(name);
    this.notExternal(vm);
    return vm;
  }

  private notExternal(vm: VmState): void {
    if (!vm.external) return;
    if (isRealGuest(vm.model)) {
      throw new VfabError('VFAB_VM_EXTERNAL', `VM ${vm.model.name} is a ${vm.model.kind} guest with its own operating system; vfab only switches its frames`, { hint: vm.model.kind === 'netns' ? `run commands in it: vfab exec ${vm.model.name} -- ping ADDRESS` : 'use the guest\'s console' });
    }
    throw new VfabError('VFAB_VM_EXTERNAL', `VM ${vm.model.name} runs outside host ${this.name} (external: true); its vm daemon serves guest operations`);
  }

  private poweredVm(name: string): VmState {
    const vm = this.vm(name);
    if (!vm.poweredOn) throw new VfabError('VFAB_VM_POWERED_OFF', `VM ${name} is powered off`);
    return vm;
  }
}

/** The lib/vswitch configuration of a topology vSwitch (the host's advanced options included). */
function vswitchConfig(vsm: VSwitchModel, host?: HostModel): VSwitchConfig {
  return {
    name: vsm.name,
    mtuBytes: vsm.mtu,
    uplinks: vsm.uplinks,
    security: toSecurity(vsm.security),
    // the teaming engine is the one source of notify-switches RARPs (it knows failover/failback reasons)
    portGroups: vsm.portGroups.map((pg) => ({ name: pg.name, vlanId: pg.vlan, security: toSecurity(pg.security), notifySwitches: false })),
    notifySwitches: false,
    reversePathCheckPromiscuous: host?.advanced?.reversePathFwdCheckPromisc === 1,
  };
}

/** The teaming engine's policies of a topology vSwitch. */
function teamingConfig(vsm: VSwitchModel) {
  return {
    vswitchPolicy: toTeaming(vsm.teaming),
    portGroupPolicies: Object.fromEntries(vsm.portGroups.map((pg) => [pg.name, toTeaming(pg.teaming)])),
    portGroupVlans: Object.fromEntries(vsm.portGroups.map((pg) => [pg.name, pg.vlan])),
  };
}

function describeTeaming(vsm: VSwitchModel): string {
  const d = (t: TeamingModel): string => `${t.loadBalancing}, active ${t.active.join(',') || '-'}, standby ${t.standby.join(',') || '-'}, failback ${t.failback ? 'on' : 'off'}, notify ${t.notifySwitches ? 'on' : 'off'}, ${t.failureDetection}`;
  const overrides = vsm.portGroups.filter((pg) => pg.overrides.some((o) => o.startsWith('teaming'))).map((pg) => `; ${pg.name}: ${d(pg.teaming)}`);
  return d(vsm.teaming) + overrides.join('');
}

function toSecurity(p: { promiscuous: string; macChanges: string; forgedTransmits: string }): SecurityPolicy {
  return { allowPromiscuous: p.promiscuous === 'accept', allowMacChanges: p.macChanges === 'accept', allowForgedTransmits: p.forgedTransmits === 'accept' };
}

function toTeaming(t: TeamingModel): TeamingPolicy {
  return { loadBalancing: t.loadBalancing, active: [...t.active], standby: [...t.standby], failback: t.failback, notifySwitches: t.notifySwitches, failureDetection: t.failureDetection };
}

function toShaping(p: TrafficShapingPolicy) {
  return { averageBps: kbitToBps(p.averageKbps), peakBps: kbitToBps(p.peakKbps), burstBytes: kbToBytes(p.burstKB) };
}

function shapingStatus(s: TokenBucketShaper) {
  return { ...s.stats, queueFrames: s.queueLength, queueBytes: s.queueBytes };
}

function bitNames(mask: number, names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) if (mask & (1 << i)) out.push(names[i]!);
  return out;
}

/** 16-bit FNV-1a fold of a name: the host part of its derived uplink MACs. */
function fnv16(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return ((h >>> 16) ^ h) & 0xffff;
}


const EMPTY_RECORDS = new Uint8Array(0);

/** A beacon probe (EtherType 0x8922, tagged or not): §3.9, for the teaming engine only. */
function isBeacon(frame: Uint8Array): boolean {
  if (frame.length < 14) return false;
  let type = (frame[12]! << 8) | frame[13]!;
  if (type === ETHERTYPE_VLAN_TPID && frame.length >= 18) type = (frame[16]! << 8) | frame[17]!;
  return type === ETHERTYPE_BEACON;
}
