// The web view's page in headless Chromium against a fixture server (test/e2e/helpers/ui-fixture.ts)
// that plays the `vfab ui` protocol (lib/ui/protocol.ts) with a snapshot of topologies/quickstart.yaml:
// the topology is drawn (hosts, vSwitches, port groups, vNICs, vmnics, switch ports, links; canvas
// painted), deltas are applied (a link down, a failover moving a vNIC's active uplink), events show in
// the timeline and filter, drops and MAC moves light their port up, actions POST what the server
// expects, and the MAC table filter asks the server with ?vlan=&mac=. The page against the real server
// and fabric: ui.test.ts. Skips without Chromium (fails in CI).

import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import type { UiHost, UiLink, UiSnapshot } from '../../../lib/ui/protocol.js';
import { clickNode, graphOf, launchChromium, openView, paintedPixels, requireChromium } from '../helpers/browser.js';
import { snapshotOfFile, startFixtureServer, type FixtureServer } from '../helpers/ui-fixture.js';
import { GRAPH_REDRAW_MS } from '../../../ui/src/model.js';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('e2e ui: the web view page (fixture server, quickstart snapshot)', function () {
  this.timeout(30_000);
  let browser: Browser;
  let fx: FixtureServer;
  let page: Page;
  let snap: UiSnapshot;

  before(async function () {
    requireChromium(this);
    snap = await snapshotOfFile('topologies/quickstart.yaml');
    fx = await startFixtureServer(snap);
    browser = await launchChromium();
    page = await openView(browser, fx.loginUrl);
  });
  after(async () => {
    await browser?.close();
    await fx?.close();
  });

  it('draws every host, switch, vmnic, switch port, vNIC and cable of the quickstart, and paints the canvas', async () => {
    const g = await graphOf(page);
    const ids = new Set(g.nodes.map((n) => n.id));
    for (const id of ['host:esx1', 'host:esx2', 'switch:sw1', 'switch:sw2', 'esx1.vmnic0', 'esx1.vmnic1', 'esx2.vmnic0', 'esx2.vmnic1', 'sw1.Gi1/0/1', 'sw2.Gi1/0/48', 'web1.nic0', 'app1.nic0', 'web2.nic0', 'db1.nic0', 'vswitch:esx1/vSwitch0', 'pg:esx1/vSwitch0/VM-10']) {
      expect(ids, id).to.include(id);
    }
    expect(g.links.map((l) => l.id).sort()).to.deep.equal(snap.links.map((l) => l.id).sort());
    expect(g.links.every((l) => l.state === 'up')).to.equal(true);
    // the inter-switch trunk shows its VLANs
    expect(g.links.find((l) => l.id === 'sw1.Gi1/0/48 -- sw2.Gi1/0/48')!.label).to.include('VLAN 10,20');
    // each vNIC has one active-uplink edge, to a vmnic of its own host
    expect(g.uses.map((u) => u.port).sort()).to.deep.equal(['app1.nic0', 'db1.nic0', 'web1.nic0', 'web2.nic0']);
    expect(await paintedPixels(page)).to.be.above(5000);
  });

  it('places hosts below switches, each vNIC inside its host, its port group and its vSwitch', async () => {
    const placed = await page.evaluate(() => {
      const cy = (globalThis as any).__vfab.cy;
      const y = (id: string) => cy.getElementById(id).position('y');
      const inside = (child: string, parent: string) => cy.getElementById(child).ancestors().map((a: any) => a.id()).includes(parent);
      return { swY: y('switch:sw1'), hostY: y('host:esx1'), web1InEsx1: inside('web1.nic0', 'pg:esx1/vSwitch0/VM-10') && inside('web1.nic0', 'host:esx1'), db1InEsx2: inside('db1.nic0', 'pg:esx2/vSwitch0/VM-20') };
    });
    expect(placed.swY).to.be.below(placed.hostY);
    expect(placed.web1InEsx1).to.equal(true);
    expect(placed.db1InEsx2).to.equal(true);
  });

  it('applies a delta: a cable down turns red-dashed (state down) and the vNIC moves to the other uplink', async () => {
    const link = clone(snap.links.find((l) => l.id === 'esx1.vmnic0 -- sw1.Gi1/0/1')!) as UiLink;
    link.state = 'down';
    link.a.carrier = false;
    link.b.carrier = false;
    const esx1 = clone(snap.hosts.find((h) => h.name === 'esx1')!) as UiHost;
    const before = esx1.vms.find((v) => v.name === 'web1')!.nics[0]!.activeUplink;
    expect(before).to.equal('vmnic0');
    esx1.vswitches[0]!.uplinks.find((u) => u.name === 'vmnic0')!.up = false;
    for (const vm of esx1.vms) for (const n of vm.nics) Object.assign(n, { activeUplink: 'vmnic1', uplinkReason: 'failover: vmnic0 down, next active vmnic1' });
    for (const p of esx1.vswitches[0]!.ports) Object.assign(p, { uplink: 'vmnic1', uplinkReason: 'failover: vmnic0 down, next active vmnic1' });
    fx.send({ type: 'delta', delta: { links: [link], hosts: [esx1], uplinkChanges: [{ nic: 'web1.nic0', host: 'esx1', from: 'vmnic0', to: 'vmnic1', reason: 'failover' }] } });
    await page.waitForFunction(() => (globalThis as any).__vfab.cy.getElementById('link:esx1.vmnic0 -- sw1.Gi1/0/1').data('state') === 'down', undefined, { timeout: 2000 });
    const g = await graphOf(page);
    expect(g.nodes.find((n) => n.id === 'esx1.vmnic0')!.classes).to.include('down');
    const web1 = g.uses.find((u) => u.port === 'web1.nic0')!;
    expect(web1.uplink).to.equal('vmnic1');
    expect(web1.reason).to.match(/failover/);
    const edgeStyle = await page.evaluate(() => (globalThis as any).__vfab.cy.getElementById('link:esx1.vmnic0 -- sw1.Gi1/0/1').style('line-style'));
    expect(edgeStyle).to.equal('dashed');
  });

  it('shows impaired and flapping links in their own styles', async () => {
    const a = clone(snap.links.find((l) => l.id === 'esx2.vmnic0 -- sw1.Gi1/0/2')!) as UiLink;
    const b = clone(snap.links.find((l) => l.id === 'esx2.vmnic1 -- sw2.Gi1/0/2')!) as UiLink;
    a.state = 'impaired';
    a.impairment = { lossPercent: 5 };
    b.state = 'flapping';
    fx.send({ type: 'delta', delta: { links: [a, b] } });
    await page.waitForFunction(() => (globalThis as any).__vfab.cy.getElementById('link:esx2.vmnic1 -- sw2.Gi1/0/2').data('state') === 'flapping', undefined, { timeout: 2000 });
    const styles = await page.evaluate(() => {
      const cy = (globalThis as any).__vfab.cy;
      const s = (id: string) => ({ color: cy.getElementById(id).style('line-color'), dash: cy.getElementById(id).style('line-style') });
      return { impaired: s('link:esx2.vmnic0 -- sw1.Gi1/0/2'), flapping: s('link:esx2.vmnic1 -- sw2.Gi1/0/2'), up: s('link:sw1.Gi1/0/48 -- sw2.Gi1/0/48') };
    });
    expect(styles.impaired.color).to.not.equal(styles.up.color);
    expect(styles.flapping.color).to.not.equal(styles.up.color);
    expect(styles.flapping.color).to.not.equal(styles.impaired.color);
    expect(styles.flapping.dash).to.equal('dotted');
  });

  it(`redraws the topology at most once per GRAPH_REDRAW_MS (${GRAPH_REDRAW_MS} ms) while deltas stream in, and draws the last one`, async () => {
    // 40 deltas 20 ms apart: a page that redrew for each frame would draw about 40 times in 0.8 s
    const link = clone(snap.links.find((l) => l.id === 'sw1.Gi1/0/48 -- sw2.Gi1/0/48')!) as UiLink;
    const t0 = await page.evaluate(() => ({ draws: (globalThis as any).__vfab.stats.graphDraws as number, at: performance.now() }));
    const n = 40;
    for (let i = 0; i < n; i++) {
      link.state = i === n - 1 ? 'down' : i % 2 === 0 ? 'impaired' : 'up';
      fx.send({ type: 'delta', delta: { links: [link] } });
      await new Promise((r) => setTimeout(r, 20));
    }
    await page.waitForFunction(() => (globalThis as any).__vfab.cy.getElementById('link:sw1.Gi1/0/48 -- sw2.Gi1/0/48').data('state') === 'down', undefined, { timeout: 3000 });
    const t1 = await page.evaluate(() => ({ draws: (globalThis as any).__vfab.stats.graphDraws as number, at: performance.now() }));
    const draws = t1.draws - t0.draws;
    expect(draws).to.be.at.least(1);
    expect(draws, `${draws} redraws in ${Math.round(t1.at - t0.at)} ms`).to.be.at.most(Math.floor((t1.at - t0.at) / GRAPH_REDRAW_MS) + 1);
    link.state = 'up';
    fx.send({ type: 'delta', delta: { links: [link] } });
    await page.waitForFunction(() => (globalThis as any).__vfab.cy.getElementById('link:sw1.Gi1/0/48 -- sw2.Gi1/0/48').data('state') === 'up', undefined, { timeout: 3000 });
  });

  it('lists events on the fabric clock, filters them, and lights up the port of a drop and of a MAC move', async () => {
    fx.sendEvents([
      { timeMs: 12329.117, source: 'esx1', seq: 1, type: 'carrier', uplink: 'vmnic0', up: false, reason: 'admin-down' },
      { timeMs: 12340.583, source: 'sw2', seq: 1, type: 'mac-move', vlan: 20, mac: '00:50:56:00:20:02', fromPort: 'Gi1/0/48', toPort: 'Gi1/0/1', moves: 1 },
      { timeMs: 12350.1, source: 'esx2', seq: 2, type: 'drop', port: 'web2.nic0', reason: 'forged_transmit', count: 1 },
    ]);
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#tl-rows .ev').length >= 3, undefined, { timeout: 2000 });
    const rows = await page.$$eval('#tl-rows .ev', (els) => els.map((e) => e.textContent ?? ''));
    expect(rows.some((r) => r.includes('12.329 s') && r.includes('carrier') && r.includes('uplink=vmnic0'))).to.equal(true);
    // the highlights come with the next redraw of the drawing (at most GRAPH_REDRAW_MS after the rows)
    await page.waitForFunction(() => (globalThis as any).__vfab.cy.getElementById('web2.nic0').hasClass('drops'), undefined, { timeout: 2000 });
    const lit = await page.evaluate(() => {
      const cy = (globalThis as any).__vfab.cy;
      return { move: cy.getElementById('sw2.Gi1/0/1').hasClass('macmove'), drop: cy.getElementById('web2.nic0').hasClass('drops'), other: cy.getElementById('sw1.Gi1/0/1').hasClass('macmove') };
    });
    expect(lit).to.deep.equal({ move: true, drop: true, other: false });
    await page.fill('#tl-text', 'mac=00:50:56:00:20:02');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#tl-rows .ev').length === 1, undefined, { timeout: 2000 });
    expect(await page.textContent('#tl-rows')).to.include('mac-move');
    await page.fill('#tl-text', '');
    await page.selectOption('#tl-type', 'drop');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#tl-rows .ev').length === 1, undefined, { timeout: 2000 });
    expect(await page.textContent('#tl-rows')).to.include('forged_transmit');
    await page.selectOption('#tl-type', '');
  });

  it('shows a scenario run (vfab run --ui): each finished step with its checks as pass/fail rows, and the verdict', async () => {
    const run = {
      name: 'failover-notify-off', state: 'running',
      steps: [
        { index: 1, atMs: 13000, startSceneMs: 0, endSceneMs: 410, text: 'ping app1 -> peer (3)', status: 'done', expectations: [] },
        { index: 2, atMs: 13410, startSceneMs: 410, endSceneMs: 415, text: 'expect (2)', status: 'failed', expectations: [
          { id: 'e1', text: 'app1 learned on Gi1/0/1', pass: true },
          { id: 'e2', text: 'no RARP for app1', pass: false, detail: 'expected 0 RARPs; got 2' },
        ] },
        { index: 3, atMs: 0, text: 'link esx1.vmnic0 down', status: 'pending', expectations: [] },
      ],
    };
    fx.send({ type: 'scenario', run });
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#tl-rows')?.textContent?.includes('no RARP for app1'), undefined, { timeout: 2000 });
    const rows = await page.$$eval('#tl-rows .ev', (els) => els.map((e) => e.textContent ?? '').filter((t) => t.includes('scenario')));
    expect(rows.some((r) => r.includes('step') && r.includes('ping app1'))).to.equal(true);
    expect(rows.some((r) => r.includes('pass') && r.includes('app1 learned on Gi1/0/1'))).to.equal(true);
    expect(rows.some((r) => r.includes('fail') && r.includes('no RARP for app1') && r.includes('expected 0 RARPs; got 2'))).to.equal(true);
    expect(rows.some((r) => r.includes('link esx1.vmnic0 down')), 'a pending step has no row').to.equal(false);
    expect(await page.textContent('#scenario')).to.equal('scenario failover-notify-off: running');
    fx.send({ type: 'scenario', run: { ...run, state: 'failed' } });
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#scenario')?.textContent === 'scenario failover-notify-off: failed', undefined, { timeout: 2000 });
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#tl-rows')?.textContent?.includes('result=failed'), undefined, { timeout: 2000 });
  });

  it('a click on a switch port shows the switch and its link actions; link down POSTs /api/link as `vfab link down` would', async () => {
    await clickNode(page, 'sw1.Gi1/0/2');
    await page.waitForSelector('#details [data-endpoint="sw1.Gi1/0/2"] [data-action="link-down"]');
    await page.click('#details [data-endpoint="sw1.Gi1/0/2"] [data-action="link-down"]');
    await page.waitForFunction(() => ((globalThis as any).document.querySelector('#details .msg')?.textContent ?? '').includes('fixture'), undefined, { timeout: 2000 });
    expect(fx.posts.at(-1)).to.deep.equal({ path: '/api/link', body: { endpoint: 'sw1.Gi1/0/2', up: false } });
  });

  it('the MAC table filter asks the server for one VLAN and MAC prefix', async () => {
    await page.fill('#mac-vlan', '20');
    await page.fill('#mac-mac', '00:50:56:00:20');
    const asked = fx.nodeRequests.length;
    await page.click('#details .filters button');
    const deadline = Date.now() + 5000;
    while (fx.nodeRequests.length === asked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // exactly one request, with both filters (typing alone asks nothing)
    expect(fx.nodeRequests.slice(asked)).to.have.length(1);
    const req = fx.nodeRequests[asked]!;
    expect(req).to.match(/^\/api\/node\/sw1\?/);
    const q = new URLSearchParams(req.split('?')[1]);
    expect(q.get('vlan')).to.equal('20');
    expect(q.get('mac')).to.equal('00:50:56:00:20');
  });

  it('a click on a VM shows its vNICs with uplink and reason, and power off POSTs /api/vm/power', async () => {
    await clickNode(page, 'db1.nic0');
    await page.waitForSelector('#details [data-vm="db1"] [data-action="power-off"]');
    expect(await page.textContent('#details')).to.include('198.51.100.11');
    await page.click('#details [data-vm="db1"] [data-action="power-off"]');
    const deadline = Date.now() + 2000;
    while (!fx.posts.some((p) => p.path === '/api/vm/power') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fx.posts.find((p) => p.path === '/api/vm/power')!.body).to.deep.equal({ vm: 'db1', on: false });
  });
});
