/**
 * 64-bit capture timestamps to (seconds, nanoseconds) without BigInt: pcapng stores a
 * 64-bit count of interface time units, and a BigInt per packet would allocate on the hot
 * path. Values below 2^53 take the float fast path; larger ones (any present-day
 * nanosecond clock) use long division over 16-bit digits, which stays exact because the
 * partial remainders never exceed 2^46.
 */

const TWO32 = 4294967296;

/** Scratch result, reused so the conversion allocates nothing. */
export interface TsOut {
  sec: number;
  nsec: number;
}

/** Quotient halves and remainder of the last `divmod64` call (module scratch, read at once). */
let lastQh = 0;
let lastQl = 0;
let lastRem = 0;

/** (hi*2^32 + lo) / d for 1 <= d < 2^31, exact: quotient halves in lastQh/lastQl, remainder in lastRem. */
function divmod64(hi: number, lo: number, d: number): void {
  if (hi < 0x200000) {
    const v = hi * TWO32 + lo;
    const q = Math.floor(v / d);
    lastRem = v - q * d;
    lastQh = Math.floor(q / TWO32);
    lastQl = q - lastQh * TWO32;
    return;
  }
  // Each digit quotient is < 65536 because the running remainder is < d.
  let cur = hi >>> 16;
  const q3 = Math.floor(cur / d);
  let rem = cur - q3 * d;
  cur = rem * 65536 + (hi & 0xffff);
  const q2 = Math.floor(cur / d);
  rem = cur - q2 * d;
  cur = rem * 65536 + (lo >>> 16);
  const q1 = Math.floor(cur / d);
  rem = cur - q1 * d;
  cur = rem * 65536 + (lo & 0xffff);
  const q0 = Math.floor(cur / d);
  lastRem = cur - q0 * d;
  lastQh = q3 * 65536 + q2;
  lastQl = q1 * 65536 + q0;
}

/** Seconds from quotient halves; rounds only past 2^53 s, which no real clock reaches. */
function lastQuotient(): number {
  return lastQh * TWO32 + lastQl;
}

/** How an interface's 64-bit timestamp maps to seconds (pcapng if_tsresol). */
export interface TsUnit {
  /** true: units are 2^-exp s (if_tsresol bit 7 set); false: 10^-exp s. */
  binary: boolean;
  exp: number;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/** Converts a 64-bit timestamp (hi, lo: unsigned 32-bit halves) into out.sec / out.nsec. */
export function tsToSecNsec(hi: number, lo: number, unit: TsUnit, out: TsOut): void {
  const n = unit.exp;
  if (!unit.binary) {
    if (n <= 9) {
      divmod64(hi, lo, POW10[n]!);
      out.sec = lastQuotient();
      out.nsec = lastRem * POW10[9 - n]!;
      return;
    }
    // Finer than nanoseconds: first drop the sub-nanosecond digits (1e9 at a time, so the
    // divisor stays below 2^31), then split seconds from nanoseconds.
    let h = hi;
    let l = lo;
    let drop = n - 9;
    while (drop > 0 && (h !== 0 || l !== 0)) {
      const step = Math.min(drop, 9);
      divmod64(h, l, POW10[step]!);
      h = lastQh;
      l = lastQl;
      drop -= step;
    }
    divmod64(h, l, 1e9);
    out.sec = lastQuotient();
    out.nsec = lastRem;
    return;
  }
  if (n === 0) {
    out.sec = hi * TWO32 + lo;
    out.nsec = 0;
    return;
  }
  if (n <= 32) {
    const scale = 2 ** n;
    const frac = n === 32 ? lo : lo % scale;
    out.sec = hi * 2 ** (32 - n) + Math.floor(lo / scale);
    // frac * 1e9 / 2^n exactly: 1e9 = 1953125 * 2^9 and frac * 1953125 < 2^53.
    out.nsec = n >= 9 ? Math.floor((frac * 1953125) / 2 ** (n - 9)) : (frac * 1e9) / scale;
    return;
  }
  // Sub-2^-32 units: fraction precision beyond ~0.2 ns is lost to float rounding.
  const hiScale = 2 ** (n - 32);
  out.sec = Math.floor(hi / hiScale);
  const frac = (hi % hiScale) * TWO32 + lo;
  out.nsec = Math.min(999999999, Math.floor((frac / 2 ** n) * 1e9));
}

/** Human form of a resolution as the summary reports it: '1e-6', '1e-9', '2^-10'. */
export function tsUnitText(unit: TsUnit): string {
  return unit.binary ? `2^-${unit.exp}` : `1e-${unit.exp}`;
}
