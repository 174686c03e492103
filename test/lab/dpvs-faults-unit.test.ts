/**
 * The DPVS faults of issue 22 item 4 without root: rsN:weight0-not-applied (the configuration
 * verify is given says weight 0, the director was never told) and lip-exhausted (the SYN flood
 * that holds one LIP's ports), as the lab builds them. The runs against DPVS itself are in
 * dpvs-faults.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { auditedServiceText, parseLabFaults, rsFaultRules, DIRECTOR_KINDS, KIND_MODES } from '../../src/lab/faults.js';
import { dpvsCase } from '../../src/lab/dpvs/director.js';
import { floodPorts, saCounters, suppressRstRules, synFloodPcap, withFloodRings, DPVS_LPORT_HIGH, DPVS_LPORT_LOW, FLOOD_RING_FRAMES } from '../../src/lab/dpvs/exhaustion.js';
import { ealArgs } from '../../src/lab/dpvs/config.js';
import { ADDR, ADDR6, MAC, serviceConfig, type LabMode } from '../../src/lab/plan.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { casesFromOptions } from '../../src/cli/lab.js';
import { readPcap, segmentOf, ipOffset } from '../helpers/capture-transform.js';

const RIPS = { rs1: ADDR.rip1, rs2: ADDR.rip2 };

describe('rsN:weight0-not-applied', () => {
  it('is one fault for every director kind that weighs real servers, in every mode it runs, caught by sched.weight0', () => {
    for (const kind of DIRECTOR_KINDS.filter((k) => k !== 'nftables')) {
      for (const mode of KIND_MODES[kind]) expect(parseLabFaults(kind, mode, ['rs2:weight0-not-applied']).rs).toEqual([{ rs: 'rs2', kind: 'weight0-not-applied' }]);
    }
    expect(rsFaultRules('weight0-not-applied', 'fullnat')).toEqual(['sched.weight0']);
    expect(dpvsCase('fullnat', { faults: ['rs2:weight0-not-applied'] }).id).toBe('fullnat-rr-rs2-weight0-not-applied');
  });

  it('the audited text has weight 0 for that server and every other line as the director runs it (any mode, family, weights)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<LabMode>('nat', 'dr', 'tun', 'fullnat'),
        fc.constantFrom<4 | 6>(4, 6),
        fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 })),
        fc.constantFrom<'rs1' | 'rs2'>('rs1', 'rs2'),
        (mode, family, weights, rs) => {
          // The plan's FullNAT LIP is IPv4 only.
          fc.pre(!(mode === 'fullnat' && family === 6));
          const running = serviceConfig(mode, { weights, family });
          const rips = family === 6 ? { rs1: ADDR6.rip1, rs2: ADDR6.rip2 } : RIPS;
          const faults = { director: [], rs: [{ rs, kind: 'weight0-not-applied' as const }] };
          const audited = auditedServiceText(running, faults, rips);
          const before = parseServiceConfig(running, 'running').services[0]!;
          const after = parseServiceConfig(audited, 'audited').services[0]!;
          expect(after.realServers.map((r) => [r.ip, r.weight])).toEqual(before.realServers.map((r) => [r.ip, r.ip === rips[rs] ? 0 : r.weight]));
          const changed = running.split('\n').filter((l, i) => l !== audited.split('\n')[i]);
          expect(changed).toHaveLength(1);
          expect(auditedServiceText(running, { director: [], rs: [] }, rips)).toBe(running);
        },
      ),
    );
  });

  it('adds -w 0 to a real-server line that has no weight (ipvsadm then means 1)', () => {
    const text = `-A -t 172.16.0.100:80 -s rr\n-a -t 172.16.0.100:80 -r ${ADDR.rip2}:8080 -b\n`;
    const out = auditedServiceText(text, { director: [], rs: [{ rs: 'rs2', kind: 'weight0-not-applied' }] }, RIPS);
    expect(out.split('\n')[1]).toBe(`-a -t 172.16.0.100:80 -r ${ADDR.rip2}:8080 -b -w 0`);
  });
});

describe('lip-exhausted', () => {
  it('is a DPVS fault; it runs conhash (one client, one real server) and refuses another scheduler', () => {
    expect(parseLabFaults('dpvs', 'fullnat', ['lip-exhausted']).director).toEqual(['lip-exhausted']);
    expect(() => parseLabFaults('reference', 'fullnat', ['lip-exhausted'])).toThrow(/dpvs can/);
    expect(dpvsCase('fullnat', { faults: ['lip-exhausted'] }).scheduler).toBe('conhash');
    expect(() => dpvsCase('fullnat', { faults: ['lip-exhausted'], scheduler: 'rr' })).toThrow(InputError);
    expect(casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], fault: ['lip-exhausted'] })[0]!.scheduler).toBe('conhash');
    expect(casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'] })[0]!.scheduler).toBe('rr');
  });

  it('floods more client ports than one pool has, leaving the case\'s own ports alone', () => {
    const keep = { base: ADDR.clientBasePort, count: 4 };
    const ports = floodPorts(keep);
    expect(ports.length).toBeGreaterThan(DPVS_LPORT_HIGH - DPVS_LPORT_LOW + 1);
    expect(ports.filter((p) => p >= keep.base && p < keep.base + keep.count)).toEqual([]);
    expect(new Set(ports).size).toBe(ports.length);
    expect(suppressRstRules(keep)).toContain(`tcp sport != ${keep.base}-${keep.base + 3} drop`);
  });

  it('writes one valid SYN per port from the client to the VIP (checksums as the receiver computes them)', () => {
    const ports = [1, 80, 40000, 65535];
    const spec = { clientMac: MAC.client, directorMac: MAC.directorWan, client: ADDR.client, vip: ADDR.natVip, vport: ADDR.port, keep: { base: 40000, count: 0 } };
    const pcap = readPcap(synFloodPcap(spec, ports));
    expect(pcap.packets).toHaveLength(ports.length);
    const seqs = new Set<number>();
    pcap.packets.forEach((p, i) => {
      const ip = ipOffset(pcap.linkType, p.data);
      const s = segmentOf(pcap.linkType, p.data)!;
      expect([s.sport, s.dport]).toEqual([ports[i], ADDR.port]);
      expect(p.data[ip + 33]).toBe(0x02);
      seqs.add(p.data.readUInt32BE(ip + 24));
      // IPv4 header and TCP checksums verify: the ones'-complement sum over each is 0xffff.
      let h = 0;
      for (let k = ip; k < ip + 20; k += 2) h += p.data.readUInt16BE(k);
      while (h > 0xffff) h = (h & 0xffff) + (h >>> 16);
      expect(h).toBe(0xffff);
      let t = 6 + (p.data.length - ip - 20);
      for (let k = ip + 12; k < ip + 20; k += 2) t += p.data.readUInt16BE(k);
      for (let k = ip + 20; k < p.data.length; k += 2) t += p.data.readUInt16BE(k);
      while (t > 0xffff) t = (t & 0xffff) + (t >>> 16);
      expect(t).toBe(0xffff);
    });
    expect(seqs.size).toBe(ports.length);
  });

  it('reads DPVS\'s port pool counters of the LIP from `dpip -s addr show`, and only there', () => {
    const text = [
      'inet 10.0.0.1/32 scope global dpdk1',
      '     valid_lft forever preferred_lft forever',
      `inet ${ADDR.lip}/32 scope global dpdk1`,
      '     valid_lft forever preferred_lft forever sa_used 64511 sa_free 967665 sa_miss 1022',
      'inet 172.16.0.100/32 scope global dpdk0',
      '     valid_lft forever preferred_lft forever',
    ].join('\n');
    expect(saCounters(text, ADDR.lip)).toEqual({ used: 64511, miss: 1022 });
    expect(saCounters(text, '10.0.0.1')).toBeNull();
    expect(saCounters(text, '10.0.1.9')).toBeNull();
  });

  it('starts DPVS with larger af_packet rings only for the flood', () => {
    const argv = ['dpvs', '--', ...ealArgs('eth0', 'eth1', 'p')];
    const flood = withFloodRings(argv, dpvsCase('fullnat', { faults: ['lip-exhausted'] }));
    expect(flood.filter((a) => a.startsWith('net_af_packet'))).toEqual(['net_af_packet0,iface=eth0,qdisc_bypass=0', 'net_af_packet1,iface=eth1,qdisc_bypass=0'].map((a) => `${a},framecnt=${FLOOD_RING_FRAMES}`));
    expect(withFloodRings(argv, dpvsCase('fullnat'))).toEqual(argv);
  });
});
