/** Runs `lvsaudit arp …` in-process (see test/helpers/cli.ts). */
import { registerArp } from '../../src/cli/arp.js';
import { runInProcess, type CliRun } from '../helpers/cli.js';

export type { CliRun };

export function runArpCli(args: string[]): Promise<CliRun> {
  return runInProcess(registerArp, 'arp', args);
}
