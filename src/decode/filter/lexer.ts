/**
 * FILTER text → tokens. Words follow pcap-filter's identifier shape (letters, digits and
 * `- _ . :` inside, so `tcp-syn`, `10.0.0.0/8`, `2001:db8::1` and `02:00:00:00:00:01` are one
 * word each); inside `[ ]` a `:` is the size separator instead. Operators: `( ) [ ] :`,
 * arithmetic `+ - * / % & | ^ << >>`, relations `= == != < > <= >=`, `&& || !`.
 */

export class FilterError extends Error {
  constructor(
    message: string,
    /** 1-based column in the filter text. */
    readonly column: number,
  ) {
    super(`${message} at column ${column}`);
    this.name = 'FilterError';
  }
}

export type TokenKind = 'word' | 'op';

export interface Token {
  kind: TokenKind;
  /** Words lower-cased (keywords are case-insensitive; addresses and numbers do not care). */
  text: string;
  /** As written, for error messages. */
  raw: string;
  /** 0-based start in the source. */
  pos: number;
}

const TWO_CHAR_OPS = new Set(['&&', '||', '<<', '>>', '==', '!=', '<=', '>=']);
const ONE_CHAR_OPS = '()[]:+-*/%&|^=<>!';

function isWordStart(c: string): boolean {
  return /[A-Za-z0-9_\\]/.test(c) || c === ':';
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let bracketDepth = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (TWO_CHAR_OPS.has(two)) {
      out.push({ kind: 'op', text: two, raw: two, pos: i });
      i += 2;
      continue;
    }
    if (isWordStart(c) && !(c === ':' && (bracketDepth > 0 || src[i + 1] !== ':'))) {
      const start = i;
      if (c === '\\') i++; // tcpdump's escape of a keyword used as a protocol name (`ip proto \tcp`)
      while (i < src.length) {
        const d = src[i]!;
        if (/[A-Za-z0-9_.]/.test(d)) i++;
        else if (d === '-' && i + 1 < src.length && /[A-Za-z0-9]/.test(src[i + 1]!)) i++;
        else if (d === ':' && bracketDepth === 0) i++;
        else if (d === '/' && /[.:]/.test(src.slice(start, i)) && /[0-9]/.test(src[i + 1] ?? '')) i++;
        else break;
      }
      const raw = src.slice(start, i);
      if (raw === '\\') throw new FilterError("a '\\' must be followed by a protocol name", start + 1);
      out.push({ kind: 'word', text: raw.toLowerCase(), raw, pos: start });
      continue;
    }
    if (ONE_CHAR_OPS.includes(c)) {
      if (c === '[') bracketDepth++;
      else if (c === ']' && bracketDepth > 0) bracketDepth--;
      out.push({ kind: 'op', text: c, raw: c, pos: i });
      i++;
      continue;
    }
    throw new FilterError(`unexpected character '${c}'`, i + 1);
  }
  return out;
}
