/**
 * Runs one subcommand in-process the way src/cli/main.ts does (exit-code contract, one-line
 * `lvsaudit: …` errors), capturing stdout and stderr — faster than spawning the built CLI.
 */
import { Command, CommanderError } from 'commander';
import { CliError } from '../../src/errors.js';
import type { CommandRegistrar } from '../../src/cli/registrar.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function runInProcess(register: CommandRegistrar, command: string, args: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  let code = 0;
  const program = new Command('lvsaudit').exitOverride().configureOutput({
    writeOut: (s) => (out += s),
    writeErr: (s) => (err += s),
  });
  register(program, (c) => (code = c));
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync([command, ...args], { from: 'user' });
  } catch (e) {
    if (e instanceof CliError) {
      code = e.exitCode;
      err += `lvsaudit: ${e.message}\n`;
    } else if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else throw e;
  } finally {
    process.stdout.write = write;
  }
  return { code, out, err };
}
