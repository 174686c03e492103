/**
 * `decode` FILTER: tcpdump's pcap-filter language (`man 7 pcap-filter`) and lvsaudit's own
 * words, compiled once into closures over the reused Packet view; evaluating one allocates
 * nothing. Lexer, grammar and meaning live in ./filter/ (lexer.ts, parser.ts, compile.ts,
 * ours.ts, names.ts); docs/cli.md lists the language and where it differs from tcpdump.
 */
import type { Packet } from './packet.js';
import { EvalState, linkSetup } from './filter/compile.js';
import { FilterError, tokenize } from './filter/lexer.js';
import { Parser } from './filter/parser.js';

export { FilterError };

export type PacketPredicate = (p: Packet) => boolean;

/** Compiles a FILTER expression; an empty or blank expression matches every packet. */
export function compileFilter(source: string): PacketPredicate {
  const toks = tokenize(source);
  if (toks.length === 0) return () => true;
  const root = new Parser(toks, source.length).parse();
  const s = new EvalState();
  return (p) => {
    linkSetup(s, p);
    return root(s) && !s.abort;
  };
}
