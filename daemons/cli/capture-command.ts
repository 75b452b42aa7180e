// vfab capture: live capture at any point of the fabric into a pcap/pcapng file or stdout. Several
// points (on several daemons) merge into one file in time order on the fabric clock; pcapng carries the
// daemons' comments (drop reasons, MAC moves) on the frames. Exit 2 for a bad point or an output path
// that cannot be written (nothing is left behind), 3 when a daemon cannot be reached or goes away
// mid-capture (the frames so far stay, in a valid file).

import { VfabError } from '../../lib/errors.js';
import { readState } from '../fabric/state.js';
import { startCapture, formatFor } from '../fabric/capture-client.js';
import { CAPTURE_REORDER_WINDOW_MS } from '../../lib/capture/merge.js';
import { type CliIo, parse, printJson, UsageError, EXIT_OK, EXIT_USAGE } from './io.js';

export const MAX_CAPTURE_SECONDS = 24 * 3600;
/** The CLI contract's exit code for "the fabric is not running or a daemon is unreachable". */
export const EXIT_UNREACHABLE = 3;

export const CAPTURE_USAGE = `usage: vfab capture POINT [POINT...] -w FILE|- [--format pcap|pcapng] [--count N] [--seconds S] [--json]

Captures the Ethernet frames crossing POINT, live, into FILE (pcap by default, pcapng when FILE ends in
.pcapng or with --format pcapng). With -w - the capture streams to stdout, so this works:
    vfab capture esx1.vmnic0 -w - | wireshark -k -i -
POINT is one of:
  web1.nic0      a VM vNIC: what the guest sends and receives
  esx1.vmnic0    a host uplink: frames as they leave and enter the host, 802.1Q tags included
  sw1.Gi1/0/1    a physical-switch port: frames as the switch receives and sends them
Several points go into one file, in time order on the fabric clock (frames wait up to
${CAPTURE_REORDER_WINDOW_MS} ms for slower daemons); pcapng keeps one interface per point, each packet's direction,
and a packet comment where the daemon said what the frame did ("dropped: forged transmit (security
policy)", "sw1: MAC ... moved Gi1/0/1 -> Gi1/0/48"). Stops after --count frames, after --seconds, or on Ctrl-C.
Exit 2: a bad point or a FILE that cannot be written. 3: a daemon cannot be reached, or went away
mid-capture (the frames captured until then stay in FILE).

examples:
  vfab capture esx1.vmnic0 esx1.vmnic1 -w uplinks.pcapng --seconds 10
  vfab capture sw1.Gi1/0/1 -w - --count 100 | tshark -r - -V`;

const USAGE_CODES = new Set(['VFAB_CAPTURE_POINT', 'VFAB_CAPTURE_FILE', 'VFAB_BAD_ENDPOINT', 'VFAB_USAGE']);
const UNREACHABLE_CODES = new Set(['VFAB_CAPTURE_UNREACHABLE', 'VFAB_NO_FABRIC']);

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
  let session;
  try {
    session = await startCapture(readState(), positionals, toStdout ? process.stdout : values.write, format, count);
  } catch (e) {
    if (!(e instanceof VfabError) || !(USAGE_CODES.has(e.code) || UNREACHABLE_CODES.has(e.code))) throw e;
    io.err(`vfab capture: ${e.message}`);
    return USAGE_CODES.has(e.code) ? EXIT_USAGE : EXIT_UNREACHABLE;
  }
  if (!toStdout) io.err(`capturing ${positionals.join(', ')} to ${values.write} (${format}); Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    void session.done.then(resolve);
    if (seconds !== undefined) setTimeout(resolve, seconds * 1000);
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
    return EXIT_UNREACHABLE;
  }
  return EXIT_OK;
}
