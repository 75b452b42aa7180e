// The datastore directory (lib/storage/datastore.ts) and size parsing (lib/storage/size.ts): empty LUNs,
// sequential aligned placement, idempotent lookup, size mismatch, full LUN / directory, foreign bytes.
import { expect } from 'chai';
import {
  DATASTORE_DATA_START_BYTES,
  DATASTORE_DIR_BYTES,
  DISK_ALIGN_BYTES,
  encodeDirectory,
  parseDirectory,
  planDisk,
} from '../../lib/storage/datastore.js';
import { parseSizeBytes, formatSize } from '../../lib/storage/size.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

describe('storage/datastore directory', () => {
  it('an all-zero region (a never-written thin LUN) is the empty directory', () => {
    const r = parseDirectory(Buffer.alloc(DATASTORE_DIR_BYTES));
    expect(r.ok && r.value.disks).to.deep.equal([]);
  });

  it('places disks sequentially from the data start, each on a 1 MiB boundary, and round-trips', () => {
    const p1 = planDisk({ disks: [] }, 'web1/disk0', 3 * 512, GIB, 512);
    if (!p1.ok || p1.value.kind !== 'add') throw new Error('expected add');
    expect(p1.value.disk).to.deep.equal({ name: 'web1/disk0', offsetBytes: DATASTORE_DATA_START_BYTES, sizeBytes: 1536 });
    expect(p1.value.directory.length).to.equal(DATASTORE_DIR_BYTES);
    const dir = parseDirectory(p1.value.directory);
    if (!dir.ok) throw dir.error;
    const p2 = planDisk(dir.value, 'web2/disk0', 512 * MIB, GIB, 512);
    if (!p2.ok || p2.value.kind !== 'add') throw new Error('expected add');
    expect(p2.value.disk.offsetBytes).to.equal(DATASTORE_DATA_START_BYTES + DISK_ALIGN_BYTES);
  });

  it('finds an existing disk (idempotent attach) and refuses a different size', () => {
    const dir = { disks: [{ name: 'web1/disk0', offsetBytes: MIB, sizeBytes: 4 * MIB }] };
    const found = planDisk(dir, 'web1/disk0', 4 * MIB, GIB, 512);
    expect(found.ok && found.value.kind).to.equal('found');
    const other = planDisk(dir, 'web1/disk0', 8 * MIB, GIB, 512);
    expect(!other.ok && other.error.code).to.equal('VFAB_DATASTORE_SIZE_MISMATCH');
  });

  it('a disk that does not fit the LUN is VFAB_DATASTORE_FULL; bad sizes are VFAB_DATASTORE_BAD_DISK', () => {
    const full = planDisk({ disks: [] }, 'big/disk0', GIB, GIB, 512);
    expect(!full.ok && full.error.code).to.equal('VFAB_DATASTORE_FULL');
    const odd = planDisk({ disks: [] }, 'x/disk0', 1000, GIB, 512);
    expect(!odd.ok && odd.error.code).to.equal('VFAB_DATASTORE_BAD_DISK');
  });

  it('a directory that would not fit its region is refused (encode returns undefined, plan FULL)', () => {
    const disks = Array.from({ length: 200 }, (_, i) => ({ name: `vm-with-a-long-name-${i}/disk0`, offsetBytes: MIB * (i + 1), sizeBytes: MIB }));
    expect(encodeDirectory({ disks })).to.equal(undefined);
    const r = planDisk({ disks: disks.slice(0, 150) }, 'one-more/disk0', MIB, 100 * GIB, 512);
    expect(!r.ok && r.error.code).to.equal('VFAB_DATASTORE_FULL');
  });

  it('foreign bytes at LBA 0 are VFAB_DATASTORE_CORRUPT, never overwritten silently', () => {
    const junk = Buffer.alloc(DATASTORE_DIR_BYTES);
    junk.write('not json at all');
    expect(parseDirectory(junk).ok).to.equal(false);
    const trailing = Buffer.alloc(DATASTORE_DIR_BYTES);
    trailing.write('{"vfabDatastore":1,"disks":[]}');
    trailing[DATASTORE_DIR_BYTES - 1] = 7;
    const r = parseDirectory(trailing);
    expect(!r.ok && r.error.code).to.equal('VFAB_DATASTORE_CORRUPT');
    const wrongFormat = Buffer.alloc(DATASTORE_DIR_BYTES);
    wrongFormat.write('{"vfabDatastore":2,"disks":[]}');
    expect(parseDirectory(wrongFormat).ok).to.equal(false);
  });
});

describe('storage/size parsing', () => {
  it('binary units, optional i/B, fractions and plain bytes', () => {
    const cases: Array<[string, number]> = [['4096', 4096], ['4k', 4096], ['512M', 512 * MIB], ['4G', 4 * GIB], ['1.5GiB', 1.5 * GIB], ['2TB', 2 * 1024 * GIB], ['0.5g', GIB / 2]];
    for (const [text, bytes] of cases) expect(parseSizeBytes(text)).to.deep.equal({ ok: true, value: bytes });
  });

  it('refuses unknown units, negatives, empty text and fractions of a byte with VFAB_SIZE_SYNTAX', () => {
    for (const text of ['4X', '-1G', '', 'G', '1.3', '4 GB extra']) {
      const r = parseSizeBytes(text);
      expect(!r.ok && r.error.code, text).to.equal('VFAB_SIZE_SYNTAX');
    }
  });

  it('formats sizes for display', () => {
    expect(formatSize(512 * MIB)).to.equal('512M');
    expect(formatSize(4 * GIB)).to.equal('4G');
    expect(formatSize(1536)).to.equal('1.5K');
    expect(formatSize(1000)).to.equal('1000');
  });
});
