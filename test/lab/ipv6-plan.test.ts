/**
 * The lab's IPv6 address plan and cases (plan.ts addressPlan(6), scenarios.ts nftablesCase with
 * family 6): the service text verify reads, the case ids, and the faults an IPv6 lab refuses.
 * The real-kernel runs themselves are fixtures/lab/*-ipv6* (test/verify/ipv6-parity.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { addressPlan, realServers, serviceConfig, vipOf } from '../../src/lab/plan.js';
import { nftablesCase } from '../../src/lab/scenarios.js';
import { caseServiceConfig } from '../../src/lab/sequence.js';
import { kernelConnections } from '../../src/lab/ipvs-director.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { InputError } from '../../src/errors.js';

describe('IPv6 lab plan', () => {
  it('every role has an IPv6 address, none shared, all in 2001:db8::/32', () => {
    const a = addressPlan(6);
    // The DR router and NAT's bypass router hold the same RS-LAN address, as on IPv4: they never
    // share a lab.
    expect(a.routerLan).toBe(a.bypassGwLan);
    const addrs = [a.client, a.clientGw, a.natVip, a.bypassGwWan, a.bypassGwLan, a.dip, a.drVip, a.rip1, a.rip2];
    expect(new Set(addrs).size).toBe(addrs.length);
    for (const x of addrs) expect(x.startsWith('2001:db8:')).toBe(true);
    expect(realServers(6).map((r) => r.rip)).toEqual([a.rip1, a.rip2]);
  });

  for (const mode of ['nat', 'dr'] as const) {
    it(`${mode}: the service text parses to the plan's VIP and RIPs (IPv6 in brackets)`, () => {
      const s = parseServiceConfig(serviceConfig(mode, { family: 6 }), 'service.conf').services[0]!;
      expect(s.vip).toBe(vipOf(mode, 6));
      expect(s.realServers.map((r) => r.ip)).toEqual(realServers(6).map((r) => r.rip));
      expect(s.realServers.every((r) => r.method === mode)).toBe(true);
    });
  }

  it('IPv4 is unchanged by default', () => {
    expect(serviceConfig('dr')).toBe(serviceConfig('dr', { family: 4 }));
    expect(nftablesCase('nat').family).toBeUndefined();
  });

  it('an IPv6 case carries its family into its id and service', () => {
    const c = nftablesCase('dr', ['routed', 'rs1:no-vip'], 6, 6);
    expect(c.id).toBe('dr-ipv6-rr-routed-rs1-no-vip');
    expect(c.profile).toBe('linux');
    expect(caseServiceConfig(c)).toContain(`[${vipOf('dr', 6)}]:80`);
  });

  it('faults without an IPv6 form are a usage error naming them', () => {
    expect(() => nftablesCase('dr', ['rs1:arp_ignore=0'], 4, 6)).toThrow(InputError);
    expect(() => nftablesCase('dr', ['rs1:arp_ignore=0'], 4, 6)).toThrow(/rs1:arp_ignore=0 has no IPv6 form/);
    expect(() => nftablesCase('nat', ['rs2:gateway-bypass'], 4, 6)).not.toThrow();
  });

  it("reads the kernel's IPv6 connection table (ipvsadm -Lnc brackets IPv6 addresses)", () => {
    const conns = [
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 01:58  TIME_WAIT   [2001:db8:1::2]:40001 [2001:db8:1::100]:80 [2001:db8::11]:8080',
      'TCP 01:58  TIME_WAIT   [2001:db8:1::2]:40000 [2001:db8:1::100]:80 [2001:db8::12]:8080',
      'TCP 01:58  TIME_WAIT   [2001:db8:1::3]:40002 [2001:db8:1::100]:80 [2001:db8::12]:8080',
      'TCP 01:57  TIME_WAIT   172.16.0.2:40002   172.16.0.100:80    10.0.0.11:80',
    ].join('\n');
    expect(kernelConnections(conns, '2001:db8:1::2', 40000, 3)).toEqual({ 40000: '[2001:db8::12]:8080', 40001: '[2001:db8::11]:8080' });
    expect(kernelConnections(conns, '172.16.0.2', 40000, 3)).toEqual({ 40002: '10.0.0.11:80' });
  });
});
