// The vSphere-HA core (docs/ha.md): configuration, election, timelines, the per-host agent, restart
// decisions, the heartbeat codec and the no-double-run check. Pure: the daemon wires it to sockets,
// timers and datastores.
export * from './agent.js';
export * from './config.js';
export * from './election.js';
export * from './errors.js';
export * from './guarantee.js';
export * from './heartbeat.js';
export * from './restart.js';
export * from './timeline.js';
