/**
 * One fixture per ARP rule (built by fixture-gen.ts): the files are what the generator makes,
 * tshark decodes their ARP fields as intended, and the engine reports exactly the rule the
 * fixture was built for, citing the frames that were built to show it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasCommand, need } from '../helpers/env.js';
import { fixtureBytes, fixtures, IP, MAC, orderedFrames } from './fixture-gen.js';
import { analyze, fixture, frames, only, rulesOf } from './helpers.js';

describe('ARP fixtures: files', () => {
  it.each(fixtures().map((f) => [f.name, f] as const))('%s is what the generator makes (regenerate with write-fixtures.ts)', (_n, f) => {
    expect(readFileSync(fixture(f.name)).equals(fixtureBytes(f))).toBe(true);
  });

  it.skipIf(!need(hasCommand('tshark'), 'tshark not installed'))('tshark decodes every ARP frame with the intended fields', () => {
    let checked = 0;
    for (const f of fixtures()) {
      const out = execFileSync(
        'tshark',
        ['-n', '-r', fixture(f.name), '-Y', 'arp', '-T', 'fields', '-E', 'separator=|',
          '-e', 'frame.number', '-e', 'eth.src', '-e', 'eth.dst', '-e', 'ieee8021ad.id', '-e', 'vlan.id',
          '-e', 'arp.opcode', '-e', 'arp.src.hw_mac', '-e', 'arp.src.proto_ipv4', '-e', 'arp.dst.hw_mac', '-e', 'arp.dst.proto_ipv4'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const rows = out.trim().split('\n').map((l) => l.split('|'));
      const intended = orderedFrames(f)
        .map((fr, i) => ({ n: i + 1, a: fr.arp }))
        .filter((x) => x.a !== undefined);
      expect(rows.length, f.name).toBe(intended.length);
      intended.forEach(({ n, a }, i) => {
        const [num, esrc, edst, qinq, vlan, op, sha, spa, tha, tpa] = rows[i]!;
        const tags = [qinq, vlan].filter((t) => t !== '' && t !== undefined).join(',');
        expect({ num: Number(num), esrc, edst, tags, op: Number(op), sha, spa, tha, tpa }, `${f.name} frame ${n}`).toEqual({
          num: n,
          esrc: a!.ethSrc,
          edst: a!.ethDst,
          tags: a!.vlan.join(','),
          op: a!.op,
          sha: a!.sha,
          spa: a!.spa,
          tha: a!.tha,
          tpa: a!.tpa,
        });
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(60);
  });
});

describe('ARP fixtures: one rule each', () => {
  it('clean: no finding, the director inferred from forwarding and printed', async () => {
    const r = await analyze([fixture('clean')]);
    expect(r.findings).toEqual([]);
    expect(r.notEvaluated).toEqual([]);
    expect(r.vips).toEqual([{ ip: IP.vip, source: 'inferred' }]);
    expect(r.directors).toHaveLength(1);
    expect(r.directors[0]!.macs).toEqual([MAC.director]);
    expect(r.directors[0]!.method).toBe('forwarding');
  });

  it('vip-answered-by-rs: names RS1 (IP and MAC), the arp_ignore sysctl, the request and the reply', async () => {
    const r = await analyze([fixture('vip-answered-by-rs')]);
    // The director and RS1 both answer who-has VIP: a conflict whatever the roles.
    expect(rulesOf(r)).toEqual(['arp.changed-mac', 'arp.vip-answered-by-rs', 'arp.vip-conflict']);
    const [f] = only(r, 'arp.vip-answered-by-rs');
    expect(f!.severity).toBe('error');
    expect(f!.message).toContain(`${IP.rs1} (${MAC.rs1})`);
    expect(f!.message).toContain(`the director is ${MAC.director}`);
    expect(f!.hint).toContain('net.ipv4.conf.all.arp_ignore=1');
    expect(f!.hint).toContain(IP.rs1);
    expect(frames(f!)).toEqual([1, 3]); // who-has VIP, then RS1's reply
    expect(f!.evidence.every((e) => e.point === 'client' && e.capture.endsWith('vip-answered-by-rs.pcap'))).toBe(true);
  });

  it('vip-announced-by-rs + client-poisoned: the ARP request that taught the client, and the bypassing connections', async () => {
    const r = await analyze([fixture('vip-announced-by-rs')]);
    expect(rulesOf(r)).toEqual(['arp.changed-mac', 'arp.client-poisoned', 'arp.vip-announced-by-rs', 'arp.vip-conflict']);
    const [ann] = only(r, 'arp.vip-announced-by-rs');
    expect(ann!.hint).toContain('net.ipv4.conf.all.arp_announce=2');
    expect(ann!.message).toContain(`who-has ${IP.client} with sender address ${IP.vip}`);
    expect(frames(ann!)).toEqual([5]);
    const [p] = only(r, 'arp.client-poisoned');
    expect(p!.severity).toBe('error');
    expect(p!.message).toContain(`client ${IP.client} (${MAC.client})`);
    expect(p!.message).toContain('2 frames in 2 connections bypassed the director');
    expect(p!.message).toContain('real server 02:00:00:00:00:11');
    // frame 5 = RS1's who-has with sender IP = VIP; 8 and 10 = the two SYNs sent to RS1's MAC
    expect(frames(p!)).toEqual([5, 8, 10]);
    expect(p!.evidence[0]!.note).toContain('ARP request that taught');
    expect(p!.hint).toContain('arp_announce=2');
  });

  it('vip-garp-by-non-director: kernel-form GARP from RS1, plus its GARP timeline', async () => {
    const r = await analyze([fixture('vip-garp-by-non-director')]);
    expect(rulesOf(r)).toEqual(['arp.changed-mac', 'arp.garp-burst', 'arp.vip-garp-by-non-director']);
    const [f] = only(r, 'arp.vip-garp-by-non-director');
    expect(f!.message).toContain('kernel form');
    expect(f!.message).toContain(MAC.rs1);
    expect(frames(f!)).toEqual([8]);
  });

  it('flip-flop: 10.0.0.20 alternates, warning with each change as evidence', async () => {
    const r = await analyze([fixture('flip-flop')]);
    expect(rulesOf(r)).toEqual(['arp.changed-mac', 'arp.flip-flop']);
    const [f] = only(r, 'arp.flip-flop');
    expect(f!.severity).toBe('warning');
    expect(f!.message).toContain('3 changes, 2 back to an earlier MAC');
    expect(frames(f!)).toEqual([4, 6, 8]);
    // no VIP in this capture: VIP rules are reported as not evaluated, never as passed
    expect(r.notEvaluated.map((n) => n.rule).sort()).toEqual([
      'arp.client-poisoned',
      'arp.vip-announced-by-rs',
      'arp.vip-answered-by-rs',
      'arp.vip-conflict',
      'arp.vip-garp-by-non-director',
    ]);
  });

  it('vrrp-failover: changed-mac after a keepalived GARP burst is info only; both directors inferred', async () => {
    const r = await analyze([fixture('vrrp-failover')]);
    expect(r.findings.every((f) => f.severity === 'info')).toBe(true);
    expect(rulesOf(r)).toEqual(['arp.changed-mac', 'arp.garp-burst', 'arp.garp-burst']);
    expect(r.directors[0]!.macs.sort()).toEqual([MAC.director, MAC.backup]);
    const [c] = only(r, 'arp.changed-mac');
    expect(c!.message).toContain(`from ${MAC.director} to ${MAC.backup}`);
    expect(c!.message).toContain('burst of 5 gratuitous ARPs');
    expect(c!.message).toContain('VRRP failover');
    const bursts = only(r, 'arp.garp-burst');
    for (const b of bursts) {
      expect(b.message).toContain('2 bursts');
      expect(b.message).toContain('5× request, tha ff:ff:ff:ff:ff:ff (keepalived form)');
    }
  });

  it('garp-forms: keepalived, kernel and arping -A forms told apart', async () => {
    const r = await analyze([fixture('garp-forms')]);
    expect(rulesOf(r)).toEqual(['arp.garp-burst']);
    const m = r.findings[0]!.message;
    expect(m).toContain('3 bursts');
    expect(m).toMatch(/2× request, tha ff:ff:ff:ff:ff:ff \(keepalived form\).*1× request, tha 00:00:00:00:00:00 \(kernel form\).*1× reply \(arping -A form\)/);
    expect(frames(r.findings[0]!)).toEqual([1, 3, 4]);
  });

  it('unsolicited-reply: a reply that answers nothing', async () => {
    const r = await analyze([fixture('unsolicited-reply')]);
    expect(rulesOf(r)).toEqual(['arp.unsolicited-reply']);
    expect(r.findings[0]!.message).toContain(`"${IP.gw} is-at ${MAC.other}"`);
    expect(frames(r.findings[0]!)).toEqual([8]);
  });

  it('sender-mac-mismatch: Ethernet source differs from the ARP sender MAC', async () => {
    const r = await analyze([fixture('sender-mac-mismatch')]);
    expect(rulesOf(r)).toEqual(['arp.sender-mac-mismatch']);
    expect(r.findings[0]!.message).toContain(`link-layer source ${MAC.other} carry sender MAC ${MAC.gw}`);
    expect(frames(r.findings[0]!)).toEqual([9]);
  });

  it('unanswered: three who-has for a configured real server, named as such', async () => {
    const r = await analyze([fixture('unanswered')], { realServers: [IP.rs1, IP.rs2, IP.rs3] });
    expect(rulesOf(r)).toEqual(['arp.unanswered']);
    const f = r.findings[0]!;
    expect(f.message).toContain(`who-has ${IP.rs3} (a configured real server) tell ${IP.director}`);
    expect(f.message).toContain('3 requests over 2.0 s');
    expect(frames(f)).toEqual([8, 9, 10]);
  });

  it('vlan: findings and timeline rows keep VLAN stacks apart', async () => {
    const r = await analyze([fixture('vlan')]);
    expect(rulesOf(r)).toEqual(['arp.changed-mac', 'arp.vip-answered-by-rs', 'arp.vip-conflict']);
    expect(only(r, 'arp.vip-answered-by-rs')[0]!.message).toContain(`answered who-has ${IP.vip} on VLAN 100`);
    expect(only(r, 'arp.vip-conflict')[0]!.message).toContain(`VIP ${IP.vip} on VLAN 100 is claimed by 2 MACs`);
    // 10.0.0.20 on VLAN 100, 200 and 100.20 is three addresses, not a MAC change
    const dup = r.timeline.filter((t) => t.ip === IP.dup).map((t) => [t.vlan, t.mac]);
    expect(dup).toEqual([
      ['100', MAC.rs2],
      ['100.20', MAC.backup],
      ['200', MAC.other],
    ]);
  });
});
