/**
 * Option parsers more than one subcommand shares, so their errors read the same everywhere:
 * `OPTION 'VALUE': what is wrong (what is accepted)`, one line, exit 2 (InputError).
 *
 * Every check here runs before a capture is opened (cli.md "Options and usage errors"): a
 * mistyped option must not cost the user a long analysis, nor end in an internal error.
 */
import { accessSync, closeSync, constants, openSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { parseDecap } from '../decode/decap.js';
import type { DecapOptions } from '../decode/packet.js';
import type { Command } from 'commander';
import { KNOWN_SCHEDULERS, type ConfigOptions } from '../verify/service/index.js';
import { canonicalIp } from '../verify/service/index.js';

/** `--toa-kind 254,200` → [254, 200]; a value that is not an option kind is a usage error. */
export function parseToaKinds(text: string): number[] {
  const out: number[] = [];
  for (const k of text.split(',')) {
    if (!/^\d{1,3}$/.test(k) || Number(k) > 255) throw new InputError(`--toa-kind '${k}': not a TCP option kind (0-255, comma-separated)`);
    out.push(Number(k));
  }
  return out;
}

/** `--gue-port N`: one UDP port (the option is repeated for more). */
export function parseGuePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new InputError(`--gue-port '${text}': not a UDP port (0-65535; repeat the option for more)`);
  return Number(text);
}

/** `--decap` values (repeatable) as decoder options; `keepTo` is what auto keeps (the service
 *  addresses the caller knows). */
export function decapOption(values: readonly string[] | undefined, keepTo: readonly string[]): DecapOptions | null {
  const r = parseDecap(values ?? [], keepTo);
  if (typeof r === 'string') throw new InputError(r);
  return r;
}

/** `--gue-port N` (repeatable), collected into `prev`. */
export function collectGuePort(text: string, prev: number[] | undefined): number[] {
  return [...(prev ?? []), parseGuePort(text)];
}

/**
 * A whole number in min..max, written in plain decimal digits. `Number()` would also take
 * `0x10`, `1e3`, `Infinity`, `" 5"` and the empty string (as 0): none of them is what a user
 * means by a count or a duration, so each is refused rather than guessed at.
 */
export function parseIntegerOption(option: string, text: string, min: number, max: number, unit = ''): number {
  const n = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new InputError(`${option} '${text}': not a whole number${unit ? ` of ${unit}` : ''} in ${min}..${max}`);
  return n;
}

/** A decimal number (`250`, `0.5`) above 0 and at most max; the same refusals as parseIntegerOption. */
export function parsePositiveDecimalOption(option: string, text: string, max: number, unit = ''): number {
  const n = /^\d{1,15}(\.\d{1,9})?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0 && n <= max)) throw new InputError(`${option} '${text}': not a decimal number${unit ? ` of ${unit}` : ''} above 0 and at most ${max}`);
  return n;
}

/** The schedulers the service model knows (one list: the config parsers check the same names). */
export { KNOWN_SCHEDULERS };

/** A scheduler name from `known` (lower-cased, as ipvsadm takes it); else the closest names. */
export function parseSchedulerOption(option: string, text: string, known: readonly string[] = KNOWN_SCHEDULERS): string {
  const name = text.toLowerCase();
  if (known.includes(name)) return name;
  throw new InputError(`${option} '${text}': unknown scheduler${didYouMean(name, known)} (known: ${known.join(' ')})`);
}

/** Edit distance (insert, delete, substitute, each 1), for suggesting the name meant. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The candidates nearest to `word`, at most `n`: by edit distance, where a candidate that
 * contains the word (or the word's last dotted part, `ttl` for `rewrite.ttl`) counts as near.
 */
export function closestNames(word: string, candidates: readonly string[], n = 3): string[] {
  const w = word.toLowerCase();
  const tail = w.includes('.') ? w.slice(w.lastIndexOf('.') + 1) : w;
  const scored = candidates.map((c) => {
    const d = editDistance(w, c);
    const contains = w.length >= 2 && (c.includes(w) || (tail.length >= 3 && c.includes(tail)));
    // A true one-edit typo still ranks before a name that merely contains the word.
    return { c, d: contains ? Math.min(d, 1.5) : d };
  });
  const limit = Math.max(2, Math.floor(w.length / 3));
  return scored
    .filter((s) => s.d <= limit)
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, n)
    .map((s) => s.c);
}

function didYouMean(word: string, candidates: readonly string[]): string {
  const near = closestNames(word, candidates);
  return near.length > 0 ? ` (closest: ${near.join(', ')})` : '';
}

/**
 * Every `--ignore RULE` must be a rule id of `known`; an unknown one is named with the nearest
 * ids, or, when none is near, with the ids of its family (`sched.` …) or the families.
 */
export function checkRuleIds(option: string, ids: readonly string[], known: readonly string[]): void {
  for (const id of ids) {
    if (known.includes(id)) continue;
    const near = closestNames(id, known);
    const family = id.includes('.') ? known.filter((k) => k.startsWith(id.slice(0, id.indexOf('.') + 1))) : [];
    const families = [...new Set(known.map((k) => k.slice(0, k.indexOf('.') + 1)))];
    const hint = near.length > 0 ? `closest: ${near.join(', ')}` : family.length > 0 ? `rules of that family: ${family.join(', ')}` : `rule ids start with ${families.join(' ')}`;
    throw new InputError(`${option} '${id}': not a rule id; ${hint}`);
  }
}

/** An IPv4 or IPv6 address (IPv6 may be bracketed) in its canonical text; else a usage error. */
export function parseIpOption(option: string, text: string): string {
  const ip = text === text.trim() ? canonicalIp(text) : null;
  if (ip === null) throw new InputError(`${option} '${text}': not an IP address`);
  return ip.ip;
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file; the caller's walk up the path names it.
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'EACCES') throw new InputError(`${p}: permission denied`);
    throw e;
  }
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'not writable (permission denied)';
  if (code === 'EROFS') return 'not writable (read-only file system)';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'ENOENT') return 'no such directory';
  if (code === 'ENOTDIR') return 'a part of the path is not a directory';
  return e instanceof Error ? e.message : String(e);
}

/** Same file by device and inode (a path spelt differently, a hard link, a symlink). */
function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Checks that `file` can be written, before any capture is read, without creating or
 * truncating it (an existing report survives a run that fails): an existing regular file is
 * opened for writing and closed again; a new file needs a writable directory. A FIFO or a
 * device is only checked for write permission (opening a FIFO would wait for its reader).
 * `inputs` are files the run reads: writing over one of them is refused (inputs are never
 * modified).
 */
export function checkOutputFile(option: string, file: string, inputs: readonly string[] = []): void {
  const fail = (what: string): never => {
    throw new InputError(`${option} ${file}: ${what}`);
  };
  if (file === '') fail('empty file name');
  let st: Stats | null;
  try {
    st = statOrNull(file);
  } catch (e) {
    if (e instanceof InputError) return fail(e.message.slice(e.message.lastIndexOf(': ') + 2));
    throw e;
  }
  if (st === null) {
    checkWritableDirectory(option, file, path.dirname(file));
    return;
  }
  if (st.isDirectory()) fail('is a directory');
  // A file or FIFO that the run reads cannot also take its output; a terminal or /dev/null
  // may well be both /dev/stdin and /dev/stdout.
  for (const input of st.isFile() || st.isFIFO() ? inputs : []) {
    if (input === '-') continue;
    let ist: Stats | null = null;
    try {
      ist = statSync(input);
    } catch {
      // A missing input is its own error, reported when it is opened.
    }
    if (ist !== null && sameFile(st, ist)) fail(`is ${input}, which this run reads (inputs are never overwritten)`);
  }
  try {
    if (st.isFile()) closeSync(openSync(file, constants.O_WRONLY));
    else accessSync(file, constants.W_OK);
  } catch (e) {
    fail(errnoText(e));
  }
}

/** The directory a new file would go into exists, is a directory and can take new files. */
function checkWritableDirectory(option: string, file: string, dir: string): void {
  const fail = (what: string): never => {
    throw new InputError(`${option} ${file}: ${what}`);
  };
  let st: Stats | null;
  try {
    st = statOrNull(dir);
  } catch (e) {
    if (e instanceof InputError) return fail(e.message.slice(e.message.lastIndexOf(': ') + 2));
    throw e;
  }
  if (st === null) return fail('no such directory');
  if (!st.isDirectory()) fail(`${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    fail(`directory ${dir} is ${errnoText(e)}`);
  }
}

/**
 * An output directory (`--out DIR`): an existing one must be a writable directory; a new
 * one is created by the run with its parents, so the nearest existing ancestor must be a
 * writable directory.
 */
export function checkOutputDirectory(option: string, dir: string): void {
  const fail = (what: string): never => {
    throw new InputError(`${option} ${dir}: ${what}`);
  };
  if (dir === '') fail('empty directory name');
  let probe = path.resolve(dir);
  for (;;) {
    let st: Stats | null;
    try {
      st = statOrNull(probe);
    } catch (e) {
      if (e instanceof InputError) return fail(e.message.slice(e.message.lastIndexOf(': ') + 2));
      throw e;
    }
    if (st !== null) {
      if (!st.isDirectory()) fail(probe === path.resolve(dir) ? 'not a directory' : `${probe} is not a directory`);
      try {
        accessSync(probe, constants.W_OK | constants.X_OK);
      } catch (e) {
        fail(`${probe === path.resolve(dir) ? 'directory' : `directory ${probe}`} is ${errnoText(e)}`);
      }
      return;
    }
    const parent = path.dirname(probe);
    if (parent === probe) fail('no such directory');
    probe = parent;
  }
}

/**
 * An input named by an option exists and is not a directory (`-` is standard input). Only
 * stat'ed, never opened: a FIFO stays unread until its turn.
 */
export function checkInputFile(option: string, file: string): void {
  checkInput(`${option} ${file}`, file);
}

/** checkInputFile with the whole argument as the label (`director=d.pcap: no such file`). */
export function checkInput(label: string, file: string): void {
  if (file === '-') return;
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new InputError(`${label}: no such file`);
    throw new InputError(`${label}: ${errnoText(e).replace('not writable', 'not readable')}`);
  }
  if (st.isDirectory()) throw new InputError(`${label}: is a directory`);
}

/** A write that failed after the checks (disk full, a file removed meanwhile): a usage-level error naming the option. */
export function outputWriteError(option: string, file: string, e: unknown): InputError {
  return new InputError(`${option} ${file}: ${errnoText(e)}`);
}

/** `--config-id`, `--config-root`, `--proc-hz`: how to read a director's config files. */
export interface ConfigReadOptions {
  configId?: string;
  configRoot?: string;
  procHz?: string;
}

/** The service-model options those flags give (checked: a usage error names the flag). */
export function configOptionsOf(o: ConfigReadOptions): ConfigOptions {
  if (o.configRoot !== undefined) {
    let st: Stats | undefined;
    try {
      st = statSync(o.configRoot);
    } catch {
      st = undefined;
    }
    if (!st?.isDirectory()) throw new InputError(`--config-root '${o.configRoot}': not a directory`);
  }
  if (o.configId !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(o.configId)) throw new InputError(`--config-id '${o.configId}': not a keepalived config id`);
  return {
    ...(o.configId !== undefined ? { configId: o.configId } : {}),
    ...(o.configRoot !== undefined ? { root: o.configRoot } : {}),
    ...(o.procHz !== undefined ? { hz: parseIntegerOption('--proc-hz', o.procHz, 1, 100_000, 'Hz') } : {}),
  };
}

/** The three flags on a command that reads --config files. */
export function addConfigReadOptions(cmd: Command): Command {
  return cmd
    .option('--config-id <id>', "keepalived's config id (keepalived -i): decides @ID / @^ID lines")
    .option('--config-root <dir>', "where the director's / is (a copied /etc tree): absolute keepalived includes are read under it")
    .option('--proc-hz <n>', "the director kernel's CONFIG_HZ, for persistence timeouts in /proc/net/ip_vs (default 250)");
}
