/**
 * A report model whose every string that input can set (capture names, points, messages,
 * hints, connections, MACs, reasons) carries a given text: for the escaping tests.
 */
import type { VerifyResult } from '../../src/verify/model/result.js';

export const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  '</style><script>alert(2)</script>',
  '</textarea></details><iframe src="https://example.invalid/">',
  '&lt;script&gt; &amp;',
  'javascript:alert(1)',
];

/** A report whose every input-set string is `s` (with a distinct prefix where a key must stay unique). */
export function hostileModel(s: string): VerifyResult {
  const conn = `tcp ${s}`;
  return {
    verdict: 'fail',
    noDataReason: `why ${s}`,
    traffic: [{ service: `svc ${s}`, connections: 1, matched: 1 }],
    service: null,
    serviceInferred: false,
    profile: `p ${s}`,
    points: [
      { point: `client ${s}`, captures: [`c ${s}.pcap`], frames: 3, clockOffsetMs: 0, first: `2026-01-01T00:00:00.000Z`, last: `2026-01-01T00:00:01.000Z` },
      { point: `rs:${s}`, captures: [`r ${s}.pcap`], frames: 3, clockOffsetMs: 0.5, first: null, last: null },
    ],
    findings: [
      {
        rule: `flow.bypassed-director`,
        severity: 'error',
        message: `m ${s}`,
        hint: `h ${s}`,
        conn,
        evidence: [{ capture: `c ${s}.pcap`, frame: 2, point: `client ${s}`, note: `n ${s}` }],
      },
      { rule: `x.${s}`, severity: 'warning', message: `w ${s}`, hint: `h2 ${s}`, evidence: [] },
    ],
    notEvaluated: [{ rule: `ne ${s}`, reason: `r ${s}` }],
    rules: [
      { rule: 'flow.bypassed-director', status: 'fail', checked: 1, failed: 1 },
      { rule: `ne ${s}`, status: 'not-evaluated', checked: 0, failed: 0 },
    ],
    stats: { connections: 1 },
    connections: [
      {
        conn,
        client: `cl ${s}`,
        realServer: `rs ${s}`,
        start: '2026-01-01T00:00:00.000Z',
        rules: ['flow.bypassed-director'],
        packets: [
          {
            direction: 'c2s',
            flags: `S${s}`,
            seq: 1,
            ack: 0,
            payloadLen: 0,
            copies: [
              { point: `client ${s}`, role: 'client', capture: `c ${s}.pcap`, frame: 2, tMs: 0, src: `a${s}`, dst: `b${s}`, sport: 1, dport: 2, ttl: 64, ipId: 1, srcMac: s, dstMac: s, outer: null, changed: [] },
              { point: `rs:${s}`, role: 'rs', capture: `r ${s}.pcap`, frame: 1, tMs: 0.1, src: `a${s}`, dst: `b${s}`, sport: 1, dport: 2, ttl: 63, ipId: 1, srcMac: s, dstMac: s, outer: null, changed: ['ttl', s], toa: `toa ${s}` },
            ],
          },
        ],
      },
    ],
    clockOffsets: [{ point: `rs:${s}`, offsetMs: 0.5, spreadMs: 0.1, pairs: 3, against: `client ${s}` }],
    arp: { directors: [{ vip: `v${s}`, macs: [`mac ${s}`], method: 'given', reason: `why ${s}` }], roles: [] },
    arpTimeline: [
      { vlan: s, ip: `v${s}`, mac: `m1 ${s}`, firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-01-01T00:00:00.500Z', packets: 2, requests: 1, replies: 1, gratuitous: 0, role: 'director' },
      { vlan: s, ip: `v${s} (VIP)`, mac: `m2 ${s}`, firstSeen: '2026-01-01T00:00:00.100Z', lastSeen: '2026-01-01T00:00:00.200Z', packets: 1, requests: 0, replies: 1, gratuitous: 1, role: `NOT ${s}` },
    ],
  } as VerifyResult;
}

