// Checks of topologies/quickstart.yaml that hold whichever way the fabric runs (daemons, or simulated in
// one process by vfab up --sim), run through the CLI: shared by test/e2e/fabric/cli.test.ts and
// sim-up.test.ts so both modes are held to the same expectations.

import { expect } from 'chai';
import type { CliResult } from './fabric.js';

/** §2.3: vfab ping answers within VLAN 10 (web1 -> web2) and VLAN 20 (app1 -> db1), across both hosts and switches. */
export async function expectQuickstartPings(cli: (args: string[]) => Promise<CliResult>): Promise<void> {
  const web = await cli(['ping', 'web1', '192.0.2.12', '--count', '3', '--interval-ms', '50']);
  expect(web.code, web.stderr).to.equal(0);
  expect(web.out).to.match(/3 packets transmitted, 3 received, 0% packet loss/);
  const app = await cli(['ping', 'app1', '198.51.100.11', '--count', '2', '--interval-ms', '50', '--json']);
  expect(app.code, app.stderr).to.equal(0);
  expect(JSON.parse(app.out)).to.include({ vm: 'app1', sent: 2, received: 2 });
}
