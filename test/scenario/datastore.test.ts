// Datastore steps and checks of the scenario language (lib/scenario): loading vmPowerOn/vmPowerOff,
// vmPowerOnRace, datastoreFormat, storageFault, lock and datastoreState with their defaults and
// file:line errors; names checked against a topology's hosts, datastores, arrays and LUNs; evaluation of
// lock, datastoreState, power outcomes and races; the runner polling a check until it holds or its window
// ends, and power steps whose wrong outcome fails a check without stopping the run (fake driver, manual
// time). The shipped datastore scenarios load against their topology. Follows docs/scenarios.md.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { parseScenario, ScenarioError, checkAgainstTopology, resolveHostDatastore } from '../../lib/scenario/load.js';
import {
  type DatastoreFileRow, type PowerAttempt, type RaceRound,
  evaluateDeferred, evaluatePower, evaluateRace, evaluateSnapshot, formatFailure,
} from '../../lib/scenario/evaluate.js';
import { runScenario, pollIntervalMs, type PowerRequest, type ScenarioDriver } from '../../lib/scenario/runner.js';
import { formatTimeline } from '../../lib/scenario/timeline.js';
import type { ExpectationSpec, Scenario, Step } from '../../lib/scenario/model.js';
import { loadTopologyFile, parseTopology } from '../../lib/topology/load.js';
import { loadScenarioAndTopology } from '../../daemons/scenario/run.js';

const HEAD = 'name: t\ntopology: x.yaml\nsteps:\n';

function parse(steps: string): Scenario {
  return parseScenario(`${HEAD}${steps}`, 'x.yaml');
}

function problemsOf(steps: string): string[] {
  try {
    parse(steps);
  } catch (e) {
    expect(e).to.be.instanceOf(ScenarioError);
    return (e as ScenarioError).problems.map((p) => `${p.line}:${p.column}: ${p.path}: ${p.message}`);
  }
  throw new Error('expected a ScenarioError');
}

function action(s: Scenario, i: number): Step & { kind: 'action' } {
  const step = s.steps[i]!;
  if (step.kind !== 'action') throw new Error(`step ${i + 1} is not an action`);
  return step;
}

function check(yaml: string): ExpectationSpec {
  const step = parse(`  - expect:\n      - ${yaml}\n`).steps[0]!;
  if (step.kind !== 'expect') throw new Error('no expect');
  return step.expectations[0]!;
}

const row = (p: string, mode: string, owners: string[] = []): DatastoreFileRow => ({
  path: p, lock: { mode, generation: 3, holders: owners.map((o, i) => ({ owner: o, slot: i, slotGeneration: 1, heartbeat: 'in-use' })) },
});

const attempt = (host: string, outcome: PowerAttempt['outcome'], on = true): PowerAttempt => ({
  host, on, outcome, ...(outcome === 'locked' ? { code: 'VFAB_DATASTORE_LOCKED' } : outcome === 'fails' ? { code: 'VFAB_DATASTORE_NOT_MOUNTED' } : {}),
  message: outcome === 'ok' ? 'opened app1/app1.vmx' : outcome === 'locked' ? 'locked by esx1: app1/app1.vmx is open there' : 'ds1 is offline on esx2', tookMs: 12,
});

describe('scenario datastore steps: loading', () => {
  it('builds power, race, format and fault steps with their defaults; power steps carry their outcome check as <step>.1', () => {
    const s = parse(`  - datastoreFormat: { datastore: ds1 }
  - vmPowerOn: { vm: app1, host: esx1 }
  - vmPowerOn: { vm: app1, host: esx2, datastore: ds1, maxWait: 2s, expect: locked }
  - vmPowerOff: { vm: app1, host: esx1, expect: fails }
  - vmPowerOnRace: { vm: app1, hosts: [esx1, esx2] }
  - storageFault: { stall: { host: esx1, array: array1, lun: shared1, duration: 10s } }
  - storageFault: { paths: { host: esx1, array: array1, up: false } }
  - storageFault: { ats: { array: array1, lun: shared1, enabled: false } }
  - datastoreFormat: { datastore: ds1, host: esx2, locking: ats-scsi, force: true }
`);
    expect(action(s, 0).action).to.deep.equal({ kind: 'datastoreFormat', datastore: 'ds1', locking: 'ats-only', force: false });
    expect(action(s, 0).outcome).to.equal(undefined);
    expect(action(s, 1).action).to.deep.equal({ kind: 'vmPower', vm: 'app1', host: 'esx1', on: true, expect: 'ok' });
    expect(action(s, 1).outcome).to.deep.include({ id: '2.1', name: 'power-on of app1 on esx1: succeeds' });
    expect(action(s, 1).outcome!.loc.line).to.equal(5);
    expect(action(s, 2).action).to.deep.equal({ kind: 'vmPower', vm: 'app1', host: 'esx2', datastore: 'ds1', on: true, expect: 'locked', maxWaitMs: 2000 });
    expect(action(s, 3).action).to.deep.include({ on: false, expect: 'fails' });
    expect(action(s, 4).action).to.deep.equal({ kind: 'vmPowerRace', vm: 'app1', hosts: ['esx1', 'esx2'], rounds: 1 });
    expect(action(s, 4).outcome!.check).to.deep.equal({ kind: 'vmPowerRace', vm: 'app1', hosts: ['esx1', 'esx2'], rounds: 1 });
    expect(action(s, 5).action).to.deep.equal({ kind: 'storageFault', fault: { kind: 'stall', host: 'esx1', array: 'array1', lun: 'shared1', ms: 10_000 } });
    expect(action(s, 6).action).to.deep.equal({ kind: 'storageFault', fault: { kind: 'paths', host: 'esx1', array: 'array1', up: false } });
    expect(action(s, 7).action).to.deep.equal({ kind: 'storageFault', fault: { kind: 'ats', array: 'array1', lun: 'shared1', enabled: false } });
    expect(action(s, 8).action).to.deep.equal({ kind: 'datastoreFormat', datastore: 'ds1', host: 'esx2', locking: 'ats-scsi', force: true });
  });

  it('builds lock and datastoreState checks: owner none (or null) is no owner', () => {
    expect(check('lock: { datastore: ds1, file: app1/app1-flat.vmdk, owner: esx2, mode: exclusive, withinMs: 20000 }').check)
      .to.deep.equal({ kind: 'lock', datastore: 'ds1', file: 'app1/app1-flat.vmdk', owner: 'esx2', mode: 'exclusive', withinMs: 20000 });
    expect(check('lock: { datastore: ds1, file: app1/app1.vmx, owner: none }').check).to.deep.include({ owner: null });
    expect(check('lock: { datastore: ds1, file: app1/app1.vmx, owner: null }').check).to.deep.include({ owner: null });
    expect(check('datastoreState: { host: esx1, datastore: ds1, state: offline, withinMs: 19000 }').check)
      .to.deep.equal({ kind: 'datastoreState', host: 'esx1', datastore: 'ds1', state: 'offline', withinMs: 19000 });
    expect(check('lock: { datastore: ds1, file: a/b, owner: esx2 }').name).to.equal('ds1 a/b is locked by esx2');
  });

  it('an event check with max: 0 alone asserts absence (min defaults to 0 then)', () => {
    expect(check('event: { source: esx1, type: datastore-offline, max: 0 }').check).to.deep.include({ min: 0, max: 0 });
    expect(check('event: { source: esx1, type: datastore-offline }').check).to.deep.include({ min: 1, max: Infinity });
  });

  it('reports bad values at their line and column', () => {
    expect(problemsOf('  - vmPowerOn: { vm: app1, host: esx1, expect: lockd }\n')).to.deep.equal(['4:48: steps[0].vmPowerOn.expect: text "lockd" is not a valid expect (did you mean `locked`?)']);
    expect(problemsOf('  - vmPowerOn: { vm: app1, host: esx1, maxWait: soon }\n')[0]).to.match(/^4:\d+: steps\[0\]\.vmPowerOn\.maxWait: /);
    expect(problemsOf('  - vmPowerOn: { vm: app1, host: esx1, maxWait: 11m }\n')).to.deep.equal(['4:49: steps[0].vmPowerOn.maxWait: 660000 ms is longer than 600000 ms']);
    expect(problemsOf('  - vmPowerOff: { vm: app1, host: esx1, maxWait: 2s }\n')[0]).to.contain('steps[0].vmPowerOff.maxWait: unknown field `maxWait`');
    expect(problemsOf('  - vmPowerOnRace: { vm: app1, hosts: [esx1] }\n')[0]).to.match(/^4:\d+: steps\[0\]\.vmPowerOnRace\.hosts: .*at least 2/);
    expect(problemsOf('  - vmPowerOnRace: { vm: app1, hosts: [esx1, esx1] }\n')[0]).to.contain('steps[0].vmPowerOnRace.hosts');
    expect(problemsOf('  - wait: 1s\n  - storageFault: { stall: { host: esx1, array: array1, duration: 11m } }\n')).to.deep.equal(['5:67: steps[1].storageFault.stall.duration: 660000 ms is longer than 600000 ms']);
    expect(action(parse('  - storageFault: { stall: { host: esx1, array: array1, duration: 0s } }\n'), 0).action, '0 ends a stall').to.deep.include({ fault: { kind: 'stall', host: 'esx1', array: 'array1', ms: 0 } });
    expect(problemsOf('  - storageFault: { stall: { host: esx1, array: array1 } }\n')[0]).to.contain('steps[0].storageFault.stall: missing required field `duration`');
    expect(problemsOf('  - storageFault: { paths: { host: esx1, array: array1, up: false }, ats: { array: array1, lun: l, enabled: true } }\n')[0]).to.contain('steps[0].storageFault');
    expect(problemsOf('  - storageFault: {}\n')[0]).to.contain('steps[0].storageFault');
    expect(problemsOf('  - expect:\n      - lock: { datastore: ds1, file: /app1/app1.vmx, owner: esx1 }\n')[0]).to.match(/^5:\d+: steps\[0\]\.expect\[0\]\.lock\.file: /);
    expect(problemsOf('  - expect:\n      - lock: { datastore: ds1, file: a/b, owner: none, mode: exclusive }\n')).to.deep.equal(['5:63: steps[0].expect[0].lock.mode: owner none means the lock is free; mode exclusive contradicts it']);
    expect(problemsOf('  - expect:\n      - lock: { datastore: ds1, file: a/b, owner: esx1, mode: free }\n')).to.deep.equal(['5:63: steps[0].expect[0].lock.mode: mode free means nobody holds the lock; owner esx1 contradicts it']);
    expect(problemsOf('  - expect:\n      - lock: { datastore: ds1, file: a/b }\n')[0]).to.contain('missing required field `owner`');
    expect(problemsOf('  - expect:\n      - datastoreState: { host: esx1, datastore: ds1, state: online }\n')[0]).to.contain('datastoreState.state: text "online" is not a valid state (did you mean `offline`?)');
    expect(problemsOf('  - expect:\n      - datastoreState: { host: esx1, datastore: ds1, state: mounted, withinMs: 3600001 }\n')[0]).to.contain('withinMs 3600001 is longer than 3600000 ms');
  });
});

describe('scenario datastore steps: names against the topology', () => {
  let lab: Awaited<ReturnType<typeof loadTopologyFile>>;
  before(async () => {
    lab = await loadTopologyFile('scenarios/topologies/datastore-lab.yaml');
  });
  const problems = (steps: string) => checkAgainstTopology(parse(steps), lab).map((p) => `${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);

  it('accepts the names the topology has', () => {
    expect(problems(`  - datastoreFormat: { datastore: ds1 }
  - vmPowerOnRace: { vm: anyvm, hosts: [esx1, esx2] }
  - vmPowerOn: { vm: app1, host: esx2, datastore: ds1 }
  - storageFault: { stall: { host: esx1, array: array1, lun: shared1, duration: 1s } }
  - storageFault: { paths: { host: esx2, array: array1, up: false } }
  - storageFault: { ats: { array: array1, lun: shared1, enabled: false } }
  - expect:
      - lock: { datastore: ds1, file: app1/app1.vmx, owner: esx2, host: esx1 }
      - datastoreState: { host: esx2, datastore: ds1, state: mounted }
      - event: { source: esx2, type: datastore-lock-broken, match: { datastore: ds1, file: app1/app1.vmx } }
`)).to.deep.equal([]);
  });

  it('names the step and what is missing: hosts, datastores, arrays, LUNs, lock owners', () => {
    expect(problems('  - vmPowerOn: { vm: app1, host: esx3 }\n')).to.deep.equal(['4: topology datastore-lab has no host `esx3` (did you mean `esx1`?) (hosts: esx1, esx2)']);
    expect(problems('  - vmPowerOn: { vm: app1, host: esx1, datastore: ds2 }\n')).to.deep.equal(['4: host esx1 lists no datastore `ds2` (did you mean `ds1`?) (its datastores: ds1)']);
    expect(problems('  - vmPowerOnRace: { vm: app1, hosts: [esx1, esx9] }\n')[0]).to.contain('no host `esx9`');
    expect(problems('  - datastoreFormat: { datastore: ds7 }\n')).to.deep.equal(['4: no host of topology datastore-lab lists a datastore `ds7` (did you mean `ds1`?) (datastores: ds1)']);
    expect(problems('  - storageFault: { stall: { host: esx1, array: array2, duration: 1s } }\n')[0]).to.contain('has no array `array2` (did you mean `array1`?)');
    expect(problems('  - storageFault: { ats: { array: array1, lun: shared2, enabled: false } }\n')).to.deep.equal(['4: array array1 has no LUN `shared2` (did you mean `shared1`?) (its LUNs: shared1)']);
    expect(problems('  - storageFault: { stall: { host: array1, array: array1, duration: 1s } }\n')[0]).to.contain('has no host `array1`');
    expect(problems('  - expect:\n      - lock: { datastore: ds1, file: a/b, owner: esx4 }\n')[0]).to.contain('no host `esx4`');
    expect(problems('  - expect:\n      - lock: { datastore: ds1, file: a/b, owner: none, host: esx5 }\n')[0]).to.contain('no host `esx5`');
    expect(problems('  - expect:\n      - datastoreState: { host: esx2, datastore: dsx, state: mounted }\n')[0]).to.contain('host esx2 lists no datastore `dsx`');
  });

  it('a host with several datastores (or none) must be told which; a host without paths to the array cannot be stalled', () => {
    const t = parseTopology(`name: two
hosts:
  - name: esx1
    storage: [{ array: a1, luns: [l1, l2] }]
    datastores: [{ name: ds1, lun: l1 }, { name: ds2, lun: l2 }]
  - name: esx2
  - name: esx3
    storage: [{ array: a1, luns: [l2] }]
    datastores: [{ name: ds2, lun: l2 }]
arrays:
  - name: a1
    luns: [{ name: l1, sizeGB: 0.25 }, { name: l2, sizeGB: 0.25 }]
`, 'two.yaml');
    expect(resolveHostDatastore(t, 'esx1', undefined)).to.deep.include({ ok: false, message: 'host esx1 lists 2 datastores (ds1, ds2): say which' });
    expect(resolveHostDatastore(t, 'esx1', 'ds2')).to.deep.equal({ ok: true, name: 'ds2' });
    expect(resolveHostDatastore(t, 'esx2', undefined)).to.deep.include({ ok: false, message: 'host esx2 lists no datastore' });
    const p = checkAgainstTopology(parse('  - vmPowerOn: { vm: v, host: esx1 }\n  - storageFault: { stall: { host: esx2, array: a1, duration: 1s } }\n'), t).map((x) => x.message);
    expect(p).to.deep.equal(['host esx1 lists 2 datastores (ds1, ds2): say which', 'host esx2 has no paths to array `a1`']);
    expect(checkAgainstTopology(parse('  - storageFault: { stall: { host: esx3, array: a1, lun: l1, duration: 1s } }\n'), t).map((x) => x.message))
      .to.deep.equal(['host esx3 does not see LUN `l1` of a1']);
    const race = (hosts: string, ds = '') => checkAgainstTopology(parse(`  - vmPowerOnRace: { vm: v, hosts: [${hosts}]${ds} }\n`), t).map((x) => x.message);
    expect(race('esx3, esx1', ', datastore: ds2')).to.deep.equal([]);
    expect(race('esx3, esx1')).to.deep.equal(['host esx1 lists 2 datastores (ds1, ds2): say which']);
    const t2 = parseTopology(`name: apart
hosts:
  - { name: h1, storage: [{ array: a1, luns: [l1] }], datastores: [{ name: dsA, lun: l1 }] }
  - { name: h2, storage: [{ array: a1, luns: [l2] }], datastores: [{ name: dsB, lun: l2 }] }
arrays:
  - { name: a1, luns: [{ name: l1, sizeGB: 0.25 }, { name: l2, sizeGB: 0.25 }] }
`, 'apart.yaml');
    expect(checkAgainstTopology(parse('  - vmPowerOnRace: { vm: v, hosts: [h1, h2] }\n'), t2).map((x) => x.message))
      .to.deep.equal(["the racing hosts' only datastores differ (dsA, dsB): they would not race on one"]);
  });

  it('every shipped datastore scenario loads and its names resolve in its topology', async () => {
    const files = fs.readdirSync('scenarios').filter((f) => /^(datastore|nas)-.*\.yaml$/.test(f));
    expect(files.sort()).to.deep.equal(['datastore-ats-off.yaml', 'datastore-host-crash.yaml', 'datastore-power-on-race.yaml', 'datastore-stall-10s.yaml', 'datastore-stall-20s.yaml', 'nas-host-crash.yaml']);
    for (const f of files) await loadScenarioAndTopology(path.join('scenarios', f));
  });
});

describe('scenario datastore checks: evaluation', () => {
  it('lock: the owner and mode must match; exclusive means one holder; a missing file fails and lists the files', () => {
    const spec = check('lock: { datastore: ds1, file: app1/app1-flat.vmdk, owner: esx2, mode: exclusive }');
    const obs = (files: DatastoreFileRow[]) => evaluateSnapshot(spec, { kind: 'datastoreFiles', via: 'esx2', files });
    expect(obs([row('app1/app1-flat.vmdk', 'exclusive', ['esx2'])]).passed).to.equal(true);
    const wrong = obs([row('app1/app1-flat.vmdk', 'exclusive', ['esx1'])]);
    expect(wrong.passed).to.equal(false);
    expect(formatFailure(wrong)).to.contain('expected ds1 app1/app1-flat.vmdk locked by esx2 (exclusive), got exclusive by esx1');
    expect(wrong.evidence[0]).to.equal('app1/app1-flat.vmdk: exclusive, lock generation 3, holders: esx1 (slot 0 gen 1, heartbeat in-use) (read through esx2)');
    expect(obs([row('app1/app1-flat.vmdk', 'exclusive', ['esx2', 'esx1'])]).passed, 'two exclusive holders').to.equal(false);
    expect(obs([row('app1/app1-flat.vmdk', 'read-only', ['esx2'])]).passed, 'mode differs').to.equal(false);
    const missing = obs([row('app1/app1.vmx', 'free')]);
    expect(missing.got).to.equal('no file app1/app1-flat.vmdk on ds1');
    expect(missing.evidence[0]).to.contain('files: app1/app1.vmx');
    const any = check('lock: { datastore: ds1, file: f, owner: esx2 }');
    expect(evaluateSnapshot(any, { kind: 'datastoreFiles', via: 'esx1', files: [row('f', 'multi-writer', ['esx1', 'esx2'])] }).passed, 'any mode, one of the holders').to.equal(true);
  });

  it('lock with owner none: passes only for a free lock', () => {
    const spec = check('lock: { datastore: ds1, file: f, owner: none }');
    expect(evaluateSnapshot(spec, { kind: 'datastoreFiles', via: 'esx1', files: [row('f', 'free')] }).passed).to.equal(true);
    const held = evaluateSnapshot(spec, { kind: 'datastoreFiles', via: 'esx1', files: [row('f', 'exclusive', ['esx1'])] });
    expect(held.passed).to.equal(false);
    expect(`${held.expected} / ${held.got}`).to.equal('ds1 f not locked (mode free) / exclusive by esx1');
  });

  it('datastoreState: the state must match; an unreachable host is a failed observation', () => {
    const spec = check('datastoreState: { host: esx1, datastore: ds1, state: offline }');
    expect(evaluateSnapshot(spec, { kind: 'datastoreState', host: 'esx1', state: 'offline' }).passed).to.equal(true);
    const r = evaluateSnapshot(spec, { kind: 'datastoreState', host: 'esx1', state: 'mounted' });
    expect(formatFailure(r)).to.contain('expected esx1 sees ds1 offline, got mounted');
    expect(evaluateSnapshot(spec, { kind: 'datastoreState', host: 'esx1', state: null }).got).to.equal('ds1 not listed');
    expect(evaluateSnapshot(spec, { kind: 'error', message: 'cannot reach esx1' }).got).to.equal('could not observe: cannot reach esx1');
  });

  it('a power step: the outcome must be the one expected; locked and fails are different outcomes', () => {
    const s = parse('  - vmPowerOn: { vm: app1, host: esx2, expect: locked }\n');
    const spec = action(s, 0).outcome!;
    expect(evaluatePower(spec, attempt('esx2', 'locked')).passed).to.equal(true);
    const ok = evaluatePower(spec, attempt('esx2', 'ok'));
    expect(formatFailure(ok)).to.contain('expected locked, got ok');
    expect(ok.evidence[0]).to.equal('esx2: power-on ok in 12.0 ms: opened app1/app1.vmx');
    const fails = evaluatePower(spec, attempt('esx2', 'fails'));
    expect(fails.passed, 'fails is not locked').to.equal(false);
    expect(formatFailure(fails)).to.contain('expected locked, got fails (VFAB_DATASTORE_NOT_MOUNTED)');
    const offline = action(parse('  - vmPowerOn: { vm: app1, host: esx1, expect: fails }\n'), 0).outcome!;
    expect(evaluatePower(offline, attempt('esx1', 'fails')).passed).to.equal(true);
    expect(evaluatePower(offline, attempt('esx1', 'locked')).passed, 'locked is not fails').to.equal(false);
  });

  it('a race: exactly one winner per round, every other host locked, the winner powers off, every round ran', () => {
    const spec = action(parse('  - vmPowerOnRace: { vm: app1, hosts: [esx1, esx2], rounds: 2 }\n'), 0).outcome!;
    const round = (a: PowerAttempt[], off = a.filter((x) => x.outcome === 'ok').map((x) => attempt(x.host, 'ok', false))): RaceRound => ({ attempts: a, powerOff: off });
    const good = [round([attempt('esx1', 'ok'), attempt('esx2', 'locked')]), round([attempt('esx1', 'locked'), attempt('esx2', 'ok')])];
    const r = evaluateRace(spec, good);
    expect(r.passed).to.equal(true);
    expect(r.got).to.equal('one winner in each of 2 round(s) (wins: esx1 1, esx2 1)');
    expect(r.evidence).to.deep.equal(['round 1: esx1 won; esx2 locked', '  esx2: power-on locked VFAB_DATASTORE_LOCKED in 12.0 ms: locked by esx1: app1/app1.vmx is open there',
      'round 2: esx2 won; esx1 locked', '  esx1: power-on locked VFAB_DATASTORE_LOCKED in 12.0 ms: locked by esx1: app1/app1.vmx is open there']);
    const two = evaluateRace(spec, [good[0]!, round([attempt('esx1', 'ok'), attempt('esx2', 'ok')])]);
    expect(formatFailure(two)).to.contain('expected exactly one winner in each of 2 round(s), the other host(s) refused as locked, got round 2: 2 winners');
    expect(evaluateRace(spec, [good[0]!, round([attempt('esx1', 'locked'), attempt('esx2', 'locked')])]).got).to.equal('round 2: 0 winners');
    expect(evaluateRace(spec, [good[0]!, round([attempt('esx1', 'ok'), attempt('esx2', 'fails')])]).got).to.equal('round 2: esx2 fails (VFAB_DATASTORE_NOT_MOUNTED)');
    expect(evaluateRace(spec, [good[0]!, round([attempt('esx1', 'ok'), attempt('esx2', 'locked')], [attempt('esx1', 'fails', false)])]).got).to.equal('round 2: power-off on esx1 fails');
    expect(evaluateRace(spec, [good[0]!]).got).to.equal('1 of 2 rounds ran');
  });

  it('datastore events work with the event check: fields of the host log match as text', () => {
    const spec = check('event: { source: esx2, type: datastore-lock-broken, match: { vm: app1, file: app1/app1.vmx, newGeneration: 2 } }');
    const ev = (fields: Record<string, unknown>) => ({ timeline: [{ sceneMs: 100, source: 'esx2', type: 'datastore-lock-broken', fields }], streams: new Map(), rarps: [], capturedPoints: new Set<string>() });
    const fields = { host: 'esx2', datastore: 'ds1', vm: 'app1', file: 'app1/app1.vmx', entry: 2, slot: 0, newGeneration: 2 };
    expect(evaluateDeferred(spec, ev(fields), [0, 200]).passed).to.equal(true);
    expect(evaluateDeferred(spec, ev({ ...fields, file: 'app1/app1-flat.vmdk' }), [0, 200]).passed).to.equal(false);
    const none = check('event: { source: esx1, type: datastore-offline, max: 0 }');
    expect(evaluateDeferred(none, ev(fields), [0, 200]).passed).to.equal(true);
    const offline = { timeline: [{ sceneMs: 100, source: 'esx1', type: 'datastore-offline', fields: { datastore: 'ds1' } }], streams: new Map(), rarps: [], capturedPoints: new Set<string>() };
    expect(evaluateDeferred(none, offline, [0, 200]).passed).to.equal(false);
  });

  it('a timeline of many lines prints one decimal on every line (the index is not the precision)', () => {
    const lines = formatTimeline(Array.from({ length: 120 }, (_, i) => ({ sceneMs: i, source: 'esx1', type: 'x', fields: {} }))).trimEnd().split('\n');
    expect(lines).to.have.length(120);
    expect(lines[119]).to.match(/^\s+119\.0 ms {2}esx1/);
  });
});

describe('scenario runner: datastore steps and polled checks (fake driver, manual time)', () => {
  interface Fake {
    driver: ScenarioDriver;
    powers: Array<PowerRequest & { atMs: number }>;
    reads: number[];
    /** Most power requests under way at once. */
    maxInFlight: () => number;
  }

  /** A fake fabric: esx1 holds `f` until `releaseAtMs`, then esx2; power-on wins for the host in `winners` per round. */
  function fake(opts: { releaseAtMs?: number; winners?: string[]; outcome?: PowerAttempt['outcome']; stateAt?: (ms: number) => string; eventAtMs?: number } = {}): Fake {
    let now = 0;
    const powers: Fake['powers'] = [];
    const reads: number[] = [];
    let round = 0;
    let inRound = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const driver: ScenarioDriver = {
      nowMs: () => now,
      sleep: async (ms) => void (now += ms),
      act: async () => {
        now += 10;
        return undefined;
      },
      macTable: async () => [],
      ping: async () => ({ sent: 1, received: 1, detail: '' }),
      portUplink: async () => ({ port: '', uplink: null, egressUplinks: [] }),
      uplinkTxFrames: async () => ({}),
      counters: async () => ({}),
      vmPower: async (req) => {
        powers.push({ ...req, atMs: now });
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        if (!req.on) return attempt(req.host, 'ok', false);
        if (opts.winners) {
          const winner = opts.winners[round]!;
          if (++inRound === 2) {
            inRound = 0;
            round++;
          }
          return attempt(req.host, req.host === winner ? 'ok' : 'locked');
        }
        return attempt(req.host, opts.outcome ?? 'ok');
      },
      datastoreFiles: async () => {
        reads.push(now);
        return { via: 'esx2', files: [row('f', 'exclusive', [now >= (opts.releaseAtMs ?? Infinity) ? 'esx2' : 'esx1'])] };
      },
      datastoreState: async () => ({ state: opts.stateAt?.(now) ?? 'mounted' }),
      collect: async () => ({
        timeline: opts.eventAtMs === undefined ? [] : [{ sceneMs: opts.eventAtMs, source: 'esx1', type: 'datastore-online', fields: { datastore: 'ds1' } }],
        streams: new Map(), rarps: [], capturedPoints: new Set(),
      }),
    };
    return { driver, powers, reads, maxInFlight: () => maxInFlight };
  }

  it('polls a lock check until it holds, with the states seen as evidence', async () => {
    const f = fake({ releaseAtMs: 3000 });
    const r = await runScenario(parse('  - expect:\n      - lock: { datastore: ds1, file: f, owner: esx2, withinMs: 20000 }\n'), f.driver);
    expect(r.passed).to.equal(true);
    expect(pollIntervalMs(20_000)).to.equal(1000);
    expect(f.reads).to.deep.equal([0, 1000, 2000, 3000]);
    const res = r.results[0]!;
    expect(res.expected).to.equal('ds1 f locked by esx2 within 20000 ms');
    expect(res.evidence.slice(0, 3)).to.deep.equal(['polled 4 time(s) between 0.0 ms and 3000.0 ms; seen:', '  0.0 ms: exclusive by esx1', '  3000.0 ms: exclusive by esx2']);
    expect(res.windowMs).to.deep.equal([0, 3000]);
  });

  it('a polled check that never holds fails when its window ends, not later', async () => {
    const f = fake({ releaseAtMs: 30_000 });
    const r = await runScenario(parse('  - expect:\n      - lock: { datastore: ds1, file: f, owner: esx2, withinMs: 5000 }\n  - vmPowerOff: { vm: app1, host: esx1 }\n'), f.driver);
    expect(r.results[0]!.passed).to.equal(false);
    expect(f.reads.at(-1)).to.equal(5000);
    expect(formatFailure(r.results[0]!)).to.contain('expected ds1 f locked by esx2 within 5000 ms, got exclusive by esx1');
    expect(f.powers.map((p) => p.atMs), 'the run goes on').to.deep.equal([5000]);
  });

  it('without withinMs a check looks once', async () => {
    const f = fake({ stateAt: (ms) => (ms >= 1000 ? 'offline' : 'mounted') });
    const r = await runScenario(parse('  - expect:\n      - datastoreState: { host: esx1, datastore: ds1, state: offline }\n'), f.driver);
    expect(r.results[0]!.got).to.equal('mounted');
    const g = fake({ stateAt: (ms) => (ms >= 1000 ? 'offline' : 'mounted') });
    const polled = await runScenario(parse('  - expect:\n      - datastoreState: { host: esx1, datastore: ds1, state: offline, withinMs: 2000 }\n'), g.driver);
    expect(polled.results[0]!.passed).to.equal(true);
  });

  it('an event window without withinMs includes the wait of the polled checks in its block (not in a block without them)', async () => {
    const text = (within: string) => `  - label: stall
    wait: 1s
  - vmPowerOff: { vm: app1, host: esx1 }
  - expect:
      - datastoreState: { host: esx1, datastore: ds1, state: mounted${within} }
      - event: { source: esx1, type: datastore-online, after: stall }
`;
    const polled = await runScenario(parse(text(', withinMs: 8000')), fake({ stateAt: (ms) => (ms >= 4000 ? 'mounted' : 'offline'), eventAtMs: 3990 }).driver);
    expect(polled.results.map((x) => [x.id, x.passed])).to.deep.equal([['2.1', true], ['3.1', true], ['3.2', true]]);
    expect(polled.results[2]!.windowMs![1]).to.be.at.least(4000);
    const once = await runScenario(parse(text('')), fake({ stateAt: () => 'mounted', eventAtMs: 3990 }).driver);
    expect(once.results[2]!.passed, 'the event is after a block that did not wait').to.equal(false);
  });

  it('a power step with the wrong outcome fails its check and the run goes on; results follow step order', async () => {
    const f = fake({ outcome: 'ok' });
    const r = await runScenario(parse(`  - vmPowerOn: { vm: app1, host: esx2, maxWait: 2s, expect: locked }
  - vmPowerOff: { vm: app1, host: esx2 }
  - expect:
      - datastoreState: { host: esx1, datastore: ds1, state: mounted }
`), f.driver);
    expect(r.error).to.equal(undefined);
    expect(r.results.map((x) => [x.id, x.passed])).to.deep.equal([['1.1', false], ['2.1', true], ['3.1', true]]);
    expect(r.results[0]!.got).to.equal('ok');
    expect(f.powers.map(({ host, on, maxWaitMs }) => ({ host, on, maxWaitMs }))).to.deep.equal([{ host: 'esx2', on: true, maxWaitMs: 2000 }, { host: 'esx2', on: false, maxWaitMs: undefined }]);
    expect(r.steps[0]!.detail).to.equal('ok');
    expect(r.timeline.some((e) => e.type === 'check' && e.fields.id === '1.1' && e.fields.passed === false)).to.equal(true);
  });

  it('a race sends every host\'s power-on at the same moment and the winner powers off before the next round', async () => {
    const f = fake({ winners: ['esx2', 'esx1', 'esx2'] });
    const r = await runScenario(parse('  - vmPowerOnRace: { vm: app1, hosts: [esx1, esx2], datastore: ds1, rounds: 3 }\n'), f.driver);
    expect(r.passed).to.equal(true);
    expect(f.powers.map((p) => `${p.host} ${p.on ? 'on' : 'off'} ${p.datastore}`)).to.deep.equal([
      'esx1 on ds1', 'esx2 on ds1', 'esx2 off ds1', 'esx1 on ds1', 'esx2 on ds1', 'esx1 off ds1', 'esx1 on ds1', 'esx2 on ds1', 'esx2 off ds1',
    ]);
    expect(r.results[0]!.got).to.equal('one winner in each of 3 round(s) (wins: esx2 2, esx1 1)');
    expect(f.maxInFlight(), 'both power-ons under way together').to.equal(2);
  });
});
