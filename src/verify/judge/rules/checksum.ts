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
import { copyAt, pathOrder, type RuleModule } from './common.js';

function ipOk(r: PacketRecord): boolean | null {
  const outer = r.outer?.checksumOk ?? true;
  const inner = r.ip.checksumOk;
  if (outer === false || inner === false) return false;
  if (inner === null && r.outer?.checksumOk == null) return null;
  return true;
}

export const checksumRules: RuleModule = {
  family: 'checksum',
  ids: ['checksum.ip', 'checksum.l4', 'checksum.offload-likely'],
  run(ctx, conns, sink) {
    for (const c of conns) {
      // Checks counted per connection, not per packet: the sink's tally is a map update.
      let checkedIp = 0;
      let checkedL4 = 0;
      for (const t of c.traces) {
        const path = pathOrder(t);
        for (let i = 0; i < path.length; i++) {
          const r = path[i]!;
          const sentHere = (t.c2s && r.role === 'C') || (!t.c2s && r.role === 'R');
          for (let v = 0; v < 2; v++) {
            const rule = v === 0 ? 'checksum.ip' : 'checksum.l4';
            const ok = v === 0 ? ipOk(r) : r.l4ChecksumOk;
            if (ok === null) continue;
            if (!sentHere) {
              if (v === 0) checkedIp++;
              else checkedL4++;
            }
            if (ok) continue;
            const layer = rule === 'checksum.ip' ? 'IPv4 header' : `${r.proto.toUpperCase()}`;
            const pointName = ctx.points[r.point]!.name;
            if (sentHere) {
              sink.add(
                'checksum.offload-likely',
                null,
                `${pointName} sent packets whose ${layer} checksum is wrong in its own capture: transmit checksum offload, not a fault`,
                'nothing to fix; capture on another host, or disable offload (ethtool -K IFACE tx off) to see final checksums',
                [r],
                `${pointName}|${rule}`,
              );
              continue;
            }
            if (r.role === 'De') {
              const down = t.c2s ? copyAt(t, 'R') : copyAt(t, 'C');
              const downOk = down ? (rule === 'checksum.ip' ? ipOk(down) : down.l4ChecksumOk) : null;
              if (downOk === true) {
                sink.add(
                  'checksum.offload-likely',
                  null,
                  `the director's egress copies carry a wrong ${layer} checksum that is correct on the wire: offload on the director`,
                  'nothing to fix; the downstream capture shows a correct checksum',
                  [r, down!],
                  `${pointName}|${rule}`,
                );
                continue;
              }
            }
            const prev = path[i - 1];
            const where =
              r.role === 'De' ? 'forwarded by the director' : r.role === 'Di' ? 'received by the director' : `received at ${pointName}`;
            sink.add(
              rule,
              c,
              `bad ${layer} checksum on a packet ${where} (frame ${r.frame} of ${r.capture})${prev ? `; the previous hop's copy was ${rule === 'checksum.ip' ? (ipOk(prev) === false ? 'bad too' : 'good') : prev.l4ChecksumOk === false ? 'bad too' : 'good'}` : ''}`,
              r.role === 'De' || (prev && prev.role === 'De')
                ? 'the director rewrote the packet without a correct checksum update (incremental update after the address/port rewrite, lvs-behavior.md §1.3 R5): check the director build, offload settings on its egress NIC (ethtool -K IFACE tx off to test)'
                : 'the packet was corrupted before this point: check the NIC/driver or the middlebox on the path',
              prev ? [prev, r] : [r],
            );
          }
        }
      }
      if (checkedIp > 0) sink.check('checksum.ip', checkedIp);
      if (checkedL4 > 0) sink.check('checksum.l4', checkedL4);
    }
  },
};
