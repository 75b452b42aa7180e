// The wire protocol of `vfab ui`: types and constants shared by the server (daemons/ui/) and the browser
// page (ui/). Covers routes, authentication, the snapshot, the live stream's messages and the action
// bodies. Leaves out how the server builds a snapshot (lib/ui/view-model.ts) and how the page draws it.
// Behaviour shown follows docs/teaming.md (active uplink and why), docs/events.md (the fabric clock and
// event fields) and docs/failover.md (impairments, flaps); the full description is docs/ui.md.
//
// Routes (served on 127.0.0.1 only; every response is JSON unless noted):
//
//   GET  /login?code=C          C is the one-time code `vfab ui` prints (random, used once, expires after
//                               LOGIN_CODE_TTL_MS). Sets the HttpOnly SameSite=Strict cookie SESSION_COOKIE
//                               and redirects (303) to `/`. A used, expired or wrong code: 401.
//   GET  /  /app.js  /app.css   the page (static files from dist/ui/; a placeholder page saying how to
//                               build it when the bundle is absent). Any other file under /assets/ too.
//   GET  /api/snapshot          UiSnapshot
//   GET  /api/live              WebSocket upgrade; server -> page messages are LiveMessage (JSON text
//                               frames); the page sends nothing (anything it sends is ignored).
//   GET  /api/node/:name        UiNodeDetails of a host, switch, array or VM (switch MAC table filtered by
//                               ?vlan=N&mac=PREFIX, at most MAX_MAC_ROWS rows, `truncated` says so)
//   POST /api/link              LinkActionBody    -> ActionReply   (same as `vfab link down|up`)
//   POST /api/impair            ImpairActionBody  -> ActionReply   (same as `vfab fault impair`)
//   POST /api/clear             ClearActionBody   -> ActionReply   (same as `vfab fault clear`)
//   POST /api/vm/power          PowerActionBody   -> ActionReply   (the VM's vNICs up/down, as a scenario's power step)
//   POST /api/capture           CaptureStartBody  -> CaptureInfo   (starts a capture; pcapng)
//   POST /api/capture/:id/stop  (no body)         -> CaptureInfo   (stops it; `download` is set)
//   GET  /api/capture/:id.pcapng                  the capture file (application/vnd.tcpdump.pcap-ng)
//   GET  /api/captures          CaptureInfo[]
//
// Auth: every route but /login needs the session cookie (no cookie or a wrong one: 401 VFAB_UI_AUTH; a
// WebSocket upgrade without it is refused with 401 before the handshake). Every request's Host must be
// 127.0.0.1:PORT or localhost:PORT (DNS rebinding), and a request carrying Origin (every POST and every
// WebSocket from a browser) must come from http://127.0.0.1:PORT or http://localhost:PORT (CSRF):
// otherwise 403 VFAB_UI_ORIGIN. POST bodies are JSON (Content-Type application/json), at most
// MAX_ACTION_BODY_BYTES.
//
// Errors: HTTP 400 with ErrorReply for bad input (the VFAB_* code and message the CLI would print);
// 404 for an unknown node, capture or route; 409 for a capture in the wrong state; 429 when a bound is
// reached (clients, captures); 503 VFAB_CONTROL_UNREACHABLE when a daemon does not answer (names it).
//
// Live stream: on connect the server sends `hello`, then `snapshot`; then `delta`s (changed entities,
// replaced whole by id), `events` batches (at most one per LIVE_BATCH_MS while busy, sooner while quiet: LIVE_QUIET_BATCH_MS; at most MAX_EVENTS_PER_BATCH
// events, the rest counted in `omitted`; a snapshot's `recentEvents` are those sent before it, so a page
// sees each event once). `scenario` (the whole run, again on every change) is sent while `vfab run --ui`
// runs a scenario; `daemon` is reserved: not sent yet (a daemon's reachability is in `delta.daemons`). A page that falls behind (more than
// MAX_CLIENT_BUFFER_BYTES unsent) gets no more deltas until its buffer drains, then a fresh `snapshot`
// (`resync: true`). Every message carries `seq`
// (increasing per connection) and `clockMs` (fabric ms, the one clock of docs/events.md).

/** Bumped whenever a message or body changes shape incompatibly. */
export const UI_PROTOCOL_VERSION = 1;

/** Name of the session cookie set by /login. */
export const SESSION_COOKIE = 'vfab_ui';
/** A one-time login code is valid this long after `vfab ui` printed it (wall ms). */
export const LOGIN_CODE_TTL_MS = 10 * 60_000;
/** Most browsers (WebSockets) connected to /api/live at once; one more is refused with 429. */
export const MAX_UI_CLIENTS = 16;
/** Unsent bytes one page may have queued before it stops getting deltas (and resyncs later). */
export const MAX_CLIENT_BUFFER_BYTES = 4 * 1024 * 1024;
/** Deltas are sent at most one per this many wall ms; so are event batches while events keep coming
 * (busy). */
export const LIVE_BATCH_MS = 100;
/** An event batch goes out this soon after the previous one when that one was small (at most
 * LIVE_QUIET_BATCH_EVENTS events: the stream is quiet), so a lone event is not held for a whole
 * LIVE_BATCH_MS; once batches grow, the server waits LIVE_BATCH_MS again. Wall ms. */
export const LIVE_QUIET_BATCH_MS = 16;
/** A batch of at most this many events counts as quiet (see LIVE_QUIET_BATCH_MS). */
export const LIVE_QUIET_BATCH_EVENTS = 20;
/** Most events in one batch; more in one interval are counted in `omitted` by type. */
export const MAX_EVENTS_PER_BATCH = 500;
/** Most events the server keeps for a page that connects later (the newest). */
export const MAX_RECENT_EVENTS = 2000;
/** Largest POST body (bytes). */
export const MAX_ACTION_BODY_BYTES = 16 * 1024;
/** Most rows of a switch MAC table in one /api/node reply. */
export const MAX_MAC_ROWS = 5000;
/** Most captures (running or finished, not yet deleted) the server keeps at once. */
export const MAX_UI_CAPTURES = 8;
/** Most points one capture may have. */
export const MAX_CAPTURE_POINTS = 16;
/** Most frames one capture writes; then it stops by itself (`state: 'done'`). */
export const MAX_CAPTURE_FRAMES = 1_000_000;

// ---------------------------------------------------------------------------------------------------
// Snapshot

export type LinkState = 'up' | 'down' | 'impaired' | 'flapping';

/** Frames and bits per second over the last status poll, one direction. */
export interface UiRate {
  fps: number;
  bps: number;
}

export interface UiUplink {
  /** Endpoint id: "esx1.vmnic0". */
  id: string;
  name: string;
  up: boolean;
  /** Teaming role on this vSwitch: active, standby, unused. */
  role: string;
  inUse: boolean;
  /** Frames this uplink dropped, every reason summed. */
  drops: number;
}

export interface UiVswitchPort {
  portId: number;
  /** "web1.nic0", "esx1.vmk0". */
  name: string;
  portGroup: string;
  vlan: number;
  mac: string | null;
  /** The uplink its frames leave by now, null when none. */
  uplink: string | null;
  /** Why that uplink: the teaming decision in words ("active uplink vmnic1 (srcPortId: ...)"). */
  uplinkReason: string;
  drops: number;
}

export interface UiVswitch {
  /** "esx1/vSwitch0". */
  id: string;
  name: string;
  mtu: number;
  /** "srcPortId, active vmnic0,vmnic1, standby -, failback on, notify on, linkStatus". */
  teaming: string;
  uplinks: UiUplink[];
  portGroups: Array<{ name: string; vlan: number }>;
  ports: UiVswitchPort[];
}

export interface UiVmNic {
  /** "web1.nic0". */
  id: string;
  name: string;
  mac: string;
  ip: string | null;
  portGroup: string;
  vswitch: string;
  vlan: number | null;
  /** The host uplink this vNIC's frames use now ("vmnic1"), null when none (down, powered off). */
  activeUplink: string | null;
  uplinkReason: string;
}

export interface UiVm {
  name: string;
  host: string;
  poweredOn: boolean;
  nics: UiVmNic[];
  /**
   * Every host the VM is registered on, when more than one (an HA cluster registers it on each; it is
   * listed once, under the host that runs it, or the first when none does). Absent otherwise.
   */
  registeredOn?: string[];
  /** Disks and the datastore lock holder, where the fabric has datastores (else []). */
  disks: Array<{ name: string; datastore: string | null; lun: string | null; lockHolder: string | null }>;
}

export interface UiHost {
  name: string;
  reachable: boolean;
  error?: string;
  vswitches: UiVswitch[];
  vms: UiVm[];
  vmkernels: Array<{ name: string; ip: string; mac: string; portGroup: string; uplink: string | null; services: string[] }>;
  /** Total frames dropped at this host (vSwitch ports and uplinks). */
  drops: number;
}

export interface UiSwitchPort {
  /** "sw1.Gi1/0/1". */
  id: string;
  name: string;
  description: string;
  mode: string;
  /** Allowed VLANs on a trunk as written ("10,20"), the access VLAN otherwise. */
  vlans: string;
  nativeVlan: number | null;
  up: boolean;
  shutdown: boolean;
  drops: number;
}

export interface UiSwitch {
  name: string;
  reachable: boolean;
  error?: string;
  ports: UiSwitchPort[];
  macEntries: number;
  /** MAC moves and flaps counted by the switch since it started. */
  macMoves: number;
  macFlaps: number;
  drops: number;
}

export interface UiArray {
  name: string;
  reachable: boolean;
  error?: string;
  luns: Array<{ lun: number; name: string; sizeBytes: number }>;
  sessions: number;
}

export interface UiLinkEnd {
  /** "esx1.vmnic0", "sw1.Gi1/0/1". */
  endpoint: string;
  node: string;
  iface: string;
  carrier: boolean;
  adminUp: boolean;
}

export interface UiLink {
  /** The two endpoints sorted and joined by " -- ": "esx1.vmnic0 -- sw1.Gi1/0/1". */
  id: string;
  a: UiLinkEnd;
  b: UiLinkEnd;
  state: LinkState;
  /** VLANs carried (a switch end's allowed VLANs, "10,20"), null when not known. */
  vlans: string | null;
  nativeVlan: number | null;
  /** a -> b and b -> a. */
  rate: { ab: UiRate; ba: UiRate };
  /** Frames lost on this cable since the fabric started (carrier, queue full, impairment). */
  drops: number;
  /** MAC moves seen at either switch end since the fabric started (a switch port's moves in or out). */
  macMoves: number;
  impairment: unknown | null;
  flap: unknown | null;
}

export interface UiDatastore {
  name: string;
  /** Hosts that mount it. */
  hosts: string[];
  locks: Array<{ file: string; holder: string | null; alive: boolean | null }>;
}

export interface UiHa {
  primary: string | null;
  hosts: Array<{ name: string; state: string }>;
}

export interface UiDaemon {
  name: string;
  kind: 'host' | 'switch' | 'array' | 'vm';
  reachable: boolean;
  error?: string;
}

export interface UiSnapshot {
  version: number;
  fabric: string;
  /** Fabric ms (the one clock) when the snapshot was built. */
  clockMs: number;
  timeScale: number;
  daemons: UiDaemon[];
  hosts: UiHost[];
  switches: UiSwitch[];
  arrays: UiArray[];
  links: UiLink[];
  datastores: UiDatastore[];
  ha: UiHa | null;
  scenario: UiScenarioRun | null;
}

// ---------------------------------------------------------------------------------------------------
// Live stream (server -> page)

/** One event as the daemons log it (docs/events.md): `source` + `seq` name it; the rest are its fields. */
export interface UiEvent {
  timeMs: number;
  source: string;
  seq: number;
  type: string;
  [field: string]: unknown;
}

/** A step of the scenario `vfab run --ui` runs (lib/ui/scenario-run.ts builds these). */
export interface UiScenarioStep {
  index: number;
  /** Fabric ms (the one clock) the step started at; 0 while pending. */
  atMs: number;
  /** Scene ms (since the scenario started) the step started and ended at; absent until known. */
  startSceneMs?: number;
  endSceneMs?: number;
  label?: string;
  text: string;
  /** An expect step is `running` until every one of its checks has a result (event checks: at the end). */
  status: 'pending' | 'running' | 'done' | 'failed';
  /** pass null: not decided yet. detail: what was expected and what happened, for a failed check. */
  expectations: Array<{ id?: string; text: string; pass: boolean | null; detail?: string }>;
  /** Why an action step failed. */
  error?: string;
}

export interface UiScenarioRun {
  name: string;
  state: 'running' | 'passed' | 'failed';
  steps: UiScenarioStep[];
  /** Why the run broke (a step failed, interrupted), once it ended. */
  error?: string;
}

/** Entities that changed, replaced whole by id (hosts/switches/arrays by name, links by id). */
export interface UiDelta {
  hosts?: UiHost[];
  switches?: UiSwitch[];
  arrays?: UiArray[];
  links?: UiLink[];
  daemons?: UiDaemon[];
  datastores?: UiDatastore[];
  ha?: UiHa | null;
  /** Ids that are gone. */
  removed?: { hosts?: string[]; switches?: string[]; arrays?: string[]; links?: string[] };
  /** vNICs whose active uplink changed in this delta (also visible in `hosts`): for highlighting. */
  uplinkChanges?: Array<{ nic: string; host: string; from: string | null; to: string | null; reason: string }>;
}

interface LiveBase {
  seq: number;
  clockMs: number;
}

export type LiveMessage =
  | (LiveBase & { type: 'hello'; version: number; fabric: string; limits: { maxEventsPerBatch: number; batchMs: number } })
  | (LiveBase & { type: 'snapshot'; snapshot: UiSnapshot; recentEvents: UiEvent[]; resync: boolean })
  | (LiveBase & { type: 'delta'; delta: UiDelta })
  | (LiveBase & { type: 'events'; events: UiEvent[]; omitted: Record<string, number> })
  | (LiveBase & { type: 'scenario'; run: UiScenarioRun })
  | (LiveBase & { type: 'daemon'; daemon: UiDaemon });

// ---------------------------------------------------------------------------------------------------
// Node details (GET /api/node/:name)

export interface UiMacRow {
  vlan: number;
  mac: string;
  port: string;
  ageMs?: number;
  moves?: number;
  [field: string]: unknown;
}

export type UiNodeDetails =
  | { kind: 'host'; name: string; host: UiHost; counters: unknown; uplinkDrops: Record<string, Record<string, number>>; portDrops: Record<string, Record<string, number>>; storage: unknown }
  | { kind: 'switch'; name: string; switch: UiSwitch; macTable: UiMacRow[]; truncated: boolean; counters: unknown; portDrops: Record<string, Record<string, number>> }
  | { kind: 'array'; name: string; array: UiArray; status: unknown }
  | { kind: 'vm'; name: string; vm: UiVm; counters: unknown; arp: unknown[]; guest: unknown };

// ---------------------------------------------------------------------------------------------------
// Actions (page -> server)

export interface LinkActionBody {
  /** "esx1.vmnic0", "sw1.Gi1/0/1", or a VM vNIC with its own link. */
  endpoint: string;
  up: boolean;
}

export interface ImpairActionBody {
  endpoint: string;
  /** 0-100. */
  lossPercent?: number;
  direction?: 'tx' | 'rx' | 'both';
  /** 0-MAX_FAULT_DELAY_MS (fabric ms). */
  delayMs?: number;
  jitterMs?: number;
  /** 0 .. 2^32-1, default 1. */
  seed?: number;
}

export interface ClearActionBody {
  endpoint: string;
}

export interface PowerActionBody {
  vm: string;
  on: boolean;
}

export interface CaptureStartBody {
  /** Capture points: "esx1.vmnic0", "sw1.Gi1/0/1", "web1.nic0"; 1..MAX_CAPTURE_POINTS. */
  points: string[];
  /** Stop by itself after this many frames (1..MAX_CAPTURE_FRAMES, default MAX_CAPTURE_FRAMES). */
  maxFrames?: number;
}

export interface CaptureInfo {
  id: string;
  points: string[];
  state: 'running' | 'done' | 'failed';
  frames: number;
  bytes: number;
  /** The download path once stopped: "/api/capture/<id>.pcapng". */
  download: string | null;
  error?: string;
}

export interface ActionReply {
  ok: true;
  /** What the CLI would print. */
  message: string;
  result: unknown;
}

export interface ErrorReply {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
