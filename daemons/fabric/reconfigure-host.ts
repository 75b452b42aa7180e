// Live changes of hosts (vfab set vswitch|portgroup|vnic|host; docs/reconfigure.md): the running
// configuration's edits for each option and the host daemon's call. Not built yet.
import { VfabError } from '../../lib/errors.js';
import type { SetHandler } from '../cli/commands/set.js';

export const hostChange: SetHandler = (verb) => {
  throw new VfabError('VFAB_CONFIG_UNSUPPORTED', `vfab set ${verb} is not built yet`);
};
