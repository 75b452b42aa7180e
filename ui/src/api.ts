// The page's calls to the `vfab ui` server (routes in lib/ui/protocol.ts): node details, actions and
// captures over fetch (the session cookie goes along by itself; same origin), and the live WebSocket with
// bounded reconnects. An error reply becomes an Error carrying the server's VFAB_* code and message, which
// the page shows as the CLI would. Leaves out what the replies mean (details.ts, actions.ts, main.ts).

import type { ActionReply, CaptureInfo, CaptureStartBody, ErrorReply, ImpairActionBody, LiveMessage, UiNodeDetails } from '../../lib/ui/protocol.js';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok) {
    const err = (json as ErrorReply | null)?.error;
    throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? (text.slice(0, 200) || res.statusText));
  }
  return json as T;
}

export const api = {
  node: (name: string, query: Record<string, string> = {}) => {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '')).toString();
    return call<UiNodeDetails>('GET', `/api/node/${encodeURIComponent(name)}${q ? `?${q}` : ''}`);
  },
  link: (endpoint: string, up: boolean) => call<ActionReply>('POST', '/api/link', { endpoint, up }),
  impair: (body: ImpairActionBody) => call<ActionReply>('POST', '/api/impair', body),
  clear: (endpoint: string) => call<ActionReply>('POST', '/api/clear', { endpoint }),
  power: (vm: string, on: boolean) => call<ActionReply>('POST', '/api/vm/power', { vm, on }),
  captureStart: (body: CaptureStartBody) => call<CaptureInfo>('POST', '/api/capture', body),
  captureStop: (id: string) => call<CaptureInfo>('POST', `/api/capture/${encodeURIComponent(id)}/stop`),
};

/** Reconnect delays after the live stream closes: doubling from the first, never above the last. */
export const RECONNECT_MIN_MS = 500;
export const RECONNECT_MAX_MS = 10_000;

/** Keeps a WebSocket to /api/live open; every message goes to `onMessage`, state changes to `onState`. */
export function connectLive(onMessage: (m: LiveMessage) => void, onState: (s: 'live' | 'lost' | 'refused') => void): void {
  let delay = RECONNECT_MIN_MS;
  const open = () => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`);
    ws.onopen = () => {
      delay = RECONNECT_MIN_MS;
      onState('live');
    };
    ws.onmessage = (ev) => {
      let m: LiveMessage;
      try {
        m = JSON.parse(String(ev.data)) as LiveMessage;
      } catch {
        return; // a malformed message is dropped, never thrown
      }
      onMessage(m);
    };
    ws.onclose = () => {
      onState('lost');
      setTimeout(open, delay);
      delay = Math.min(RECONNECT_MAX_MS, delay * 2);
    };
  };
  open();
}
