/**
 * pathOrder (rules/common.ts): the copies of a trace in path order. When the grouped list is
 * already in that order the list itself is returned (no array per trace); the result must be
 * the same as sorting by role in every case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Trace } from '../../src/verify/model/connection.js';
import { blankRecord } from '../../src/verify/read/record.js';
import type { PacketRecord, Role } from '../../src/verify/model/record.js';
import { pathOrder } from '../../src/verify/judge/rules/common.js';

const ROLES: readonly Role[] = ['C', 'Di', 'De', 'R'];

function trace(c2s: boolean, roles: readonly Role[]): Trace {
  const list: PacketRecord[] = roles.map((role, i) => {
    const r = blankRecord();
    r.role = role;
    r.frame = i + 1;
    return r;
  });
  return { c2s, key: 0, list, path: null, pathStore: null, t0: 0, segmented: false, pieces: null, C: undefined, Di: undefined, De: undefined, R: undefined };
}

/** The definition: each role of the direction's path, in turn, with its copies in list order. */
function reference(t: Trace): PacketRecord[] {
  const order: Role[] = t.c2s ? ['C', 'Di', 'De', 'R'] : ['R', 'Di', 'De', 'C'];
  return order.flatMap((role) => t.list.filter((r) => r.role === role));
}

describe('pathOrder', () => {
  it('equals the role-by-role order for any list of copies, and is cached on the trace', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.constantFrom(...ROLES), { maxLength: 9 }), (c2s, roles) => {
        const t = trace(c2s, roles);
        const got = pathOrder(t);
        expect(got.map((r) => r.frame)).toStrictEqual(reference(t).map((r) => r.frame));
        expect(pathOrder(t)).toBe(got);
      }),
      { numRuns: 2000 },
    );
  });

  it('reuses the list when it is in path order already, and builds a new array when not', () => {
    const inOrder = trace(true, ['C', 'Di', 'De', 'R']);
    expect(pathOrder(inOrder)).toBe(inOrder.list);
    const reply = trace(false, ['R', 'Di', 'De', 'C']);
    expect(pathOrder(reply)).toBe(reply.list);
    // A downstream copy sorted before its upstream one (clock correction fuzz).
    const swapped = trace(true, ['Di', 'C', 'De']);
    const path = pathOrder(swapped);
    expect(path).not.toBe(swapped.list);
    expect(path.map((r) => r.role)).toStrictEqual(['C', 'Di', 'De']);
  });
});
