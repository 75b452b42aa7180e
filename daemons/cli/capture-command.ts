// vfab capture: live capture at any point of the fabric into a pcap/pcapng file or stdout. Several
// points (on several daemons) merge into one file in time order on the fabric clock; pcapng carries the
// daemons' comments (drop reasons, MAC moves) on the frames. Exit 2 for a bad point or an output path
// that cannot be written (nothing is left behind), 3 when a daemon cannot be reached or goes away
// mid-capture (the frames so far stay, in a valid file); the codes are mapped in daemons/cli.ts.

import { readState } from '../fabric/state.js';
import { CAPTURE_REORDER_WINDOW_MS } from '../../lib/capture/merge.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, EXIT_OK, EXIT_NO_FABRIC } from './io.js';

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
  esx1.vmk0      a host's vmkernel port: what the host's own IP stack sends and receives
  sw1.Gi1/0/1    a physical-switch port: frames as the switch receives and sends them
Several points go into one file, in time order on the fabric clock (frames wait up to
${CAPTURE_REORDER_WINDOW_MS} ms for slower daemons); pcapng keeps one interface per point, each packet's direction,
and a packet comment where the daemon said what the frame did ("dropped: forged transmit (security
policy)", "sw1: MAC ... moved Gi1/0/1 -> Gi1/0/48"). Stops after --count frames, after --seconds, or on Ctrl-C.`,
    options: {
      write: { type: 'string', short: 'w', value: 'FILE|-', required: true, description: 'where to write the capture; - is stdout' },
      format: { type: 'enum', values: ['pcap', 'pcapng'], description: 'file format (default: pcapng when FILE ends in .pcapng, else pcap)' },
      count: { type: 'int', short: 'c', min: 1, max: MAX_CAPTURE_COUNT, description: 'stop after N frames' },
      seconds: { type: 'duration', unit: 's', min: 0.001, max: MAX_CAPTURE_SECONDS, description: 'stop after this long' },
      json: { ...JSON_OPTION, description: 'print the result (frames, file, format) as JSON when done (to stderr with -w -)' },
    },
    args: { min: 1, max: Infinity },
    examples: ['capture esx1.vmnic0 esx1.vmnic1 -w uplinks.pcapng --seconds 10', 'capture sw1.Gi1/0/1 -w - --count 100 | tshark -r - -V', 'capture esx1.vmnic0 -w - | wireshark -k -i -'],
    exits: { 2: 'bad usage, a bad point, or a FILE that cannot be written', 3: 'no fabric, a daemon cannot be reached, or went away mid-capture (the frames captured until then stay in FILE)' },
  },
  async ({ values, positionals }, io) => {
    const { startCapture, formatFor } = await import('../fabric/capture-client.js');
    const toStdout = values.write === '-';
    const format = formatFor(toStdout ? '' : values.write, values.format);
    const session = await startCapture(readState(), positionals, toStdout ? process.stdout : values.write, format, values.count);
    if (!toStdout) io.err(`capturing ${positionals.join(', ')} to ${values.write} (${format}); Ctrl-C to stop`);
    await new Promise<void>((resolve) => {
      void session.done.then(resolve);
      if (values.seconds !== undefined) setTimeout(resolve, values.seconds * 1000);
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const result = await session.stop();
    const where = toStdout ? 'stdout' : values.write;
    if (values.json) printJson(toStdout ? { ...io, out: io.err } : io, { points: positionals, file: values.write, format, ...result });
    else {
      const notes = [result.malformed ? `${result.malformed} malformed records skipped` : '', result.late ? `${result.late} frames arrived later than the ${CAPTURE_REORDER_WINDOW_MS} ms reorder window (time raised to keep order)` : ''].filter(Boolean);
      io.err(`${result.frames} frames captured${notes.length ? `, ${notes.join(', ')}` : ''}`);
    }
    if (result.lost) {
      io.err(`vfab capture: lost the capture stream: ${result.lost.reason}; the ${result.frames} frames captured before are in ${where}`);
      return EXIT_NO_FABRIC;
    }
    return EXIT_OK;
  },
);

export const commands: CommandTable = { capture };
