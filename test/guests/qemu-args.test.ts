// lib/guests/qemu-args.ts: the QEMU arguments for a qemu guest's vNICs (docs/guests.md "The QEMU command line").
import { expect } from 'chai';
import { qemuNetArgs, qemuNetdevId } from '../../lib/guests/qemu-args.js';

const nics = [{ name: 'nic0', mac: '00:50:56:00:a0:01', port: 40100 }, { name: 'uplink/1', mac: '00:50:56:00:a0:02', port: 40101 }];

describe('guests/qemu-args', () => {
  it('one -netdev and one -device per vNIC, each with its port and MAC, for every form', () => {
    expect(qemuNetArgs('stream', nics.slice(0, 1))).to.deep.equal([
      '-netdev', 'stream,id=nic0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=40100', '-device', 'virtio-net-pci,netdev=nic0,mac=00:50:56:00:a0:01',
    ]);
    expect(qemuNetArgs('socket', nics.slice(0, 1), 'e1000')).to.deep.equal(['-netdev', 'socket,id=nic0,connect=127.0.0.1:40100', '-device', 'e1000,netdev=nic0,mac=00:50:56:00:a0:01']);
    expect(qemuNetArgs('dgram', nics)[5]).to.equal('dgram,id=nic1,local.type=inet,local.host=127.0.0.1,local.port=0,remote.type=inet,remote.host=127.0.0.1,remote.port=40101');
  });

  it('a vNIC name QEMU does not take as an id becomes nic<index>', () => {
    expect(qemuNetdevId('eth0', 3)).to.equal('eth0');
    expect(qemuNetdevId('uplink/1', 1)).to.equal('nic1');
    expect(qemuNetdevId('0abc', 2)).to.equal('nic2');
    expect(qemuNetdevId('a,b=c', 0)).to.equal('nic0');
  });
});
