// Live changes of physical switches (vfab set port|switch; docs/reconfigure.md): the running
// configuration's edits for each option and the switch daemon's call. Not built yet.
import { VfabError } from '../../lib/errors.js';
import type { SetHandler } from '../cli/commands/set.js';

export const switchChange: SetHandler = (verb) => {
  throw new VfabError('VFAB_CONFIG_UNSUPPORTED', `vfab set ${verb} is not built yet`);
};
