/**
 * keepalived.conf as keepalived reads it, before any keyword is looked at (keepalived.conf(5),
 * "include", "Conditional configuration", "Parameter substitution"):
 *
 * 1. `include PATTERN` (and the includer/includem/includew/includeb/includea variants) is
 *    recognised on the raw line, before conditions and parameters: the files the pattern
 *    matches are read in its place, in glob order, with relative paths (and patterns inside
 *    them) taken from the directory of the file that names them.
 * 2. A line starting `@ID` is kept only when ID is the config id, one starting `@^ID` only
 *    when it is not.
 * 3. `$NAME=VALUE` defines a parameter (a value of a lone `\` starts a multi-line value whose
 *    lines end in `\`); `$NAME` before whitespace and `${NAME}` anywhere are replaced by the
 *    value at the time of use, recursively; an undefined parameter is left as written.
 *
 * The result is a list of lines, each knowing the file and line it came from, so every later
 * error names the file the user has to open.
 */
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from './model.js';

export interface KeepalivedOptions {
  /** The director's config id (keepalived -i): decides `@ID` / `@^ID` lines. */
  configId?: string;
  /** Where the director's `/` is on this machine (a copied /etc tree): absolute include paths
   *  are resolved under it. Without it they are read from this machine, as keepalived would. */
  root?: string;
}

/** One line after includes, conditions and parameters, with where it was written. */
export interface SourceLine {
  text: string;
  file: string;
  line: number;
}

export interface KeepalivedText {
  lines: SourceLine[];
  notes: string[];
}

/** Longest chain of parameter replacements in one line before we call it a loop. */
const MAX_SUBSTITUTIONS = 10_000;

const INCLUDE = /^(include|includer|includem|includew|includeb|includea)\s+(.*)$/;
const DEFINITION = /^\$([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;
const CONDITION = /^@(\^?)(\S+)(?:\s+(.*))?$/;

interface ReadState {
  opts: KeepalivedOptions;
  defs: Map<string, string>;
  out: SourceLine[];
  notes: string[];
  /** Files being read, outermost first, with the line of the include that opened the next. */
  chain: { file: string; real: string; line: number }[];
  conditionsSeen: Set<string>;
}

/** Reads `text` (the contents of `file`) with everything it includes. */
export function readKeepalivedText(text: string, file: string, opts: KeepalivedOptions = {}): KeepalivedText {
  const st: ReadState = { opts, defs: new Map(), out: [], notes: [], chain: [], conditionsSeen: new Set() };
  readFile(st, text, file);
  if (opts.configId === undefined && st.conditionsSeen.size > 0) {
    st.notes.push(
      `${file}: conditional lines (@${[...st.conditionsSeen].sort().join(', @')}) read as on a director whose config id is none of them: ` +
        '@ID lines dropped, @^ID lines kept',
    );
  }
  return { lines: st.out, notes: st.notes };
}

function realPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

function readFile(st: ReadState, text: string, file: string): void {
  const real = realPath(file);
  st.chain.push({ file, real, line: 0 });
  const raw = text.split(/\r?\n/);
  for (let i = 0; i < raw.length; i++) {
    const line = i + 1;
    const fail = (what: string): never => {
      throw new ConfigError(file, line, what);
    };
    let t = stripComment(raw[i]!).trim();
    // A multi-line definition: `$NAME= \` then lines ending in `\`, the last one without.
    const def = DEFINITION.exec(t);
    if (def && def[2]!.trim() === '\\') {
      const parts: string[] = [];
      let j = i + 1;
      for (; j < raw.length; j++) {
        const body = stripComment(raw[j]!).replace(/\s+$/, '');
        if (body.endsWith('\\')) parts.push(body.slice(0, -1));
        else {
          parts.push(body);
          break;
        }
      }
      if (j >= raw.length) fail(`multi-line definition of $${def[1]} runs to the end of the file (its last line must not end in "\\")`);
      st.defs.set(def[1]!, parts.join('\n'));
      i = j;
      continue;
    }
    if (t === '') continue;
    if (/^include[rmwba]?$/.test(t)) fail(`${t} needs a file name or pattern`);
    const inc = INCLUDE.exec(t);
    if (inc) {
      include(st, inc[1]!, inc[2]!.trim(), file, line);
      continue;
    }
    processLine(st, t, file, line, 0);
  }
  st.chain.pop();
}

/** Conditions, definitions and substitution of one line (and of the lines a value expands to). */
function processLine(st: ReadState, text: string, file: string, line: number, depth: number): void {
  const fail = (what: string): never => {
    throw new ConfigError(file, line, what);
  };
  if (depth > 64) fail('parameter values expand into each other without end');
  let t = text.trim();
  if (t === '') return;
  const cond = CONDITION.exec(t);
  if (cond) {
    const negated = cond[1] === '^';
    const id = cond[2]!;
    st.conditionsSeen.add(id);
    const matches = st.opts.configId !== undefined && st.opts.configId === id;
    if (matches === negated) return;
    t = (cond[3] ?? '').trim();
    if (t === '') return;
  }
  if (INCLUDE.test(t)) {
    fail('an include behind a condition or a parameter is not followed by keepalived (it finds includes before either); write it on a line of its own');
  }
  if (/^~(SEQx?|LST)\(/.test(t)) fail('keepalived ~SEQ/~LST blocks are not supported by lvsaudit; expand them first');
  const def = DEFINITION.exec(t);
  if (def) {
    if (def[2]!.trim() === '\\') fail(`a multi-line definition ($${def[1]}= \\) must start its own line, without a condition`);
    st.defs.set(def[1]!, def[2]!.trim());
    return;
  }
  const expanded = substitute(st, t, file, fail);
  if (expanded === t) {
    st.out.push({ text: t, file, line });
    return;
  }
  // A value may hold several lines, conditions and definitions of its own.
  for (const part of expanded.split('\n')) processLine(st, part, file, line, depth + 1);
}

const PARAM = /\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|$)/g;

function substitute(st: ReadState, text: string, file: string, fail: (what: string) => never): string {
  if (!text.includes('$')) return text;
  let out = text;
  let from = 0;
  for (let n = 0; ; n++) {
    if (n > MAX_SUBSTITUTIONS) fail('parameter substitution does not end (a parameter refers to itself)');
    PARAM.lastIndex = from;
    const m = PARAM.exec(out);
    if (!m) return out;
    const inner = m[1];
    const name = m[2] ?? inner!.trim();
    let value: string | undefined;
    if (inner !== undefined && /^_(RANDOM|ENV)(\s|$)/.test(inner.trim())) {
      fail(`\${${inner}} depends on the director at run time, which lvsaudit cannot know`);
    }
    if (name === '_PWD') value = dirname(resolve(file));
    else if (name === '_HASH') value = '#';
    else if (name === '_BANG') value = '!';
    else if (name === '_INSTANCE') {
      if (st.opts.configId === undefined) fail('${_INSTANCE} is the director\'s config id, which was not given');
      value = st.opts.configId;
    } else value = st.defs.get(name);
    if (value === undefined) {
      // Left as written (keepalived does the same: scripts may contain "$").
      from = m.index + m[0].length;
      continue;
    }
    // Rescan from the same place: the value may itself name parameters.
    out = out.slice(0, m.index) + value + out.slice(m.index + m[0].length);
    from = m.index;
  }
}

/** The line without its comment: `#` or `!` starting a word outside double quotes. */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '#' || c === '!') && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

// ---------------------------------------------------------------------------------------------
// include

function include(st: ReadState, variant: string, pattern: string, file: string, line: number): void {
  const fail = (what: string): never => {
    throw new ConfigError(file, line, what);
  };
  if (pattern === '') fail(`${variant} needs a file name`);
  if (/\s/.test(pattern)) fail(`${variant} takes one file name or pattern, got "${pattern}"`);
  if (pattern.includes('$')) fail('keepalived does not replace parameters in include paths');
  const base = dirname(resolve(file));
  const rooted = isAbsolute(pattern) && st.opts.root !== undefined ? join(st.opts.root, pattern) : pattern;
  const full = isAbsolute(rooted) ? rooted : join(base, rooted);
  const wild = /[*?[{]/.test(pattern);
  const files = expandPattern(full, fail);
  const mustMatch = variant === 'includem' || variant === 'includea' || !wild;
  if (files.length === 0) {
    if (mustMatch) {
      fail(
        wild
          ? `${variant} ${pattern} matched no file`
          : `included file ${full} does not exist (keepalived would run without it; copy it beside the config${isAbsolute(pattern) && st.opts.root === undefined ? ' and give the directory holding the director\'s / as the config root' : ''})`,
      );
    }
    st.notes.push(`${file}:${line}: ${variant} ${pattern} matched no file (keepalived reads nothing for it either)`);
    return;
  }
  st.chain[st.chain.length - 1]!.line = line;
  for (const f of files) {
    const real = realPath(f);
    const loop = st.chain.findIndex((c) => c.real === real);
    if (loop >= 0) {
      const path = st.chain.slice(loop).map((c) => `${c.file}:${c.line}`);
      fail(`include loop: ${path.join(' → ')} → ${f}`);
    }
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      fail(`cannot read included file ${f} (${(e as NodeJS.ErrnoException).code ?? 'read error'})`);
    }
    readFile(st, text!, f);
  }
  st.notes.push(`${file}:${line}: ${variant} ${pattern} read ${files.length} file${files.length === 1 ? '' : 's'}`);
}

/**
 * Files a glob(3) pattern names, as glibc's glob with GLOB_BRACE lists them: brace
 * alternatives in the order written, each alternative's matches sorted; `*`, `?` and `[…]`
 * never match a leading dot or cross a slash; directories are left out (keepalived skips them).
 */
export function expandPattern(pattern: string, fail: (what: string) => never): string[] {
  // A Set keeps the first place of a file two alternatives both match, in insertion order.
  const out = new Set<string>();
  for (const alt of expandBraces(pattern, fail)) {
    const found: string[] = [];
    walk(alt.startsWith('/') ? '/' : '', alt.split('/').filter((s, i) => s !== '' || i === 0), 0, found, fail);
    found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const f of found) out.add(f);
  }
  return [...out];
}

function walk(dir: string, segs: string[], i: number, found: string[], fail: (what: string) => never): void {
  if (i === segs.length) {
    try {
      if (statSync(dir).isFile()) found.push(dir);
    } catch {
      /* a path that does not exist matches nothing */
    }
    return;
  }
  const seg = segs[i]!;
  if (seg === '' && i === 0) return walk(dir, segs, i + 1, found, fail);
  if (!/[*?[]/.test(seg)) return walk(dir === '' ? seg : join(dir, seg), segs, i + 1, found, fail);
  const re = globSegment(seg, fail);
  let names: string[];
  try {
    names = readdirSync(dir === '' ? '.' : dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith('.') && !seg.startsWith('.')) continue;
    if (re.test(n)) walk(dir === '' ? n : join(dir, n), segs, i + 1, found, fail);
  }
}

function globSegment(seg: string, fail: (what: string) => never): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) fail(`unclosed "[" in include pattern "${seg}"`);
      let set = seg.slice(i + 1, close);
      if (set.startsWith('!')) set = '^' + set.slice(1);
      re += `[${set.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < seg.length) re += escapeRe(seg[++i]!);
    else re += escapeRe(c);
  }
  try {
    return new RegExp(re + '$');
  } catch {
    return fail(`bad include pattern "${seg}"`);
  }
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** csh-style `{a,b}` alternatives (nested), left to right. */
function expandBraces(p: string, fail: (what: string) => never): string[] {
  const open = p.indexOf('{');
  if (open < 0) return [p];
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < p.length; i++) {
    if (p[i] === '{') depth++;
    else if (p[i] === '}' && --depth === 0) {
      close = i;
      break;
    } else if (p[i] === ',' && depth === 1) commas.push(i);
  }
  if (close < 0) fail(`unclosed "{" in include pattern "${p}"`);
  const head = p.slice(0, open);
  const tail = p.slice(close + 1);
  const bounds = [open, ...commas, close];
  const out: string[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    for (const e of expandBraces(head + p.slice(bounds[k]! + 1, bounds[k + 1]) + tail, fail)) out.push(e);
  }
  return out;
}
