/**
 * The one thing every subcommand module shares with the entry point: how it registers itself.
 * It lives apart from main.ts so that the subcommand modules do not import the module that
 * loads them.
 */
import type { Command } from 'commander';

/** A subcommand module registers itself on the program; its action resolves to an exit code. */
export type CommandRegistrar = (program: Command, setExit: (code: number) => void) => void;
