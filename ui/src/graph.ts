// The topology drawing: one cytoscape.js instance (canvas), its style (link state, active uplinks, VLANs on
// trunks, rates, flashes for drops and MAC moves), and the diff that brings it to a new set of elements
// (layout.ts) inside one cy.batch, so a burst of changes costs one redraw. Leaves out where nodes go
// (layout.ts) and what a click shows (details.ts). Page notes: docs/ui.md.

import cytoscape from 'cytoscape';
import type { Core, ElementDefinition, StylesheetJson } from 'cytoscape';
import type { ElementSpec } from './layout.js';

/** Room around the outermost nodes when the view is first fitted (graph units: boxes, labels). */
const FIT_MARGIN = 80;
/** A small fabric is not blown up past this zoom when fitted. */
const MAX_FIT_ZOOM = 1.6;

/** How long a node glows after a drop or a MAC move there (ms of page time). */
export const FLASH_MS = 3000;

const STYLE: StylesheetJson = [
  { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'text-valign': 'center', 'text-halign': 'center', color: '#1d2733', 'min-zoomed-font-size': 6 } },
  // a box's size comes from its children's places alone, not their labels: no label is measured to lay out
  // the boxes by class, not `:parent`: a compound-state selector makes cytoscape re-match a box's style
  // whenever a child is added, which was a third of the first draw on 60 hosts
  { selector: 'node.host, node.switch, node.vswitch, node.portgroup', style: { 'text-valign': 'top', 'text-halign': 'center', 'font-weight': 'bold', padding: '14px', shape: 'round-rectangle', 'border-width': 1, 'compound-sizing-wrt-labels': 'exclude' } },
  { selector: 'node.host', style: { 'background-color': '#eef3f8', 'border-color': '#7b93ad', 'font-size': 13 } },
  { selector: 'node.switch', style: { 'background-color': '#f3efe6', 'border-color': '#a48d5c', 'font-size': 13 } },
  { selector: 'node.vswitch', style: { 'background-color': '#ffffff', 'border-color': '#9fb3c8', 'border-style': 'dashed', 'font-size': 10 } },
  { selector: 'node.portgroup', style: { 'background-color': '#f7fafc', 'border-color': '#c5d3e0', 'font-size': 9, 'font-weight': 'normal' } },
  { selector: 'node.placeholder', style: { opacity: 0, width: 20, height: 10, events: 'no' } },
  { selector: 'node.vmnic', style: { shape: 'round-rectangle', width: 56, height: 22, 'background-color': '#4f7cac', color: '#fff' } },
  { selector: 'node.swport', style: { shape: 'round-rectangle', width: 64, height: 22, 'background-color': '#a48d5c', color: '#fff', 'font-size': 9 } },
  { selector: 'node.vmnic.down, node.swport.down', style: { 'background-color': '#c0392b' } },
  { selector: 'node.vnic', style: { shape: 'ellipse', width: 54, height: 28, 'background-color': '#5fa55a', color: '#fff' } },
  { selector: 'node.vnic.vmk', style: { shape: 'diamond', 'background-color': '#7a6bb0' } },
  { selector: 'node.vnic.off', style: { 'background-color': '#9aa5b1' } },
  { selector: 'node.drops', style: { 'border-width': 4, 'border-color': '#e74c3c', 'underlay-color': '#e74c3c', 'underlay-opacity': 0.35, 'underlay-padding': 6 } },
  { selector: 'node.macmove', style: { 'border-width': 4, 'border-color': '#f39c12', 'underlay-color': '#f39c12', 'underlay-opacity': 0.4, 'underlay-padding': 6 } },
  { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#1f6feb' } },
  // straight, not bezier: no two edges join the same pair of nodes (each end is its own port node), so
  // bezier only cost control-point work (a tenth of the first draw) for the same picture
  { selector: 'edge', style: { width: 2, 'curve-style': 'straight', 'line-color': '#6b8299', 'font-size': 9, 'text-background-color': '#fff', 'text-background-opacity': 0.8, 'text-background-padding': '1px', 'min-zoomed-font-size': 7 } },
  { selector: 'edge.link', style: { label: 'data(label)', 'text-rotation': 'autorotate' } },
  { selector: 'edge.link.trunk', style: { width: 3 } },
  { selector: 'edge.link.up', style: { 'line-color': '#2e8b57' } },
  { selector: 'edge.link.down', style: { 'line-color': '#c0392b', 'line-style': 'dashed', 'line-dash-pattern': [6, 4] } },
  { selector: 'edge.link.impaired', style: { 'line-color': '#e67e22', 'line-style': 'dashed', 'line-dash-pattern': [2, 3], width: 4 } },
  { selector: 'edge.link.flapping', style: { 'line-color': '#8e44ad', 'line-style': 'dotted', width: 5 } },
  { selector: 'edge.uses', style: { width: 2.5, 'line-color': '#1f6feb', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#1f6feb', 'arrow-scale': 0.8, opacity: 0.75 } },
  { selector: 'edge.uses.hover, edge.link.hover', style: { width: 5, opacity: 1 } },
  { selector: 'edge:selected', style: { 'line-color': '#1f6feb', width: 5 } },
];

export interface Graph {
  cy: Core;
  /** Brings the drawing to `elements`: adds, removes, and updates data, classes and places. */
  apply(elements: ElementSpec[]): void;
  /** Lights node `id` up for FLASH_MS (class `drops` or `macmove`). */
  flash(id: string, kind: 'drops' | 'macmove', nowMs: number): void;
  /** Ends the flashes that are over; call once per frame. */
  expireFlashes(nowMs: number): void;
  /** True while some flash is still lit (the page keeps drawing frames to end it). */
  hasFlashes(): boolean;
}

export function createGraph(container: HTMLElement): Graph {
  const cy = cytoscape({
    container,
    style: STYLE,
    layout: { name: 'preset' },
    wheelSensitivity: 0.3,
    minZoom: 0.05,
    maxZoom: 3,
    textureOnViewport: true,
    hideEdgesOnViewport: false,
    pixelRatio: 1,
  });
  const flashes = new Map<string, { kind: 'drops' | 'macmove'; until: number }>();
  let fitted = false;

  function apply(elements: ElementSpec[]): void {
    const defs = (list: ElementSpec[]): ElementDefinition[] => list.map((e) => ({ group: e.group, data: e.data, classes: e.classes, ...(e.position ? { position: { ...e.position } } : {}) }));
    if (cy.elements().empty()) {
      // the first draw: everything at once (one add, no per-element lookups), styled once at the batch's end
      cy.batch(() => {
        cy.add(defs(elements));
      });
    } else {
      const current = new Map<string, cytoscape.SingularElementReturnValue>();
      cy.elements().forEach((ele) => {
        current.set(ele.id(), ele);
      });
      const wanted = new Set(elements.map((e) => e.data.id));
      cy.batch(() => {
        for (const [id, ele] of current) if (!wanted.has(id) && ele.inside()) ele.remove();
        const toAdd: ElementSpec[] = [];
        for (const e of elements) {
          const ele = current.get(e.data.id);
          if (!ele || ele.removed()) {
            toAdd.push(e);
            continue;
          }
          // parents and edge ends do not change for an id (ids carry them); data, classes and places may
          const data = ele.data() as Record<string, unknown>;
          for (const [k, v] of Object.entries(e.data)) if (data[k] !== v) ele.data(k, v);
          const flash = flashes.get(e.data.id);
          const classes = flash ? `${e.classes} ${flash.kind}` : e.classes;
          if (ele.classes().join(' ') !== classes) ele.classes(classes);
          if (e.position) {
            const p = ele.position();
            if (p.x !== e.position.x || p.y !== e.position.y) ele.position({ ...e.position });
          }
        }
        // nodes before edges, parents before children: the order layout.ts emits them in
        if (toAdd.length > 0) cy.add(defs(toAdd));
      });
    }
    if (!fitted && cy.nodes().length > 0) {
      fitTo(elements);
      fitted = true;
    }
  }

  // cy.fit() measures every label's box (600 ms for 60 hosts on a busy machine); the places are ours, so
  // the box of the leaf nodes' places, widened by a margin for the compound boxes and labels, is enough
  function fitTo(elements: ElementSpec[]): void {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const e of elements) {
      if (!e.position) continue;
      x0 = Math.min(x0, e.position.x);
      y0 = Math.min(y0, e.position.y);
      x1 = Math.max(x1, e.position.x);
      y1 = Math.max(y1, e.position.y);
    }
    if (!Number.isFinite(x0)) return;
    const margin = FIT_MARGIN;
    const w = cy.width();
    const hgt = cy.height();
    const zoom = Math.min(MAX_FIT_ZOOM, w / (x1 - x0 + 2 * margin), hgt / (y1 - y0 + 2 * margin));
    cy.viewport({ zoom, pan: { x: w / 2 - ((x0 + x1) / 2) * zoom, y: hgt / 2 - ((y0 + y1) / 2) * zoom } });
  }

  function flash(id: string, kind: 'drops' | 'macmove', nowMs: number): void {
    const ele = cy.getElementById(id);
    if (ele.empty()) return;
    flashes.set(id, { kind, until: nowMs + FLASH_MS });
    ele.addClass(kind);
  }

  function expireFlashes(nowMs: number): void {
    for (const [id, f] of flashes) {
      if (f.until > nowMs) continue;
      flashes.delete(id);
      cy.getElementById(id).removeClass(f.kind);
    }
  }

  return { cy, apply, flash, expireFlashes, hasFlashes: () => flashes.size > 0 };
}
