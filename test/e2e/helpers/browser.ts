// Headless Chromium for the web view's tests and the ui bench: Debian's `chromium` driven by
// playwright-core (no browser download). Covers finding the browser (VFAB_CHROMIUM, /usr/bin/chromium,
// or `chromium` on PATH), the skip-or-fail gate (skips with an install hint on a newcomer's machine,
// fails under CI=true: pattern of test/helpers/peer-tools.ts), launching with a bounded start, logging in
// through the one-time URL, and reading the page's drawing (window.__vfab: cytoscape, figures; the
// canvas's painted pixels). Leaves out what a test asserts.

import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_INSTALL_HINT = 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium';
/** Bound on starting the browser (ms); a busy 2-core machine takes about 1 s. */
export const BROWSER_LAUNCH_TIMEOUT_MS = 30_000;

/** The Chromium executable, or null when there is none. */
export function chromiumPath(): string | null {
  const env = process.env.VFAB_CHROMIUM;
  if (env) return fs.existsSync(env) ? env : null;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (fs.existsSync(p)) return p;
  const probe = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() || null : null;
}

/** Why there is no browser here (with how to install it), or null when there is one. */
export function chromiumMissing(): string | null {
  return chromiumPath() ? null : `chromium is not installed (or set VFAB_CHROMIUM); install it with: ${CHROMIUM_INSTALL_HINT}`;
}

/** Skips (or, in CI, fails) the current test or hook when there is no Chromium. */
export function requireChromium(ctx: Mocha.Context): void {
  const missing = chromiumMissing();
  if (!missing) return;
  if (process.env.CI === 'true') throw new Error(missing);
  console.warn(`      (skipped: ${missing})`);
  ctx.skip();
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(chromiumMissing()!);
  // --no-sandbox: the tests run as root in CI, where Chromium's sandbox refuses to start
  return chromium.launch({ executablePath, headless: true, timeout: BROWSER_LAUNCH_TIMEOUT_MS, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** A page logged in through `loginUrl` (the one-time code sets the cookie), with the topology drawn. */
export async function openView(browser: Browser, loginUrl: string, opts: { width?: number; height?: number } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 }, acceptDownloads: true });
  // tsx compiles the tests with esbuild's keepNames: a named inner function of a page.evaluate callback
  // calls a `__name` helper that exists in Node, not in the page; this gives the page one
  await context.addInitScript('globalThis.__name = (f) => f;');
  const page = await context.newPage();
  const res = await page.goto(loginUrl);
  if (!res || !res.ok()) throw new Error(`login at ${loginUrl} answered ${res?.status()}`);
  await waitForDraw(page);
  return page;
}

/** Waits until the page has drawn a snapshot (first full draw). */
export async function waitForDraw(page: Page, timeoutMs = 15_000): Promise<void> {
  await page.waitForFunction(() => (globalThis as any).__vfab?.stats?.firstDrawAt != null && (globalThis as any).__vfab.cy.nodes().length > 0, undefined, { timeout: timeoutMs });
}

/** The graph as the page holds it: node ids with kind and classes, link edges with state. */
export async function graphOf(page: Page): Promise<{ nodes: Array<{ id: string; kind: string; classes: string[] }>; links: Array<{ id: string; source: string; target: string; state: string; label: string }>; uses: Array<{ port: string; uplink: string; reason: string }> }> {
  return page.evaluate(() => {
    const cy = (globalThis as any).__vfab.cy;
    return {
      nodes: cy.nodes().map((n: any) => ({ id: n.id(), kind: n.data('kind'), classes: n.classes() })),
      links: cy.edges('.link').map((e: any) => ({ id: e.data('name'), source: e.data('source'), target: e.data('target'), state: e.data('state'), label: e.data('label') })),
      uses: cy.edges('.uses').map((e: any) => ({ port: e.data('port'), uplink: e.data('uplink'), reason: e.data('reason') })),
    };
  });
}

/** Painted (non-transparent) pixels over every canvas of the topology view. */
export async function paintedPixels(page: Page): Promise<number> {
  return page.evaluate(() => {
    let n = 0;
    // runs in the page: the DOM types are not in the tests' tsconfig, hence `any`
    for (const c of Array.from((globalThis as any).document.querySelectorAll('#graph canvas')) as any[]) {
      const ctx = c.getContext('2d');
      if (!ctx || c.width === 0 || c.height === 0) continue;
      const data = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    }
    return n;
  });
}

/** Clicks node `id` where the page draws it (a real mouse click on the canvas). */
export async function clickNode(page: Page, id: string): Promise<void> {
  const p = await page.evaluate((nodeId) => {
    const cy = (globalThis as any).__vfab.cy;
    const n = cy.getElementById(nodeId);
    if (n.empty()) return null;
    // bring the node into view at a readable zoom first
    cy.zoom(1);
    cy.center(n);
    const rp = n.renderedPosition();
    const box = cy.container().getBoundingClientRect();
    return { x: box.left + rp.x, y: box.top + rp.y };
  }, id);
  if (!p) throw new Error(`no node ${id} on the page`);
  await page.mouse.click(p.x, p.y);
}
