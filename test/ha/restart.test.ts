// Restart decisions (docs/ha.md; docs/vsphere-behaviour.md §7.14): order by priority, a lower priority held
// back while a more urgent attempt is in flight, placement on a fitting host, and the bounded retry of
// "locked" and "failed" outcomes.
import { expect } from 'chai';
import { type HaCluster, type RestartJob, dueJobs, haTiming, newJob, placeVm, resolveCluster, settleAttempt } from '../../lib/ha/index.js';
import { clusterOf } from './sim.js';

function cluster(): HaCluster {
  const input = clusterOf(3, {}, [
    { name: 'hi', datastore: 'ds1', restartPriority: 'high' },
    { name: 'lo', datastore: 'ds1', restartPriority: 'low' },
    { name: 'mid', datastore: 'ds2', portGroups: ['pg-web'] },
  ]);
  input.hosts[1]!.datastores = ['ds1'];
  const r = resolveCluster(input);
  if (!r.ok) throw new Error('config');
  return r.value;
}

describe('HA restart decisions', () => {
  it('due jobs: most urgent first; lower priorities wait while a more urgent one is in flight', () => {
    const c = cluster();
    const jobs = ['lo', 'mid', 'hi'].map((n) => newJob(c.vm.get(n)!, 'esx1', 0));
    expect(dueJobs(jobs, 0).map((j) => j.vm)).to.deep.equal(['hi', 'mid', 'lo']);
    jobs[2]!.inFlight = { host: 'esx2', sinceMs: 0 };
    expect(dueJobs(jobs, 0)).to.deep.equal([]);
    delete jobs[2]!.inFlight;
    jobs[1]!.inFlight = { host: 'esx2', sinceMs: 0 }; // mid in flight: hi may go, lo waits
    expect(dueJobs(jobs, 0).map((j) => j.vm)).to.deep.equal(['hi']);
    jobs[2]!.nextAtMs = 5_000;
    expect(dueJobs(jobs, 4_999).map((j) => j.vm)).to.deep.equal([]);
  });

  it('placement: mounts the datastore and has the port groups, least loaded, ties by name', () => {
    const c = cluster();
    const load = (h: string): number => ({ esx1: 0, esx2: 1, esx3: 1 })[h] ?? 0;
    expect(placeVm(c, c.vm.get('hi')!, ['esx2', 'esx3'], load)).to.equal('esx2');
    expect(placeVm(c, c.vm.get('mid')!, ['esx2', 'esx3'], load)).to.equal('esx3'); // esx2 lacks ds2
    expect(placeVm(c, c.vm.get('mid')!, ['esx1', 'esx3'], load)).to.equal('esx1');
    expect(placeVm(c, c.vm.get('mid')!, ['esx1', 'esx3'], load, ['esx1'])).to.equal('esx3');
    expect(placeVm(c, c.vm.get('mid')!, ['esx2'], load)).to.equal(undefined);
  });

  it('outcomes: ok done; locked retried after the interval; failed excludes the host; at most the attempt limit', () => {
    const t = haTiming();
    const c = cluster();
    const job: RestartJob = newJob(c.vm.get('hi')!, 'esx1', 0);
    job.attempts = 1;
    expect(settleAttempt(job, 'locked', 'esx2', 1_000, t)).to.equal('retry');
    expect(job.nextAtMs).to.equal(1_000 + t.restartRetryMs);
    expect(job.excluded).to.deep.equal([]);
    job.attempts = 2;
    expect(settleAttempt(job, 'failed', 'esx2', 2_000, t)).to.equal('retry');
    expect(job.excluded).to.deep.equal(['esx2']);
    job.attempts = t.restartMaxAttempts;
    expect(settleAttempt(job, 'locked', 'esx3', 3_000, t)).to.equal('gave-up');
    expect(settleAttempt(newJob(c.vm.get('hi')!, 'esx1', 0), 'ok', 'esx3', 0, t)).to.equal('done');
  });
});
