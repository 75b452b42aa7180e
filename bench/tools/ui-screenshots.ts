// Redraws the README's screenshots of the web view (docs/ui.md): brings the quickstart fabric up in a
// temporary state dir, runs `vfab ui`, opens the page in headless Chromium (1400x900) and writes
//   docs/img/ui-quickstart.png  the quickstart as it starts, after a few pings (events in the timeline);
//   docs/img/ui-failover.png    during `vfab link down esx1.vmnic0` with pings running: the pulled cable
//                               red and dashed, esx1's VMs on vmnic1, app1's details with the reason,
//                               carrier/failover/MAC-move events in the timeline.
// Then stops everything it started (by PID). Run: npm run build && npx tsx bench/tools/ui-screenshots.ts
// [OUT_DIR]. Needs chromium. Leaves out checking what is drawn (test/e2e/ui/ does).

import fs from 'node:fs';
import path from 'node:path';
import { clickNode, launchChromium, openView } from '../../test/e2e/helpers/browser.js';
import { REPO_ROOT, runCli, startFabric } from '../../test/e2e/helpers/fabric.js';
import { startUi } from '../../test/e2e/helpers/ui-server.js';

const out = path.resolve(process.argv[2] ?? path.join(REPO_ROOT, 'docs', 'img'));
fs.mkdirSync(out, { recursive: true });
const fab = await startFabric('topologies/quickstart.yaml');
const ui = await startUi(fab.stateDir).catch(async (e) => {
  await fab.down();
  throw e;
});
const browser = await launchChromium();
const cli = (args: string[]) => runCli(args, { stateDir: fab.stateDir });
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  const page = await openView(browser, ui.url, { width: 1400, height: 900 });
  await cli(['ping', 'web1', '192.0.2.12', '--count', '2']);
  await cli(['ping', 'app1', '198.51.100.11', '--count', '2']);
  await settle(1500);
  await page.screenshot({ path: path.join(out, 'ui-quickstart.png') });
  process.stdout.write(`wrote ${path.join(out, 'ui-quickstart.png')}\n`);

  const pings = cli(['ping', 'app1', '198.51.100.11', '--count', '20', '--interval-ms', '100']);
  await settle(500);
  await cli(['link', 'down', 'esx1.vmnic0']);
  await page.waitForFunction(() => (globalThis as any).__vfab.cy.getElementById('link:esx1.vmnic0 -- sw1.Gi1/0/1').data('state') === 'down', undefined, { timeout: 5000 });
  await clickNode(page, 'app1.nic0');
  await page.waitForSelector('#details [data-vm="app1"]');
  // back to the whole picture, details still open
  const at = await page.evaluate(() => {
    const cy = (globalThis as any).__vfab.cy;
    cy.fit(undefined, 30);
    const p = cy.getElementById('app1.nic0').renderedPosition();
    const box = cy.container().getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  });
  // hover app1: its tooltip says which uplink it uses now and why
  await page.mouse.move(at.x + 30, at.y + 30);
  await page.mouse.move(at.x, at.y);
  await settle(1200);
  await page.screenshot({ path: path.join(out, 'ui-failover.png') });
  process.stdout.write(`wrote ${path.join(out, 'ui-failover.png')}\n`);
  await pings;
  await cli(['link', 'up', 'esx1.vmnic0']);
} finally {
  await browser.close();
  await ui.stop();
  await fab.down();
}
