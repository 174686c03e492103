/**
 * FullNAT UDP through a DPVS-like director (lvs-behavior.md §3.3, issue 22 item 5): the capture
 * sets fixtures/fullnat/dpvs-udp-uoa-* are runs of the reference director (src/replay/director)
 * with `uoa_mode` ipo and opp, clean and with one UOA fault each. Each is checked to be what a
 * fresh run writes and to carry, on the real-server leg, what scapy dissects as DPVS's UOA; then
 * verified: the UDP connections are linked to their local-address legs, every UOA rule is
 * evaluated, the clean sets pass and each fault set fails with its rule.
 *
 * Metamorphic: a clean set stays clean when the network reorders and duplicates datagrams
 * behind the director; a UOA byte changed on the real-server leg is caught by the rule that
 * names what the byte means.
 *
 * UPDATE_FULLNAT_UOA_FIXTURES=1 rewrites the committed sets.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/decode/decoder.js';
import type { UoaMode } from '../../src/replay/director/index.js';
import { capturePcap, runWrite } from '../../src/replay/replay.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { copy, fixIpv4Checksum, ipOffset, readPcap, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { scapyPython } from '../replay/scapy-oracle.js';

const ROOT = path.resolve(__dirname, '../../fixtures/fullnat');
const UPDATE = process.env.UPDATE_FULLNAT_UOA_FIXTURES === '1';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'fnat-uoa-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const UOA_RULES = ['fnat.uoa-missing', 'fnat.uoa-mismatch', 'fnat.uoa-format', 'fnat.uoa-count'] as const;

interface Case {
  name: string;
  what: string;
  mode: Exclude<UoaMode, 'off'>;
  faults: string[];
  errors: string[];
  /** Rules that must be evaluated (checked > 0). */
  evaluated: string[];
}

const ALWAYS = ['fnat.src', 'sched.distribution', 'fnat.uoa-missing', 'fnat.uoa-count'];
const CASES: Case[] = [
  { name: 'dpvs-udp-uoa-ipo', what: 'UDP DNS-like queries, uoa_mode ipo: UOA as an IPv4 option on the first 3 datagrams', mode: 'ipo', faults: [], errors: [], evaluated: [...ALWAYS, 'fnat.uoa-mismatch', 'fnat.uoa-format'] },
  { name: 'dpvs-udp-uoa-opp', what: 'UDP DNS-like queries, uoa_mode opp: UOA in the protocol-248 shim on the first 3 datagrams', mode: 'opp', faults: [], errors: [], evaluated: [...ALWAYS, 'fnat.uoa-mismatch', 'fnat.uoa-format'] },
  { name: 'dpvs-udp-uoa-missing', what: 'uoa_mode opp, but the director sends no UOA (reference director --fault uoa-missing)', mode: 'opp', faults: ['uoa-missing'], errors: ['fnat.uoa-missing'], evaluated: ALWAYS },
  {
    name: 'dpvs-udp-uoa-wrong-port',
    what: 'uoa_mode ipo, the UOA names the client port + 1 (reference director --fault uoa-wrong-port)',
    mode: 'ipo',
    faults: ['uoa-wrong-port'],
    errors: ['fnat.uoa-mismatch'],
    evaluated: [...ALWAYS, 'fnat.uoa-mismatch', 'fnat.uoa-format'],
  },
];

const CAPTURES = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];

function generate(c: Case): Map<string, Buffer> {
  const run = runWrite({ method: 'fullnat', profile: 'dpvs', uoaMode: c.mode, faults: c.faults, scenarios: ['udp-dns', 'udp-burst'], clients: 3 });
  const out = new Map<string, Buffer>();
  for (const [point, frames] of run.captures) {
    const file = `${point}.pcap`;
    if (CAPTURES.includes(file)) out.set(file, capturePcap(frames));
  }
  out.set('service.conf', Buffer.from(run.serviceConf));
  const expected = { profile: 'dpvs', verdict: c.errors.length ? 'fail' : 'pass', rules: c.errors, evaluated: c.evaluated, description: c.what };
  out.set('expected.json', Buffer.from(JSON.stringify(expected, null, 2) + '\n'));
  out.set(
    'README.md',
    Buffer.from(
      [
        `# ${c.name}`,
        '',
        `${c.what}. Reference director, FullNAT profile dpvs, \`uoa_mode ${c.mode}\`, local address 10.0.0.100;`,
        'scenarios udp-dns and udp-burst (service `-u 192.0.2.10:53`, real servers on 5353).',
        'Written by test/verify/fullnat-uoa.test.ts (UPDATE_FULLNAT_UOA_FIXTURES=1), which also checks the',
        "real-server leg's UOA against scapy's dissection.",
        '',
        `Expected: ${c.errors.length ? `fail with ${c.errors.join(', ')}` : 'pass'}; evaluated: ${c.evaluated.join(', ')}.`,
        '',
        '```',
        'lvsaudit verify --config service.conf --profile dpvs --client client.pcap \\',
        '  --director director-eth0.pcap --director director-eth1.pcap --rs-capture 10.0.0.11=rs1.pcap --rs-capture 10.0.0.12=rs2.pcap',
        '```',
        '',
      ].join('\n'),
    ),
  );
  return out;
}

async function verifyDir(dir: string): Promise<VerifyResult> {
  const points: VerifyInput['points'] = [
    { kind: 'client', files: [path.join(dir, 'client.pcap')] },
    { kind: 'director', files: [path.join(dir, 'director-eth0.pcap'), path.join(dir, 'director-eth1.pcap')] },
    { kind: 'rs', files: [path.join(dir, 'rs1.pcap')], rsIp: '10.0.0.11' },
    { kind: 'rs', files: [path.join(dir, 'rs2.pcap')], rsIp: '10.0.0.12' },
  ];
  const conf = path.join(dir, 'service.conf');
  return verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile: 'dpvs' });
}

const problemsOf = (r: VerifyResult): string[] => [...new Set(r.findings.filter((f) => f.severity !== 'info').map((f) => f.rule))].sort();
const statusOf = (r: VerifyResult, rule: string): string | undefined => r.rules.find((t) => t.rule === rule)?.status;
const checkedOf = (r: VerifyResult, rule: string): number => r.rules.find((t) => t.rule === rule)?.checked ?? 0;

/** scapy's reading of every UOA on the real-server leg: [code, len, port, addr, shim version, shim proto]. */
const PY = String.raw`
import sys, json, struct, socket
from scapy.all import rdpcap, IP, UDP
out = []
for p in rdpcap(sys.argv[1]):
    if IP not in p: continue
    ip = p[IP]
    if ip.proto == 248:
        b = bytes(ip.payload)
        slen = struct.unpack('!H', b[2:4])[0]
        o = b[4:slen]
        out.append(['opp', o[0], o[1], struct.unpack('!H', o[2:4])[0], socket.inet_ntoa(o[4:8]), b[0] >> 4, b[1], UDP(b[slen:]).dport])
    else:
        for opt in ip.options:
            if opt.option == 31:
                v = bytes(opt.value)
                out.append(['ipo', opt.option, opt.length, struct.unpack('!H', v[:2])[0], socket.inet_ntoa(v[2:6]), 0, ip.proto, ip[UDP].dport])
print(json.dumps(out))
`;

const py = scapyPython();

describe('FullNAT UDP with UOA: committed capture sets', () => {
  for (const c of CASES) {
    const dir = path.join(ROOT, c.name);
    it(`${c.name}: what a fresh reference-director run writes`, () => {
      const fresh = generate(c);
      if (UPDATE) {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        for (const [f, b] of fresh) writeFileSync(path.join(dir, f), b);
      }
      expect(readdirSync(dir).sort()).toEqual([...fresh.keys()].sort());
      for (const [f, b] of fresh) expect(readFileSync(path.join(dir, f)).equals(b), f).toBe(true);
    });

    it.skipIf(py === null)(`${c.name}: scapy dissects DPVS's UOA on the real-server leg where the decoder finds it`, () => {
      const file = path.join(dir, 'director-eth1.pcap');
      const r = spawnSync(py!, ['-c', PY, file], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const theirs = JSON.parse(r.stdout) as Array<[string, number, number, number, string, number, number, number]>;
      const ours: typeof theirs = [];
      for (const p of readPcap(readFileSync(file)).packets) {
        const d = decodeBytes(p.data, 1);
        const u = d.net.uoa;
        if (u.mode === 0) continue;
        expect(d.malformed.present).toBe(false);
        const addr = [...d.buf.subarray(u.addrOff, u.addrOff + 4)].join('.');
        ours.push([u.mode === 1 ? 'ipo' : 'opp', u.code, u.len, u.port, addr, u.mode === 2 ? u.shimVersion : 0, u.mode === 2 ? u.shimProto : d.net.ip.proto, d.net.udp.dport]);
      }
      expect(ours).toEqual(theirs);
      if (c.faults.includes('uoa-missing')) expect(theirs).toEqual([]);
      else {
        expect(theirs.length).toBeGreaterThan(0);
        for (const t of theirs) {
          expect(t.slice(0, 3)).toEqual([c.mode, 31, 8]);
          expect(t[4]).toMatch(/^198\.51\.100\./);
          expect(t.slice(5)).toEqual(c.mode === 'opp' ? [1, 17, 5353] : [0, 17, 5353]);
        }
      }
    });

    it(`${c.name}: ${c.errors.length ? c.errors.join(', ') : 'pass'}, the UOA rules evaluated`, async () => {
      expect(existsSync(dir)).toBe(true);
      const r = await verifyDir(dir);
      const e = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { verdict: string; rules: string[]; evaluated: string[] };
      expect(problemsOf(r)).toEqual(e.rules);
      expect(e.rules).toEqual(c.errors);
      expect(r.verdict).toBe(e.verdict);
      for (const rule of e.evaluated) expect(checkedOf(r, rule), rule).toBeGreaterThan(0);
      for (const rule of c.errors) expect(statusOf(r, rule)).toBe('fail');
      // Every UDP connection was linked to its local-address leg: none is left without a real server.
      expect(r.findings.filter((f) => f.rule.startsWith('flow.'))).toEqual([]);
    });
  }

  it('TCP FullNAT sets list the UOA rules as not evaluated, saying UOA is for UDP', async () => {
    const dir = path.join(ROOT, 'sched-rr-dpvs');
    const points: VerifyInput['points'] = [
      { kind: 'client', files: [path.join(dir, 'client.pcap')] },
      { kind: 'director', files: [path.join(dir, 'director-eth0.pcap'), path.join(dir, 'director-eth1.pcap')] },
    ];
    const conf = path.join(dir, 'service.conf');
    const r = await verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile: 'dpvs' });
    for (const rule of UOA_RULES) {
      expect(statusOf(r, rule)).toBe('not-evaluated');
      expect(r.notEvaluated.find((x) => x.rule === rule)?.reason, rule).toMatch(/UOA is for UDP/);
    }
  });
});

// ------------------------------------------------------------------------------- metamorphic

/** Every frame toward a real server carrying UOA: its packet index and where the UOA starts. */
function uoaFrames(f: PcapFile): Array<{ i: number; at: number; mode: 1 | 2; len: number }> {
  const out: Array<{ i: number; at: number; mode: 1 | 2; len: number }> = [];
  f.packets.forEach((p, i) => {
    const d = decodeBytes(p.data, f.linkType);
    const u = d.net.uoa;
    if (u.mode === 1) out.push({ i, at: u.optOff, mode: 1, len: u.len });
    else if (u.mode === 2) out.push({ i, at: u.shimOff, mode: 2, len: u.len });
  });
  return out;
}

function writeSet(src: string, name: string, t: (f: PcapFile, file: string) => PcapFile): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of CAPTURES) writeFileSync(path.join(dir, f), writePcap(t(readPcap(readFileSync(path.join(src, f))), f)));
  writeFileSync(path.join(dir, 'service.conf'), readFileSync(path.join(src, 'service.conf')));
  return dir;
}

describe('FullNAT UDP with UOA: metamorphic', () => {
  let n = 0;
  for (const name of ['dpvs-udp-uoa-ipo', 'dpvs-udp-uoa-opp']) {
    const src = path.join(ROOT, name);

    it(`${name}: stays clean when datagrams are duplicated and reordered behind the director`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), async (dups, swaps) => {
          const dir = writeSet(src, `${name}-net${n++}`, (f, file) => {
            if (!file.startsWith('rs')) return f;
            const out = copy(f);
            // Reordered on the way: two neighbouring frames arrive the other way round (each keeps its slot's time).
            for (const s of swaps) {
              const i = s % Math.max(1, out.packets.length - 1);
              const a = out.packets[i]!;
              const b = out.packets[i + 1];
              if (!b) continue;
              [a.data, b.data] = [b.data, a.data];
            }
            // Duplicated on the way: a copy right behind the original.
            for (const d of dups) {
              const i = d % out.packets.length;
              const p = out.packets[i]!;
              out.packets.splice(i + 1, 0, { ...p, data: Buffer.from(p.data) });
            }
            return out;
          });
          const r = await verifyDir(dir);
          expect(r.findings.filter((f) => f.rule.startsWith('fnat.uoa-'))).toEqual([]);
          for (const rule of UOA_RULES) expect(statusOf(r, rule), rule).not.toBe('fail');
        }),
        { numRuns: 6 },
      );
    });

    it(`${name}: a UOA byte changed on the real-server leg is caught by the rule that names it`, async () => {
      // Which byte of the UOA (from its start: the option for ipo, the shim for opp) means what.
      const ipo: Array<[number, string]> = [[0, 'fnat.uoa-missing'], [2, 'fnat.uoa-mismatch'], [3, 'fnat.uoa-mismatch'], [4, 'fnat.uoa-mismatch'], [7, 'fnat.uoa-mismatch']];
      const opp: Array<[number, string]> = [[0, 'fnat.uoa-format'], [4, 'fnat.uoa-format'], [6, 'fnat.uoa-mismatch'], [7, 'fnat.uoa-mismatch'], [11, 'fnat.uoa-mismatch']];
      const table = name.endsWith('ipo') ? ipo : opp;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...table), fc.integer({ min: 1, max: 255 }), async ([offset, rule], x) => {
          // Code 31 must not turn into EOL/NOP-then-31 by chance; a changed code is still not 31.
          const dir = writeSet(src, `${name}-mut${n++}`, (f, file) => {
            if (file === 'client.pcap' || file === 'director-eth0.pcap') return f;
            const out = copy(f);
            for (const u of uoaFrames(out)) {
              const d = out.packets[u.i]!.data;
              d[u.at + offset] = d[u.at + offset]! ^ x;
              fixIpv4Checksum(d, ipOffset(out.linkType, d));
            }
            return out;
          });
          const r = await verifyDir(dir);
          expect(problemsOf(r), `byte ${offset} ^ ${x}`).toContain(rule);
          expect(statusOf(r, rule)).toBe('fail');
        }),
        { numRuns: 8 },
      );
    });
  }
});
