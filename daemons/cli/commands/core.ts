// The fabric's core commands: up, down, status, ping, mac-table, link, capture.

import type { CommandTable } from '../io.js';
import { upCommand, downCommand, statusCommand, linkCommand } from '../fabric-commands.js';
import { pingCommand, macTableCommand } from '../net-commands.js';
import { captureCommand } from '../capture-command.js';

export const commands: CommandTable = {
  up: { run: upCommand, summary: 'start a fabric from a topology file and wait until every link is up', order: 10 },
  down: { run: downCommand, summary: 'stop the running fabric', order: 11 },
  status: { run: statusCommand, summary: 'hosts, vSwitches, ports and their uplinks, switches, links', order: 12 },
  ping: { run: pingCommand, summary: 'ping from inside a VM (ARP + ICMP through the fabric)', order: 20 },
  'mac-table': { run: macTableCommand, summary: "a switch's learned MACs (with moves) or a host's vSwitch tables", order: 21 },
  link: { run: linkCommand, summary: 'take a link down or up (carrier lost at both ends)', order: 30 },
  capture: { run: captureCommand, summary: 'live capture at a vNIC, uplink or switch port into pcap/pcapng (or stdout)', order: 22 },
};
