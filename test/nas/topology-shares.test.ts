// `arrays[].shares` in the topology: loaded into the model, duplicate names reported, and the schema's
// limits equal the NAS constants (lib/nas/shares.ts, protocol.ts).
import { expect } from 'chai';
import { parseTopology } from '../../lib/topology/load.js';
import { NAS_MAX_SHARES, NAS_MAX_SHARE_MB } from '../../lib/nas/shares.js';
import { NAS_MAX_SHARE_NAME_BYTES } from '../../lib/nas/protocol.js';
import schema from '../../lib/topology/topology.schema.json' with { type: 'json' };
import { expectOneProblem, fabric } from '../topology/helpers.js';

describe('topology arrays[].shares', () => {
  it('loads shares into the model (none by default)', () => {
    const t = parseTopology(fabric({ arrays: `
      - name: array2
        shares:
          - { name: nfs1, sizeMB: 1024 }
          - { name: iso, sizeMB: 64 }
    ` }), 'ok.yaml');
    expect(t.arrays.map((a) => a.shares.map((s) => [s.name, s.sizeMB]))).to.deep.equal([[], [['nfs1', 1024], ['iso', 64]]]);
  });

  it('reports a duplicate share name and a size outside 1..1048576', () => {
    expectOneProblem(fabric({ arrays: `
      - name: array2
        shares:
          - { name: nfs1, sizeMB: 1 }
          - { name: nfs1, sizeMB: 2 }   # <-
    ` }), 'arrays[1].shares[1].name', 'duplicate share name');
    expectOneProblem(fabric({ arrays: `
      - name: array2
        shares:
          - { name: nfs1, sizeMB: 0 }   # <-
    ` }), 'arrays[1].shares[0].sizeMB', /1/);
  });

  it('schema limits equal the NAS constants', () => {
    const d = schema.definitions;
    expect(d.array.properties.shares.maxItems).to.equal(NAS_MAX_SHARES);
    expect(d.share.properties.sizeMB.maximum).to.equal(NAS_MAX_SHARE_MB);
    expect(d.label.maxLength).to.be.at.most(NAS_MAX_SHARE_NAME_BYTES);
  });
});
