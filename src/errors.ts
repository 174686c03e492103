/**
 * Errors that end a command with a one-line message and an exit code (cli.md "Exit codes").
 * Anything else thrown is a bug: the CLI prints it as one line too, with the stack only
 * under --debug.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 2 | 4,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Usage error, unreadable or unrecognised input, missing privilege: exit 2. */
export class InputError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'InputError';
  }
}

/** A live action the environment cannot do (no root, no interface, no qemu): exit 4. */
export class EnvironmentError extends CliError {
  constructor(message: string) {
    super(message, 4);
    this.name = 'EnvironmentError';
  }
}
