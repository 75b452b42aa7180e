// vfab capture: live capture at any point of the fabric into a pcap/pcapng file or stdout.

import { readState } from '../fabric/state.js';
import { startCapture, formatFor } from '../fabric/capture-client.js';
import { type CliIo, parse, printJson, UsageError, EXIT_OK } from './io.js';

export const MAX_CAPTURE_SECONDS = 24 * 3600;

export const CAPTURE_USAGE = `usage: vfab capture POINT [POINT...] -w FILE|- [--format pcap|pcapng] [--count N] [--seconds S] [--json]

Captures the Ethernet frames crossing POINT, live, into FILE (pcap by default, pcapng when FILE ends in
.pcapng or with --format pcapng). With -w - the capture streams to stdout, so this works:
    vfab capture esx1.vmnic0 -w - | wireshark -k -i -
POINT is one of:
  web1.nic0      a VM vNIC: what the guest sends and receives
  esx1.vmnic0    a host uplink: frames as they leave and enter the host, 802.1Q tags included
  sw1.Gi1/0/1    a physical-switch port: frames as the switch receives and sends them
Several points go into one file; pcapng keeps one interface per point and each packet's direction.
Stops after --count frames, after --seconds, or on Ctrl-C.`;

export async function captureCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { write: { type: 'string', short: 'w' }, format: { type: 'string' }, count: { type: 'string', short: 'c' }, seconds: { type: 'string' }, json: { type: 'boolean' } },
    CAPTURE_USAGE,
  );
  if (values.help) return io.out(CAPTURE_USAGE), EXIT_OK;
  if (positionals.length === 0 || !values.write) throw new UsageError(CAPTURE_USAGE);
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new UsageError(`--count must be a positive whole number, got ${values.count}`);
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
  if (seconds !== undefined && !(seconds > 0 && seconds <= MAX_CAPTURE_SECONDS)) throw new UsageError(`--seconds must be in (0, ${MAX_CAPTURE_SECONDS}], got ${values.seconds}`);
  const toStdout = values.write === '-';
  const format = formatFor(toStdout ? '' : values.write, values.format);
  const state = readState();
  const session = await startCapture(state, positionals, toStdout ? process.stdout : values.write, format, count);
  if (!toStdout) io.err(`capturing ${positionals.join(', ')} to ${values.write} (${format}); Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    void session.done.then(resolve);
    if (seconds !== undefined) setTimeout(resolve, seconds * 1000);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const result = await session.stop();
  if (values.json) printJson(io.out === undefined ? io : { ...io, out: toStdout ? io.err : io.out }, { points: positionals, file: values.write, format, ...result });
  else io.err(`${result.frames} frames captured${result.malformed ? `, ${result.malformed} malformed records skipped` : ''}`);
  return EXIT_OK;
}
