// End-to-end: a host whose paths to the array are iSCSI sessions (topologies/e2e/iscsi-paths.yaml: esx1,
// 2 paths with policy fixed, `protocol: iscsi`; the portal asks for mutual CHAP and lists esx1 in its ACL),
// real stored and hostd processes from dist. Checks: both paths log in (the array lists two sessions of
// iqn.2026-11.vfab:esx1 with distinct ISIDs, in GET /control/status, `vfab lun list --json` and
// `vfab status`); VM disk bytes written and read back; the path in use (fixed: path 0) failed with
// `vfab disk path` during a workload (its in-flight commands retried on path 1, no error reaches the VM,
// the array drops to one session, back to two on restore); all paths down with `vfab fault storage-paths`
// (I/O fails after the shortened APD timeout, then works again once the paths are restored); a restarted
// array (its portal comes back on the same port, the paths log in again); and a VMFS-like datastore
// formatted and a VM powered on over iSCSI (ATS locks). About 15 s.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { type TestFabric, FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, startFabric, trackPids, waitFor } from '../helpers/fabric.js';
import { control } from '../../../daemons/common/control-client.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { restartDaemon } from '../../../daemons/fabric/faults.js';

const APD_TIMEOUT_MS = 1500;
const INITIATOR = 'iqn.2026-11.vfab:esx1';

const cli = cliInProcess;

describe('e2e storage: host paths over iSCSI (multipathing, path failure, APD, datastore)', function () {
  this.timeout(60_000);
  let fab: TestFabric;
  const saved = { stateDir: process.env.VFAB_STATE_DIR, apd: process.env.VFAB_APD_TIMEOUT_MS };
  const arrayStatus = () => control<any>(fab.daemon('array1'), fab.state.token, 'GET', '/control/status');
  const hostStorage = () => control<any>(fab.daemon('esx1'), fab.state.token, 'GET', '/control/storage');
  const sessionCount = async () => (await arrayStatus()).iscsi.sessions.length;

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    process.env.VFAB_APD_TIMEOUT_MS = String(APD_TIMEOUT_MS); // inherited by the host daemon
    fab = await startFabric('topologies/e2e/iscsi-paths.yaml');
    process.env.VFAB_STATE_DIR = fab.stateDir;
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
    for (const [k, v] of [['VFAB_STATE_DIR', saved.stateDir], ['VFAB_APD_TIMEOUT_MS', saved.apd]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('the host attached over 2 iSCSI paths; the array lists both sessions with the host\'s initiator name', async () => {
    const s = await hostStorage();
    const a = s.arrays[0];
    expect(a).to.include({ array: 'array1', state: 'attached', protocol: 'iscsi', target: 'iqn.2026-11.vfab:array1' });
    expect(a.paths.map((p: any) => [p.protocol, p.state, p.connected])).to.deep.equal([['iscsi', 'active', true], ['iscsi', 'standby', true]]);
    expect(a.luns.map((l: any) => [l.name, l.lun])).to.deep.equal([['raw1', 0], ['shared1', 1]]);
    const st = await arrayStatus();
    expect(st.sessions, 'no block-protocol session').to.deep.equal([]);
    const sessions = st.iscsi.sessions;
    expect(sessions.map((x: any) => [x.initiatorName, x.sessionType, x.target, x.headerDigest, x.dataDigest])).to.deep.equal([
      [INITIATOR, 'Normal', 'iqn.2026-11.vfab:array1', 'None', 'None'],
      [INITIATOR, 'Normal', 'iqn.2026-11.vfab:array1', 'None', 'None'],
    ]);
    expect(new Set(sessions.map((x: any) => x.isid)).size, 'one ISID per path').to.equal(2);
    expect(st.iscsi.access).to.deep.equal({ initiators: [INITIATOR], chap: 'mutual' }, 'the host got in through the ACL and mutual CHAP');
    expect(new Set(sessions.map((x: any) => x.tsih)).size).to.equal(2);
    for (const x of sessions) {
      expect(x.remote).to.match(/^127\.0\.0\.1:\d+$/);
      expect(x.loginAtMs).to.be.a('number').and.to.be.at.least(0);
    }
    const list = await cli('lun', ['list', '--json']);
    expect(list.json.iscsi).to.include({ address: '127.0.0.1', iqn: 'iqn.2026-11.vfab:array1' });
    expect(list.json.iscsi.sessions.map((x: any) => x.initiatorName)).to.deep.equal([INITIATOR, INITIATOR]);
    const text = (await cli('lun', ['list'])).text;
    expect(text).to.match(/^iSCSI portal: 127\.0\.0\.1:\d+ {2}target iqn\.2026-11\.vfab:array1/m);
    expect(text.match(new RegExp(`^  ${INITIATOR.replace(/\./g, '\\.')}\\s+0x[0-9a-f]{12}\\s`, 'gm'))).to.have.length(2);
    const json = (await cli('status', ['--json'])).json;
    expect(json.daemons.find((d: any) => d.name === 'array1').iscsi.sessions.map((x: any) => x.initiatorName)).to.deep.equal([INITIATOR, INITIATOR]);
    expect(json.daemons.find((d: any) => d.name === 'esx1').storage.arrays[0].paths.map((p: any) => p.protocol)).to.deep.equal(['iscsi', 'iscsi']);
    const status = (await cli('status', [])).text;
    expect(status).to.match(/iSCSI sessions:/);
    expect(status).to.match(/storage: array array1 \(attached, path policy fixed, iSCSI to iqn\.2026-11\.vfab:array1\)/);
    expect(status.match(/^\s+vmhba65:C0:T0:P\d\s+iscsi\s+(active|standby)\s/gm)).to.have.length(2);
    const disk = (await cli('disk', ['status', 'esx1'])).text;
    expect(disk).to.match(/array array1: attached, policy fixed, iSCSI to iqn\.2026-11\.vfab:array1,/);
    expect(disk.match(/^\s+\d\s+vmhba65:C0:T0:P\d\s+iscsi\s/gm)).to.have.length(2);
  });

  it('VM disk bytes written through esx1 read back the same (writes larger than one PDU)', async () => {
    const file = path.join(fab.stateDir, 'payload.bin');
    const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 13 + (i >> 8)) & 0xff));
    fs.writeFileSync(file, payload);
    const w = await cli('disk', ['write', 'vm1', 'disk0', '4096', file, '--json']);
    expect(w.error?.message).to.equal(undefined);
    expect(w.json).to.include({ host: 'esx1', bytes: payload.length });
    const out = path.join(fab.stateDir, 'back.bin');
    const r = await cli('disk', ['read', 'vm1', 'disk0', '4096', String(payload.length), '--out', out, '--json']);
    expect(r.error?.message).to.equal(undefined);
    expect(fs.readFileSync(out).equals(payload)).to.equal(true);
  });

  it('a path failed during a workload: I/O goes on over the other iSCSI path, no error reaches the VM; restored, it logs in again', async () => {
    const load = cli('disk', ['load', 'vm1', '--pattern', 'random', '--block', '4k', '--depth', '16', '--seconds', '3', '--read-percent', '70', '--json']);
    await new Promise((r) => setTimeout(r, 1000));
    // policy fixed: path 0 (preferred) carries every command, so its in-flight ones must move to path 1
    const busy = 0;
    expect((await hostStorage()).arrays[0].paths.map((p: any) => p.io)).to.deep.equal([true, false]);
    const failed = await cli('disk', ['path', 'esx1', 'array1', String(busy), 'down', '--json']);
    expect(failed.json.paths[busy].state).to.equal('dead');
    const r = await load;
    expect(r.error?.message).to.equal(undefined);
    expect(r.json.errors).to.equal(0);
    expect(r.json.ios).to.be.greaterThan(0);
    await waitFor(async () => (await sessionCount()) === 1, 'the array sees one session left', 5_000);
    expect((await hostStorage()).arrays[0].retriedCommands, 'in-flight commands moved to the other path').to.be.greaterThan(0);
    await cli('disk', ['path', 'esx1', 'array1', String(busy), 'up']);
    await waitFor(async () => (await sessionCount()) === 2, 'the restored path logs in again', 5_000);
    const paths = (await hostStorage()).arrays[0].paths;
    expect(paths.map((p: any) => [p.connected, p.adminDown, p.state === 'dead'])).to.deep.equal([[true, false, false], [true, false, false]]);
  });

  it('all paths down (vfab fault storage-paths): I/O fails after the APD timeout; restored, I/O works again', async () => {
    const before = (await cli('disk', ['read', 'vm1', 'disk0', '4096', '512', '--json'])).json.dataBase64;
    const down = await cli('fault', ['storage-paths', 'esx1', 'array1', 'down', '--json']);
    expect(down.code, down.error?.message).to.equal(0);
    await waitFor(async () => (await sessionCount()) === 0, 'no session left at the array', 5_000);
    const t0 = Date.now();
    const e = await cli('disk', ['read', 'vm1', 'disk0', '0', '512']);
    expect(e.error?.code).to.equal('VFAB_MULTIPATH_APD_TIMEOUT');
    expect(Date.now() - t0).to.be.at.least(APD_TIMEOUT_MS - 100);
    expect((await hostStorage()).arrays[0].allPathsDownSinceMs).to.not.equal(null);
    const up = await cli('fault', ['storage-paths', 'esx1', 'array1', 'up', '--json']);
    expect(up.code, up.error?.message).to.equal(0);
    const r = await cli('disk', ['read', 'vm1', 'disk0', '4096', '512', '--json']);
    expect(r.error?.message).to.equal(undefined);
    expect(r.json.dataBase64).to.equal(before);
    expect(await sessionCount()).to.equal(2);
  });

  it('a restarted array serves its portal on the same port; the host\'s iSCSI paths log in again', async () => {
    const before = (await arrayStatus()).iscsi.port;
    const res = await restartDaemon(fab.state, 'array1', { stateDir: fab.stateDir, detached: false });
    trackPids([res.pid]); // stopped by PID after the run even if a check below fails
    expect(res.storage).to.include('esx1');
    const st = await arrayStatus();
    expect(st.iscsi.port).to.equal(before);
    expect(st.iscsi.sessions.map((x: any) => x.initiatorName)).to.deep.equal([INITIATOR, INITIATOR]);
  });

  it('a VMFS-like datastore formatted and a VM powered on over iSCSI paths (ATS locks)', async () => {
    await waitFor(async () => (await control<any>(fab.daemon('esx1'), fab.state.token, 'GET', '/control/datastores')).datastores[0].state === 'unformatted', 'esx1 sees the blank LUN', 15_000);
    const f = await cli('datastore', ['format', 'ds1', '--json']);
    expect(f.error?.message).to.equal(undefined);
    expect(f.json.mounted.map((m: any) => [m.host, m.state])).to.deep.equal([['esx1', 'mounted']]);
    const on = await cli('vm', ['power-on', 'vmx', '--host', 'esx1', '--json']);
    expect(on.error?.message).to.equal(undefined);
    expect(on.code).to.equal(0);
    const locks = await cli('datastore', ['locks', 'ds1', '--json']);
    const vmx = locks.json.files.find((x: any) => x.path === 'vmx/vmx.vmx');
    expect(vmx.lock.mode).to.equal('exclusive');
    expect(vmx.lock.holders.map((h: any) => h.owner)).to.deep.equal(['esx1']);
    // every command went over iSCSI: the array's block server never had a session
    const st = await arrayStatus();
    expect(st.sessions).to.deep.equal([]);
    expect(st.iscsi.commands).to.be.greaterThan(0);
  });
});
