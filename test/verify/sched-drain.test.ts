/**
 * sched.weight0 on a server being drained (lvs-behavior.md §1.10; docs/rules.md): with weight 0,
 * a persistence template that still points at the server keeps sending its client there, on
 * IPVS and on DPVS (which keeps such templates unless expire_quiescent_template), and that is no
 * finding; every other new connection to it is.
 *
 * Metamorphic, on the reference director's persistent FullNAT set (8 clients in rr, then 6 more
 * connections of the first one, all to its server): audited with one server at weight 0, the
 * same captures give the same sched.weight0 findings with and without persistence in the
 * configuration, except the connections a live template sent — all of one client, never its
 * first, and 6 of them where that client's server is the drained one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify } from '../../src/verify/verify.js';

const DIR = path.resolve(__dirname, '../../fixtures/fullnat/sched-persistence-dpvs');
const RIPS = ['10.0.0.11', '10.0.0.12'];

async function weight0Conns(drained: string, persistent: boolean): Promise<string[]> {
  const text = readFileSync(path.join(DIR, 'service.conf'), 'utf8')
    .split('\n')
    .map((l) => (l.startsWith('-A') && !persistent ? l.replace(/ -p \d+/, '') : l))
    .map((l) => (l.includes(`-r ${drained}:`) ? l.replace(/-w \d+/, '-w 0') : l))
    .join('\n');
  const r = await verify({
    services: parseServiceConfig(text, 'service.conf'),
    profile: 'dpvs',
    points: [
      { kind: 'client', files: [path.join(DIR, 'client.pcap')] },
      { kind: 'director', files: [path.join(DIR, 'director-eth0.pcap'), path.join(DIR, 'director-eth1.pcap')] },
      { kind: 'rs', files: [path.join(DIR, 'rs1.pcap')], rsIp: RIPS[0]! },
      { kind: 'rs', files: [path.join(DIR, 'rs2.pcap')], rsIp: RIPS[1]! },
    ],
  });
  expect(r.rules.find((x) => x.rule === 'sched.weight0')?.status).not.toBe('not-evaluated');
  return r.findings.filter((f) => f.rule === 'sched.weight0').map((f) => f.conn ?? '');
}

/** The client address of a finding's connection text (`tcp CIP:CPORT …`). */
const clientOf = (conn: string): string => /(\d+\.\d+\.\d+\.\d+):\d+/.exec(conn)?.[1] ?? conn;

describe('sched.weight0 while a server is drained', () => {
  it('excuses exactly the connections a live persistence template sent to the weight-0 server', async () => {
    const excusedPerServer: number[] = [];
    for (const rip of RIPS) {
      const draining = await weight0Conns(rip, true);
      const plain = await weight0Conns(rip, false);
      // Without persistence every connection to the server is new; with it, a subset is.
      expect(draining.every((c) => plain.includes(c))).toBe(true);
      expect(draining.length).toBeGreaterThan(0);
      const excused = plain.filter((c) => !draining.includes(c));
      // The excused ones are one client's later connections: its first one to the server is new.
      expect(new Set(excused.map(clientOf)).size).toBeLessThanOrEqual(1);
      for (const c of excused) expect(draining.some((d) => clientOf(d) === clientOf(c))).toBe(true);
      // Each client is flagged at most once while its template lives.
      expect(new Set(draining.map(clientOf)).size).toBe(draining.length);
      excusedPerServer.push(excused.length);
    }
    // The first client's server took its 6 template connections.
    expect(excusedPerServer.sort()).toEqual([0, 6]);
  });
});
