// The page's actions, each a POST to the `vfab ui` server (lib/ui/protocol.ts), which applies the same
// rules and logs the same events as the CLI: link down/up (`vfab link`), impair and clear (`vfab fault
// impair|clear`), VM power, and a capture started and stopped here that downloads as pcapng. Each shows
// the server's reply (the line the CLI would print) or its error (code and message). Leaves out what
// the server does (daemons/ui/).

import type { CaptureInfo } from '../../lib/ui/protocol.js';
import { ApiError, api } from './api.js';
import { h } from './dom.js';

function reporter(): { msg: HTMLElement; run: (label: string, f: () => Promise<{ message?: string } | CaptureInfo>) => Promise<void> } {
  const msg = h('div', { class: 'msg', role: 'status' });
  return {
    msg,
    async run(label, f) {
      msg.className = 'msg';
      msg.textContent = `${label}…`;
      try {
        const r = await f();
        msg.textContent = 'message' in r && r.message ? r.message : `${label}: done`;
      } catch (e) {
        msg.className = 'msg err';
        msg.textContent = e instanceof ApiError ? `${e.code}: ${e.message}` : String((e as Error).message ?? e);
      }
    },
  };
}

/** Starts the browser's download of a finished capture (the server names the file). */
export function download(path: string, filename: string): void {
  const a = h('a', { href: path, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * Captures started from this page and still running, by endpoint: they outlive the details panel, which
 * is redrawn whenever its node changes, so its stop button is drawn again where it was.
 */
const running = new Map<string, CaptureInfo>();

function captureControls(endpoint: string, report: ReturnType<typeof reporter>): HTMLElement {
  const box = h('span', { class: 'capture' });
  const start = h('button', { 'data-action': 'capture-start', title: `capture frames at ${endpoint} (pcapng)` }, 'capture');
  const stopButton = (info: CaptureInfo): HTMLElement => {
    const stop = h('button', { 'data-action': 'capture-stop', class: 'danger' }, `stop capture ${info.id} and download`);
    stop.addEventListener('click', () => void report.run('stopping the capture', async () => {
      const done = await api.captureStop(info.id);
      running.delete(endpoint);
      if (done.download) download(done.download, `${endpoint.replace(/[^A-Za-z0-9._-]+/g, '_')}-${done.id}.pcapng`);
      box.replaceChildren(start);
      return { message: `capture ${done.id}: ${done.frames} frames, ${done.bytes} bytes${done.download ? ', downloading' : ''}${done.error ? ` (${done.error})` : ''}` };
    }));
    return stop;
  };
  start.addEventListener('click', () => void report.run(`capture at ${endpoint}`, async () => {
    const info = await api.captureStart({ points: [endpoint] });
    running.set(endpoint, info);
    box.replaceChildren(stopButton(info));
    return { message: `capturing at ${endpoint} (capture ${info.id})` };
  }));
  const already = running.get(endpoint);
  box.append(already ? stopButton(already) : start);
  return box;
}

/** Buttons for one endpoint (a vmnic, a switch port or a vNIC): link down/up, impair/clear, capture. */
export function endpointActions(endpoint: string, opts: { link?: boolean } = {}): HTMLElement {
  const report = reporter();
  const box = h('div', { class: 'actions', 'data-endpoint': endpoint });
  if (opts.link !== false) {
    box.append(
      h('button', { class: 'danger', 'data-action': 'link-down', onclick: () => void report.run(`link down ${endpoint}`, () => api.link(endpoint, false)) }, 'link down'),
      h('button', { 'data-action': 'link-up', onclick: () => void report.run(`link up ${endpoint}`, () => api.link(endpoint, true)) }, 'link up'),
    );
  }
  const loss = h('input', { type: 'number', min: '0', max: '100', step: '0.1', placeholder: 'loss %', 'aria-label': 'loss percent' });
  const delay = h('input', { type: 'number', min: '0', step: '1', placeholder: 'delay ms', 'aria-label': 'delay ms' });
  const impair = h('button', { 'data-action': 'impair' }, 'impair');
  impair.addEventListener('click', () => void report.run(`impair ${endpoint}`, () => api.impair({
    endpoint,
    ...(loss.value !== '' ? { lossPercent: Number(loss.value) } : {}),
    ...(delay.value !== '' ? { delayMs: Number(delay.value) } : {}),
  })));
  box.append(loss, delay, impair, h('button', { 'data-action': 'clear', onclick: () => void report.run(`clear ${endpoint}`, () => api.clear(endpoint)) }, 'clear'), captureControls(endpoint, report), report.msg);
  return box;
}

/** Power on/off for a VM. */
export function vmActions(vm: string, poweredOn: boolean): HTMLElement {
  const report = reporter();
  return h('div', { class: 'actions', 'data-vm': vm },
    h('button', { 'data-action': 'power-off', class: 'danger', disabled: !poweredOn, onclick: () => void report.run(`power off ${vm}`, () => api.power(vm, false)) }, 'power off'),
    h('button', { 'data-action': 'power-on', disabled: poweredOn, onclick: () => void report.run(`power on ${vm}`, () => api.power(vm, true)) }, 'power on'),
    report.msg);
}
