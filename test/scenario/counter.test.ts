// The scenario `counter` check (loading, topology names, evaluation, when the runner
// reads the counters), and traffic steps that cannot send: a frame size over the vNIC's largest frame is
// refused at load, a stream that sent nothing fails its step. Fake driver, manual time.

import { expect } from 'chai';
import { parseScenario, checkAgainstTopology, ScenarioError } from '../../lib/scenario/load.js';
import { parseTopology } from '../../lib/topology/load.js';
import { evaluateSnapshot, formatFailure, type RunEvidence, type StreamEvidence } from '../../lib/scenario/evaluate.js';
import { runScenario, type ScenarioDriver } from '../../lib/scenario/runner.js';
import type { ActionStep } from '../../lib/scenario/model.js';

const HEAD = 'name: t\ntopology: x.yaml\nsteps:\n';
const TOPOLOGY = parseTopology(`
name: lab
switches:
  - name: sw1
    ports: [{ name: Gi1/0/1, mode: trunk, allowedVlans: [10] }]
hosts:
  - name: esx1
    vswitches:
      - { name: vSwitch0, mtu: 9000, uplinks: [vmnic0], portGroups: [{ name: PG-10, vlan: 10 }, { name: Trunk, vlan: 4095 }] }
    vms:
      - { name: web1, nics: [{ portGroup: PG-10, mac: "00:50:56:00:66:01", ip: 192.0.2.11/24 }] }
      - { name: vgt, nics: [{ portGroup: Trunk, guestVlan: 10, mac: "00:50:56:00:66:02", ip: 192.0.2.12/24 }] }
      - { name: jumbo, nics: [{ portGroup: PG-10, mac: "00:50:56:00:66:03", ip: 192.0.2.13/24, mtu: 9000 }] }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
`, 'lab.yaml');

function problems(steps: string): string[] {
  try {
    return checkAgainstTopology(parseScenario(HEAD + steps, 'x.yaml'), TOPOLOGY).map((p) => `${p.line}: ${p.message}`);
  } catch (e) {
    if (e instanceof ScenarioError) return e.problems.map((p) => `${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);
    throw e;
  }
}

describe('scenario counter check: loading', () => {
  it('loads counter (equals, or min/max; default anchor)', () => {
    const s = parseScenario(HEAD + `  - label: forge
    send: { point: web1.nic0, dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:66:66", count: 2 }
  - expect:
      - counter: { point: web1.nic0, name: drops.forged_transmit, equals: 2 }
      - counter: { point: esx1.vmnic0, name: txFrames, max: 0, after: forge }
`, 'x.yaml');
    const [a, e] = s.steps;
    expect(a!.kind === 'action' && a.action).to.deep.include({ kind: 'send', point: 'web1.nic0', count: 2 });
    if (e!.kind !== 'expect') throw new Error('no expect');
    expect(e.expectations.map((x) => x.check)).to.deep.equal([
      { kind: 'counter', point: 'web1.nic0', name: 'drops.forged_transmit', min: 2, max: 2 },
      { kind: 'counter', point: 'esx1.vmnic0', name: 'txFrames', min: 0, max: 0, after: 'forge' },
    ]);
    expect(e.expectations[0]!.name).to.equal('web1.nic0 drops.forged_transmit grows by exactly 2');
    expect(checkAgainstTopology(s, TOPOLOGY)).to.deep.equal([]);
  });

  it('refuses an unknown counter name with the valid ones, equals with min, and no bound at all', () => {
    const p = problems(`  - expect:
      - counter: { point: web1.nic0, name: drops.forged-transmit, equals: 1 }
      - counter: { point: web1.nic0, name: rxFrames, equals: 1, min: 1 }
      - counter: { point: web1.nic0, name: rxFrames }
`);
    expect(p[0]).to.match(/^5: no counter named `drops.forged-transmit` \(did you mean `drops.forged_transmit`\?\) \(counters: rxFrames, rxBytes, txFrames, txBytes, drops.malformed, /);
    expect(p[1]).to.equal('6: equals takes no min or max (write equals: N, or min/max)');
    expect(p[2]).to.match(/^7: a counter check needs equals, min or max/);
  });

  it('checks the point against the topology and the name against the kind of point', () => {
    const p = problems(`  - expect:
      - counter: { point: web1.nic0, name: rxDrops.vlan_not_allowed, equals: 0 }
      - counter: { point: sw1.Gi1/0/1, name: drops.forged_transmit, equals: 0 }
      - counter: { point: sw1.Gi1/0/9, name: rxFrames, equals: 0 }
      - counter: { point: esx1.vmnic0, name: link.txDropsQueueFull, equals: 0 }
      - counter: { point: sw1.Gi1/0/1, name: rxDrops.vlan_not_allowed, equals: 0 }
`);
    expect(p).to.have.length(3);
    expect(p[0]).to.contain('5: web1.nic0: "rxDrops.vlan_not_allowed" is not a counter of a vSwitch port (VM vNIC or vmkernel port) (rxDrops.vlan_not_allowed is a counter of a physical switch port)');
    expect(p[1]).to.contain('6: sw1.Gi1/0/1: "drops.forged_transmit" is not a counter of a physical switch port');
    expect(p[2]).to.match(/^7: .*Gi1\/0\/9/);
  });

  it('refuses a traffic frame size over the sending vNIC\'s largest frame (1514, 1518 when the guest tags), naming both', () => {
    const t = (from: string, bytes: number) => problems(`  - traffic: { name: s1, from: ${from}, to: 192.0.2.99, rate: 10, seconds: 1, frameBytes: ${bytes} }\n`);
    expect(t('web1', 1514)).to.deep.equal([]);
    expect(t('web1', 9014)).to.deep.equal(['4: traffic s1: web1.nic0 cannot send 9014-byte frames: its largest frame is 1514 bytes (MTU 1500 + 14-byte Ethernet header; no fragmentation)']);
    expect(t('web1', 1515)).to.have.length(1);
    expect(t('vgt', 1518)).to.deep.equal([]);
    expect(t('vgt', 1519)[0]).to.contain('vgt.nic0 cannot send 1519-byte frames: its largest frame is 1518 bytes (MTU 1500 + 14-byte Ethernet header + 4-byte 802.1Q tag the guest adds');
  });

  it('reads the sending vNIC\'s own MTU (nics[].mtu): a 9000-byte vNIC sends 9014-byte frames, not 9015', () => {
    const t = (bytes: number) => problems(`  - traffic: { name: s1, from: jumbo, to: 192.0.2.99, rate: 10, seconds: 1, frameBytes: ${bytes} }\n`);
    expect(t(9014)).to.deep.equal([]);
    expect(t(9015)).to.deep.equal(['4: traffic s1: jumbo.nic0 cannot send 9015-byte frames: its largest frame is 9014 bytes (MTU 9000 + 14-byte Ethernet header; no fragmentation)']);
  });
});

describe('scenario counter check: evaluation', () => {
  const spec = parseScenario(HEAD + '  - wait: 1s\n  - expect:\n      - counter: { point: esx1.vmnic0, name: txFrames, equals: 0 }\n', 'x.yaml');
  const check = (spec.steps[1] as { expectations: any[] }).expectations[0];

  it('compares the growth since the anchor, and shows what else changed at the point', () => {
    const before = { txFrames: 3, txBytes: 180, 'link.txMessages': 3 };
    const ok = evaluateSnapshot(check, { kind: 'counters', point: 'esx1.vmnic0', before, now: { ...before }, windowMs: [0, 10] });
    expect(ok.passed).to.equal(true);
    const bad = evaluateSnapshot(check, { kind: 'counters', point: 'esx1.vmnic0', before, now: { txFrames: 4, txBytes: 240, 'link.txMessages': 4 }, windowMs: [1011.6, 1329.6] });
    expect(bad.passed).to.equal(false);
    expect(formatFailure(bad)).to.contain('expected esx1.vmnic0 txFrames to grow by exactly 0 between 1011.6 ms and 1329.6 ms, got 1\n    esx1.vmnic0 txFrames: 3 -> 4\n    other counters of esx1.vmnic0 that changed: txBytes +60, link.txMessages +1');
    const none = evaluateSnapshot(check, { kind: 'counters', point: 'esx1.vmnic0', before: null, now: { rxFrames: 1 }, windowMs: [0, 1] });
    expect(none.got).to.equal('esx1.vmnic0 has no counter txFrames');
  });
});

describe('scenario runner: counters and traffic that sends nothing (fake driver)', () => {
  function fake(opts: { sent?: number | null; streamError?: string } = {}) {
    let now = 0;
    const reads: Array<{ atMs: number; points: string[] }> = [];
    let forged = 0;
    const driver: ScenarioDriver = {
      nowMs: () => now,
      sleep: async (ms) => void (now += ms),
      act: async (a: ActionStep) => {
        now += 10;
        if (a.kind === 'send') forged += a.count;
        return undefined;
      },
      macTable: async () => [],
      ping: async () => ({ sent: 1, received: 1, detail: '' }),
      portUplink: async () => ({ port: '', uplink: null, egressUplinks: [] }),
      uplinkTxFrames: async () => ({}),
      counters: async (points) => {
        reads.push({ atMs: now, points });
        // 5 startup drops before anything ran, then what the steps forged
        return Object.fromEntries(points.map((p) => [p, { 'drops.forged_transmit': 5 + forged, txFrames: 0 }]));
      },
      vmPower: async () => { throw new Error('none'); },
      datastoreFiles: async () => { throw new Error('none'); },
      datastoreState: async () => { throw new Error('none'); },
      collect: async (): Promise<RunEvidence> => {
        const s: StreamEvidence = { name: 's1', from: 'web1', to: 'peer', sent: opts.sent ?? 100, received: 0, lost: 0, maxGapMs: 0, maxGapAtMs: null, ...(opts.streamError ? { error: opts.streamError } : {}) };
        return { timeline: [], streams: new Map([['s1', s]]), rarps: [], capturedPoints: new Set() };
      },
    };
    return { driver, reads };
  }

  const text = HEAD + `  - traffic: { name: s1, from: web1, to: peer, rate: 10, seconds: 1 }
  - label: forge
    send: { point: web1.nic0, dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:66:66", count: 2 }
  - wait: 300ms
  - expect:
      - name: counted from before the send step (the 5 earlier drops left out)
        counter: { point: web1.nic0, name: drops.forged_transmit, equals: 2 }
      - counter: { point: web1.nic0, name: drops.forged_transmit, equals: 7 }
`;

  it('reads the anchor step\'s points before it runs (its own effect counts), once per anchor', async () => {
    const s = parseScenario(text, 'x.yaml');
    const { driver, reads } = fake();
    const r = await runScenario(s, driver);
    expect(r.error).to.equal(undefined);
    expect(r.results.map((x) => [x.id, x.passed, x.got])).to.deep.equal([['4.1', true, '2'], ['4.2', false, '2']]);
    expect(reads[0]).to.deep.equal({ atMs: 10, points: ['web1.nic0'] }); // after the traffic step, before the send step
    expect(reads).to.have.length(3); // the anchor, and each check
  });

  it('a stream that sent no frame fails its traffic step with the sender\'s reason', async () => {
    const s = parseScenario(HEAD + '  - traffic: { name: s1, from: web1, to: peer, rate: 10, seconds: 1 }\n  - wait: 1s\n', 'x.yaml');
    const { driver } = fake({ sent: 0, streamError: 'web1 could not resolve 192.0.2.21 (no ARP reply)' });
    const r = await runScenario(s, driver);
    expect(r.passed).to.equal(false);
    expect(r.error).to.equal('step 1 (traffic s1: web1 -> peer, 10 pps x 128 B for 1 s) failed: stream s1 sent no frames: web1 could not resolve 192.0.2.21 (no ARP reply)');
    expect(r.steps[0]!.error).to.contain('sent no frames');
    const fine = await runScenario(s, fake({ sent: 10 }).driver);
    expect(fine.error).to.equal(undefined);
  });
});

describe('scenario macTable counting entries', () => {
  const check = (yaml: string) => (parseScenario(HEAD + `  - expect:\n      - ${yaml}\n`, 'x.yaml').steps[0] as { expectations: any[] }).expectations[0];
  const rows = [
    { vlan: 10, mac: '00:50:56:00:66:01', port: 'Gi1/0/1' },
    { vlan: 10, mac: '00:50:56:00:66:21', port: 'Gi1/0/2' },
    { vlan: 20, mac: '00:50:56:00:66:31', port: 'Gi1/0/1' },
  ];

  it('counts the entries in a VLAN at a port (count, or min/max)', () => {
    const one = check('macTable: { switch: sw1, vlan: 10, port: Gi1/0/1, count: 1 }');
    expect(one.check).to.deep.equal({ kind: 'macCount', switch: 'sw1', vlan: 10, port: 'Gi1/0/1', min: 1, max: 1 });
    expect(one.name).to.equal('sw1 has exactly 1 MAC entries in VLAN 10 at Gi1/0/1');
    expect(evaluateSnapshot(one, { kind: 'macTable', rows }).passed).to.equal(true);
    const port = evaluateSnapshot(check('macTable: { switch: sw1, port: Gi1/0/1, max: 1 }'), { kind: 'macTable', rows });
    expect(port.passed).to.equal(false);
    expect(formatFailure(port)).to.contain('expected at most 1 MAC entries at Gi1/0/1 on sw1, got 2');
    expect(evaluateSnapshot(check('macTable: { switch: sw1, min: 3 }'), { kind: 'macTable', rows }).passed).to.equal(true);
  });

  it('refuses neither mac nor a count, a count with a mac, and port: null without a mac', () => {
    const p = problems(`  - expect:
      - macTable: { switch: sw1, vlan: 10 }
      - macTable: { switch: sw1, mac: "00:50:56:00:66:01", port: Gi1/0/1, count: 1 }
      - macTable: { switch: sw1, port: null, count: 0 }
      - macTable: { switch: sw1, port: Gi1/0/7, count: 0 }
`);
    expect(p[0]).to.match(/^5: macTable needs a mac \(where is it\?\) or count\/min\/max/);
    expect(p[1]).to.match(/^6: count: counting entries takes no mac/);
    expect(p[2]).to.match(/^7: port: null means "this MAC is not in the table" and needs a mac/);
    expect(p).to.have.length(3); // the unknown port is a topology problem, reported once the file itself is valid
    expect(problems('  - expect:\n      - macTable: { switch: sw1, port: Gi1/0/7, count: 0 }\n')[0]).to.contain('switch sw1 has no port `Gi1/0/7`');
  });
});
