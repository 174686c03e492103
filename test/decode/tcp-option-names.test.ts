/**
 * TCP options get tcpdump's names in text and JSON (exp-tfo, tfo, tcp-ao, scps, echo, cc, md5,
 * mptcp, uto, eol, sack, sackOK, wscale, TS, mss, nop, unknown-N), RFC 6994 ExIDs are read,
 * and a TOA (kind 254, length 8/20) is never taken for an experiment option nor the reverse.
 * The corpus comparison holds our `options [...]` lists to tcpdump's expected outputs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaptureBuffer, CaptureError } from '../../src/decode/capture/index.js';
import { Decoder, decodeBytes } from '../../src/decode/decoder.js';
import { JsonPrinter, TextPrinter } from '../../src/decode/print/index.js';
import { ByteSink } from '../../src/decode/print/sink.js';
import { optionExid, tcpOptionLabel } from '../../src/decode/print/tcp.js';
import type { Packet } from '../../src/decode/packet.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import type { TcpOption } from '../../src/replay/builder/types.js';
import { hasShared, need, sharedDir } from '../helpers/env.js';

const text = new TextPrinter();
/** The options list of a text line (up to the `], length` that closes it: `scps[bad opt]` holds a `]`). */
const listOf = (line: string): string | null => /options \[(.*?)\](, length| \[\||$)/.exec(line)?.[1] ?? null;
const optionsOf = (p: Packet): string => listOf(text.format(p)) ?? '';

/** Option bytes as the builder's options, NOP-padded to a multiple of 4 (the padding is
 *  left out of `optionsOf` by `unpadded`). */
function asOptions(bytes: number[]): TcpOption[] {
  const out: TcpOption[] = [];
  for (let i = 0; i < bytes.length; ) {
    const kind = bytes[i]!;
    if (kind <= 1) {
      out.push({ kind: kind === 0 ? 'eol' : 'nop' });
      i++;
      continue;
    }
    const len = bytes[i + 1]!;
    out.push({ kind: 'raw', optKind: kind, data: Buffer.from(bytes.slice(i + 2, i + len)), len });
    i += len;
  }
  for (let n = bytes.length; n % 4 !== 0; n++) out.push({ kind: 'nop' });
  return out;
}

const unpadded = (list: string): string => list.replace(/(,nop)+$/, '');

function syn(options: number[], flags = 'S'): Packet {
  const b = PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
    .ipv4({ src: '10.0.0.2', dst: '10.0.0.1' })
    .tcp({ sport: 40000, dport: 80, flags, options: asOptions(options) });
  return decodeBytes(b.build(), b.linkType);
}

interface TcpJson {
  tcp: { options: Record<string, unknown>[] };
}

function jsonOptions(p: Packet): Record<string, unknown>[] {
  const sink = new ByteSink();
  new JsonPrinter().write(p, sink);
  return (JSON.parse(sink.buf.subarray(0, sink.pos).toString('utf8')) as TcpJson).tcp.options;
}

describe('TCP option names', () => {
  it.each<[string, number[], string]>([
    ['TFO cookie request (kind 34)', [34, 2], 'tfo cookiereq'],
    ['TFO cookie (kind 34)', [34, 10, 1, 2, 3, 4, 5, 6, 7, 8], 'tfo cookie 0102030405060708'],
    ['TFO experimental cookie request (254, ExID F989)', [254, 4, 0xf9, 0x89], 'exp-tfo cookiereq'],
    ['TFO experimental cookie, length 8 on a SYN', [254, 8, 0xf9, 0x89, 9, 9, 9, 9], 'exp-tfo cookie 09090909'],
    ['AccECN experiment', [254, 4, 0xac, 0xc0], 'exp-acc0'],
    ['TCP-AO', [29, 8, 7, 9, 0xaa, 0xbb, 0xcc, 0xdd], 'tcp-ao keyid 7 rnextkeyid 9 mac 0xaabbccdd'],
    ['SCPS capabilities', [20, 4, 0x0f, 3], 'scps cap 0f id 3'],
    ['SCPS with a bad length', [20, 3, 1], 'scps[bad opt]'],
    ['echo', [6, 6, 0, 0, 0, 5], 'echo 5'],
    ['md5', [19, 18, ...Array<number>(16).fill(0xab)], 'md5 0x' + 'ab'.repeat(16)],
    ['mptcp', [30, 4, 0, 1], 'mptcp 0x0001'],
    ['eol', [1, 1, 1, 0], 'nop,nop,nop,eol'],
    ['unknown kind', [99, 4, 1, 2], 'unknown-99 0x0102'],
    ['kind 253 stays unknown in text', [253, 4, 0xf9, 0x89], 'unknown-253 0xf989'],
  ])('%s', (_name, opts, want) => {
    expect(unpadded(optionsOf(syn(opts)))).toBe(want);
  });

  it('kind 254 with the TFO ExID on a SYN is TFO, not TOA (text, JSON, TOA fields)', () => {
    const p = syn([254, 8, 0xf9, 0x89, 198, 51, 100, 7]);
    expect(p.net.tcp.toaKind).toBe(0);
    expect(optionsOf(p)).toBe('exp-tfo cookie c6336407');
    const [o] = jsonOptions(p);
    expect(o).toMatchObject({ kind: 254, name: 'exp-tfo', exid: 0xf989, len: 8 });
  });

  it('kind 254 length 8 on a non-SYN segment is a TOA even when its port reads as the TFO ExID', () => {
    const p = syn([254, 8, 0xf9, 0x89, 198, 51, 100, 7], 'A');
    expect(p.net.tcp.toaKind).toBe(254);
    expect(p.net.tcp.toaPort).toBe(0xf989);
    expect(optionsOf(p)).toBe('toa 198.51.100.7:63881');
    const [o] = jsonOptions(p);
    expect(o).toMatchObject({ kind: 254, name: 'toa', addr: '198.51.100.7', port: 63881 });
  });

  it('a TOA on a SYN (port not an ExID) stays TOA', () => {
    const p = syn([254, 8, 0x9c, 0x40, 198, 51, 100, 7]);
    expect(p.net.tcp.toaKind).toBe(254);
    expect(optionsOf(p)).toBe('toa 198.51.100.7:40000');
  });

  it('ExIDs are read for both experimental kinds; other kinds have none', () => {
    const b = Buffer.from([254, 6, 0x12, 0x34, 0, 0, 253, 4, 0xab, 0xcd, 2, 4, 5, 0xb4]);
    expect(optionExid(254, b, 0, 6)).toBe(0x1234);
    expect(tcpOptionLabel(254, b, 0, 6)).toBe('exp-1234');
    expect(optionExid(253, b, 6, 4)).toBe(0xabcd);
    expect(optionExid(2, b, 10, 4)).toBe(-1);
    expect(optionExid(254, b, 0, 2)).toBe(-1);
  });
});

describe('option offsets far into a buffer', () => {
  // A capture read whole (readCaptureBuffer) or a 1 MiB chunk puts frames past 64 KiB into
  // their buffer: the options must be read at their real offset (of13_ericsson.pcapng frame
  // 133 printed `TS val 0 ecr 1507336` for tcpdump's `TS val 761750 ecr 761750`).
  it.each([0, 65536 - 30, 65536, 200_000, 1 << 20])('a frame at byte %i prints the options it carries', (at) => {
    const b = PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
      .ipv4({ src: '10.0.0.2', dst: '10.0.0.1' })
      .tcp({ sport: 40000, dport: 80, flags: 'S', options: asOptions([2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 11, 0x9f, 0x96, 0, 11, 0x9f, 0x96]) });
    const frame = b.build();
    const buf = Buffer.alloc(at + frame.length);
    frame.copy(buf, at);
    const p = new Decoder().decode({
      capture: '-', frame: 1, buf, off: at, caplen: frame.length, len: frame.length, tsSec: 0, tsNsec: 0,
      linkType: b.linkType, interfaceId: 0, direction: null, comment: null, fileOffset: at,
    });
    expect(optionsOf(p)).toBe('mss 1460,nop,nop,TS val 761750 ecr 761750');
    expect(jsonOptions(p).find((o) => o.kind === 8)).toMatchObject({ val: 761750, ecr: 761750 });
  });
});

/** tcpdump's option lists in its expected outputs, against ours for the same captures. */
const corpus = path.join(sharedDir, 'corpus', 'tcpdump-tests');
/** Options whose every field we print as tcpdump does (mptcp, md5, uto are printed by name only;
 *  tcpdump prints SACK blocks relative to the ISN without -S). */
const FULLY_PRINTED = /^(nop|eol|mss \d+|wscale \d+|sackOK|TS val \d+ ecr \d+|exp-tfo cookie(req| [0-9a-f]+)|tfo cookie(req| [0-9a-f]+)|exp-[0-9a-f]{4}|scps\[bad opt\]|scps cap [0-9a-f]{2} id \d+|unknown-\d+ 0x[0-9a-f]+|echo \d+)$/;
const comparable = (list: string): boolean => list.split(',').every((o) => FULLY_PRINTED.test(o));

/** Captures whose every TCP segment we decode as tcpdump does: their lists must be equal, in order. */
const EXACT = new Set(['tfo-5c1fa7f9ae91.pcap', 'scps_invalid.pcap', 'accecn_handshake.pcap']);

describe.skipIf(!need(hasShared, 'shared corpus not found'))('option lists against tcpdump expected outputs', () => {
  // Elsewhere tcpdump also prints segments we do not reach (inside Geneve, MPLS, OpenFlow,
  // IPoIB), so there every list we print must be one of tcpdump's (as a multiset).
  it('every fully printable options list we print is tcpdump\'s; the TFO, SCPS and AccECN captures list for list', () => {
    const testlist = readFileSync(path.join(corpus, 'TESTLIST'), 'utf8').split('\n');
    let compared = 0;
    const named = new Set<string>();
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const line of testlist) {
      const [, input, output, ...flags] = line.trim().split(/\s+/);
      // Tests whose flags change only the layout around the options (-n, -t, -q, -v), not which
      // packets are printed (-c) or how option values are shown (-S, -M, -x…).
      if (input === undefined || output === undefined || !flags.every((f) => /^-[ntqv]+$/.test(f))) continue;
      if (seen.has(input)) continue;
      seen.add(input);
      let expected: string;
      try {
        expected = readFileSync(path.join(corpus, output), 'utf8');
      } catch {
        continue;
      }
      if (!expected.includes('options [')) continue;
      const theirs = expected.split('\n').map(listOf).filter((l): l is string => l !== null && comparable(l));
      const ours: string[] = [];
      const d = new Decoder();
      try {
        readCaptureBuffer(readFileSync(path.join(corpus, input)), input, (f) => {
          const list = optionsOf(d.decode(f));
          if (list !== '' && comparable(list)) ours.push(list);
        });
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        continue;
      }
      if (EXACT.has(input)) {
        if (ours.length === 0 || ours.length !== theirs.length || ours.some((o, i) => o !== theirs[i])) {
          problems.push(`${input}: ${ours.find((o, i) => o !== theirs[i]) ?? ''} vs ${theirs.find((o, i) => o !== ours[i]) ?? ''}`);
        }
      } else {
        const left = new Map<string, number>();
        for (const l of theirs) left.set(l, (left.get(l) ?? 0) + 1);
        for (const l of ours) {
          const n = left.get(l) ?? 0;
          if (n === 0) problems.push(`${input}: we print [${l}], tcpdump's output has no such list`);
          else left.set(l, n - 1);
        }
      }
      compared += ours.length;
      for (const l of ours) for (const o of l.split(',')) named.add(o.split(' ')[0]!.replace(/\[.*$/, ''));
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(compared).toBeGreaterThan(100);
    // The captures that motivated the names: TFO's experimental form, SCPS, AccECN's ExID.
    expect([...named]).toEqual(expect.arrayContaining(['exp-tfo', 'scps', 'exp-acc0', 'sackOK', 'TS', 'mss', 'wscale', 'nop']));
  });
});
