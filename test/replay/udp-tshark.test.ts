/**
 * The UDP capture sets (fixtures/replay/udp-{nat,dr,tun}-linux, written by `replay --out` with
 * the udp-dns and udp-burst scenarios) read by tshark, a decoder independent of lvsaudit's:
 *  - the service is a UDP one in ipvsadm-save form (`-u VIP:53`);
 *  - every IPv4 header checksum and every UDP checksum present verifies; the one query sent
 *    without checksum stays without in DR/TUN and gets a valid one from NAT DNAT (§1.3, R5);
 *  - every client query reaches exactly one real server, rewritten as the method says (NAT:
 *    dst RIP:5353; DR: dst VIP:53 to the RS MAC; TUN: IPIP to the RIP, outer TTL = inner TTL,
 *    §1.3–1.5), with TTL 64 → 63 (§1.2) and IP ID unchanged (R4), and is answered once, from
 *    VIP:53, with its DNS id, by the server that got it;
 *  - each (client IP, port) flow is served by one server, and new flows alternate rs1/rs2 (rr,
 *    §1.10): every fresh port is a scheduling decision.
 * A fault run (bad-l4-checksum) shows that tshark's UDP validation really flags bad checksums.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWrite, writeCaptureSet } from '../../src/replay/replay.js';
import { registerReplay } from '../../src/cli/replay.js';
import { registerVerify } from '../../src/cli/verify.js';
import { runInProcess } from '../helpers/cli.js';
import { hasCommand, isCI, repoRoot } from '../helpers/env.js';

const need = (cond: boolean, reason: string): boolean => {
  if (!cond && isCI) throw new Error(reason);
  if (!cond) console.log(`skip: ${reason}`);
  return cond;
};
const hasTshark = hasCommand('tshark');

const VIP = '192.0.2.10';
const RIPS = ['10.0.0.11', '10.0.0.12'];
const RS_MACS = ['02:00:00:00:00:11', '02:00:00:00:00:12'];
const SETS = { nat: 'udp-nat-linux', dr: 'udp-dr-linux', tun: 'udp-tun-linux' } as const;
type Method = keyof typeof SETS;

const FIELDS = ['frame.number', 'eth.dst', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.id', 'ip.checksum.status', 'udp.srcport', 'udp.dstport', 'udp.checksum', 'udp.checksum.status', 'dns.id', 'dns.txt'] as const;
type Row = Record<(typeof FIELDS)[number], string[]>;

/** One row per frame; every field keeps all its occurrences (IPIP: outer first, inner last). */
function rows(file: string): Row[] {
  const args = ['-n', '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-d', 'udp.port==5353,dns', '-Y', 'udp', '-T', 'fields', '-E', 'separator=\t', '-E', 'aggregator=,'];
  for (const f of FIELDS) args.push('-e', f);
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const cols = l.split('\t');
      const row = {} as Row;
      FIELDS.forEach((f, i) => (row[f] = (cols[i] ?? '').split(',').filter((x) => x.length > 0)));
      return row;
    });
}

const last = (xs: string[]): string => xs[xs.length - 1] ?? '';
const first = (xs: string[]): string => xs[0] ?? '';
const dir = (set: string): string => path.join(repoRoot, 'fixtures', 'replay', set);
const pcaps = (d: string): string[] => ['client', 'director', 'rs1', 'rs2'].map((p) => path.join(d, `${p}.pcap`));

const tmp = mkdtempSync(path.join(tmpdir(), 'lvsa-udp-tshark-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('UDP capture sets checked by tshark', () => {
  it('service.conf is a UDP service in ipvsadm-save form', () => {
    for (const [method, set] of Object.entries(SETS)) {
      const conf = readFileSync(path.join(dir(set), 'service.conf'), 'utf8');
      const rport = method === 'nat' ? 5353 : 53;
      const sw = { nat: '-m', dr: '-g', tun: '-i' }[method as Method];
      expect(conf).toBe(`-A -u ${VIP}:53 -s rr\n` + RIPS.map((r) => `-a -u ${VIP}:53 -r ${r}:${rport} ${sw} -w 1\n`).join(''));
    }
  });

  it.skipIf(!need(hasTshark, 'tshark not installed'))('every IPv4 and UDP checksum verifies; the checksum-less query gets one from NAT only', () => {
    for (const [method, set] of Object.entries(SETS)) {
      for (const file of pcaps(dir(set))) {
        for (const r of rows(file)) {
          // 1 = good; 3 = not present (UDP checksum 0, allowed over IPv4).
          for (const s of r['ip.checksum.status']) expect(s, `${file} frame ${r['frame.number']}: IPv4 checksum`).toBe('1');
          const st = first(r['udp.checksum.status']);
          expect(['1', '3'], `${file} frame ${r['frame.number']}: UDP checksum status ${st}`).toContain(st);
          if (st === '3') expect(first(r['udp.checksum'])).toBe('0x0000');
        }
      }
      const zeroAt = (p: string): number => rows(path.join(dir(set), `${p}.pcap`)).filter((r) => first(r['udp.checksum.status']) === '3').length;
      expect(zeroAt('client'), `${set}: the scenario sends one query without checksum`).toBe(1);
      // NAT DNAT recomputes a zero checksum in full (§1.3, R5); DR and TUN do not touch L4.
      expect(zeroAt('rs1') + zeroAt('rs2'), set).toBe(method === 'nat' ? 0 : 1);
    }
  });

  it.skipIf(!need(hasTshark, 'tshark not installed'))('tshark sees the bad UDP checksums of a bad-l4-checksum run (the oracle can fail)', () => {
    const d = path.join(tmp, 'bad-l4');
    writeCaptureSet(d, runWrite({ method: 'nat', profile: 'linux', scenarios: ['udp-burst'], faults: ['bad-l4-checksum'] }));
    const atRs = [...rows(path.join(d, 'rs1.pcap')), ...rows(path.join(d, 'rs2.pcap'))].filter((r) => last(r['ip.src']) !== RIPS[0] && last(r['ip.src']) !== RIPS[1]);
    expect(atRs.length).toBe(12);
    for (const r of atRs) expect(first(r['udp.checksum.status'])).toBe('0');
  });

  for (const method of ['nat', 'dr', 'tun'] as const) {
    it.skipIf(!need(hasTshark, 'tshark not installed'))(`${method}: each query reaches one RS rewritten as ${method} requires and is answered from VIP:53 with its id; flows alternate rs1/rs2`, () => {
      const d = dir(SETS[method]);
      const client = rows(path.join(d, 'client.pcap'));
      const queries = client.filter((r) => last(r['ip.dst']) === VIP && last(r['udp.dstport']) === '53');
      const answers = client.filter((r) => last(r['ip.src']) !== '' && last(r['ip.dst']) !== VIP);
      expect(queries.length).toBe(27); // udp-dns: 3 clients × (3 + 2); udp-burst: 12
      const key = (src: string, port: string, id: string): string => `${src}|${port}|${id}`;
      // Copies at the real servers, by (client address, port, IP ID): client → server only.
      const atRs = new Map<string, { rs: number; row: Row }[]>();
      for (const [i, rip] of RIPS.entries()) {
        for (const r of rows(path.join(d, `rs${i + 1}.pcap`))) {
          if (RIPS.includes(last(r['ip.src'])) || last(r['ip.src']) === VIP) continue; // the server's answers
          const k = key(last(r['ip.src']), last(r['udp.srcport']), last(r['ip.id']));
          const l = atRs.get(k) ?? [];
          l.push({ rs: i, row: r });
          atRs.set(k, l);
          if (method === 'nat') {
            expect(last(r['ip.dst'])).toBe(rip);
            expect(last(r['udp.dstport'])).toBe('5353');
          } else if (method === 'dr') {
            expect(r['ip.dst']).toEqual([VIP]);
            expect(last(r['udp.dstport'])).toBe('53');
            expect(first(r['eth.dst'])).toBe(RS_MACS[i]);
          } else {
            // IPIP: outer DIP → RIP with TTL = the decremented inner TTL (§1.5, R7); inner untouched but TTL.
            expect(r['ip.dst']).toEqual([rip, VIP]);
            expect(first(r['ip.src'])).toBe('10.0.0.1');
            expect(first(r['ip.ttl'])).toBe(last(r['ip.ttl']));
          }
        }
      }
      const flowRs = new Map<string, number>();
      const flowOrder: string[] = [];
      for (const q of queries) {
        const src = last(q['ip.src']);
        const port = last(q['udp.srcport']);
        const copies = atRs.get(key(src, port, last(q['ip.id']))) ?? [];
        expect(copies.length, `query ${src}:${port} id ${last(q['ip.id'])}`).toBe(1);
        const { rs, row } = copies[0]!;
        expect(last(q['ip.ttl'])).toBe('64');
        expect(last(row['ip.ttl'])).toBe('63'); // §1.2: TTL −1 under linux
        expect(last(row['dns.id'])).toBe(last(q['dns.id']));
        const flow = `${src}:${port}`;
        if (!flowRs.has(flow)) {
          flowRs.set(flow, rs);
          flowOrder.push(flow);
        } else expect(rs, `flow ${flow} stays on one server`).toBe(flowRs.get(flow));
        const ans = answers.filter((a) => last(a['ip.dst']) === src && last(a['udp.dstport']) === port && last(a['dns.id']) === last(q['dns.id']));
        expect(ans.length, `answer to ${flow} id ${last(q['dns.id'])}`).toBe(1);
        expect(last(ans[0]!['ip.src'])).toBe(VIP);
        expect(last(ans[0]!['udp.srcport'])).toBe('53');
        expect(last(ans[0]!['dns.txt'])).toBe(`served-by rs${rs + 1}`);
      }
      // 3 clients × (1 stub port + 2 fresh) + 12 fresh ports = 21 flows, scheduled rr.
      expect(flowOrder.length).toBe(21);
      flowOrder.forEach((f, i) => expect(flowRs.get(f), `flow ${i} ${f}`).toBe((flowRs.get(flowOrder[0]!)! + i) % 2));
    });
  }
});

describe('UDP end to end through the CLI: replay --out, then verify', () => {
  for (const method of ['nat', 'dr', 'tun'] as const) {
    it(`replay --method ${method} --scenario udp-dns,udp-burst writes a -u service that verify passes (exit 0)`, async () => {
      const out = path.join(tmp, `cli-${method}`);
      const w = await runInProcess(registerReplay, 'replay', ['--out', out, '--method', method, '--scenario', 'udp-dns,udp-burst']);
      expect(w.code, w.err).toBe(0);
      expect(w.out).toMatch(/PASS {2}udp-dns/);
      expect(w.out).toMatch(/2\/2 scenarios as expected/);
      expect(readFileSync(path.join(out, 'service.conf'), 'utf8')).toMatch(/^-A -u 192\.0\.2\.10:53 -s rr$/m);
      const v = await runInProcess(registerVerify, 'verify', [
        '--config', path.join(out, 'service.conf'),
        '--client', path.join(out, 'client.pcap'),
        '--director', path.join(out, 'director.pcap'),
        '--rs-capture', `10.0.0.11=${path.join(out, 'rs1.pcap')}`,
        '--rs-capture', `10.0.0.12=${path.join(out, 'rs2.pcap')}`,
      ]);
      expect(v.code, v.out + v.err).toBe(0);
    });
  }

  it('a fault makes verify exit 1; a keepalived config says protocol UDP', async () => {
    const out = path.join(tmp, 'cli-fault');
    const w = await runInProcess(registerReplay, 'replay', ['--out', out, '--method', 'nat', '--scenario', 'udp-burst', '--fault', 'no-ttl-decrement', '--config-format', 'keepalived']);
    expect(w.code).toBe(0); // invisible to the client: the answers still come back
    expect(readFileSync(path.join(out, 'service.conf'), 'utf8')).toMatch(/virtual_server 192\.0\.2\.10 53 \{[\s\S]*protocol UDP[\s\S]*real_server 10\.0\.0\.11 5353/);
    const v = await runInProcess(registerVerify, 'verify', ['--config', path.join(out, 'service.conf'), '--client', path.join(out, 'client.pcap'), '--director', path.join(out, 'director.pcap')]);
    expect(v.code).toBe(1);
    expect(v.out).toContain('rewrite.ttl');
  });

  it('mixing TCP and UDP scenarios in one run is a usage error (exit 2): a run writes one service', async () => {
    const r = await runInProcess(registerReplay, 'replay', ['--write', path.join(tmp, 'mix.pcap'), '--method', 'nat', '--scenario', 'handshake,udp-dns']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/UDP service/);
  });

  it('--list names the UDP scenarios; the default run stays TCP', async () => {
    const r = await runInProcess(registerReplay, 'replay', ['--list']);
    expect(r.out).toMatch(/scenario udp-dns/);
    expect(r.out).toMatch(/scenario udp-burst/);
    expect(runWrite({ method: 'nat', scenarios: ['handshake'] }).serviceConf).toMatch(/^-A -t 192\.0\.2\.10:80/);
  });
});
