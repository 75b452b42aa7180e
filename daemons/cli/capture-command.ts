// vfab capture: live capture at any point of the fabric into a pcap/pcapng file or stdout.

import { readState } from '../fabric/state.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, EXIT_OK } from './io.js';

export const MAX_CAPTURE_SECONDS = 24 * 3600;
/** Most frames one --count asks for. */
export const MAX_CAPTURE_COUNT = 100_000_000;

const capture = defineCommand(
  {
    usage: ['POINT [POINT...] -w FILE|- [--format pcap|pcapng] [--count N] [--seconds S] [--json]'],
    description: `Captures the Ethernet frames crossing POINT, live, into FILE (pcap by default, pcapng when FILE ends in
.pcapng or with --format pcapng). With -w - the capture streams to stdout, so this works:
    vfab capture esx1.vmnic0 -w - | wireshark -k -i -
POINT is one of:
  web1.nic0      a VM vNIC: what the guest sends and receives
  esx1.vmnic0    a host uplink: frames as they leave and enter the host, 802.1Q tags included
  sw1.Gi1/0/1    a physical-switch port: frames as the switch receives and sends them
Several points go into one file; pcapng keeps one interface per point and each packet's direction.
Stops after --count frames, after --seconds, or on Ctrl-C.`,
    options: {
      write: { type: 'string', short: 'w', value: 'FILE|-', required: true, description: 'where to write the capture; - is stdout' },
      format: { type: 'enum', values: ['pcap', 'pcapng'], description: 'file format (default: pcapng when FILE ends in .pcapng, else pcap)' },
      count: { type: 'int', short: 'c', min: 1, max: MAX_CAPTURE_COUNT, description: 'stop after N frames' },
      seconds: { type: 'duration', unit: 's', min: 0.001, max: MAX_CAPTURE_SECONDS, description: 'stop after this long' },
      json: { ...JSON_OPTION, description: 'print the result (frames, file, format) as JSON when done (to stderr with -w -)' },
    },
    args: { min: 1, max: Infinity },
    examples: ['capture esx1.vmnic0 -w uplink.pcapng --seconds 10', 'capture web1.nic0 sw1.Gi1/0/48 -w both.pcapng --count 100', 'capture esx1.vmnic0 -w - | wireshark -k -i -'],
  },
  async ({ values, positionals }, io) => {
    const { startCapture, formatFor } = await import('../fabric/capture-client.js');
    const toStdout = values.write === '-';
    const format = formatFor(toStdout ? '' : values.write, values.format);
    const state = readState();
    const session = await startCapture(state, positionals, toStdout ? process.stdout : values.write, format, values.count);
    if (!toStdout) io.err(`capturing ${positionals.join(', ')} to ${values.write} (${format}); Ctrl-C to stop`);
    await new Promise<void>((resolve) => {
      void session.done.then(resolve);
      if (values.seconds !== undefined) setTimeout(resolve, values.seconds * 1000);
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const result = await session.stop();
    if (values.json) printJson(toStdout ? { ...io, out: io.err } : io, { points: positionals, file: values.write, format, ...result });
    else io.err(`${result.frames} frames captured${result.malformed ? `, ${result.malformed} malformed records skipped` : ''}`);
    return EXIT_OK;
  },
);

export const commands: CommandTable = { capture };
