/**
 * Entry point: builds the commander program from one module per subcommand, runs it, and
 * turns every failure into the exit-code contract of cli.md (0/1/2/4, one-line errors,
 * stack traces only under --debug).
 */
import { Command, CommanderError } from 'commander';
import { CliError } from './errors.js';
import { VERSION } from '../version.js';
import { registerDecode } from './decode.js';
import { registerArp } from './arp.js';
import { registerVerify } from './verify.js';
import { registerReplay } from './replay.js';
import { registerLab } from './lab.js';

/** A subcommand module registers itself on the program; its action resolves to an exit code. */
export type CommandRegistrar = (program: Command, setExit: (code: number) => void) => void;

const registrars: CommandRegistrar[] = [registerDecode, registerVerify, registerArp, registerReplay, registerLab];

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const setExit = (code: number): void => {
    exitCode = code;
  };
  const program = new Command('lvsaudit')
    .description('Prove from packet captures that a Linux Virtual Server deployment forwards correctly')
    .version(VERSION)
    .option('--debug', 'print stack traces of internal errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of registrars) register(program, setExit);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    return reportError(err, argv.includes('--debug'));
  }
}

function reportError(err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here with code 0; usage errors were already printed.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof CliError) {
    process.stderr.write(`lvsaudit: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`lvsaudit: internal error: ${message}${debug ? '' : ' (run with --debug for details)'}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 2;
}
