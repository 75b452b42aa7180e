// lib/ui/auth.ts: the one-time login code, sessions and the Host/Origin check, with a manual clock and
// a counter for randomness.
import { expect } from 'chai';
import { UiAuth, cookieValue, originProblem, sameSecret } from '../../lib/ui/auth.js';
import { LOGIN_CODE_TTL_MS, SESSION_COOKIE } from '../../lib/ui/protocol.js';

function auth(start = 0) {
  let now = start;
  let n = 0;
  const a = new UiAuth({ random: () => `secret${++n}`.padEnd(16, '0'), now: () => now });
  return { a, advance: (ms: number) => (now += ms) };
}

const cookieFor = (session: string) => `${SESSION_COOKIE}=${session}`;

describe('ui/auth: UiAuth', () => {
  it('trades the code for a session once; the second use, a wrong code and no code are refused', () => {
    const { a } = auth();
    const code = a.loginCode!;
    expect(a.login('wrong')).to.equal(undefined);
    expect(a.login(null)).to.equal(undefined);
    const session = a.login(code)!;
    expect(session).to.be.a('string').and.not.equal(code);
    expect(a.loginCode).to.equal(undefined);
    expect(a.login(code)).to.equal(undefined);
    expect(a.authorized(cookieFor(session))).to.equal(true);
  });

  it('refuses the code once it expired', () => {
    const { a, advance } = auth(1000);
    advance(LOGIN_CODE_TTL_MS + 1);
    expect(a.login(a.loginCode)).to.equal(undefined);
  });

  it('accepts only a session it opened, in its own cookie', () => {
    const { a } = auth();
    const session = a.login(a.loginCode)!;
    expect(a.authorized(undefined)).to.equal(false);
    expect(a.authorized(`other=${session}`)).to.equal(false);
    expect(a.authorized(cookieFor(session.replace(/.$/, 'x')))).to.equal(false);
    expect(a.authorized(`theme=dark; ${cookieFor(session)}`)).to.equal(true);
  });

  it('sets an HttpOnly, SameSite=Strict cookie', () => {
    expect(UiAuth.cookie('abc')).to.equal(`${SESSION_COOKIE}=abc; HttpOnly; SameSite=Strict; Path=/`);
  });

});

describe('ui/auth: originProblem', () => {
  it('serves Host 127.0.0.1:PORT or localhost:PORT only, and an Origin of the same', () => {
    expect(originProblem('127.0.0.1:8700', undefined, 8700)).to.equal(undefined);
    expect(originProblem('localhost:8700', 'http://localhost:8700', 8700)).to.equal(undefined);
    expect(originProblem('127.0.0.1:8700', 'http://127.0.0.1:8700', 8700)).to.equal(undefined);
    expect(originProblem('evil.example:8700', undefined, 8700)).to.match(/Host "evil.example:8700"/);
    expect(originProblem('127.0.0.1:8701', undefined, 8700)).to.match(/Host/);
    expect(originProblem(undefined, undefined, 8700)).to.match(/Host/);
    expect(originProblem('127.0.0.1:8700', 'http://evil.example', 8700)).to.match(/Origin "http:\/\/evil.example"/);
    expect(originProblem('127.0.0.1:8700', 'null', 8700)).to.match(/Origin/);
    expect(originProblem('127.0.0.1:8700', 'https://127.0.0.1:8700', 8700)).to.match(/Origin/);
  });
});

describe('ui/auth: helpers', () => {
  it('reads one cookie from a Cookie header', () => {
    expect(cookieValue('a=1; b=2', 'b')).to.equal('2');
    expect(cookieValue('ab=1', 'b')).to.equal(undefined);
    expect(cookieValue(undefined, 'b')).to.equal(undefined);
  });
  it('compares secrets whole', () => {
    expect(sameSecret('abcd', 'abcd')).to.equal(true);
    expect(sameSecret('abcd', 'abce')).to.equal(false);
    expect(sameSecret('abcd', 'abc')).to.equal(false);
  });
});
