/**
 * The wrapped captures the mirror tests feed verify (../helpers/capture-wrap.ts) are what a
 * collector receives, by tshark: every frame of a wrapped capture carries its mirror header
 * (ERSPAN version and session, VXLAN or Geneve VNI) and, inside it, exactly the frame of the
 * unwrapped capture — the same Ethernet addresses, IP and TCP fields, at the same time — with
 * nothing tshark calls malformed. The TUN set's director capture puts IPIP inside the mirror, so
 * the tunnel is still there, one level down.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasCommand, need } from '../helpers/env.js';
import { WRAP_KINDS, wrapPcap, type WrapKind } from '../helpers/capture-wrap.js';
import { fixturesDir } from './fixture-util.js';

const hasTshark = hasCommand('tshark');
const scratch = mkdtempSync(path.join(tmpdir(), 'lvsaudit-wrap-tshark-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Fields of the mirrored frame; each may occur at several levels (aggregated with ';'). */
const INNER = ['eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.id', 'ip.proto', 'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.len'];
const HEADER: Record<WrapKind, string[]> = {
  erspan2: ['erspan.version', 'erspan.spanid'],
  erspan3: ['erspan.version', 'erspan.spanid'],
  vxlan: ['vxlan.vni'],
  geneve: ['geneve.vni'],
};

function rows(file: string, names: readonly string[], filter?: string): string[][] {
  const args = ['-n', '-r', file, '-T', 'fields', '-E', 'separator=,', '-E', 'aggregator=;', '-e', 'frame.time_epoch'];
  for (const n of names) args.push('-e', n);
  if (filter !== undefined) args.push('-Y', filter);
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split(','));
}

/** A field's occurrences with the outermost `n` dropped (the collector's own Ethernet and IP). */
const innerOf = (cell: string, n: number): string => cell.split(';').slice(n).join(';');

describe.skipIf(!need(hasTshark, 'tshark not installed'))('wrapped captures checked by tshark', () => {
  // Every kind around the TUN director's capture (IPIP inside the mirror), and each kind once
  // more around another method's.
  const cases: [string, string, WrapKind][] = WRAP_KINDS.flatMap((kind, i): [string, string, WrapKind][] => [
    ['tun-ok', 'director.pcap', kind],
    i % 2 === 0 ? ['nat-ok', 'director-eth1.pcap', kind] : ['dr-ok', 'client.pcap', kind],
  ]);

  it.each(cases)('%s/%s in %s', (set, file, kind) => {
    const original = path.join(fixturesDir, set, file);
    const wrapped = path.join(scratch, `${set}-${kind}-${file}`);
    writeFileSync(wrapped, wrapPcap(readFileSync(original), kind, { session: 300, from: '198.18.0.2', to: '198.18.0.1' }));
    const want = rows(original, INNER);
    const got = rows(wrapped, [...INNER, ...HEADER[kind]]);
    expect(want.length).toBeGreaterThan(0);
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => {
      const w = want[i]!;
      // Time: the pcap record's, unchanged.
      expect(g[0]).toBe(w[0]);
      INNER.forEach((name, j) => {
        const outer = name.startsWith('eth.') || name.startsWith('ip.') ? 1 : 0;
        expect(`${name}=${innerOf(g[j + 1]!, outer)}`).toBe(`${name}=${w[j + 1]}`);
      });
      // tshark prints Geneve's VNI in hex, the others in decimal.
      const header = g.slice(1 + INNER.length).map(Number);
      if (kind === 'erspan2') expect(header).toEqual([1, 300]);
      else if (kind === 'erspan3') expect(header).toEqual([2, 300]);
      else expect(header).toEqual([300]);
    });
    expect(rows(wrapped, [], '_ws.malformed || _ws.expert.severity >= "error"')).toEqual([]);
  });
});
