// daemons/ui/feed.ts: how often vfab ui reads the daemons, so that a big fabric is not flooded.
import { expect } from 'chai';
import { UI_EVENT_POLL_MS, UI_EVENT_READS_PER_S, pollIntervalMs } from '../../daemons/ui/feed.js';

describe('daemons/ui/feed: pollIntervalMs', () => {
  it('keeps the shortest interval for a small fabric and stretches it to stay under the reads-per-second bound', () => {
    expect(pollIntervalMs(UI_EVENT_POLL_MS, 5, UI_EVENT_READS_PER_S)).to.equal(UI_EVENT_POLL_MS);
    expect(pollIntervalMs(UI_EVENT_POLL_MS, 65, UI_EVENT_READS_PER_S)).to.equal(325);
    for (const n of [1, 30, 65, 400]) {
      const ms = pollIntervalMs(UI_EVENT_POLL_MS, n, UI_EVENT_READS_PER_S);
      expect((n * 1000) / ms, `${n} daemons`).to.be.at.most(UI_EVENT_READS_PER_S);
    }
  });
});
