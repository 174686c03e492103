/**
 * The synthetic fixtures are what they claim to be, by tshark (an independent dissector): in
 * the conformant NAT set every packet the director forwards to a RIP has TTL 63, good IP and TCP
 * checksums and the RS port; the client-side leg carries only VIP addresses; in the TUN set the
 * outer header is IPIP with TTL = inner TTL and ID 0; the bad-checksum fault has exactly one bad
 * TCP checksum on the director's RS leg, and the dropped-packet fault is missing exactly one
 * segment on that leg. verify's verdicts on these sets therefore rest on facts tshark confirms.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, need } from '../helpers/env.js';
import { fixturesDir, runSet } from './fixture-util.js';

const hasTshark = hasCommand('tshark');

function fields(file: string, filter: string, names: string[]): string[][] {
  const args = ['-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=,', '-E', 'aggregator=;'];
  if (filter) args.push('-Y', filter);
  for (const n of names) args.push('-e', n);
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(','));
}

const f = (set: string, file: string): string => path.join(fixturesDir, set, file);

describe.skipIf(!need(hasTshark, 'tshark not installed'))('synthetic fixtures checked by tshark', () => {
  it('nat-ok: the RS leg of the director has TTL 63, RS port 8080 and valid checksums on forwarded packets', () => {
    const rows = fields(f('nat-ok', 'director-eth1.pcap'), 'ip.dst==10.0.0.11 || ip.dst==10.0.0.12', [
      'ip.ttl',
      'tcp.dstport',
      'ip.checksum.status',
      'tcp.checksum.status',
      'ip.src',
    ]);
    expect(rows.length).toBe(30);
    for (const [ttl, dport, ipck, tcpck, src] of rows) {
      expect([ttl, dport, ipck, tcpck, src]).toEqual(['63', '8080', '1', '1', '198.51.100.7']);
    }
  });

  it('nat6-ok: IPv6 NAT leg has hop limit 63, the RS port and valid TCP checksums', () => {
    const rows = fields(f('nat6-ok', 'director-eth1.pcap'), 'ipv6.dst==fd00::11 || ipv6.dst==fd00::12', ['ipv6.hlim', 'tcp.dstport', 'tcp.checksum.status', 'ipv6.src']);
    expect(rows.length).toBe(30);
    for (const row of rows) expect(row).toEqual(['63', '8080', '1', '2001:db8:1::7']);
  });

  it('nat-ok: the client only ever sees the VIP; client-sent packets have offloaded (bad) checksums', () => {
    const rows = fields(f('nat-ok', 'client.pcap'), '', ['ip.src', 'ip.dst', 'ip.ttl', 'tcp.checksum.status']);
    for (const [src, dst, ttl, ck] of rows) {
      if (src === '198.51.100.7') {
        // Wireshark checksum status: 0 bad, 1 good, 2 unverified.
        expect([dst, ttl, ck]).toEqual(['192.0.2.10', '64', '0']);
      } else {
        expect([src, ttl, ck]).toEqual(['192.0.2.10', '63', '1']);
      }
    }
  });

  it('tun-ok: IPIP outer header to the RIP, outer TTL = inner TTL = 63, outer ID 0 with DF', () => {
    // Two IP layers: tshark aggregates each field as "outer;inner".
    const rows = fields(f('tun-ok', 'director.pcap'), 'ip.proto==4', ['ip.src', 'ip.dst', 'ip.ttl', 'ip.id', 'ip.flags.df', 'ip.checksum.status', 'tcp.checksum.status']);
    expect(rows.length).toBe(30);
    for (const [src, dst, ttl, id, df, ipck, tcpck] of rows) {
      expect(src).toBe('10.0.0.1;198.51.100.7');
      expect(dst).toMatch(/^10\.0\.0\.1[12];192\.0\.2\.10$/);
      expect(ttl).toBe('63;63');
      expect(id!.split(';')[0]).toBe('0x0000');
      expect(df).toBe('1;1');
      expect(ipck).toBe('1;1');
      expect(tcpck).toBe('1');
    }
  });

  it('fault-bad-checksum: exactly one bad TCP checksum on the director RS leg, and verify cites that frame', async () => {
    const bad = fields(f('fault-bad-checksum', 'director-eth1.pcap'), 'tcp.checksum.status==0', ['frame.number']);
    expect(bad.length).toBe(1);
    const r = await runSet('fault-bad-checksum');
    const finding = r.findings.find((x) => x.rule === 'checksum.l4')!;
    const cited = finding.evidence.filter((e) => path.basename(e.capture) === 'director-eth1.pcap').map((e) => String(e.frame));
    expect(cited).toEqual([bad[0]![0]]);
  });

  it('fault-dropped-at-director: one client data segment has no copy on the RS leg; verify cites its ingress frame', async () => {
    const inData = fields(f('fault-dropped-at-director', 'director-eth0.pcap'), 'ip.dst==192.0.2.10 && tcp.len>0', ['frame.number', 'tcp.seq_raw', 'ip.id']);
    const outData = fields(f('fault-dropped-at-director', 'director-eth1.pcap'), 'ip.src==198.51.100.7 && tcp.len>0', ['tcp.seq_raw', 'ip.id']);
    const outIds = new Set(outData.map(([, id]) => id));
    const missing = inData.filter(([, , id]) => !outIds.has(id));
    expect(missing.length).toBe(1);
    const r = await runSet('fault-dropped-at-director');
    const finding = r.findings.find((x) => x.rule === 'flow.not-forwarded')!;
    const ingress = finding.evidence.find((e) => e.point === 'director')!;
    expect(String(ingress.frame)).toBe(missing[0]![0]);
  });
});
