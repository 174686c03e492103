// Stand-in for `bin/lvsaudit.js decode` until src/cli/main.ts registers the decode command:
// the same commander wiring and error-to-exit-code mapping, for the decode command alone.
import { Command, CommanderError } from 'commander';
import { registerDecode } from '../../dist/cli/decode.js';
import { CliError } from '../../dist/errors.js';

let code = 0;
const program = new Command('lvsaudit').exitOverride();
registerDecode(program, (c) => {
  code = c;
});
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : 2;
  else if (err instanceof CliError) {
    process.stderr.write(`lvsaudit: ${err.message}\n`);
    code = err.exitCode;
  } else {
    process.stderr.write(`lvsaudit: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    code = 2;
  }
}
process.exitCode = code;
