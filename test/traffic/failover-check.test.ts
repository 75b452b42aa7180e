// The quickstart's failover verdicts (lib/traffic/failover-check.ts): the loss and gap bound, the sender
// reaching its rate, the port ending on the standby, and the notify reasons (startup, then failover).

import { expect } from 'chai';
import { FAILOVER_MAX_GAP_MS, FAILOVER_MAX_LOSS_PERCENT, judgeFailover, judgeNotifyReasons, type FailoverMeasurement } from '../../lib/traffic/failover-check.js';

const GOOD: FailoverMeasurement = { ratePps: 2000, seconds: 3, sent: 5999, received: 5995, maxGapMs: 12.4, uplinkAfter: 'vmnic1', standby: 'vmnic1' };

describe('quickstart failover verdict', () => {
  it('passes inside the bound and says the bound in the expected column', () => {
    const v = judgeFailover(GOOD);
    expect(v).to.include({ ok: true, lost: 4 });
    expect(v.expected).to.equal(`on vmnic1, <= ${FAILOVER_MAX_LOSS_PERCENT} % lost, gap < ${FAILOVER_MAX_GAP_MS} ms`);
    expect(v.got).to.equal('5995/5999 frames delivered, 4 lost (0.07 %), longest gap 12.4 ms, now on vmnic1');
  });

  it('counts lost frames as sent minus delivered (frames lost after the last arrival count too)', () => {
    const v = judgeFailover({ ...GOOD, received: 5900 });
    expect(v.lost).to.equal(99);
    expect(v.lossPercent).to.be.closeTo(1.65, 0.01);
  });

  it('fails at 123 of 6000 lost (2 %), passes at exactly 1 %', () => {
    const over = judgeFailover({ ...GOOD, sent: 6000, received: 6000 - 123 });
    expect(over.ok).to.equal(false);
    expect(over.got).to.match(/123 lost \(2\.1 %\).*\(over 1 % lost\)$/);
    expect(judgeFailover({ ...GOOD, sent: 6000, received: 6000 - 60 }).ok).to.equal(true);
    expect(judgeFailover({ ...GOOD, sent: 6000, received: 6000 - 61 }).ok).to.equal(false);
  });

  it('fails when the longest gap at the receiver reaches 100 ms', () => {
    expect(judgeFailover({ ...GOOD, maxGapMs: 99.9 }).ok).to.equal(true);
    const v = judgeFailover({ ...GOOD, maxGapMs: 100 });
    expect(v.ok).to.equal(false);
    expect(v.got).to.match(/\(gap not under 100 ms\)$/);
    expect(judgeFailover({ ...GOOD, maxGapMs: 113.3, maxGapStartMsAfterPull: 1629.9 }).got).to.match(/\(gap not under 100 ms, from 1630 ms after the pull\)$/);
    expect(judgeFailover({ ...GOOD, maxGapMs: 120, maxGapStartMsAfterPull: -40.2 }).got).to.match(/from 40 ms before the pull\)$/);
  });

  it('fails when the port is not on the standby afterwards, or nothing arrived', () => {
    expect(judgeFailover({ ...GOOD, uplinkAfter: 'vmnic0' }).got).to.match(/now on vmnic0 \(not on vmnic1\)$/);
    const none = judgeFailover({ ...GOOD, received: 0, maxGapMs: 0, uplinkAfter: null });
    expect(none.ok).to.equal(false);
    expect(none.got).to.match(/0\/5999 frames delivered, 5999 lost \(100\.0 %\).*now on no uplink \(nothing arrived; not on vmnic1\)$/);
  });

  it('fails when the sender did not reach the rate it claims (the run measured something else)', () => {
    const v = judgeFailover({ ...GOOD, sent: 3000, received: 3000 });
    expect(v.ok).to.equal(false);
    expect(v.got).to.match(/the sender reached only 1000 of 2000 frames\/s/);
  });
});

describe('quickstart notify reasons', () => {
  const n = (uplink: string, reason: string, port = 'web1.nic0') => ({ port, uplink, reason });

  it('startup bursts, then one failover burst on the standby: ok', () => {
    const r = judgeNotifyReasons([n('vmnic0', 'startup'), n('vmnic0', 'startup', 'app1.nic0'), n('vmnic1', 'startup'), n('vmnic0', 'failover')], 'web1.nic0', 'vmnic0');
    expect(r).to.deep.equal({ expected: 'startup, then failover on vmnic0', got: 'startup on vmnic0+vmnic1, failover on vmnic0', ok: true });
  });

  it('a start-up burst labelled failback fails', () => {
    const r = judgeNotifyReasons([n('vmnic0', 'startup'), n('vmnic1', 'failback'), n('vmnic0', 'failover')], 'web1.nic0', 'vmnic0');
    expect(r.ok).to.equal(false);
    expect(r.got).to.equal('startup on vmnic0, failback on vmnic1, failover on vmnic0');
  });

  it('no failover burst, one on the wrong uplink, or none at start-up fails', () => {
    expect(judgeNotifyReasons([n('vmnic0', 'startup')], 'web1.nic0', 'vmnic1').ok).to.equal(false);
    expect(judgeNotifyReasons([n('vmnic1', 'startup'), n('vmnic1', 'failover')], 'web1.nic0', 'vmnic0').ok).to.equal(false);
    expect(judgeNotifyReasons([n('vmnic0', 'failover')], 'web1.nic0', 'vmnic0').ok).to.equal(false);
    expect(judgeNotifyReasons([], 'web1.nic0', 'vmnic0')).to.include({ ok: false, got: 'no RARPs' });
  });
});
