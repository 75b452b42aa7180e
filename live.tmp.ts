import { startFabric, waitFor } from './test/e2e/helpers/fabric.js';
import { killDaemon } from './daemons/fabric/faults.js';
const fab = await startFabric('topologies/e2e/ha-cluster.yaml', { timeScale: 8, keepStateDir: true });
console.log('state', fab.stateDir);
try {
  await waitFor(async () => (await fab.call('esx1', 'GET', '/control/datastores')).datastores[0].state === 'unformatted', 'blank', 20000);
  await fab.call('esx1', 'POST', '/control/datastores/ds1/format', {});
  for (const h of ['esx2', 'esx3']) await fab.call(h, 'POST', '/control/datastores/ds1/mount', {});
  await waitFor(async () => {
    for (const h of ['esx1', 'esx2', 'esx3']) if ((await fab.call(h, 'GET', '/control/ha')).heartbeatDatastores.held.length !== 1) return false;
    return (await fab.call('esx1', 'GET', '/control/ha')).localVms.includes('app1');
  }, 'held', 20000);
  const s = await fab.call('esx2', 'GET', '/control/ha');
  console.log('primary', s.primary);
  const victim = 'esx1';
  const k = await killDaemon(fab.state, victim);
  const t0 = (await fab.call('esx2', 'GET', '/control/status')).clockMs;
  console.log('killed', k, 'at', t0);
  await waitFor(async () => {
    for (const h of ['esx2', 'esx3']) if ((await fab.call(h, 'GET', '/control/ha')).localVms.includes('app1')) return true;
    return false;
  }, 'restart', 30000, 200);
  for (const h of ['esx2', 'esx3']) {
    const ev = (await fab.call(h, 'GET', '/control/events?since=0')).events.filter((e: any) => e.type.startsWith('ha-') || e.type.startsWith('vm-') || e.type.includes('lock-broken'));
    for (const e of ev) console.log(h, JSON.stringify(e));
  }
} catch (e) { console.log('ERR', e); }
finally { await fab.down(); }
