// Test harness: VmEndpoints on a shared "hub" segment (every frame reaches every other attached vNIC;
// the endpoints' own receive filters decide), driven by a ManualClock. Not a test file itself.
import { VmEndpoint, type EndpointAction, type EndpointActions, type NicConfig } from '../../lib/endpoint/index.js';
import { ManualClock } from '../../lib/clock.js';
import { parseMac } from '../../lib/wire/mac.js';

export interface Attached { vm: VmEndpoint; nic: number }
export interface Logged { vm: string; action: EndpointAction }

export class Hub {
  readonly ports: Attached[] = [];
  /** Every non-transmit action, in order. */
  readonly log: Logged[] = [];
  /** Every frame put on the wire, with its sender. */
  readonly wire: Array<{ from: string; frame: Buffer }> = [];
  /** Hook to mutate or drop frames in flight (return undefined to drop). */
  tamper: ((frame: Buffer, from: string) => Buffer | undefined) | undefined;

  attach(vm: VmEndpoint, nic = 0): void {
    this.ports.push({ vm, nic });
  }

  /** Carries out `actions` of `from` and everything they cause, until the segment is quiet. */
  run(from: VmEndpoint, actions: EndpointActions): void {
    const queue: Array<{ from: VmEndpoint; action: EndpointAction }> = actions.map((action) => ({ from, action }));
    let guard = 0;
    while (queue.length > 0) {
      if (++guard > 10_000) throw new Error('hub: runaway frame loop');
      const { from: src, action } = queue.shift()!;
      if (action.kind !== 'transmit') {
        this.log.push({ vm: src.name, action });
        continue;
      }
      let frame: Buffer | undefined = action.frame;
      this.wire.push({ from: src.name, frame });
      if (this.tamper) frame = this.tamper(Buffer.from(frame), src.name);
      if (frame === undefined) continue;
      for (const p of this.ports) {
        if (p.vm === src && p.nic === action.nic) continue;
        for (const a of p.vm.receive(p.nic, frame)) queue.push({ from: p.vm, action: a });
      }
    }
  }

  /** Advances the clock to each due deadline in turn up to `untilMs`, running tick() of every VM. */
  advance(clock: ManualClock, byMs: number): void {
    const until = clock.nowMs() + byMs;
    for (;;) {
      let next: number | undefined;
      for (const vm of new Set(this.ports.map((p) => p.vm))) {
        const d = vm.nextDeadlineMs();
        if (d !== undefined && (next === undefined || d < next)) next = d;
      }
      if (next === undefined || next > until) break;
      clock.set(Math.max(next, clock.nowMs()));
      for (const vm of new Set(this.ports.map((p) => p.vm))) this.run(vm, vm.tick());
    }
    clock.set(until);
  }

  of<K extends EndpointAction['kind']>(kind: K, vm?: string): Array<Extract<EndpointAction, { kind: K }>> {
    return this.log
      .filter((l) => l.action.kind === kind && (vm === undefined || l.vm === vm))
      .map((l) => l.action as Extract<EndpointAction, { kind: K }>);
  }
}

export const MAC_A = parseMac('00:50:56:00:00:0a');
export const MAC_B = parseMac('00:50:56:00:00:0b');
export const MAC_C = parseMac('00:50:56:00:00:0c');
export const MAC_G = parseMac('00:50:56:00:00:fe');

export function vm(clock: ManualClock, name: string, nic: Partial<NicConfig> & { mac: number }): VmEndpoint {
  return new VmEndpoint({ name, clock, nics: [{ name: `${name}-eth0`, ...nic }] });
}
