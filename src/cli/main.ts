/**
 * Entry point: builds the commander program from one module per subcommand, runs it, and
 * turns every failure into the exit-code contract of cli.md (0/1/2/4, one-line errors,
 * stack traces only under --debug).
 */
import { Command, CommanderError } from 'commander';
import { CliError } from '../errors.js';
import { VERSION } from '../version.js';
import type { CommandRegistrar } from './registrar.js';

/**
 * Subcommand modules, loaded on demand: `decode` need not pay for loading verify, the lab and
 * the reference director (a third of the CPU time of a short `decode --summary`).
 */
const COMMANDS: Record<string, () => Promise<CommandRegistrar>> = {
  decode: async () => (await import('./decode.js')).registerDecode,
  verify: async () => (await import('./verify.js')).registerVerify,
  arp: async () => (await import('./arp.js')).registerArp,
  replay: async () => (await import('./replay.js')).registerReplay,
  lab: async () => (await import('./lab.js')).registerLab,
};

/** The registrars a command line needs: its subcommand's, or all of them (help, typos). */
async function registrarsFor(argv: readonly string[]): Promise<CommandRegistrar[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  const names = first !== undefined && first in COMMANDS ? [first] : Object.keys(COMMANDS);
  return Promise.all(names.map((n) => COMMANDS[n]!()));
}

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
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(usageLine(s)) });
  for (const register of await registrarsFor(argv)) register(program, setExit);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    return reportError(err, argv.includes('--debug'));
  }
}

/**
 * commander's own usage errors (unknown option or command, missing argument, invalid choice)
 * in lvsaudit's form: one line starting `lvsaudit:` (cli.md "Exit codes"). commander starts
 * them with `error: ` and puts its "Did you mean" on a second line.
 */
export function usageLine(message: string): string {
  const text = message
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
  return `lvsaudit: ${text}\n`;
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
