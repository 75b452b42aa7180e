// The no-double-run guarantee (docs/ha.md; docs/vsphere-behaviour.md §7.14): the doubleRuns helper, and a
// seeded multi-host simulation of repeated crashes, restarts and isolations (each isolation response),
// bounded in count and fabric time, asserting after every 100 ms tick that no VM runs on two hosts and
// every running VM holds its lock and no primary believes otherwise, and at the end that every protected
// VM runs exactly once. Without heartbeat datastores an isolated host is declared dead and its VMs'
// restarts meet live locks: that variant fails at once if the simulation's lock rule is weakened.
import { expect } from 'chai';
import { type ClusterInput, type IsolationResponse, doubleRuns, hostsByVm } from '../../lib/ha/index.js';
import { HaSim, clusterOf } from './sim.js';

describe('HA no-double-run guarantee', () => {
  it('doubleRuns lists every VM found at two hosts', () => {
    const view = hostsByVm([['esx1', ['a', 'b']], ['esx2', ['b']], ['esx3', ['c', 'b']]]);
    expect(doubleRuns(view)).to.deep.equal([{ vm: 'b', hosts: ['esx1', 'esx2', 'esx3'] }]);
    expect(doubleRuns(hostsByVm([['esx1', ['a']], ['esx2', ['b']]]))).to.deep.equal([]);
  });

  /** Bounded: CYCLES faults, each followed by at most 90 s of fabric time. */
  const CYCLES = 12;
  const variants: Array<[IsolationResponse, number]> = [['power-off', 2], ['leave-powered-on', 2], ['shutdown', 2], ['leave-powered-on', 0], ['power-off', 0]];
  for (const [response, hbPerHost] of variants) {
    it(`5 hosts, 20 VMs, ${CYCLES} seeded crash / isolation cycles (${response}, ${hbPerHost} heartbeat datastores): never on two hosts, all back at the end`, () => {
      const vms: ClusterInput['vms'] = Array.from({ length: 20 }, (_, i) => ({
        name: `vm${String(i).padStart(2, '0')}`, datastore: i % 2 === 0 ? 'ds1' : 'ds2', portGroups: ['pg-web'],
        restartPriority: (['low', 'medium', 'high'] as const)[i % 3],
      }));
      const placement: Record<string, string[]> = {};
      vms.forEach((v, i) => (placement[`esx${(i % 5) + 1}`] ??= []).push(v.name));
      const sim = new HaSim(clusterOf(5, { ha: { isolationResponse: response, heartbeatDatastoresPerHost: hbPerHost } }, vms), placement, 42);
      sim.advance(20_000);
      let crashes = 0;
      let isolations = 0;
      for (let c = 0; c < CYCLES; c++) {
        const victim = `esx${1 + Math.floor(sim.random() * 5)}`;
        const isolate = sim.random() < 0.4;
        if (isolate) {
          isolations++;
          sim.setMgmt(victim, false);
        } else {
          crashes++;
          sim.crash(victim);
        }
        sim.advance(20_000 + Math.floor(sim.random() * 40) * 1_000);
        if (isolate) sim.setMgmt(victim, true);
        else sim.restart(victim);
        sim.advance(30_000);
        expect(sim.violations, `cycle ${c}`).to.deep.equal([]);
      }
      expect(crashes).to.be.greaterThan(2);
      expect(isolations).to.be.greaterThan(2);
      sim.advance(60_000);
      expect(sim.violations).to.deep.equal([]);
      expect(sim.eventsOf('ha-vm-conflict')).to.deep.equal([]);
      expect(sim.eventsOf('ha-restart-succeeded').length).to.be.greaterThan(10);
      for (const v of vms) expect(sim.where(v.name), v.name).to.have.length(1);
      expect(sim.primaries()).to.have.length(1);
    });
  }
});
