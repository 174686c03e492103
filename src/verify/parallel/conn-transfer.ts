/**
 * Judged connection summaries (model/connection.ts `Connection`, packets dropped) packed for
 * the trip from a helper thread to the main thread of a split pass 2 (./split.ts). Structured
 * clone writes every property name and every string of every object again, megabytes for a big
 * run, which the main thread waits for before it can merge. Packed, they are one Float64Array
 * (moved, not copied) and a table of the distinct strings (client addresses, real servers,
 * capture files).
 */
import { newConnection } from '../correlate/connections.js';
import type { Connection } from '../model/connection.js';
import type { PacketRef, Role } from '../model/record.js';
import { StringTable } from './string-table.js';

export interface PackedConnections {
  count: number;
  /** FIELDS numbers per connection (see pack). */
  nums: Float64Array;
  strings: string[];
}

const ROLES: readonly (Role | null)[] = [null, 'C', 'Di', 'De', 'R'];
const FROM: readonly Connection['backendFrom'][] = [null, 'director', 'rs'];
/** The packet references of a summary, each as point (-1: none), capture, frame, role. */
const REFS = ['synAtDirector', 'synRecord', 'fwdSynRecord'] as const;
const SCALARS = 9;
const REF_FIELDS = 4;
const FIELDS = SCALARS + REFS.length * REF_FIELDS;

const SCHEDULED = 1;
const CLOSED = 2;
const FIN_C2S = 4;
const FIN_S2C = 8;

/** Numbers that may be absent: NaN stands for null (none of these is ever NaN). */
const orNaN = (v: number | null): number => (v === null ? NaN : v);
const orNull = (v: number): number | null => (Number.isNaN(v) ? null : v);

export function packConnections(all: readonly Connection[]): PackedConnections {
  const strings = new StringTable();
  const nums = new Float64Array(all.length * FIELDS);
  all.forEach((c, i) => {
    if (c.records.length > 0 || c.traces.length > 0) throw new Error('packConnections: a connection still holds its packets (not judged)');
    let o = i * FIELDS;
    nums[o++] = c.cport;
    nums[o++] = orNaN(c.isn);
    nums[o++] = strings.of(c.client);
    nums[o++] = strings.of(c.backend);
    nums[o++] = FROM.indexOf(c.backendFrom);
    nums[o++] = orNaN(c.synT);
    nums[o++] = c.lastT;
    nums[o++] = (c.scheduled ? SCHEDULED : 0) | (c.closed ? CLOSED : 0) | (c.finC2s ? FIN_C2S : 0) | (c.finS2c ? FIN_S2C : 0);
    nums[o++] = c.segments;
    for (const name of REFS) {
      const ref = c[name];
      nums[o++] = ref === null ? -1 : ref.point;
      nums[o++] = ref === null ? -1 : strings.of(ref.capture);
      nums[o++] = ref === null ? -1 : ref.frame;
      nums[o++] = ref === null ? -1 : ROLES.indexOf(ref.role);
    }
  });
  return { count: all.length, nums, strings: strings.list };
}

export function unpackConnections(p: PackedConnections): Connection[] {
  const { nums, strings } = p;
  const text = (i: number): string | null => (i < 0 ? null : strings[i]!);
  const out = new Array<Connection>(p.count);
  for (let i = 0; i < p.count; i++) {
    let o = i * FIELDS;
    const cport = nums[o++]!;
    const isn = orNull(nums[o++]!);
    // Built by newConnection: the same fields, in the same order, as the tracker's own.
    const c = newConnection(text(nums[o++]!)!, cport, isn);
    c.backend = text(nums[o++]!);
    c.backendFrom = FROM[nums[o++]!]!;
    c.synT = orNull(nums[o++]!);
    c.lastT = nums[o++]!;
    const bits = nums[o++]!;
    c.scheduled = (bits & SCHEDULED) !== 0;
    c.closed = (bits & CLOSED) !== 0;
    c.finC2s = (bits & FIN_C2S) !== 0;
    c.finS2c = (bits & FIN_S2C) !== 0;
    c.segments = nums[o++]!;
    for (const name of REFS) {
      const point = nums[o++]!;
      const capture = nums[o++]!;
      const frame = nums[o++]!;
      const role = nums[o++]!;
      const ref: PacketRef | null = point < 0 ? null : { point, capture: strings[capture]!, frame, role: ROLES[role]! };
      c[name] = ref;
    }
    out[i] = c;
  }
  return out;
}
