// The event timeline under the topology: the fabric's events (docs/events.md) on the fabric clock,
// newest at the bottom, filterable by type and by text, with a pause; a running scenario's steps and
// expectations show as rows too. Rows are added once per animation frame for everything that arrived
// since the last one, and at most MAX_TIMELINE_ROWS stay in the document, so a burst of 1000 events/s
// costs one small DOM change per frame. Leaves out fetching events (main.ts feeds them).

import type { UiEvent, UiScenarioRun } from '../../lib/ui/protocol.js';
import { h } from './dom.js';
import { MAX_TIMELINE_EVENTS, MAX_TIMELINE_ROWS, eventFields, eventMatches, formatFabricTime } from './model.js';

export interface Timeline {
  /** Queues events; they show at the next flush. */
  push(events: UiEvent[]): void;
  /** Replaces everything (a fresh snapshot's recent events). */
  reset(events: UiEvent[]): void;
  /** Shows a scenario's steps and expectations (each once, as it finishes). */
  scenario(run: UiScenarioRun, clockMs: number): void;
  /** Draws what was queued; returns how many rows were added. */
  flush(): number;
  /** Events kept (matching or not). */
  readonly size: number;
}

export function createTimeline(): Timeline {
  const rowsEl = document.getElementById('tl-rows')!;
  const typeEl = document.getElementById('tl-type') as HTMLSelectElement;
  const textEl = document.getElementById('tl-text') as HTMLInputElement;
  const pauseEl = document.getElementById('tl-pause') as HTMLInputElement;
  const countEl = document.getElementById('tl-count')!;
  let events: UiEvent[] = [];
  let pending: UiEvent[] = [];
  let redraw = false;
  const types = new Set<string>();
  const scenarioSeen = new Set<string>();

  const row = (e: UiEvent) => h('div', { class: `ev ${e.type}` }, h('span', { class: 't' }, formatFabricTime(e.timeMs)), h('span', { class: 's' }, e.source), h('span', { class: 'y' }, e.type), ' ', eventFields(e));

  const filterChanged = () => {
    redraw = true;
  };
  typeEl.addEventListener('change', filterChanged);
  textEl.addEventListener('input', filterChanged);
  pauseEl.addEventListener('change', filterChanged);

  function keep(list: UiEvent[]): void {
    for (const e of list) {
      events.push(e);
      if (!types.has(e.type)) {
        types.add(e.type);
        const opts = [...types].sort();
        const at = opts.indexOf(e.type);
        typeEl.insertBefore(h('option', { value: e.type }, e.type), typeEl.options[at + 1] ?? null);
      }
    }
    if (events.length > MAX_TIMELINE_EVENTS * 1.25) events = events.slice(-MAX_TIMELINE_EVENTS);
  }

  return {
    push(list) {
      pending.push(...list);
      // a page that is not drawing (a hidden tab) still keeps a bounded queue
      if (pending.length > MAX_TIMELINE_EVENTS) pending = pending.slice(-MAX_TIMELINE_EVENTS);
    },
    reset(list) {
      events = [];
      pending = [];
      keep(list);
      redraw = true;
    },
    scenario(run, clockMs) {
      const evs: UiEvent[] = [];
      for (const s of run.steps) {
        const key = `${run.name}#${s.index}`;
        if ((s.status === 'done' || s.status === 'failed') && !scenarioSeen.has(key)) {
          scenarioSeen.add(key);
          evs.push({ timeMs: s.atMs, source: 'scenario', seq: s.index, type: 'step', step: s.text, status: s.status });
          for (const x of s.expectations) evs.push({ timeMs: s.atMs, source: 'scenario', seq: s.index, type: x.pass === false ? 'fail' : 'pass', expect: x.text, ...(x.detail ? { detail: x.detail } : {}) });
        }
      }
      if (run.state !== 'running' && !scenarioSeen.has(`${run.name}#end`)) {
        scenarioSeen.add(`${run.name}#end`);
        evs.push({ timeMs: clockMs, source: 'scenario', seq: -1, type: run.state === 'passed' ? 'pass' : 'fail', scenario: run.name, result: run.state });
      }
      pending.push(...evs);
    },
    flush() {
      if (pauseEl.checked) {
        keep(pending);
        pending = [];
        countEl.textContent = `${events.length} events (paused)`;
        return 0;
      }
      const atBottom = rowsEl.scrollTop + rowsEl.clientHeight >= rowsEl.scrollHeight - 4;
      const type = typeEl.value;
      const text = textEl.value.trim();
      let added = 0;
      if (redraw) {
        keep(pending);
        pending = [];
        redraw = false;
        const shown: UiEvent[] = [];
        for (let i = events.length - 1; i >= 0 && shown.length < MAX_TIMELINE_ROWS; i--) if (eventMatches(events[i]!, type, text)) shown.push(events[i]!);
        rowsEl.replaceChildren(...shown.reverse().map(row));
        added = shown.length;
      } else if (pending.length > 0) {
        const fresh = pending;
        pending = [];
        keep(fresh);
        const match = fresh.filter((e) => eventMatches(e, type, text)).slice(-MAX_TIMELINE_ROWS);
        if (match.length > 0) {
          const frag = document.createDocumentFragment();
          for (const e of match) frag.append(row(e));
          rowsEl.append(frag);
          let extra = rowsEl.childElementCount - MAX_TIMELINE_ROWS;
          while (extra-- > 0) rowsEl.firstElementChild!.remove();
        }
        added = match.length;
      }
      if (added > 0 && atBottom) rowsEl.scrollTop = rowsEl.scrollHeight;
      countEl.textContent = `${events.length} events${type || text ? `, showing ${rowsEl.childElementCount} that match` : ''}`;
      return added;
    },
    get size() {
      return events.length;
    },
  };
}
