/**
 * A capture taken at a collector behind a mirror is the capture of the mirrored point: verify
 * over a committed set with some of its points wrapped frame by frame in ERSPAN II, ERSPAN III,
 * VXLAN or Geneve (../helpers/capture-wrap.ts) finds what it finds over the set as captured —
 * the same rules, severities, messages (save the directory of the files) and evidence frames.
 * Sets with errors keep them; clean sets stay clean. `--decap none` is the control: the same
 * wrapped captures then hold no service traffic at those points.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { isEthernetPcap, WRAP_KINDS, wrapPcap, type WrapKind } from '../helpers/capture-wrap.js';
import { pointsOf, verifySets } from '../helpers/verify-sets.js';

// The real-kernel sets too (fixtures/offload, .pcap.gz): offloads, super-segments, drops.
const sets = verifySets(true);
const scratch = mkdtempSync(path.join(tmpdir(), 'lvsaudit-wrap-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What must not change: every finding as it reads, with its evidence frames. */
function findingsOf(r: VerifyResult, dir: string): string[] {
  const local = (text: string): string => text.split(dir + path.sep).join('');
  return r.findings.map((f) => {
    const ev = f.evidence.map((e) => `${local(e.capture)}#${e.frame}@${e.point}${e.note ? ` ${local(e.note)}` : ''}`).join(' ');
    return `${f.severity} ${f.rule}: ${local(f.message)} [${ev}]`;
  });
}

function run(dir: string, confDir: string, points: VerifyInput['points'], profile: VerifyInput['profile'], decap?: VerifyInput['decap']): Promise<VerifyResult> {
  const conf = path.join(confDir, 'service.conf');
  return verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile, ...(decap !== undefined ? { decap } : {}) });
}

let runNo = 0;

/** A capture file's pcap bytes (the .pcap.gz sets are gunzipped). */
const pcapOf = (file: string): Buffer => (file.endsWith('.gz') ? gunzipSync(readFileSync(file)) : readFileSync(file));

/** The set's files in a new directory, those named in `wrap` wrapped by their kind. */
function wrappedCopy(dir: string, files: readonly string[], wrap: ReadonlyMap<string, WrapKind>): string {
  const out = path.join(scratch, String(runNo++));
  mkdirSync(out);
  let session = 1;
  for (const f of files) {
    const kind = wrap.get(f);
    if (kind === undefined) {
      writeFileSync(path.join(out, f), readFileSync(path.join(dir, f)));
      continue;
    }
    // The collector is no address of any set (documentation range), the mirror a device of its own.
    const wrapped = wrapPcap(pcapOf(path.join(dir, f)), kind, { session: session++, from: '198.18.0.2', to: '198.18.0.1' });
    writeFileSync(path.join(out, f), f.endsWith('.gz') ? gzipSync(wrapped) : wrapped);
  }
  return out;
}

describe('verify reads through a mirror: wrapped points give the findings of the unwrapped set', () => {
  it('finds the committed capture sets, most with Ethernet captures to wrap', () => {
    expect(sets.length).toBeGreaterThan(30);
    const wrappable = sets.filter((s) => s.files.some((f) => isEthernetPcap(pcapOf(path.join(s.dir, f)))));
    expect(wrappable.length).toBeGreaterThan(30);
  });

  it.each(sets.map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    const ethernet = s.files.filter((f) => isEthernetPcap(pcapOf(path.join(s.dir, f))));
    if (ethernet.length === 0) return;
    const base = await run(s.dir, s.dir, pointsOf(s.dir, s.files), s.profile);
    const expected = findingsOf(base, s.dir);
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(ethernet, { minLength: 1 }),
        fc.array(fc.constantFrom(...WRAP_KINDS), { minLength: ethernet.length, maxLength: ethernet.length }),
        async (chosen, kinds) => {
          const wrap = new Map(chosen.map((f, i) => [f, kinds[i]!] as const));
          const dir = wrappedCopy(s.dir, s.files, wrap);
          const r = await run(dir, s.dir, pointsOf(dir, s.files), s.profile);
          expect(r.verdict).toBe(base.verdict);
          expect(findingsOf(r, dir)).toEqual(expected);
        },
      ),
      { numRuns: 2, seed: s.name.length * 7919 },
    );
  });
});

describe('the rule auto applies', () => {
  const set = sets.find((s) => s.name.endsWith('nat-ok')) ?? sets[0]!;

  it('--decap none leaves wrapped captures as captured: the wrapped point then shows no service traffic', async () => {
    const wrapAll = new Map(set.files.map((f) => [f, 'vxlan' as const]));
    const dir = wrappedCopy(set.dir, set.files, wrapAll);
    const r = await run(dir, set.dir, pointsOf(dir, set.files), set.profile, null);
    expect(r.verdict).toBe('no-data');
    const auto = await run(dir, set.dir, pointsOf(dir, set.files), set.profile);
    expect(auto.verdict).not.toBe('no-data');
  });

  it('an overlay sent to a configured service address is the service traffic, not a mirror', async () => {
    const conf = readFileSync(path.join(set.dir, 'service.conf'), 'utf8');
    const vip = parseServiceConfig(conf, 'service.conf').services[0]!.vip;
    const wrap = new Map(set.files.map((f) => [f, 'vxlan' as const]));
    const out = path.join(scratch, String(runNo++));
    mkdirSync(out);
    for (const f of set.files) writeFileSync(path.join(out, f), wrapPcap(readFileSync(path.join(set.dir, f)), wrap.get(f)!, { session: 5, from: '198.18.0.2', to: vip }));
    const r = await run(out, set.dir, pointsOf(out, set.files), set.profile);
    expect(r.verdict).toBe('no-data');
    // Forced, the kind is removed whatever its destination.
    const forced = await run(out, set.dir, pointsOf(out, set.files), set.profile, { kinds: ['vxlan'], keepTo: [], vxlanPorts: [], genevePorts: [] });
    expect(forced.verdict).toBe('pass');
  });

  it('vxlan:PORT reads a Linux VXLAN device port (8472) as VXLAN', async () => {
    const out = path.join(scratch, String(runNo++));
    mkdirSync(out);
    for (const f of set.files) writeFileSync(path.join(out, f), wrapPcap(readFileSync(path.join(set.dir, f)), 'vxlan', { session: 9, from: '198.18.0.2', to: '198.18.0.1', port: 8472 }));
    const plain = await run(out, set.dir, pointsOf(out, set.files), set.profile);
    expect(plain.verdict).toBe('no-data');
    const r = await run(out, set.dir, pointsOf(out, set.files), set.profile, { kinds: ['vxlan'], keepTo: [], vxlanPorts: [8472], genevePorts: [] });
    const base = await run(set.dir, set.dir, pointsOf(set.dir, set.files), set.profile);
    expect(findingsOf(r, out)).toEqual(findingsOf(base, set.dir));
    expect(r.verdict).toBe(base.verdict);
  });
});
