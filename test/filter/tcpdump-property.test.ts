/**
 * Random FILTER expressions, built from a grammar over what both lvsaudit and tcpdump
 * understand (primitives, byte offsets, arithmetic, and/or/not, parentheses), keep the same
 * frames in both. Kept small: tcpdump is one process per expression.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, hasShared, need, repoRoot, sharedDir } from '../helpers/env.js';
import { differences, listCaptures, mergeCaptures, ourVerdicts, tempDir, type Merged } from './tcpdump.js';

const corpus = path.join(sharedDir, 'corpus', 'tcpdump-tests');
const gate = need(hasCommand('tcpdump'), 'tcpdump not installed: FILTER is not compared with it') && need(hasShared && existsSync(corpus), 'shared corpus not found');

const num = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.integer({ min: 0, max: 0xffff }).map((n) => `0x${n.toString(16)}`));
const relop = fc.constantFrom('=', '==', '!=', '<', '>', '<=', '>=');
const binop = fc.constantFrom('+', '-', '*', '&', '|', '^', '<<', '>>', '%', '/');
const load = fc.tuple(fc.constantFrom('ether', 'ip', 'ip6', 'tcp', 'udp', 'icmp', 'icmp6', 'arp'), fc.integer({ min: 0, max: 40 }), fc.constantFrom('', ':1', ':2', ':4'))
  .map(([p, o, sz]) => `${p}[${o}${sz}]`);
const atom = fc.oneof(num, load, fc.constant('len'), fc.constantFrom('tcpflags', 'tcp-syn', 'tcp-ack', 'icmp-echo', 'icmptype'));
const arith: fc.Arbitrary<string> = fc.oneof(
  atom,
  fc.tuple(atom, binop, atom).map(([a, op, b]) => (op === '/' || op === '%' ? `${a} ${op} ${b === '0' ? '1' : b}` : `${a} ${op} ${b}`)),
  fc.tuple(atom, binop, atom).map(([a, op, b]) => `(${a} ${op === '/' || op === '%' ? '+' : op} ${b})`),
);
const relation = fc.tuple(arith, relop, arith).map(([a, op, b]) => `${a} ${op} ${b}`);
const hosts = ['10.0.0.1', '192.168.1.1', '172.16.0.1', '2001:db8::1', 'fe80::1'];
const primitive = fc.oneof(
  fc.constantFrom('ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'icmp', 'icmp6', 'sctp', 'igmp', 'ip multicast', 'ether broadcast', 'ip6 multicast'),
  fc.tuple(fc.constantFrom('', 'tcp ', 'udp '), fc.constantFrom('', 'src ', 'dst ', 'src or dst ', 'src and dst '), fc.constantFrom(53, 80, 443, 123, 22, 5353)).map(([p, d, n]) => `${p}${d}port ${n}`),
  fc.tuple(fc.constantFrom('', 'src ', 'dst '), fc.constantFrom(...hosts)).map(([d, h]) => `${d}host ${h}`),
  fc.tuple(fc.constantFrom('', 'src ', 'dst '), fc.constantFrom('10.0.0.0/8', '192.168.0.0/16', '224.0.0.0/4', 'fe80::/10')).map(([d, n]) => `${d}net ${n}`),
  fc.tuple(fc.constantFrom('greater', 'less'), fc.integer({ min: 0, max: 1600 })).map(([w, n]) => `${w} ${n}`),
  fc.constantFrom('proto 6', 'ip proto 17', 'ip6 proto 58', 'ether proto 0x0806'),
  relation,
);
const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitive,
    tie('e').map((x) => `not ${x}`),
    tie('e').map((x) => `(${x})`),
    fc.tuple(tie('e'), fc.constantFrom('and', 'or', '&&', '||'), tie('e')).map(([a, op, b]) => `${a} ${op} ${b}`),
  ),
})).e;

describe('random FILTER expressions keep the frames tcpdump keeps', () => {
  let tmp: ReturnType<typeof tempDir> | null = null;
  let merged: Merged[] = [];

  beforeAll(() => {
    if (!gate) return;
    tmp = tempDir();
    merged = mergeCaptures([...listCaptures(corpus), ...listCaptures(path.join(repoRoot, 'fixtures'))], tmp.dir, 40).filter((m) => m.linkType === 1 || m.linkType === 113);
  });
  afterAll(() => tmp?.done());

  it.skipIf(!gate)('same frames as tcpdump -r FILE EXPR', () => {
    fc.assert(
      fc.property(expr, (e) => {
        for (const m of merged) {
          const d = differences(e, m, ourVerdicts(m.file, [e]), 0, tmp!.dir, true);
          // tcpdump refuses a few generated combinations (e.g. a constant division it folds to
          // an error); what it accepts must agree.
          if (typeof d !== 'string') expect(d.slice(0, 3)).toEqual([]);
        }
      }),
      { numRuns: 30 },
    );
  });
});
