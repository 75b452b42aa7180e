// lib/guests/cpio.ts: newc cpio archives, checked byte by byte on a small fixture and, where GNU cpio is
// installed, unpacked by it.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCpio } from '../../lib/guests/cpio.js';

const header = (fields: number[]) => '070701' + fields.map((n) => n.toString(16).padStart(8, '0')).join('');

describe('guests/cpio', () => {
  it('writes a file as header, name, padding, data, padding, then the trailer', () => {
    const out = writeCpio([{ type: 'file', path: '/init', data: Buffer.from('hi\n'), mode: 0o755 }]);
    // "init\0" is 5 bytes: 110 + 5 = 115, padded to 116; 3 data bytes padded to 4
    const first = header([1, 0o100755, 0, 0, 1, 0, 3, 0, 0, 0, 0, 5, 0]) + 'init\0' + '\0' + 'hi\n' + '\0';
    // "TRAILER!!!\0" is 11 bytes: 110 + 11 = 121, padded to 124
    const trailer = header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0]) + 'TRAILER!!!\0' + '\0'.repeat(3);
    expect(out.toString('latin1')).to.equal(first + trailer);
    expect(out.length % 4).to.equal(0);
  });

  it('directories and symbolic links carry their type in the mode; a link\'s data is its target', () => {
    const out = writeCpio([{ type: 'dir', path: 'bin' }, { type: 'symlink', path: 'bin/sh', target: 'busybox' }]);
    const s = out.toString('latin1');
    expect(s.startsWith(header([1, 0o040755, 0, 0, 2, 0, 0, 0, 0, 0, 0, 4, 0]) + 'bin\0')).to.equal(true);
    const link = s.indexOf(header([2, 0o120777, 0, 0, 1, 0, 7, 0, 0, 0, 0, 7, 0]));
    expect(link).to.equal(116);
    expect(s.slice(link + 110, link + 110 + 7 + 3 + 7)).to.equal('bin/sh\0' + '\0\0\0' + 'busybox'); // 110 + 7 = 117, padded to 120
  });

  it('refuses paths that leave the root', () => {
    expect(() => writeCpio([{ type: 'dir', path: '../etc' }])).to.throw(RangeError, /below the root/);
    expect(() => writeCpio([{ type: 'dir', path: '/' }])).to.throw(RangeError);
  });

  it('GNU cpio unpacks it (skipped where cpio is not installed)', function () {
    if (!existsSync('/usr/bin/cpio')) {
      if (process.env.CI === 'true') throw new Error('CI machines have cpio (Debian installs it with the base system): the cross-check cannot skip');
      this.skip(); // an optional cross-check on a newcomer's machine (apt-get install cpio): the byte-level tests above stand alone
    }
    const dir = mkdtempSync(join(tmpdir(), 'vfab-cpio-'));
    try {
      const data = Buffer.alloc(1001, 7);
      const archive = writeCpio([{ type: 'dir', path: 'bin' }, { type: 'file', path: 'bin/tool', data, mode: 0o700 }, { type: 'symlink', path: 'bin/t', target: 'tool' }]);
      execFileSync('cpio', ['-idm', '--quiet'], { cwd: dir, input: archive });
      expect(readFileSync(join(dir, 'bin/tool')).equals(data)).to.equal(true);
      expect(statSync(join(dir, 'bin/tool')).mode & 0o777).to.equal(0o700);
      expect(readlinkSync(join(dir, 'bin/t'))).to.equal('tool');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
