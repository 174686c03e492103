/**
 * checksum.ip / checksum.l4 / checksum.offload-likely (rules.md "Capture and decode").
 *
 * A checksum is judged only where the packet was received or forwarded. In the capture of the
 * host that *sent* it, TX checksum offload leaves the field unfilled (the NIC computes it after
 * the capture tap), so a bad value there is context, not a fault. A director egress copy with a
 * bad checksum whose downstream copy (at the RS or the client) is good is offload on the
 * director; when the downstream copy is bad too, or not captured, the director broke it.
 */
import type { PacketRecord } from '../../model/record.js';
import type { FindingSink } from '../sink.js';
import { isSuperSegment, receivedHere, SegmentLimits } from '../segments.js';
import { copyAt, pathOrder, ruleModule, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';

function ipOk(r: PacketRecord): boolean | null {
  const outer = r.outer?.checksumOk ?? true;
  const inner = r.ip.checksumOk;
  if (outer === false || inner === false) return false;
  if (inner === null && r.outer?.checksumOk == null) return null;
  return true;
}

/** The checksum walk's state: checks counted per connection, not per packet (the sink's tally
 *  is a map update). */
export class ChecksumState {
  checkedIp = 0;
  checkedL4 = 0;
  /** The copy before the one judged, in path order. */
  prev: PacketRecord | undefined = undefined;
  /** The connection's largest wire-size segments (segments.ts). */
  readonly limits = new SegmentLimits();
}

export type ChecksumView = TraceView<ChecksumState>;

type Layer = 'checksum.ip' | 'checksum.l4';

const layerOk = (layer: Layer, r: PacketRecord): boolean | null => (layer === 'checksum.ip' ? ipOk(r) : r.l4ChecksumOk);

/** True when copy `r` was captured on the host that sent it (its checksum is not final there). */
const sentHere = (v: ChecksumView, r: PacketRecord): boolean => (v.t.c2s && r.role === 'C') || (!v.t.c2s && r.role === 'R');

/**
 * checksum.offload-likely: a bad checksum of `layer` that transmit offload explains — in the
 * sender's own capture, or on a director egress copy whose downstream copy is good. Reports it
 * and returns true; false leaves the bad checksum to the layer's rule.
 */
function offloadLikely(v: ChecksumView, layer: Layer, r: PacketRecord, sink: FindingSink): boolean {
  const { ctx, t } = v;
  const what = layer === 'checksum.ip' ? 'IPv4 header' : `${r.proto.toUpperCase()}`;
  const pointName = ctx.points[r.point]!.name;
  if (sentHere(v, r)) {
    sink.add(
      'checksum.offload-likely',
      null,
      `${pointName} sent packets whose ${what} checksum is wrong in its own capture: transmit checksum offload, not a fault`,
      'nothing to fix; capture on another host, or disable offload (ethtool -K IFACE tx off) to see final checksums',
      [r],
      `${pointName}|${layer}`,
    );
    return true;
  }
  if (r.role !== 'De') return false;
  const down = t.c2s ? copyAt(t, 'R') : copyAt(t, 'C');
  if (!down || layerOk(layer, down) !== true) return false;
  sink.add(
    'checksum.offload-likely',
    null,
    `the director's egress copies carry a wrong ${what} checksum that is correct on the wire: offload on the director`,
    'nothing to fix; the downstream capture shows a correct checksum',
    [r, down],
    `${pointName}|${layer}`,
  );
  return true;
}

/** checksum.ip / checksum.l4 at copy `r`: a bad checksum where the packet was received or
 *  forwarded (one the sender's capture shows is offload, not a fault). */
function judgeLayer(v: ChecksumView, layer: Layer, r: PacketRecord, sink: FindingSink): void {
  const ok = layerOk(layer, r);
  if (ok === null) {
    // The snap length cut the payload: neither its checksum nor its bytes can be judged here.
    if (layer === 'checksum.l4' && r.hash === -1) sink.captureNote('snaplen', r);
    return;
  }
  if (layer === 'checksum.l4' && !ok) {
    // Not final in this capture: TX checksum offload left the pseudo-header sum (IPVS keeps it
    // partial when it rewrites), or GRO merged segments under the first one's checksum
    // (capture-artifacts.md §1, §2). Judged where the packet was final, noted here.
    if (r.l4ChecksumPartial) return sink.captureNote('partial-checksum', r);
    if (receivedHere(v.t, r) && isSuperSegment(v.s.limits, v.t, r)) return;
  }
  if (!sentHere(v, r)) {
    if (layer === 'checksum.ip') v.s.checkedIp++;
    else v.s.checkedL4++;
  }
  if (ok || offloadLikely(v, layer, r, sink)) return;
  const what = layer === 'checksum.ip' ? 'IPv4 header' : `${r.proto.toUpperCase()}`;
  const pointName = v.ctx.points[r.point]!.name;
  const prev = v.s.prev;
  const where = r.role === 'De' ? 'forwarded by the director' : r.role === 'Di' ? 'received by the director' : `received at ${pointName}`;
  sink.add(
    layer,
    v.c,
    `bad ${what} checksum on a packet ${where} (frame ${r.frame} of ${r.capture})${prev ? `; the previous hop's copy was ${layer === 'checksum.ip' ? (ipOk(prev) === false ? 'bad too' : 'good') : prev.l4ChecksumOk === false ? 'bad too' : 'good'}` : ''}`,
    r.role === 'De' || (prev && prev.role === 'De')
      ? 'the director rewrote the packet without a correct checksum update (incremental update after the address/port rewrite, lvs-behavior.md §1.3 R5): check the director build, offload settings on its egress NIC (ethtool -K IFACE tx off to test)'
      : 'the packet was corrupted before this point: check the NIC/driver or the middlebox on the path',
    prev ? [prev, r] : [r],
  );
}

/** The other copies of a segmented trace (the segments the representative's bytes were cut
 *  into, or further merged packets): judged as they are, without a previous hop. */
function judgePieces(v: ChecksumView, layer: Layer, sink: FindingSink): void {
  const pieces = v.t.pieces;
  if (pieces === null) return;
  for (const r of pieces) {
    if (layer === 'checksum.l4' && isSuperSegment(v.s.limits, v.t, r)) sink.captureNote('super-segment', r, r.ip.totalLen);
    judgeLayer(v, layer, r, sink);
  }
}

/** The checksum rules by id, in judging order: at each copy, the IP header, then L4. */
export const CHECKSUM_RULES = {
  'checksum.ip': {
    begin(v: ChecksumView): void {
      v.s.checkedIp = 0;
      v.s.checkedL4 = 0;
      v.s.limits.of(v.c);
    },
    trace(v: ChecksumView, sink: FindingSink): void {
      v.s.prev = undefined;
      judgePieces(v, 'checksum.ip', sink);
    },
    copy(v: ChecksumView, r: PacketRecord, i: number, sink: FindingSink): void {
      v.s.prev = i > 0 ? pathOrder(v.t)[i - 1] : undefined;
      judgeLayer(v, 'checksum.ip', r, sink);
    },
    end(v: ChecksumView, sink: FindingSink): void {
      if (v.s.checkedIp > 0) sink.check('checksum.ip', v.s.checkedIp);
    },
  },
  'checksum.l4': {
    trace(v: ChecksumView, sink: FindingSink): void {
      judgePieces(v, 'checksum.l4', sink);
    },
    copy(v: ChecksumView, r: PacketRecord, _i: number, sink: FindingSink): void {
      if (isSuperSegment(v.s.limits, v.t, r)) sink.captureNote('super-segment', r, r.ip.totalLen);
      judgeLayer(v, 'checksum.l4', r, sink);
    },
    end(v: ChecksumView, sink: FindingSink): void {
      if (v.s.checkedL4 > 0) sink.check('checksum.l4', v.s.checkedL4);
    },
  },
  // Raised by the two rules above (offloadLikely): the same bad checksum is either a fault or offload.
  'checksum.offload-likely': {},
} as const satisfies RuleTable<ChecksumState>;

export const checksumRules: RuleModule = ruleModule('checksum', [walk(CHECKSUM_RULES, new ChecksumState())]);
