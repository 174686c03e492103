/**
 * ArpAnalyzer edge cases, fed packets made with the builder and decoded by the decoder (no
 * files): director knowledge (given, inferred, unknown), duplicate observations across points,
 * when a rule must stay silent because the capture cannot tell, SLL captures, and a fast-check
 * property that any packet sequence yields a report whose evidence cites real frames.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/decode/decoder.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { ArpAnalyzer, ARP_RULES, type ArpContext, type ArpReport } from '../../src/verify/arp/index.js';
import { IP, MAC } from './fixture-gen.js';

interface In {
  t: number;
  b: PacketBuilder;
  capture?: string;
  point?: string;
}

const T0 = 1_800_000_000;

function run(frames: In[], ctx: ArpContext = {}): ArpReport {
  const a = new ArpAnalyzer(ctx);
  const perCapture = new Map<string, number>();
  for (const f of frames) {
    const capture = f.capture ?? 'c.pcap';
    const n = (perCapture.get(capture) ?? 0) + 1;
    perCapture.set(capture, n);
    const p = decodeBytes(f.b.build(), f.b.linkType);
    p.capture = capture;
    p.frame = n;
    p.tsSec = T0 + Math.floor(f.t);
    p.tsNsec = Math.round((f.t % 1) * 1e9);
    a.observe(p, f.point ?? 'client');
  }
  return a.finish();
}

const arp = (op: 1 | 2, sha: string, spa: string, tha: string, tpa: string, ethSrc = sha, ethDst = op === 1 ? MAC.bcast : tha): PacketBuilder =>
  PacketBuilder.eth({ src: ethSrc, dst: ethDst }).arp({ op, sha, spa, tha, tpa });
const syn = (ethSrc: string, ethDst: string, src: string, dst: string, sport: number): PacketBuilder =>
  PacketBuilder.eth({ src: ethSrc, dst: ethDst }).ipv4({ src, dst }).tcp({ sport, dport: 80, flags: 'S' });

/** who-has VIP answered by the director and by RS1, no IP traffic. */
const answeredTwice = (): In[] => [
  { t: 0, b: arp(1, MAC.client, IP.client, MAC.zero, IP.vip) },
  { t: 0.001, b: arp(2, MAC.director, IP.vip, MAC.client, IP.client) },
  { t: 0.002, b: arp(2, MAC.rs1, IP.vip, MAC.client, IP.client) },
];

describe('director knowledge', () => {
  it('--director-mac decides even when no traffic shows forwarding', () => {
    const r = run(answeredTwice(), { vips: [IP.vip], directorMacs: [MAC.director] });
    expect(r.directors).toEqual([{ vip: IP.vip, macs: [MAC.director], method: 'given', reason: 'given with --director-mac' }]);
    expect(r.findings.filter((f) => f.rule === 'arp.vip-answered-by-rs')).toHaveLength(1);
  });

  it('the same answers with the RS named as the director accuse the other MAC', () => {
    const r = run(answeredTwice(), { vips: [IP.vip], directorMacs: [MAC.rs1] });
    const f = r.findings.find((x) => x.rule === 'arp.vip-answered-by-rs')!;
    expect(f.message).toContain(MAC.director);
    expect(f.message).not.toContain(`${MAC.rs1} (`);
  });

  it('two claimants and no forwarding: VIP rules not evaluated, with the reason', () => {
    const r = run(answeredTwice(), { vips: [IP.vip] });
    expect(r.directors[0]!.method).toBe('none');
    expect(r.findings.map((f) => f.rule)).not.toContain('arp.vip-answered-by-rs');
    const ne = r.notEvaluated.filter((n) => n.rule === 'arp.vip-answered-by-rs');
    expect(ne).toHaveLength(1);
    expect(ne[0]!.reason).toContain('--director-mac');
  });

  it('a configured RIP owned by one claimant makes the other the director', () => {
    const frames = [...answeredTwice(), { t: 1, b: arp(1, MAC.rs1, IP.rs1, MAC.zero, IP.gw) }];
    const r = run(frames, { vips: [IP.vip], realServers: [IP.rs1] });
    expect(r.directors[0]!.macs).toEqual([MAC.director]);
    expect(r.directors[0]!.method).toBe('not-a-real-server');
    expect(r.findings.find((f) => f.rule === 'arp.vip-answered-by-rs')!.message).toContain(`real server ${IP.rs1} (${MAC.rs1})`);
  });

  it('a single claimant is taken as the director, and said to be a guess', () => {
    const r = run(answeredTwice().slice(0, 2), { vips: [IP.vip] });
    expect(r.directors[0]!.method).toBe('sole-claimant');
    expect(r.directors[0]!.reason).toContain('--director-mac');
    expect(r.findings).toEqual([]);
  });

  it('VIP inference needs a MAC that claims the address and sends traffic to it', () => {
    const onlyArp = run(answeredTwice());
    expect(onlyArp.vips).toEqual([]);
    const forwarded = run([
      ...answeredTwice().slice(0, 2),
      { t: 1, b: syn(MAC.client, MAC.director, IP.client, IP.vip, 40000) },
      { t: 1.0001, b: syn(MAC.director, MAC.rs1, IP.client, IP.vip, 40000) },
    ]);
    expect(forwarded.vips).toEqual([{ ip: IP.vip, source: 'inferred' }]);
    expect(forwarded.directors[0]!.macs).toEqual([MAC.director]);
  });
});

describe('rules stay silent when the captures cannot tell', () => {
  it('no ARP at all: every ARP-packet rule not evaluated; client-poisoned too when the only MAC the VIP traffic goes to never claims it (a gateway)', () => {
    const r = run([{ t: 0, b: syn(MAC.client, MAC.director, IP.client, IP.vip, 40000) }], { vips: [IP.vip] });
    expect(r.findings).toEqual([]);
    expect(new Set(r.notEvaluated.map((n) => n.rule))).toEqual(new Set(ARP_RULES));
    const byRule = new Map(r.notEvaluated.map((n) => [n.rule, n.reason]));
    expect(byRule.get('arp.vip-conflict')).toBe('no ARP or neighbor discovery packets in the captures');
    expect(byRule.get('arp.client-poisoned')).toContain(`goes to ${MAC.director}, which never claims it in ARP: a gateway`);
  });

  it('client-poisoned is judged from IP frames once the receiving MAC claimed the VIP', () => {
    const r = run(
      [
        { t: 0, b: arp(2, MAC.director, IP.vip, MAC.client, IP.client) },
        { t: 0.1, b: syn(MAC.client, MAC.director, IP.client, IP.vip, 40000) },
      ],
      { vips: [IP.vip] },
    );
    expect(r.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(r.notEvaluated.map((n) => n.rule)).not.toContain('arp.client-poisoned');
  });

  it('one packet seen at three points counts once', () => {
    const frames: In[] = [];
    for (const [i, point] of ['client', 'director', 'rs:10.0.0.11'].entries()) {
      frames.push({ t: 0.0001 * i, b: arp(1, MAC.rs1, IP.vip, MAC.zero, IP.gw), capture: `${point}.pcap`, point });
    }
    const r = run(frames, { vips: [IP.vip], directorMacs: [MAC.director] });
    const f = r.findings.find((x) => x.rule === 'arp.vip-announced-by-rs')!;
    expect(f.message).toContain('(1 request,');
    expect(r.timeline.find((t) => t.mac === MAC.rs1)!.packets).toBe(1);
  });

  it('unanswered: not judged from a capture that never sees unicast frames other hosts send the asker', () => {
    const asks: In[] = [0, 1, 2].map((t) => ({ t, b: arp(1, MAC.gw, IP.gw, MAC.zero, IP.rs3) }));
    const later: In[] = [10, 11, 12].map((t) => ({ t, b: syn(MAC.client, MAC.director, IP.client, IP.vip, 40000 + t) }));
    expect(run([...asks, ...later]).findings.map((f) => f.rule)).not.toContain('arp.unanswered');
    // The capture's own host (the client, in most frames) sending to the asker shows nothing of
    // what others send it: a real server's capture sees its own replies to the router.
    const ownToAsker: In = { t: 9, b: syn(MAC.client, MAC.gw, IP.client, IP.gw, 40001) };
    expect(run([...asks, ownToAsker, ...later]).findings.map((f) => f.rule)).not.toContain('arp.unanswered');
    // A frame between two other hosts: a mirror port, where the reply would show.
    const mirrored: In = { t: 9, b: syn(MAC.rs1, MAC.gw, IP.rs1, IP.gw, 40001) };
    expect(run([...asks, mirrored, ...later]).findings.map((f) => f.rule)).toContain('arp.unanswered');
    // Frames between two others to a host that never spoke are what a switch floods to every
    // port (a silent real server): no sign of a mirror port. Once that host has spoken, the
    // bridge knows its port, and frames to it seen here are.
    const chatter: In[] = [10, 11, 12, 13, 14, 15].map((t) => ({ t, b: syn(MAC.client, MAC.director, IP.client, IP.vip, 40000 + t) }));
    const flooded: In[] = [7, 8].map((t) => ({ t, b: syn(MAC.other, MAC.rs1, IP.client, IP.vip, 40100 + t) }));
    expect(run([...asks, ownToAsker, ...flooded, ...chatter]).findings.map((f) => f.rule)).not.toContain('arp.unanswered');
    const rs1Speaks: In = { t: 8.5, b: arp(1, MAC.rs1, IP.rs1, MAC.zero, IP.gw) };
    const afterLearnt: In = { t: 9, b: syn(MAC.other, MAC.rs1, IP.client, IP.vip, 40200) };
    expect(run([...asks, ownToAsker, ...flooded, rs1Speaks, afterLearnt, ...chatter]).findings.map((f) => f.rule)).toContain('arp.unanswered');
  });

  it('unanswered: a request in the last seconds of its capture is not judged', () => {
    const r = run([
      { t: 0, b: syn(MAC.client, MAC.gw, IP.client, IP.gw, 40001) },
      { t: 5, b: arp(1, MAC.gw, IP.gw, MAC.zero, IP.rs3) },
    ]);
    expect(r.findings).toEqual([]);
  });

  it('unsolicited-reply: not judged right after the capture starts (its request may precede it)', () => {
    const early = run([{ t: 0.1, b: arp(2, MAC.other, IP.gw, MAC.client, IP.client) }]);
    expect(early.findings).toEqual([]);
    const late = run([
      { t: 0, b: arp(1, MAC.client, IP.client, MAC.zero, IP.gw) },
      { t: 10, b: arp(2, MAC.other, IP.gw, MAC.client, IP.client) },
    ]);
    expect(late.findings.map((f) => f.rule)).toContain('arp.unsolicited-reply');
  });

  it('a reply to an RFC 5227 probe (sender 0.0.0.0) is solicited', () => {
    const r = run([
      { t: 5, b: arp(1, MAC.client, '0.0.0.0', MAC.zero, IP.gw) },
      { t: 5.001, b: arp(2, MAC.gw, IP.gw, MAC.client, '0.0.0.0') },
    ]);
    expect(r.findings).toEqual([]);
  });

  it('client-poisoned ignores VIP traffic to a gateway that never claimed the VIP (routed hop)', () => {
    const r = run(
      [
        ...answeredTwice().slice(0, 2),
        { t: 1, b: syn(MAC.client, MAC.gw, IP.client, IP.vip, 40000) },
      ],
      { vips: [IP.vip], directorMacs: [MAC.director] },
    );
    expect(r.findings).toEqual([]);
  });
});

describe('link layers', () => {
  it('sender-mac-mismatch on a Linux cooked capture uses the SLL source address', () => {
    const b = PacketBuilder.sll({ version: 1, pktType: 0, addr: MAC.other }).arp({
      op: 2,
      sha: MAC.gw,
      spa: IP.gw,
      tha: MAC.client,
      tpa: IP.client,
    });
    const r = run([
      { t: 0, b: arp(1, MAC.client, IP.client, MAC.zero, IP.gw) },
      { t: 0.001, b },
    ]);
    const f = r.findings.find((x) => x.rule === 'arp.sender-mac-mismatch')!;
    expect(f.message).toContain(`link-layer source ${MAC.other} carry sender MAC ${MAC.gw}`);
    // SLL has no destination MAC: client-poisoned cannot be judged, and says so
    expect(r.notEvaluated.map((n) => n.rule)).toContain('arp.client-poisoned');
  });
});

describe('property: any packet sequence', () => {
  const macs = [MAC.client, MAC.director, MAC.rs1, MAC.rs2, MAC.gw, MAC.other];
  const ips = [IP.client, IP.vip, IP.rs1, IP.gw, IP.dup, '0.0.0.0'];
  const pkt = fc.oneof(
    fc.record({
      kind: fc.constant('arp' as const),
      op: fc.constantFrom(1 as const, 2 as const),
      sha: fc.constantFrom(...macs),
      eth: fc.constantFrom(...macs),
      spa: fc.constantFrom(...ips),
      tpa: fc.constantFrom(...ips),
      tha: fc.constantFrom(MAC.zero, MAC.bcast, ...macs),
      vlan: fc.constantFrom(0, 100),
    }),
    fc.record({
      kind: fc.constant('ip' as const),
      src: fc.constantFrom(...macs),
      dst: fc.constantFrom(...macs, MAC.bcast),
      sip: fc.constantFrom(...ips),
      dip: fc.constantFrom(...ips),
      sport: fc.integer({ min: 1, max: 65535 }),
    }),
  );
  it('finishes, and every evidence frame exists in its capture', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(pkt, fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom('a.pcap', 'b.pcap')), { maxLength: 60 }),
        fc.boolean(),
        (list, withVip) => {
          const sorted = [...list].sort((x, y) => x[1] - y[1]);
          const frames: In[] = sorted.map(([p, t, capture]) => {
            let b: PacketBuilder;
            if (p.kind === 'arp') {
              b = PacketBuilder.eth({ src: p.eth, dst: MAC.bcast });
              if (p.vlan) b = b.vlan({ id: p.vlan });
              b = b.arp({ op: p.op, sha: p.sha, spa: p.spa, tha: p.tha, tpa: p.tpa });
            } else {
              b = syn(p.src, p.dst, p.sip, p.dip, p.sport);
            }
            return { t, b, capture, point: capture === 'a.pcap' ? 'client' : 'director' };
          });
          const r = run(frames, withVip ? { vips: [IP.vip] } : {});
          const count = (c: string): number => frames.filter((f) => (f.capture ?? 'c.pcap') === c).length;
          for (const f of r.findings) {
            expect(ARP_RULES as readonly string[]).toContain(f.rule);
            expect(f.evidence.length).toBeGreaterThan(0);
            for (const e of f.evidence) {
              expect(e.frame).toBeGreaterThanOrEqual(1);
              expect(e.frame).toBeLessThanOrEqual(count(e.capture));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
