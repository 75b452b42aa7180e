// Runs one vfab command in this process (runCommand of daemons/cli.ts) and collects what it prints: exit
// code, text, parsed --json output, and the error it threw (the CLI's main turns that into an exit code).
// For e2e tests that drive a fabric they started; leaves out spawning the real binary (runCli in fabric.ts).

import { runCommand } from '../../../daemons/cli.js';
import type { CliIo } from '../../../daemons/cli/io.js';

export interface InProcessResult {
  code: number;
  text: string;
  json: any;
  error?: any;
}

/** `vfab <command> <args...>` in process; a thrown error is returned in `error` with code -1. */
export async function cliInProcess(command: string, args: string[]): Promise<InProcessResult> {
  const lines: string[] = [];
  const io: CliIo = { out: (t) => lines.push(t), err: (t) => lines.push(t) };
  try {
    const code = await runCommand(command, args, io);
    const text = lines.join('\n');
    return { code, text, json: args.includes('--json') ? JSON.parse(text) : undefined };
  } catch (e) {
    return { code: -1, text: lines.join('\n'), json: undefined, error: e };
  }
}
