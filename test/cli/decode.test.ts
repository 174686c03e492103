/**
 * `lvsaudit decode` end to end through the built CLI: exit codes, one-line errors, -c,
 * stdin, gzip, filters, --summary and --toa-kind. Captures are written with the project's
 * PcapWriter from builder packets; expected counts come from what was written.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { repoRoot } from '../helpers/env.js';
import { distReady, runDecode } from '../differential/cli.js';

const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';
let dir = '';
let cap = '';

/** 10 packets: 4 TCP to port 80 (one with TOA kind 200), 3 UDP to 53, 2 ARP, 1 ICMP echo. */
function packets(): Buffer[] {
  const e = (): PacketBuilder => PacketBuilder.eth({ src: A, dst: B });
  const out: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    out.push(e().ipv4({ src: '10.0.0.2', dst: '10.0.0.100', id: i }).tcp({ sport: 40000 + i, dport: 80, flags: 'S', seq: 1000 + i }).build());
  }
  out.push(
    e()
      .ipv4({ src: '10.0.0.3', dst: '10.0.0.100' })
      .tcp({ sport: 41000, dport: 80, flags: 'A', ack: 5, options: [{ kind: 'toa', addr: '198.51.100.7', port: 40123, optKind: 200 }] })
      .build(),
  );
  for (let i = 0; i < 3; i++) out.push(e().ipv4({ src: '10.0.0.2', dst: '10.0.0.53' }).udp({ sport: 5000 + i, dport: 53 }).payload('q').build());
  out.push(PacketBuilder.eth({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: A, spa: '10.0.0.2', tha: '00:00:00:00:00:00', tpa: '10.0.0.1' }).build());
  out.push(PacketBuilder.eth({ src: B, dst: A }).arp({ op: 2, sha: B, spa: '10.0.0.1', tha: A, tpa: '10.0.0.2' }).build());
  out.push(e().ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }).icmp({ type: 8, code: 0, id: 1, seq: 1 }).build());
  return out;
}

beforeAll(() => {
  if (!distReady()) execSync('npx tsc -p .', { cwd: repoRoot, stdio: 'inherit' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-decode-'));
  cap = path.join(dir, 'cl.pcap');
  const w = new PcapWriter({ path: cap });
  packets().forEach((b, i) => w.write(b, 1795699418 + i, 1000 * i));
  w.close();
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

describe('decode CLI', () => {
  it('prints one text line per packet with file and frame, exit 0', () => {
    const r = runDecode([cap]);
    expect(r.status).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(10);
    expect(out[0]).toMatch(new RegExp(`^${cap.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1 \\d\\d:\\d\\d:\\d\\d\\.000000000 `));
    expect(out[7]).toContain('ARP, Request who-has 10.0.0.1 tell 10.0.0.2');
    expect(r.stderr).toBe('');
  });

  it('--json prints one parseable object per packet', () => {
    const r = runDecode(['--json', cap]);
    expect(r.status).toBe(0);
    const objs = lines(r.stdout).map((l) => JSON.parse(l));
    expect(objs).toHaveLength(10);
    expect(objs.map((o) => o.frame)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(objs[0].tcp).toMatchObject({ sport: 40000, dport: 80, seq: 1000, flagsText: 'S' });
    expect(objs[4].udp).toMatchObject({ dport: 53 });
  });

  it('-c stops after COUNT packets (counting filtered matches)', () => {
    expect(lines(runDecode(['-c', '2', cap]).stdout)).toHaveLength(2);
    const r = runDecode(['-c', '2', 'udp', cap]);
    expect(lines(r.stdout)).toHaveLength(2);
    expect(lines(r.stdout).every((l) => l.includes('UDP, length 1'))).toBe(true);
  });

  it('reads stdin for "-" and gzip captures', () => {
    const bytes = readFileSync(cap);
    const r = runDecode(['--json', '-'], { input: bytes });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toHaveLength(10);
    expect(JSON.parse(lines(r.stdout)[0]!).capture).toBe('-');
    const gz = path.join(dir, 'cl.pcap.gz');
    writeFileSync(gz, gzipSync(bytes));
    const g = runDecode([gz]);
    expect(g.status).toBe(0);
    expect(lines(g.stdout)).toHaveLength(10);
    const gin = runDecode(['-'], { input: gzipSync(bytes) });
    expect(lines(gin.stdout)).toHaveLength(10);
  });

  it('applies FILTER words before the capture and --filter', () => {
    expect(lines(runDecode(['tcp', 'and', 'port', '80', cap]).stdout)).toHaveLength(4);
    expect(lines(runDecode(['arp or icmp', cap]).stdout)).toHaveLength(3);
    expect(lines(runDecode(['not', 'host', '10.0.0.100', cap]).stdout)).toHaveLength(6);
    expect(lines(runDecode(['--filter', 'src host 10.0.0.3', cap]).stdout)).toHaveLength(1);
    // Several captures after the filter: both are read.
    expect(lines(runDecode(['udp', cap, cap]).stdout)).toHaveLength(6);
  });

  it('--toa-kind decides which option is TOA', () => {
    expect(lines(runDecode(['toa', cap]).stdout)).toHaveLength(0);
    const r = runDecode(['--toa-kind', '200', 'toa', cap]);
    expect(lines(r.stdout)).toHaveLength(1);
    expect(r.stdout).toContain('toa 198.51.100.7:40123');
  });

  it('--summary prints protocol counts and packets/s on stderr', () => {
    const r = runDecode(['--summary', cap]);
    expect(r.status).toBe(0);
    const row = (name: string): number => {
      const m = new RegExp(`^\\s+${name}\\s+(\\d+)`, 'm').exec(r.stdout);
      return m ? Number(m[1]) : -1;
    };
    expect(row('eth')).toBe(10);
    expect(row('ipv4')).toBe(8);
    expect(row('tcp')).toBe(4);
    expect(row('udp')).toBe(3);
    expect(row('arp')).toBe(2);
    expect(row('icmp')).toBe(1);
    expect(r.stderr).toMatch(/decoded 10 packets in [\d.]+ s \(\d+ packets\/s\)/);
    const j = runDecode(['--summary', '--json', cap]);
    expect(JSON.parse(j.stdout).frames).toBe(10);
  });

  it('exit 2 with one line for a missing file, a garbage file, a bad filter and a bad -c', () => {
    const missing = runDecode([path.join(dir, 'nope.pcap')]);
    expect(missing.status).toBe(2);
    expect(lines(missing.stderr)).toHaveLength(1);
    expect(missing.stderr).toContain('nope.pcap');

    const garbage = path.join(dir, 'garbage.pcap');
    writeFileSync(garbage, Buffer.from('this is not a capture file at all, just text\n'));
    const g = runDecode([garbage]);
    expect(g.status).toBe(2);
    expect(lines(g.stderr)).toHaveLength(1);
    expect(g.stderr).toMatch(/garbage\.pcap: offset 0/);

    const bad = runDecode(['tcp', 'and', 'port', 'nosuchsvc', cap]);
    expect(bad.status).toBe(2);
    expect(lines(bad.stderr)).toHaveLength(1);
    expect(bad.stderr).toMatch(/filter 'tcp and port nosuchsvc': unknown port 'nosuchsvc' \(not in \/etc\/services\) at column 14/);

    const c = runDecode(['-c', 'x', cap]);
    expect(c.status).toBe(2);
    expect(lines(c.stderr)).toHaveLength(1);
    expect(c.stderr).not.toMatch(/\n\s+at /);
  });

  it('a second - is a usage error before anything is printed (stdin can be read once)', () => {
    const r = runDecode(['-', cap, '-'], { input: readFileSync(cap) });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("lvsaudit: '-' (standard input) is given twice: only one capture can be read from standard input\n");
  });

  it('a capture cut mid-record warns on stderr, prints what is complete, exit 0', () => {
    const bytes = readFileSync(cap);
    const cut = path.join(dir, 'cut.pcap');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 10));
    const r = runDecode([cut]);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toHaveLength(9);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^lvsaudit: warning: .*cut\.pcap: offset \d+: /);
  });
});
