// iSCSI text data (lib/iscsi/text.ts): key=value NUL pairs parse and encode; every bound and malformation
// gives its typed error; continued PDUs join even when a pair is cut between them; long answers split.

import { expect } from 'chai';
import {
  TEXT_ERROR,
  TEXT_MAX_BYTES,
  TEXT_MAX_KEY_BYTES,
  TEXT_MAX_PAIRS,
  TEXT_MAX_VALUE_BYTES,
  TextAssembler,
  encodeText,
  parseText,
  splitText,
} from '../../lib/iscsi/text.js';
import { LIBISCSI_LOGIN_KEYS, textOf } from './fixtures.js';

const codeOf = (s: string | Uint8Array): string => {
  const r = parseText(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
  expect(r.ok, 'must not parse').to.equal(false);
  return r.ok ? '' : r.error.code;
};

describe('iscsi/text', () => {
  it('parses libiscsi login text and encodes it back byte for byte', () => {
    const bytes = Buffer.from(textOf(LIBISCSI_LOGIN_KEYS));
    const r = parseText(bytes);
    if (!r.ok) throw r.error;
    expect(r.value.map((p) => [p.key, p.value])).to.deep.equal(LIBISCSI_LOGIN_KEYS);
    expect(encodeText(r.value).equals(bytes)).to.equal(true);
  });

  it('accepts empty values and NUL padding after the last pair', () => {
    const r = parseText(Buffer.from('SendTargets=\0\0\0\0'));
    if (!r.ok) throw r.error;
    expect(r.value).to.deep.equal([{ key: 'SendTargets', value: '' }]);
    const e = parseText(new Uint8Array(0));
    expect(e.ok && e.value).to.deep.equal([]);
  });

  it('refuses malformed text with typed errors', () => {
    expect(codeOf('A=1\0B=2')).to.equal(TEXT_ERROR.NOT_TERMINATED);
    expect(codeOf('A1\0')).to.equal(TEXT_ERROR.NO_EQUALS);
    expect(codeOf('A=1\0\0B=2\0')).to.equal(TEXT_ERROR.NO_EQUALS);
    expect(codeOf('=1\0')).to.equal(TEXT_ERROR.BAD_KEY);
    expect(codeOf('Bad Key=1\0')).to.equal(TEXT_ERROR.BAD_KEY);
    expect(codeOf(`${'K'.repeat(TEXT_MAX_KEY_BYTES + 1)}=1\0`)).to.equal(TEXT_ERROR.KEY_TOO_LONG);
    expect(parseText(Buffer.from(`${'K'.repeat(TEXT_MAX_KEY_BYTES)}=1\0`)).ok).to.equal(true);
    expect(codeOf(`K=${'v'.repeat(TEXT_MAX_VALUE_BYTES + 1)}\0`)).to.equal(TEXT_ERROR.VALUE_TOO_LONG);
    expect(parseText(Buffer.from(`K=${'v'.repeat(TEXT_MAX_VALUE_BYTES)}\0`)).ok).to.equal(true);
    expect(codeOf(Buffer.from([0x4b, 0x3d, 0xff, 0xfe, 0]))).to.equal(TEXT_ERROR.BAD_VALUE);
    expect(codeOf('A=1\0A=2\0')).to.equal(TEXT_ERROR.DUPLICATE_KEY);
  });

  it('bounds pairs and bytes per exchange', () => {
    const many = Array.from({ length: TEXT_MAX_PAIRS + 1 }, (_, i) => `K${i}=1\0`).join('');
    expect(codeOf(many)).to.equal(TEXT_ERROR.TOO_MANY_PAIRS);
    const atLimit = Array.from({ length: TEXT_MAX_PAIRS }, (_, i) => `K${i}=1\0`).join('');
    expect(parseText(Buffer.from(atLimit)).ok).to.equal(true);
    expect(codeOf(new Uint8Array(TEXT_MAX_BYTES + 1))).to.equal(TEXT_ERROR.TOO_LONG);
  });

  it('joins continued PDUs even when a pair is cut between them, at every byte', () => {
    const bytes = Buffer.from(textOf(LIBISCSI_LOGIN_KEYS));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const a = new TextAssembler();
      const first = a.add(bytes.subarray(0, cut), true);
      expect(first.ok && first.value, `cut ${cut}`).to.equal(undefined);
      const second = a.add(bytes.subarray(cut), false);
      if (!second.ok) throw second.error;
      expect(second.value!.length, `cut ${cut}`).to.equal(LIBISCSI_LOGIN_KEYS.length);
      expect(a.heldBytes).to.equal(0);
    }
  });

  it('drops a continued sequence that grows past TEXT_MAX_BYTES', () => {
    const a = new TextAssembler();
    const chunk = new Uint8Array(8192).fill(0x41);
    let r = a.add(chunk, true);
    for (let i = 0; i < 3; i++) r = a.add(chunk, true);
    expect(r.ok).to.equal(true);
    r = a.add(Uint8Array.of(0x41), true);
    expect(!r.ok && r.error.code).to.equal(TEXT_ERROR.TOO_LONG);
    expect(a.heldBytes).to.equal(0);
  });

  it('splits long text into pieces of at most the peer limit', () => {
    const text = Buffer.alloc(20000, 0x41);
    const pieces = splitText(text, 8192);
    expect(pieces.map((p) => p.length)).to.deep.equal([8192, 8192, 3616]);
    expect(Buffer.concat(pieces).equals(text)).to.equal(true);
  });
});
