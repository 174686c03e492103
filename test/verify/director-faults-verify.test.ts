/**
 * The reference director (src/replay/director, written from lvs-behavior.md independently of the
 * verifier) with each NAT/DR/TUN fault switch, run in-process: `verify` must fail the capture set
 * with exactly the rule the fault breaks, and pass the same traffic without the fault. The
 * expected rule of each fault comes from rules.md and the lvs-behavior.md section it cites.
 * (FullNAT faults: fullnat-director.test.ts.)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWrite, writeCaptureSet, type ReplayWriteOptions } from '../../src/replay/replay.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-director-faults-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Method = 'nat' | 'dr' | 'tun';

async function errorRules(method: Method, fault: string | null, extra: Partial<ReplayWriteOptions> = {}): Promise<string[]> {
  const dir = path.join(tmp, `${method}-${fault ?? 'ok'}-${Object.keys(extra).join('-')}`);
  writeCaptureSet(dir, runWrite({ method, profile: 'linux', faults: fault ? [fault] : [], ...extra }));
  const points: VerifyInput['points'] = [
    { kind: 'client', files: [path.join(dir, 'client.pcap')] },
    { kind: 'director', files: [path.join(dir, 'director.pcap')] },
    // DR real-server captures never name the RIP in an IP header: say which server each is
    // (the replay topology: rs1 10.0.0.11, rs2 10.0.0.12), as a user would with --rs-capture IP=FILE.
    ...readdirSync(dir)
      .filter((f) => /^rs\d\.pcap$/.test(f))
      .sort()
      .map((f) => ({ kind: 'rs' as const, files: [path.join(dir, f)], rsIp: `10.0.0.1${f[2]}` })),
  ];
  const conf = path.join(dir, 'service.conf');
  const r = await verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile: 'linux' });
  return [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();
}

// fault, methods, expected error rules, write options (scheduling faults need a service they can break)
const CASES: [string, Method[], string[], Partial<ReplayWriteOptions>?][] = [
  ['no-ttl-decrement', ['nat', 'dr', 'tun'], ['rewrite.ttl']], // §1.2 step 3, R1
  ['ttl-not-checked', ['nat', 'dr'], ['rewrite.ttl']], // TTL ≤ 1 forwarded instead of ICMP 11/0, R1
  ['tos-rewrite', ['nat', 'dr'], ['rewrite.ip-fields']], // R4
  ['bad-ip-checksum', ['nat', 'dr', 'tun'], ['checksum.ip']], // R4
  ['bad-l4-checksum', ['nat', 'dr'], ['checksum.l4']], // R5
  ['nat-wrong-port', ['nat'], ['nat.dst']], // §1.3 vport → dport
  ['nat-reply-src', ['nat'], ['nat.reply-src', 'nat.rip-leak']], // §1.3 reply src RIP → VIP; the client sees the RIP
  ['no-frag-needed', ['tun'], ['tun.mtu']], // §1.2 step 5, R8
  ['tun-outer-ttl', ['tun'], ['tun.outer']], // §1.5, R7
  ['tun-df-not-copied', ['tun'], ['tun.outer']], // §1.5, R7
  ['drop-every-nth', ['nat', 'dr', 'tun'], ['flow.not-forwarded']],
  // DR: the copies differ only in MACs and (here) IP ID; the director is found by who relays.
  ['ipid-rewrite', ['nat', 'dr'], ['rewrite.ip-fields']], // R4
  ['schedule-weight0', ['nat', 'dr'], ['sched.weight0'], { weights: [1, 0] }], // §1.10 weight 0 = quiesced
  ['break-persistence', ['nat', 'dr'], ['sched.persistence'], { persistence: 300 }], // §1.11
];

describe('reference director fault switches (NAT, DR, TUN): verify names exactly the broken rule', () => {
  for (const method of ['nat', 'dr', 'tun'] as const) {
    it(`${method}: the conformant run has no error finding`, async () => {
      expect(await errorRules(method, null)).toEqual([]);
    });
  }
  for (const [fault, methods, want, extra] of CASES) {
    for (const method of methods) {
      it(`${method} --fault ${fault} → ${want.join(', ')}`, async () => {
        expect(await errorRules(method, fault, extra)).toEqual(want);
      });
    }
  }
});
