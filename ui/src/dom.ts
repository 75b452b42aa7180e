// Small DOM helpers of the page: element creation with text (never HTML strings, so names and event
// fields from the fabric cannot inject markup) and tables from rows. Leaves out any framework.

type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | ((ev: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (typeof v === 'boolean') {
      if (v) el.setAttribute(k, '');
    } else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

/** A table: header cells, then rows of cells; a row whose `hot` is true is highlighted (drops, down). */
export function table(head: string[], rows: Array<{ cells: Child[]; hot?: boolean; why?: boolean }>, numeric: number[] = []): HTMLTableElement {
  return h('table', {},
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', {}, c)))),
    h('tbody', {}, ...rows.map((r) => r.why
      // a row of one sentence under the row before it, across every column
      ? h('tr', { class: 'why-row' }, h('td', { colspan: String(head.length) }, r.cells[0] ?? ''))
      : h('tr', r.hot ? { class: 'hot' } : {}, ...r.cells.map((c, i) => h('td', numeric.includes(i) ? { class: 'num' } : {}, c ?? ''))))));
}

/** Most rows a generic value table shows (a counters object can be large). */
export const MAX_GENERIC_ROWS = 300;

/** Any JSON value as tables: an object as key/value rows, an array of objects as one table, scalars as text. */
export function renderValue(v: unknown, depth = 0): Node {
  if (v === null || v === undefined) return document.createTextNode('-');
  if (typeof v !== 'object') return document.createTextNode(String(v));
  if (Array.isArray(v)) {
    if (v.length === 0) return document.createTextNode('none');
    if (v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const keys = [...new Set(v.slice(0, MAX_GENERIC_ROWS).flatMap((x) => Object.keys(x as object)))];
      return table(keys, v.slice(0, MAX_GENERIC_ROWS).map((x) => ({ cells: keys.map((k) => flat((x as Record<string, unknown>)[k])) })));
    }
    return document.createTextNode(v.map(flat).join(', '));
  }
  const entries = Object.entries(v as Record<string, unknown>).slice(0, MAX_GENERIC_ROWS);
  if (depth >= 2) return document.createTextNode(flat(v));
  return table(['', ''], entries.map(([k, x]) => ({ cells: [k, x && typeof x === 'object' ? renderValue(x, depth + 1) : flat(x)], hot: /drop|error|fail/i.test(k) && typeof x === 'number' && x > 0 })));
}

function flat(x: unknown): string {
  if (x === null || x === undefined) return '-';
  if (typeof x === 'number' && !Number.isInteger(x)) return x.toFixed(1);
  if (typeof x === 'object') return JSON.stringify(x);
  return String(x);
}
