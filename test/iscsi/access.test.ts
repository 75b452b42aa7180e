// Initiator ACLs and CHAP configuration (lib/iscsi/access.ts): iSCSI names (iqn., eui., naa., at most 223
// bytes), the ACL compared without case, and the problems of an access config with their field paths,
// messages that never contain a secret.

import { expect } from 'chai';
import { accessProblems, initiatorAllowed, iscsiNameProblem } from '../../lib/iscsi/access.js';

describe('iscsi/access', () => {
  it('iSCSI names: iqn. with a date and a reversed domain, eui. with 16 hex digits, naa. with 16 or 32', () => {
    for (const ok of ['iqn.1994-05.com.redhat:host1', 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test', 'iqn.2026-11.vfab', 'IQN.1998-01.com.VMware:esx1', 'eui.02004567A425678D', 'naa.52004567ba64678d', 'naa.' + 'ab'.repeat(16)]) {
      expect(iscsiNameProblem(ok), ok).to.equal(undefined);
    }
    for (const bad of ['', 'host1', 'iqn.94-05.com.redhat:x', 'iqn.1994-13.com.redhat', 'iqn.1994-05.-com', 'iqn.1994-05.com..x', 'iqn.1994-05.com.redhat:a b', 'eui.0200', 'naa.' + 'a'.repeat(20), 'iqn.1994-05.com.x:' + 'a'.repeat(210)]) {
      expect(iscsiNameProblem(bad), bad).to.be.a('string');
    }
  });

  it('the ACL: absent lets everyone in; names compare without case', () => {
    expect(initiatorAllowed(undefined, 'iqn.1994-05.com.redhat:anyone')).to.equal(true);
    expect(initiatorAllowed(['iqn.1994-05.com.redhat:host1'], 'IQN.1994-05.COM.REDHAT:HOST1')).to.equal(true);
    expect(initiatorAllowed(['iqn.1994-05.com.redhat:host1'], 'iqn.1994-05.com.redhat:host2')).to.equal(false);
    expect(initiatorAllowed([], 'iqn.1994-05.com.redhat:host1')).to.equal(false);
  });

  it('config problems name their field, tell shape from content, and never echo a secret', () => {
    const problems = accessProblems({
      initiators: ['iqn.1994-05.com.redhat:host1', 'nohost', 'IQN.1994-05.com.redhat:HOST1', 7],
      chap: { username: '', secret: 'short-sec', mutual: { username: 'array1', secret: 'x'.repeat(256) } },
    });
    expect(problems.map((p) => [p.path.join('.'), p.kind])).to.deep.equal([
      ['initiators.1', 'value'],
      ['initiators.2', 'value'],
      ['initiators.3', 'type'],
      ['chap.username', 'value'],
      ['chap.secret', 'value'],
      ['chap.mutual.secret', 'value'],
    ]);
    for (const p of problems) {
      expect(p.message).not.to.contain('short-sec');
      expect(p.message).not.to.contain('xxxxxxxxxxxx');
    }
    expect(accessProblems({ chap: { username: 'u', secret: 'same-secret-1', mutual: { username: 'a', secret: 'same-secret-1' } } }).map((p) => p.message)).to.deep.equal([
      'the mutual secret must differ from the initiator secret (RFC 7143 §12.1.3)',
    ]);
    expect(accessProblems({ initiators: ['iqn.1994-05.com.redhat:host1'], chap: { username: 'u', secret: 'twelve-bytes', mutual: { username: 'a', secret: 'other-secret' } } })).to.deep.equal([]);
    expect(accessProblems({ chap: 'yes' }).map((p) => p.kind)).to.deep.equal(['type']);
  });
});
