// Election of the HA primary (docs/ha.md; docs/vsphere-behaviour.md §7.11, §7.13): among the agents that can
// hear each other, the one that sees the most datastores wins; a tie goes to the host name that sorts
// last (a stable rule every agent computes alike, in the spirit of vSphere's highest object ID). Pure
// comparisons; when elections start and end is the agent's business (agent.ts). Leaves out vSphere's
// preference for hosts that are not in maintenance mode or whose agents are of a newer version.

/** What an agent offers in an election: its name and how many datastores it sees. */
export interface Claim {
  host: string;
  datastoresSeen: number;
}

/** > 0 when `a` beats `b`, < 0 when `b` wins, 0 only for the same host. */
export function compareClaims(a: Claim, b: Claim): number {
  if (a.datastoresSeen !== b.datastoresSeen) return a.datastoresSeen - b.datastoresSeen;
  return a.host < b.host ? -1 : a.host > b.host ? 1 : 0;
}

/** The winner among `claims` (undefined for none). */
export function electPrimary(claims: Iterable<Claim>): Claim | undefined {
  let best: Claim | undefined;
  for (const c of claims) if (best === undefined || compareClaims(c, best) > 0) best = c;
  return best;
}
