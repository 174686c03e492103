/**
 * Replay scenarios: the crafted packets are what each scenario promises (checked on the bytes),
 * the stateful client answers a SYN-ACK with the right seq/ack, every scenario passes against a
 * conformant reference director for every method/profile, and verdicts turn to FAIL when the
 * director breaks the rule the scenario watches.
 */
import { describe, expect, it } from 'vitest';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { decodeBytes } from '../../src/decode/decoder.js';
import { DEFAULT_SCENARIOS, makeScenario, type ScenarioEnv } from '../../src/replay/scenarios/catalog.js';
import { Rng } from '../../src/replay/scenarios/rng.js';
import { TcpClient } from '../../src/replay/scenarios/tcp-client.js';
import { runWrite } from '../../src/replay/replay.js';

const env = (over: Partial<ScenarioEnv> = {}): ScenarioEnv => ({
  vip: '192.0.2.10',
  vport: 80,
  clientMac: '02:00:00:00:00:07',
  directorMac: '02:00:00:00:0d:01',
  clientIps: ['198.51.100.7'],
  method: 'nat',
  profile: 'linux',
  mtu: 1500,
  persistent: false,
  rng: new Rng(3),
  ...over,
});

/** Collects what a scenario sends at start. */
function firstFrames(name: string, e = env()): Buffer[] {
  const sent: Buffer[] = [];
  makeScenario(name, e).start({ nowMs: () => 0, send: (f) => sent.push(f) });
  return sent;
}

describe('crafted packets', () => {
  it('ttl-1 sends a SYN with TTL 1; options-full-syn a SYN with exactly 40 option bytes', () => {
    const [ttl] = firstFrames('ttl-1');
    expect(ttl![14 + 8]).toBe(1);
    expect(ttl![14 + 20 + 13]).toBe(0x02);
    const [full] = firstFrames('options-full-syn');
    expect(full![14 + 20 + 12]! >> 4).toBe(15);
  });

  it('unknown-ack sends a lone ACK; arp-probe a broadcast who-has VIP from the client address', () => {
    const [ack] = firstFrames('unknown-ack');
    expect(ack![14 + 20 + 13]).toBe(0x10);
    const [arp] = firstFrames('arp-probe');
    expect(arp!.readUInt16BE(12)).toBe(0x0806);
    expect([...arp!.subarray(0, 6)]).toEqual([255, 255, 255, 255, 255, 255]);
    expect([...arp!.subarray(14 + 24, 14 + 28)]).toEqual([192, 0, 2, 10]);
    expect([...arp!.subarray(14 + 14, 14 + 18)]).toEqual([198, 51, 100, 7]);
  });

  it('the client answers a SYN-ACK with seq = ISN+1 and ack = server ISN+1, then sends the request', () => {
    const sent: Buffer[] = [];
    const io = { nowMs: () => 0, send: (f: Buffer) => sent.push(f) };
    const c = new TcpClient({ cip: '198.51.100.7', cport: 40000, vip: '192.0.2.10', vport: 80, clientMac: '02:00:00:00:00:07', directorMac: '02:00:00:00:0d:01', isn: 0xfffffff0, ipId: 1, tsBase: 0, request: Buffer.from('hi') });
    c.start(io);
    const synAck = PacketBuilder.eth({ src: '02:00:00:00:0d:01', dst: '02:00:00:00:00:07' })
      .ipv4({ src: '192.0.2.10', dst: '198.51.100.7' })
      .tcp({ sport: 80, dport: 40000, seq: 0x12345678, ack: 0xfffffff1, flags: 'SA', options: [{ kind: 'mss', value: 1452 }] })
      .build();
    c.receive(decodeBytes(synAck, 1), io);
    expect(sent).toHaveLength(3);
    const ack = sent[1]!;
    expect(ack.readUInt32BE(14 + 20 + 4)).toBe(0xfffffff1);
    expect(ack.readUInt32BE(14 + 20 + 8)).toBe(0x12345679);
    expect(ack[14 + 20 + 13]).toBe(0x10);
    const req = sent[2]!;
    expect(req[14 + 20 + 13]).toBe(0x18);
    expect(req.subarray(req.length - 2).toString()).toBe('hi');
    expect(c.rec.synAckMss).toBe(1452);
  });

  it('fragmented sends the request as IP fragments (MF, offsets) and df-oversize a 1500-byte DF packet', () => {
    const frag = runWrite({ method: 'nat', scenarios: ['fragmented'] }).captures.get('client')!.map((f) => decodeBytes(f.frame, 1));
    const frags = frag.filter((p) => p.net.ip.isFragment && p.net.ip.src4 >>> 0 === 0xc6336407);
    expect(frags.length).toBeGreaterThanOrEqual(3);
    expect(frags[0]!.net.ip.mf).toBe(true);
    expect(frags.at(-1)!.net.ip.mf).toBe(false);
    const big = runWrite({ method: 'nat', scenarios: ['df-oversize'] }).captures.get('client')!.map((f) => decodeBytes(f.frame, 1));
    expect(big.some((p) => p.net.ip.totalLen === 1500 && p.net.ip.df)).toBe(true);
  });
});

describe('scenarios against the conformant reference director', () => {
  for (const [method, profile] of [
    ['nat', 'linux'],
    ['nat', 'linux-legacy'],
    ['dr', 'linux'],
    ['tun', 'linux'],
    ['fullnat', 'alibaba'],
    ['fullnat', 'dpvs'],
  ] as const) {
    it(`${method}/${profile}: all ${DEFAULT_SCENARIOS.length} scenarios as expected`, () => {
      const r = runWrite({ method, profile });
      expect(r.results.map((x) => x.name)).toEqual(DEFAULT_SCENARIOS);
      expect(r.results.filter((x) => !x.verdict.ok).map((x) => `${x.name}: ${x.verdict.observed}`)).toEqual([]);
    });
  }

  it('persistence: with -p every connection of one client lands on one real server; many-clients spreads 4/4 under rr', () => {
    const p = runWrite({ method: 'nat', persistence: 300, scenarios: ['persistence', 'many-clients'] });
    expect(p.results[0]!.verdict.ok).toBe(true);
    expect(p.results[0]!.verdict.observed).toMatch(/servers rs\d$/);
    expect(p.results[1]!.verdict.observed).toMatch(/rs1×4|rs2×4/);
  });

  it('a smaller real-server MTU makes df-oversize expect and get ICMP frag-needed for NAT too', () => {
    const r = runWrite({ method: 'nat', mtu: 1400, scenarios: ['df-oversize'] });
    expect(r.results[0]!.verdict.ok).toBe(true);
    expect(r.results[0]!.verdict.observed).toMatch(/ICMP 3\/4 mtu 1400/);
  });
});

describe('verdicts fail when the director breaks the watched rule', () => {
  const fails = (o: Parameters<typeof runWrite>[0]): string[] => runWrite(o).results.filter((x) => !x.verdict.ok).map((x) => x.name);
  it('ttl-not-checked → ttl-1 fails', () => expect(fails({ method: 'nat', faults: ['ttl-not-checked'], scenarios: ['ttl-1'] })).toEqual(['ttl-1']));
  it('no-frag-needed on TUN → df-oversize fails', () => expect(fails({ method: 'tun', faults: ['no-frag-needed'], scenarios: ['df-oversize'] })).toEqual(['df-oversize']));
  it('nat-reply-src → handshake fails (replies from the RIP)', () => expect(fails({ method: 'nat', faults: ['nat-reply-src'], scenarios: ['handshake'] })).toEqual(['handshake']));
  it('break-persistence → persistence fails on a persistent service', () =>
    expect(fails({ method: 'nat', persistence: 300, faults: ['break-persistence'], scenarios: ['persistence'] })).toEqual(['persistence']));
  it('drop-every-nth=2 → the handshake does not complete', () => expect(fails({ method: 'dr', faults: ['drop-every-nth=2'], scenarios: ['handshake'] })).toEqual(['handshake']));
});
