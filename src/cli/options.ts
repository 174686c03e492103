/** Option parsers more than one subcommand shares, so their errors read the same everywhere. */
import { InputError } from '../errors.js';

/** `--toa-kind 254,200` → [254, 200]; a value that is not an option kind is a usage error. */
export function parseToaKinds(text: string): number[] {
  const kinds = text.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const k of kinds) {
    if (!/^\d{1,3}$/.test(k) || Number(k) > 255) throw new InputError(`--toa-kind: '${k}' is not a TCP option kind (0-255)`);
    out.push(Number(k));
  }
  return out;
}
