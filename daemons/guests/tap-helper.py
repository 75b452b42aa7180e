# vfab's TAP helper (docs/guests.md "How a netns guest is attached"): one process per netns guest vNIC,
# started by hostd inside the guest's namespace (`ip netns exec NS python3 tap-helper.py IFNAME MTU`). It
# creates tap device IFNAME there (TUNSETIFF, IFF_TAP | IFF_NO_PI: plain Ethernet frames, no offloads) and
# moves frames between it and hostd over its stdin/stdout (a Unix stream socket pair from Node), each
# frame as a 4-byte big-endian length and its bytes (the framing of lib/guests/qemu-stream.ts). Frames
# from the tap are BATCHED: read until EAGAIN, at most MAX_BATCH_FRAMES / MAX_BATCH_BYTES, then one write,
# so hostd takes many frames per read. From hostd: a length with the top bit set is a control record
# (CONTROL_CARRIER_DOWN / _UP: TUNSETCARRIER, the guest sees NO-CARRIER); a length of 0 or above the
# frame bound ends the helper with EXIT_BAD_FRAMING (the stream cannot be resynchronised). EOF on stdin
# (hostd ended, also by kill -9) ends it, and the kernel removes the tap with its last file descriptor;
# it then says on stderr how many frames it took from the tap in how many writes.
# Python 3 standard library only. Leaves out the vnet header and offloads, multiqueue, IPv6 specifics.
import fcntl
import os
import select
import struct
import sys

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
TUNSETCARRIER = 0x400454E2  # _IOW('T', 226, int), Linux >= 5.0
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
MAX_BATCH_FRAMES = 64
MAX_BATCH_BYTES = 256 * 1024
READ_CHUNK_BYTES = 256 * 1024
ETH_OVERHEAD_BYTES = 14 + 8  # Ethernet header and two VLAN tags
MAX_MTU = 65535
CONTROL_BIT = 0x80000000
CONTROL_CARRIER_DOWN = CONTROL_BIT | 0
CONTROL_CARRIER_UP = CONTROL_BIT | 1
EXIT_USAGE = 2
EXIT_BAD_FRAMING = 3


def fail(code, msg):
    sys.stderr.write('tap-helper: %s\n' % msg)
    sys.stderr.flush()
    os._exit(code)


def main():
    if len(sys.argv) != 3 or not sys.argv[2].isdigit() or not (68 <= int(sys.argv[2]) <= MAX_MTU):
        fail(EXIT_USAGE, 'usage: tap-helper.py IFNAME MTU(68..%d)' % MAX_MTU)
    name = sys.argv[1].encode()
    if not 1 <= len(name) <= 15:
        fail(EXIT_USAGE, 'interface name must be 1-15 bytes')
    max_frame = int(sys.argv[2]) + ETH_OVERHEAD_BYTES
    tap = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack('16sH', name, IFF_TAP | IFF_NO_PI))
    inp, out = 0, 1
    os.set_blocking(inp, False)
    os.set_blocking(out, True)
    sys.stderr.write('ready\n')
    sys.stderr.flush()
    poller = select.poll()
    poller.register(tap, select.POLLIN)
    poller.register(inp, select.POLLIN)
    pack = struct.Struct('>I').pack
    unpack_from = struct.Struct('>I').unpack_from
    read, write = os.read, os.write
    pending = b''
    from_tap = batches = 0
    while True:
        for fd, _ in poller.poll():
            if fd == tap:
                parts = []
                frames = size = 0
                while frames < MAX_BATCH_FRAMES and size < MAX_BATCH_BYTES:
                    try:
                        f = read(tap, max_frame)
                    except BlockingIOError:
                        break
                    except OSError:  # EIO while the device is down
                        break
                    parts.append(pack(len(f)))
                    parts.append(f)
                    frames += 1
                    size += len(f)
                if parts:
                    from_tap += frames
                    batches += 1
                    data = memoryview(b''.join(parts))
                    while data:
                        data = data[write(out, data):]
                continue
            try:
                chunk = read(inp, READ_CHUNK_BYTES)
            except BlockingIOError:
                continue
            if not chunk:
                sys.stderr.write('frames from tap %d in %d writes\n' % (from_tap, batches))
                sys.stderr.flush()
                os._exit(0)
            buf = pending + chunk if pending else chunk
            at, end = 0, len(buf)
            view = memoryview(buf)  # slices of it are not copies
            while end - at >= 4:
                (length,) = unpack_from(buf, at)
                if length & CONTROL_BIT:
                    if length not in (CONTROL_CARRIER_DOWN, CONTROL_CARRIER_UP):
                        fail(EXIT_BAD_FRAMING, 'unknown control record 0x%08x' % length)
                    fcntl.ioctl(tap, TUNSETCARRIER, struct.pack('i', length & 1))
                    at += 4
                    continue
                if length == 0 or length > max_frame:
                    fail(EXIT_BAD_FRAMING, 'frame length %d is outside 1..%d' % (length, max_frame))
                if end - at - 4 < length:
                    break
                try:
                    write(tap, view[at + 4:at + 4 + length])
                except OSError:  # device down, queue full: the frame is lost, as on a wire
                    pass
                at += 4 + length
            pending = buf[at:]
            view.release()


try:
    main()
except (BrokenPipeError, ConnectionResetError):
    os._exit(0)
except KeyboardInterrupt:
    os._exit(0)
except OSError as e:
    fail(1, str(e))
