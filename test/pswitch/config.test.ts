import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { VfabError } from '../../lib/errors.js';
import {
  DEFAULT_MAC_FLAP_MOVES, DEFAULT_MAC_FLAP_WINDOW_MS, DEFAULT_MAC_TABLE_MAX_ENTRIES, MAC_AGING_MS, MAX_CHANNEL_MEMBERS,
  MAX_SWITCH_PORTS, normalizeSwitchConfig, type PhysicalSwitchConfig, type SwitchPortConfig,
} from '../../lib/pswitch/config.js';
import { PhysicalSwitch } from '../../lib/pswitch/pswitch.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof VfabError) return e.code;
    throw e;
  }
  return undefined;
}

function sw(ports: SwitchPortConfig[], extra: Partial<PhysicalSwitchConfig> = {}): () => PhysicalSwitch {
  return () => new PhysicalSwitch({ name: 'sw1', ports, ...extra }, new ManualClock());
}

const trunk = (name: string, more: Partial<SwitchPortConfig> = {}): SwitchPortConfig => ({ name, mode: 'trunk', ...more });
const access = (name: string, vlan = 1, more: Partial<SwitchPortConfig> = {}): SwitchPortConfig => ({ name, mode: 'access', accessVlan: vlan, ...more });

describe('pswitch config validation', () => {
  it('fills in the named defaults', () => {
    const c = normalizeSwitchConfig({ name: 'sw1', ports: [{ name: 'Gi1/0/1', mode: 'trunk' }, { name: 'Gi1/0/2', mode: 'access' }] });
    expect(c.macAgingMs).to.equal(MAC_AGING_MS).and.to.equal(300_000);
    expect(c.macTableMaxEntries).to.equal(DEFAULT_MAC_TABLE_MAX_ENTRIES);
    expect(c.flapMoves).to.equal(DEFAULT_MAC_FLAP_MOVES);
    expect(c.flapWindowMs).to.equal(DEFAULT_MAC_FLAP_WINDOW_MS);
    expect(c.ports[0]).to.include({ nativeVlan: 1, allowedVlans: 'all', mtuBytes: 1500, shutdown: false });
    expect(c.ports[0]!.allowed[1]).to.equal(1);
    expect(c.ports[0]!.allowed[4094]).to.equal(1);
    expect(c.ports[0]!.allowed[0]).to.equal(0);
    expect(c.ports[0]!.allowed[4095]).to.equal(0);
    expect(c.ports[1]).to.include({ accessVlan: 1 });
  });

  it('rejects VLANs outside 1-4094 (access, native, allowed)', () => {
    expect(codeOf(sw([access('p1', 0)]))).to.equal('VFAB_PSWITCH_BAD_VLAN');
    expect(codeOf(sw([access('p1', 4095)]))).to.equal('VFAB_PSWITCH_BAD_VLAN');
    expect(codeOf(sw([trunk('p1', { nativeVlan: 5000 })]))).to.equal('VFAB_PSWITCH_BAD_VLAN');
    expect(codeOf(sw([trunk('p1', { allowedVlans: [10, 4095] })]))).to.equal('VFAB_PSWITCH_BAD_VLAN');
    expect(codeOf(sw([trunk('p1', { allowedVlans: [1.5] })]))).to.equal('VFAB_PSWITCH_BAD_VLAN');
    expect(codeOf(sw([trunk('p1', { allowedVlans: [] })]))).to.equal(undefined);
  });

  it('rejects a bad MTU and bad limits', () => {
    expect(codeOf(sw([access('p1', 1, { mtuBytes: 9217 })]))).to.equal('VFAB_PSWITCH_BAD_MTU');
    expect(codeOf(sw([access('p1', 1, { mtuBytes: 9216 })]))).to.equal(undefined);
    expect(codeOf(sw([access('p1')], { macAgingMs: 0 }))).to.equal('VFAB_PSWITCH_BAD_LIMIT');
    expect(codeOf(sw([access('p1')], { macTableMaxEntries: 0 }))).to.equal('VFAB_PSWITCH_BAD_LIMIT');
    expect(codeOf(sw([access('p1')], { flapDetection: { moves: 0, windowMs: 1000 } }))).to.equal('VFAB_PSWITCH_BAD_LIMIT');
    expect(codeOf(sw([access('p1')], { flapDetection: { moves: 3, windowMs: -1 } }))).to.equal('VFAB_PSWITCH_BAD_LIMIT');
  });

  it('rejects empty, oversized and badly named switches', () => {
    expect(codeOf(sw([]))).to.equal('VFAB_PSWITCH_CONFIG');
    expect(codeOf(sw(Array.from({ length: MAX_SWITCH_PORTS + 1 }, (_, i) => access(`p${i}`))))).to.equal('VFAB_PSWITCH_LIMIT');
    expect(codeOf(sw([{ name: '', mode: 'access' }]))).to.equal('VFAB_PSWITCH_CONFIG');
    expect(codeOf(sw([{ name: 'p1', mode: 'routed' as 'access' }]))).to.equal('VFAB_PSWITCH_CONFIG');
    expect(codeOf(sw([access('p1'), access('p1')]))).to.equal('VFAB_PSWITCH_DUPLICATE_NAME');
  });

  it('rejects a channel with an unknown member', () => {
    const f = sw([trunk('p1')], { portChannels: [{ name: 'Po1', members: ['p1', 'p9'], mode: 'on' }] });
    expect(codeOf(f)).to.equal('VFAB_PSWITCH_UNKNOWN_MEMBER');
  });

  it('rejects a port in two channels, or twice in one', () => {
    const ports = [trunk('p1'), trunk('p2'), trunk('p3')];
    expect(codeOf(sw(ports, {
      portChannels: [{ name: 'Po1', members: ['p1', 'p2'], mode: 'on' }, { name: 'Po2', members: ['p2', 'p3'], mode: 'on' }],
    }))).to.equal('VFAB_PSWITCH_MEMBER_CONFLICT');
    expect(codeOf(sw(ports, { portChannels: [{ name: 'Po1', members: ['p1', 'p1'], mode: 'on' }] }))).to.equal('VFAB_PSWITCH_MEMBER_CONFLICT');
  });

  it('rejects members whose mode, VLANs or MTU differ (IOS would suspend them)', () => {
    const ch = { portChannels: [{ name: 'Po1', members: ['p1', 'p2'], mode: 'on' as const }] };
    expect(codeOf(sw([trunk('p1'), access('p2')], ch))).to.equal('VFAB_PSWITCH_CHANNEL_MISMATCH');
    expect(codeOf(sw([trunk('p1', { nativeVlan: 10 }), trunk('p2')], ch))).to.equal('VFAB_PSWITCH_CHANNEL_MISMATCH');
    expect(codeOf(sw([trunk('p1', { allowedVlans: [10, 20] }), trunk('p2', { allowedVlans: [10] })], ch))).to.equal('VFAB_PSWITCH_CHANNEL_MISMATCH');
    expect(codeOf(sw([trunk('p1', { allowedVlans: [10, 20] }), trunk('p2')], ch))).to.equal('VFAB_PSWITCH_CHANNEL_MISMATCH');
    expect(codeOf(sw([access('p1', 10), access('p2', 20)], ch))).to.equal('VFAB_PSWITCH_CHANNEL_MISMATCH');
    expect(codeOf(sw([trunk('p1', { mtuBytes: 9000 }), trunk('p2')], ch))).to.equal('VFAB_PSWITCH_CHANNEL_MISMATCH');
    // Same allowed list written in another order is the same setting.
    expect(codeOf(sw([trunk('p1', { allowedVlans: [20, 10] }), trunk('p2', { allowedVlans: [10, 20, 10] })], ch))).to.equal(undefined);
  });

  it('rejects non-static channels, unknown hashes, bad sizes and clashing names', () => {
    const ports = Array.from({ length: MAX_CHANNEL_MEMBERS + 1 }, (_, i) => trunk(`p${i}`));
    expect(codeOf(sw(ports, { portChannels: [{ name: 'Po1', members: ['p0'], mode: 'active' as 'on' }] }))).to.equal('VFAB_PSWITCH_BAD_CHANNEL');
    expect(codeOf(sw(ports, { portChannels: [{ name: 'Po1', members: ['p0'], mode: 'on', loadBalance: 'l4' as 'src-ip' }] }))).to.equal('VFAB_PSWITCH_BAD_CHANNEL');
    expect(codeOf(sw(ports, { portChannels: [{ name: 'Po1', members: [], mode: 'on' }] }))).to.equal('VFAB_PSWITCH_BAD_CHANNEL');
    expect(codeOf(sw(ports, { portChannels: [{ name: 'Po1', members: ports.map((p) => p.name), mode: 'on' }] }))).to.equal('VFAB_PSWITCH_BAD_CHANNEL');
    expect(codeOf(sw(ports, { portChannels: [{ name: 'p1', members: ['p0'], mode: 'on' }] }))).to.equal('VFAB_PSWITCH_DUPLICATE_NAME');
    expect(codeOf(sw(ports, {
      portChannels: [{ name: 'Po1', members: ['p0'], mode: 'on' }, { name: 'Po1', members: ['p1'], mode: 'on' }],
    }))).to.equal('VFAB_PSWITCH_DUPLICATE_NAME');
  });

  it('reports ports and channels as configured', () => {
    const s = sw([trunk('p1', { description: 'to esx1 vmnic0' }), trunk('p2'), access('p3', 10, { shutdown: true })], {
      portChannels: [{ name: 'Po1', members: ['p1', 'p2'], mode: 'on', loadBalance: 'src-dst-mac' }],
    })();
    const ports = s.ports();
    expect(ports[0]).to.include({ name: 'p1', description: 'to esx1 vmnic0', portChannel: 'Po1', status: 'connected', up: true });
    expect(ports[2]).to.include({ name: 'p3', mode: 'access', accessVlan: 10, shutdown: true, up: false, status: 'disabled' });
    expect(s.portChannels()).to.deep.equal([{ name: 'Po1', members: ['p1', 'p2'], upMembers: ['p1', 'p2'], up: true, loadBalance: 'src-dst-mac' }]);
    expect(s.portIndex('p3')).to.equal(2);
    expect(codeOf(() => s.portIndex('nope'))).to.equal('VFAB_PSWITCH_UNKNOWN_PORT');
  });
});
