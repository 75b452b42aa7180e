// waitForDatastoresSettled (daemons/scenario/driver.ts): a run's scene starts only once no host's
// datastore is still `waiting` or `mounting` (the NAS power-on of nas-host-crash.yaml failed in CI when
// the scene started while nas1 was mounting). Against a small HTTP server standing in for a host's
// GET /control/datastores.

import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitForDatastoresSettled } from '../../daemons/scenario/driver.js';
import type { FabricState } from '../../daemons/fabric/state.js';

async function fakeHost(states: string[]): Promise<{ server: http.Server; port: number; calls: () => number }> {
  let calls = 0;
  const server = http.createServer((req, res) => {
    const state = states[Math.min(calls, states.length - 1)];
    calls += 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/control/datastores' ? { datastores: [{ name: 'nas1', state }] } : {}));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, calls: () => calls };
}

function stateWith(ports: number[]): FabricState {
  return { token: 't', daemons: ports.map((port, i) => ({ name: `esx${i + 1}`, kind: 'host', pid: 0, port, logFile: '' })) } as unknown as FabricState;
}

describe('waitForDatastoresSettled', () => {
  it('returns only after every host\'s datastores have left waiting and mounting', async () => {
    const a = await fakeHost(['waiting', 'mounting', 'mounting', 'mounted']);
    const b = await fakeHost(['unformatted']);
    try {
      await waitForDatastoresSettled(stateWith([a.port, b.port]));
      expect(a.calls(), 'polled until mounted').to.equal(4);
      expect(b.calls(), 'a settled host is asked once').to.equal(1);
    } finally {
      a.server.close();
      b.server.close();
    }
  });

  it('skips a host that does not answer, and ignores daemons that are not hosts', async () => {
    const a = await fakeHost(['mounted']);
    try {
      const state = stateWith([a.port, 1]);
      (state.daemons as Array<{ kind: string }>).push({ name: 'sw1', kind: 'switch', pid: 0, port: 1, logFile: '' } as never);
      await waitForDatastoresSettled(state);
      expect(a.calls()).to.equal(1);
    } finally {
      a.server.close();
    }
  });
});
