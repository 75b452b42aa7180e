// In-process fabric for the host tests: EsxHosts and PhysicalSwitches from a topology text, cabled by
// the topology's links, all on one ManualClock. Frames travel through a FIFO (no recursion); a cable can
// be taken down (carrier lost at both ends: the host's uplink and the switch port). Records what each
// cable end sent and the events of every node, stamped with the clock. Not a test file itself.

import { switchConfigFromModel } from '../../lib/pswitch/from-topology.js';
import { ManualClock } from '../../lib/clock.js';
import { EsxHost, NOTIFY_RARP_SPACING_MS, type HostEvent } from '../../lib/host/host.js';
import { NOTIFY_RARP_MAX } from '../../lib/teaming/notify.js';
import { PhysicalSwitch, type SwitchEvent } from '../../lib/pswitch/pswitch.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Topology } from '../../lib/topology/model.js';

export interface FabricEvent {
  timeMs: number;
  source: string;
  type: string;
  [k: string]: unknown;
}


export class MiniFabric {
  readonly clock = new ManualClock(0);
  readonly topology: Topology;
  readonly hosts = new Map<string, EsxHost>();
  readonly switches = new Map<string, PhysicalSwitch>();
  readonly events: FabricEvent[] = [];
  /** What each host's vSwitches dropped where the frame entered (io.drop). */
  readonly drops: Array<{ host: string; point: string; reason: string }> = [];
  /** Frames seen at tapped capture points (io.tap, after setTap), copies. */
  readonly taps: Array<{ point: string; direction: string; frame: Buffer }> = [];
  /** Frames sent out of each cable end ("esx1.vmnic0"), in order. */
  readonly sent = new Map<string, Buffer[]>();
  private readonly peer = new Map<string, string>();
  private readonly down = new Set<string>();
  private readonly queue: Array<[string, Buffer]> = [];
  private frameNo = 0;
  lostOnDownCables = 0;

  constructor(yaml: string) {
    this.topology = parseTopology(yaml, 'test.yaml');
    for (const l of this.topology.links) {
      this.peer.set(l.a, l.b);
      this.peer.set(l.b, l.a);
    }
    for (const sm of this.topology.switches) {
      const sw = new PhysicalSwitch(switchConfigFromModel(sm), this.clock);
      this.switches.set(sm.name, sw);
      for (const p of sw.ports()) if (!this.peer.has(`${sm.name}.${p.name}`)) sw.setLinkUp(p.index, false);
    }
    for (const hm of this.topology.hosts) {
      const host: EsxHost = new EsxHost(hm, this.clock, {
        uplinkTx: (vmnic, frame) => this.transmit(`${hm.name}.${vmnic}`, frame),
        event: (e) => this.hostEvent(hm.name, e),
        drop: (point, reason) => this.drops.push({ host: hm.name, point, reason }),
        tap: (point, direction, frame) => this.taps.push({ point, direction, frame: Buffer.from(frame) }),
      });
      this.hosts.set(hm.name, host);
    }
    for (const h of this.hosts.values()) h.powerOnAll();
    for (const l of this.topology.links) this.setCable(l.a, true);
    this.pump();
  }

  host(name: string): EsxHost {
    return this.hosts.get(name)!;
  }
  sw(name: string): PhysicalSwitch {
    return this.switches.get(name)!;
  }

  private hostEvent(host: string, e: HostEvent): void {
    const t = this.clock.nowMs();
    if (e.kind === 'teaming') this.events.push({ timeMs: t, source: host, type: e.type, vswitch: e.vswitch, message: e.message, ...e.details });
    else if (e.kind === 'vswitch') this.events.push({ timeMs: t, source: host, type: e.event.kind, ...(e.event as object) });
    else if (e.kind === 'power') this.events.push({ timeMs: t, source: host, type: 'power', vm: e.vm, on: e.on });
    else if (e.kind === 'vmkernel') this.events.push({ timeMs: t, source: host, vmk: e.vmk, ...(e.action as object), type: e.action.kind });
  }

  private switchEvents(sw: string, list: SwitchEvent[] | undefined): void {
    for (const e of list ?? []) this.events.push({ ...e, source: sw });
  }

  private transmit(end: string, frame: Uint8Array): void {
    const copy = Buffer.from(frame);
    let list = this.sent.get(end);
    if (!list) this.sent.set(end, (list = []));
    list.push(copy);
    const to = this.peer.get(end);
    if (!to) return;
    if (this.down.has(end)) {
      this.lostOnDownCables++;
      return;
    }
    this.queue.push([to, copy]);
  }

  /** Delivers queued frames until the fabric is quiet (bounded). */
  pump(maxFrames = 1_000_000): void {
    for (let n = 0; this.queue.length > 0 && n < maxFrames; n++) {
      const [end, frame] = this.queue.shift()!;
      if (this.down.has(end)) {
        this.lostOnDownCables++;
        continue;
      }
      const dot = end.indexOf('.');
      const node = end.slice(0, dot);
      const iface = end.slice(dot + 1);
      const host = this.hosts.get(node);
      if (host) {
        host.receiveUplink(iface, frame);
        continue;
      }
      const sw = this.switches.get(node)!;
      const r = sw.receive(sw.portIndex(iface), frame, ++this.frameNo);
      const outs: Array<[string, Uint8Array]> = [];
      for (let k = 0; k < r.count; k++) outs.push([`${node}.${sw.ports()[r.ports[k]!]!.name}`, r.frames[k]!]);
      this.switchEvents(node, r.events);
      for (const [out, bytes] of outs) this.transmit(out, bytes);
    }
  }

  /** Cable up/down: carrier at both ends (host uplink link state, switch port link). */
  setCable(end: string, up: boolean): void {
    const other = this.peer.get(end)!;
    for (const e of [end, other]) {
      if (up) this.down.delete(e);
      else this.down.add(e);
    }
    for (const e of [end, other]) {
      const dot = e.indexOf('.');
      const node = e.slice(0, dot);
      const iface = e.slice(dot + 1);
      const host = this.hosts.get(node);
      if (host) host.setUplinkLink(iface, up);
      else {
        const sw = this.switches.get(node)!;
        this.switchEvents(node, sw.setLinkUp(sw.portIndex(iface), up));
      }
    }
    this.pump();
  }

  /** Lets every pending notify burst finish (§3.10 RARPs leave NOTIFY_RARP_SPACING_MS apart). */
  settleNotify(): void {
    this.advance(NOTIFY_RARP_SPACING_MS * NOTIFY_RARP_MAX + 10, 10);
  }

  /** Advances the clock in steps of at most `stepMs`, running every host's and switch's due timers. */
  advance(ms: number, stepMs = 100): void {
    const end = this.clock.nowMs() + ms;
    while (this.clock.nowMs() < end) {
      let next = Math.min(end, this.clock.nowMs() + stepMs);
      for (const h of this.hosts.values()) {
        const d = h.nextDeadlineMs();
        if (d !== undefined && d > this.clock.nowMs() && d < next) next = d;
      }
      this.clock.set(next);
      for (const h of this.hosts.values()) h.tick();
      for (const [name, sw] of this.switches) this.switchEvents(name, sw.age());
      this.pump();
    }
  }

  /** Frames sent out of `end` since index `from` that are RARPs (EtherType 0x8035, tagged or not) for `mac`. */
  rarpsFrom(end: string, mac: number, from = 0): number {
    return (this.sent.get(end) ?? []).slice(from).filter((f) => {
      const t = f.readUInt16BE(12) === 0x8100 ? f.readUInt16BE(16) : f.readUInt16BE(12);
      return t === 0x8035 && f.readUIntBE(6, 6) === mac;
    }).length;
  }

  sentCount(end: string): number {
    return this.sent.get(end)?.length ?? 0;
  }

  ofType(type: string, source?: string): FabricEvent[] {
    return this.events.filter((e) => e.type === type && (source === undefined || e.source === source));
  }
}
