// The web view of `vfab ui` (docs/ui.md), in the browser: opens the live stream (api.ts), keeps the
// fabric's snapshot current with each delta (model.ts), and once per animation frame redraws what
// changed — the topology (layout.ts, graph.ts), the timeline (timeline.ts), the clock — so bursts of
// deltas and events cost one redraw per frame. Click and hover open details and tooltips (details.ts).
// Exposes `window.__vfab` (the cytoscape instance, the snapshot, draw figures) for the browser tests and
// the bench. Leaves out the server (daemons/ui/).

import type { LiveMessage, UiEvent, UiSnapshot } from '../../lib/ui/protocol.js';
import { connectLive } from './api.js';
import { createDetails, type Selection } from './details.js';
import { createGraph } from './graph.js';
import { buildElements } from './layout.js';
import { GRAPH_REDRAW_MS, applyDelta, eventPlace, formatFabricTime } from './model.js';
import { createTimeline } from './timeline.js';

/** Event-to-screen latencies kept for the bench (ms, newest last). */
export const MAX_LATENCY_SAMPLES = 20_000;

const graph = createGraph(document.getElementById('graph')!);
const timeline = createTimeline();
let snap: UiSnapshot | null = null;
const details = createDetails(() => snap);
const clockEl = document.getElementById('clock')!;
const connEl = document.getElementById('conn')!;
const fabricEl = document.getElementById('fabric')!;
const scenarioEl = document.getElementById('scenario')!;
const tip = document.getElementById('tip')!;

// what arrived since the last frame
let dirtyGraph = false;
const touched = new Set<string>();
// one entry per node (a hidden tab draws no frames: this stays bounded by the drawing's size)
const flashes = new Map<string, 'drops' | 'macmove'>();
let stampPending: UiEvent[] = [];
let frameRequested = false;
let firstDrawPending = false;
let lastGraphAt = -Infinity;

const stats = {
  messages: 0,
  lastSeq: 0,
  frames: 0,
  graphDraws: 0,
  lastGraphMs: 0,
  firstDrawAt: null as number | null,
  latencyMs: [] as number[],
  uplinkChanges: [] as Array<{ nic: string; from: string | null; to: string | null; reason: string }>,
};

function requestFrame(): void {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(frame);
}

function frame(): void {
  frameRequested = false;
  stats.frames++;
  // the drawing: what changed since its last redraw (deltas, highlights), at most once per
  // GRAPH_REDRAW_MS, in one restyle and one canvas redraw however many deltas and drops arrived
  const graphDue = performance.now() - lastGraphAt >= GRAPH_REDRAW_MS;
  if (graphDue && dirtyGraph && snap) {
    const t0 = performance.now();
    lastGraphAt = t0;
    graph.apply(buildElements(snap));
    stats.lastGraphMs = performance.now() - t0;
    if (stats.graphDraws === 0) performance.measure('vfab:first-apply', { start: t0 });
    stats.graphDraws++;
    dirtyGraph = false;
    // first full draw: two frames on, cytoscape has painted what this apply gave it
    if (stats.firstDrawAt === null && !firstDrawPending) {
      firstDrawPending = true;
      requestAnimationFrame(() => requestAnimationFrame(() => {
        stats.firstDrawAt = performance.now();
        performance.mark('vfab:first-draw');
      }));
    }
  }
  const now = performance.now();
  if (graphDue && (flashes.size > 0 || graph.hasFlashes())) {
    lastGraphAt = now;
    graph.cy.batch(() => {
      for (const [id, kind] of flashes) graph.flash(id, kind, now);
      graph.expireFlashes(now);
    });
    flashes.clear();
  }
  timeline.flush();
  if (snap) clockEl.textContent = `fabric time ${formatFabricTime(snap.clockMs)}`;
  if (touched.size > 0) {
    details.touched(touched);
    touched.clear();
  }
  // event-to-screen: the event's wall time (docs/events.md) to this frame, same machine clock
  if (stampPending.length > 0) {
    const wallNow = Date.now();
    for (const e of stampPending) {
      const w = typeof e.wall === 'string' ? Date.parse(e.wall) : NaN;
      if (Number.isFinite(w)) stats.latencyMs.push(wallNow - w);
    }
    if (stats.latencyMs.length > MAX_LATENCY_SAMPLES) stats.latencyMs.splice(0, stats.latencyMs.length - MAX_LATENCY_SAMPLES);
    stampPending = [];
  }
  if (graph.hasFlashes() || flashes.size > 0 || dirtyGraph) requestFrame();
}

function onMessage(m: LiveMessage): void {
  stats.messages++;
  stats.lastSeq = m.seq;
  switch (m.type) {
    case 'hello':
      fabricEl.textContent = m.fabric;
      break;
    case 'snapshot':
      if (!snap) performance.mark('vfab:snapshot');
      snap = m.snapshot;
      fabricEl.textContent = snap.fabric;
      timeline.reset(m.recentEvents);
      if (snap.scenario) timeline.scenario(snap.scenario, snap.clockMs);
      dirtyGraph = true;
      break;
    case 'delta':
      if (!snap) break;
      applyDelta(snap, m.delta, m.clockMs);
      for (const x of m.delta.hosts ?? []) {
        touched.add(x.name);
        for (const vm of x.vms) touched.add(vm.name);
      }
      for (const x of m.delta.switches ?? []) touched.add(x.name);
      for (const x of m.delta.links ?? []) touched.add(x.id);
      for (const u of m.delta.uplinkChanges ?? []) {
        stats.uplinkChanges.push({ nic: u.nic, from: u.from, to: u.to, reason: u.reason });
        if (stats.uplinkChanges.length > 1000) stats.uplinkChanges.shift();
      }
      dirtyGraph = true;
      break;
    case 'events':
      if (snap) snap.clockMs = Math.max(snap.clockMs, m.clockMs);
      timeline.push(m.events);
      for (const e of m.events) {
        const place = eventPlace(e);
        if (place) flashes.set(place.id, place.kind);
      }
      stampPending.push(...m.events);
      if (stampPending.length > MAX_LATENCY_SAMPLES) stampPending = stampPending.slice(-MAX_LATENCY_SAMPLES);
      break;
    case 'scenario':
      scenarioEl.textContent = `scenario ${m.run.name}: ${m.run.state}`;
      if (snap) snap.scenario = m.run;
      timeline.scenario(m.run, m.clockMs);
      break;
    case 'daemon':
      if (snap) applyDelta(snap, { daemons: [m.daemon] }, m.clockMs);
      break;
  }
  requestFrame();
}

connectLive(onMessage, (s) => {
  connEl.textContent = s === 'live' ? 'live' : 'reconnecting…';
  connEl.className = `conn ${s === 'live' ? 'live' : 'lost'}`;
});

// clicks: a node or link selects its details
graph.cy.on('tap', (ev) => {
  const t = ev.target;
  if (t === graph.cy) return details.show(null);
  const d = t.data() as Record<string, string>;
  let sel: Selection | null = null;
  switch (d.kind) {
    case 'host': sel = { kind: 'host', name: d.name! }; break;
    case 'vswitch': case 'portgroup': sel = { kind: 'host', name: d.host! }; break;
    case 'vmnic': sel = { kind: 'host', name: d.name!.slice(0, d.name!.indexOf('.')), endpoint: d.name! }; break;
    case 'vmk': sel = { kind: 'host', name: d.host! }; break;
    case 'vnic': sel = { kind: 'vm', name: d.vm! }; break;
    case 'switch': sel = { kind: 'switch', name: d.name! }; break;
    case 'swport': sel = { kind: 'switch', name: d.sw!, endpoint: d.name! }; break;
    case 'link': sel = { kind: 'link', id: d.name! }; break;
    case 'uses': sel = { kind: 'uses', port: d.port!, uplink: d.uplink!, reason: d.reason!, host: (snap?.hosts.find((x) => x.vswitches.some((v) => v.ports.some((p) => p.name === d.port)))?.name) ?? d.port!.split('.')[0]! }; break;
  }
  details.show(sel);
});

// hover: the teaming reason of an active uplink, a vNIC's uplink, a link's state
graph.cy.on('mouseover', 'node, edge', (ev) => {
  const d = ev.target.data() as Record<string, unknown>;
  let text = '';
  if (d.kind === 'uses') text = `${d.port} → ${d.uplink}\n${d.reason}`;
  else if (d.kind === 'vnic' || d.kind === 'vmk') text = `${d.name}  VLAN ${d.vlan}  ${d.ip || ''}\nuplink ${d.uplink || 'none'}: ${d.reason || '-'}`;
  else if (d.kind === 'link') text = `${d.name}\n${d.state}${d.vlans ? `, VLANs ${d.vlans}` : ''}${d.label ? `\n${d.label}` : ''}`;
  else if (d.kind === 'swport') text = `${d.name}  ${d.mode} ${d.vlans}\n${d.description || ''}`;
  else if (d.kind === 'vswitch') text = `${d.name}\nteaming: ${d.teaming}`;
  if (!text) return;
  ev.target.addClass('hover');
  tip.textContent = text;
  tip.hidden = false;
  const p = ev.renderedPosition ?? { x: 0, y: 0 };
  const box = (graph.cy.container() as HTMLElement).getBoundingClientRect();
  tip.style.left = `${box.left + p.x + 14}px`;
  tip.style.top = `${box.top + p.y + 14}px`;
});
graph.cy.on('mouseout', 'node, edge', (ev) => {
  ev.target.removeClass('hover');
  tip.hidden = true;
});

declare global {
  interface Window {
    __vfab: unknown;
  }
}
window.__vfab = { cy: graph.cy, snapshot: () => snap, stats, timelineSize: () => timeline.size };
