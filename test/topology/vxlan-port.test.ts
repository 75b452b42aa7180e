// Switch ports with `mode: vxlan` (docs/guests.md "VXLAN ports on physical switches"): the model keeps the
// port's VLAN behaviour (access in `vlan`, or a trunk with vxlan.trunk) plus its tunnel, with defaults; a
// tunnel port cannot be cabled or bundled, and sockets shared within a switch or clashing between switches
// are reported on their lines.

import { expect } from 'chai';
import { parseTopology } from '../../lib/topology/load.js';
import { expectOneProblem, fabric, loadError } from './helpers.js';

const port = (name: string) => (text: string) => parseTopology(fabric({ ports: text }), 't.yaml').switches[0]!.ports.find((p) => p.name === name)!;

describe('topology: VXLAN switch ports (mode: vxlan)', () => {
  it('an access port in vlan with its tunnel, and the defaults: remote port 4789, local 127.0.0.1:4789', () => {
    const p = port('Vx1')(`
      - { name: Vx1, mode: vxlan, vlan: 10, vxlan: { vni: 5001, remote: 127.0.0.1 } }
    `);
    expect(p).to.deep.include({ mode: 'access', accessVlan: 10, nativeVlan: 10, allowedVlans: [[10, 10]] });
    expect(p.vxlan).to.deep.equal({ vni: 5001, remote: '127.0.0.1', remotePort: 4789, localAddress: '127.0.0.1', localPort: 4789 });
    expect(port('Gi1/0/3')('').vxlan, 'other ports have no tunnel').to.equal(undefined);
  });

  it('vxlan.trunk makes the tunnel a trunk (allowedVlans, nativeVlan); given ports and addresses are kept', () => {
    const p = port('Vx1')(`
      - name: Vx1
        mode: vxlan
        allowedVlans: [10, 20]
        nativeVlan: 99
        vxlan: { vni: 16777215, remote: 198.51.100.7, remotePort: 8472, localAddress: 0.0.0.0, localPort: 0, trunk: true }
    `);
    expect(p).to.deep.include({ mode: 'trunk', nativeVlan: 99, allowedVlans: [[10, 10], [20, 20]] });
    expect(p.vxlan).to.deep.equal({ vni: 16777215, remote: '198.51.100.7', remotePort: 8472, localAddress: '0.0.0.0', localPort: 0 });
  });

  it('refuses a missing tunnel, a tunnel on another mode, trunk keys on an access tunnel, bad VNIs and addresses', () => {
    expectOneProblem(fabric({ ports: `
      - { name: Vx1, mode: vxlan }   # <-
    ` }), 'switches[0].ports[4].mode', 'needs its tunnel');
    expectOneProblem(fabric({ ports: `
      - { name: Vx1, mode: access, vxlan: { vni: 1, remote: 127.0.0.1 } }   # <-
    ` }), 'switches[0].ports[4].vxlan', 'apply to mode: vxlan ports');
    expectOneProblem(fabric({ ports: `
      - name: Vx1
        mode: vxlan
        nativeVlan: 5   # <-
        vxlan: { vni: 1, remote: 127.0.0.1 }
    ` }), 'switches[0].ports[4].nativeVlan', 'trunk ports only');
    // one field of the tunnel wrong, on its own line (marked)
    const tunnel = (vni: string, remote: string) => fabric({ ports: `
      - name: Vx1
        mode: vxlan
        vxlan:
          vni: ${vni}
          remote: ${remote}
    ` });
    expectOneProblem(tunnel('16777216   # <-', '127.0.0.1'), 'switches[0].ports[4].vxlan.vni', '16777215');
    expectOneProblem(tunnel('1', '127.0.0.300   # <-'), 'switches[0].ports[4].vxlan.remote', 'not an IPv4 address');
    expectOneProblem(tunnel('1', '239.1.1.1   # <-'), 'switches[0].ports[4].vxlan.remote', 'not a unicast address');
    expectOneProblem(tunnel('1', '198.51.100.7   # <-'), 'switches[0].ports[4].vxlan.remote', 'cannot reach 198.51.100.7');
  });

  it('a tunnel port is no links: endpoint and no port-channel member', () => {
    expectOneProblem(fabric({
      ports: '- { name: Vx1, mode: vxlan, vxlan: { vni: 1, remote: 127.0.0.1 } }',
      links: `
        - [esx1.vmnic1, sw1.Vx1]   # <-
      `,
    }), 'links[1][1]', 'is a VXLAN tunnel port');
    expectOneProblem(fabric({
      ports: '- { name: Vx1, mode: vxlan, vxlan: { vni: 1, remote: 127.0.0.1 } }',
      portChannels: `
        - name: Po1
          members: [Gi1/0/3, Vx1]   # <-
      `,
    }), 'switches[0].portChannels[0].members[1]', 'VXLAN tunnel port');
  });

  it('ports of one switch share a socket by VNI; two switches cannot bind one UDP port (0 = any free port never clashes)', () => {
    const two = parseTopology(fabric({ ports: `
      - { name: Vx1, mode: vxlan, vxlan: { vni: 1, remote: 127.0.0.1, remotePort: 5000 } }
      - { name: Vx2, mode: vxlan, vxlan: { vni: 2, remote: 127.0.0.1, remotePort: 5000 } }
    ` }), 't.yaml');
    expect(two.switches[0]!.ports.filter((p) => p.vxlan).map((p) => p.vxlan!.vni)).to.deep.equal([1, 2]);
    expectOneProblem(fabric({ ports: `
      - { name: Vx1, mode: vxlan, vxlan: { vni: 7, remote: 127.0.0.1, remotePort: 5000 } }
      - { name: Vx2, mode: vxlan, vxlan: { vni: 7, remote: 127.0.0.2, remotePort: 5001 } }   # <-
    ` }), 'switches[0].ports[5].vxlan.vni', 'duplicate VXLAN tunnel');
    // another local port: its own socket, the same VNI is fine
    parseTopology(fabric({ ports: `
      - { name: Vx1, mode: vxlan, vxlan: { vni: 7, remote: 127.0.0.1 } }
      - { name: Vx2, mode: vxlan, vxlan: { vni: 7, remote: 127.0.0.1, localPort: 4790 } }
    ` }), 't.yaml');
    const sw2 = (vxlan: string) => `
      - name: sw2
        ports:
          - { name: Vx1, mode: vxlan, vxlan: ${vxlan} }   # <-
    `;
    const ports = '- { name: Vx1, mode: vxlan, vxlan: { vni: 7, remote: 127.0.0.1 } }';
    expectOneProblem(fabric({ ports, switches: sw2('{ vni: 8, remote: 127.0.0.1 }') }), 'switches[1].ports[0].vxlan.localPort', 'switch sw1 already binds UDP 127.0.0.1:4789');
    expectOneProblem(fabric({ ports, switches: sw2('{ vni: 8, remote: 127.0.0.1, localAddress: 0.0.0.0 }') }), 'switches[1].ports[0].vxlan.localPort', 'already binds');
    parseTopology(fabric({ ports, switches: sw2('{ vni: 8, remote: 127.0.0.1, localPort: 4790 }').replace('# <-', '') }), 't.yaml');
    const zero = '- { name: Vx1, mode: vxlan, vxlan: { vni: 7, remote: 127.0.0.1, localPort: 0 } }';
    parseTopology(fabric({ ports: zero, switches: sw2('{ vni: 8, remote: 127.0.0.1, localPort: 0 }').replace('# <-', '') }), 't.yaml');
    expect(loadError(fabric({ ports, switches: sw2('{ vni: 8, remote: 127.0.0.1 }') })).problems).to.have.length(1);
  });
});
