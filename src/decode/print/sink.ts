/**
 * ByteSink: an ASCII output buffer that printers write numbers, addresses and constant text
 * into directly. `decode --json` writes every packet through one, so the hot path creates
 * no strings and no garbage per packet (building strings was GC-bound); the buffer is handed
 * to the consumer when full and a fresh one is taken.
 */
const HEX = '0123456789abcdef';
const HEXC = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEXC[i] = HEX.charCodeAt(i);
/** ASCII of "00".."99": entry 2n is the tens digit of n, 2n + 1 the units digit. */
const DIGIT_PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 48 + Math.floor(i / 10);
  DIGIT_PAIRS[2 * i + 1] = 48 + (i % 10);
}

/** Encodes a constant ASCII fragment once, for ByteSink.lit. */
export function lit(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * A constant ASCII fragment compiled to straight-line code: `w(b, p)` stores its bytes at
 * b[p…] and returns p + length. Stores of constants, with no loop and no loads from a
 * source array, are much faster than ByteSink.lit's copy loop, and constant keys are a large
 * share of `decode --json` time. The generated source
 * holds only the character codes (numbers), never the text itself. Writers do not check
 * capacity: callers reserve first (JsonPrinter.write reserves a packet's upper bound).
 */
export type LitWriter = (b: Uint8Array, p: number) => number;

export function litw(s: string): LitWriter {
  let body = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new Error(`litw: non-ASCII character in ${JSON.stringify(s)}`);
    body += `b[p + ${i}] = ${c};\n`;
  }
  body += `return p + ${s.length};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- code built from numbers only (see above)
  return new Function('b', 'p', body) as LitWriter;
}

const W_TRUE = litw('true');
const W_FALSE = litw('false');
const W_NULL = litw('null');

export class ByteSink {
  buf: Buffer;
  pos = 0;

  /**
   * @param onFull receives a filled buffer (ownership passes to it); null keeps growing in memory.
   * @param size buffer size; a single packet never needs more than `size / 4`.
   * @param reuse the consumer is done with a buffer when onFull returns (a synchronous
   *   write), so the same buffer is refilled instead of allocating a new one.
   */
  constructor(
    private readonly onFull: ((b: Buffer) => void) | null = null,
    private readonly size = 1 << 18,
    private readonly reuse = false,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.onFull !== null && n <= this.size) {
      this.flush();
      return;
    }
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Hands what was written to the consumer. */
  flush(): void {
    if (this.pos === 0 || this.onFull === null) return;
    const out = this.buf.subarray(0, this.pos);
    if (!this.reuse) this.buf = Buffer.allocUnsafe(this.size);
    this.pos = 0;
    this.onFull(out);
  }

  /** Takes the written text (in-memory use: tests, `format()`), and empties the sink. */
  take(): string {
    const s = this.buf.toString('utf8', 0, this.pos);
    this.pos = 0;
    return s;
  }

  /** ASCII text (keys, constants, short printable values). */
  ascii(s: string): void {
    const n = s.length;
    if (this.pos + n > this.buf.length) this.reserve(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** A pre-encoded constant (see `lit`). */
  lit(k: Uint8Array): void {
    const n = k.length;
    if (this.pos + n > this.buf.length) this.reserve(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = k[i]!;
    this.pos = p;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** Non-negative integer below 2^53. */
  uint(n: number): void {
    const b = this.buf;
    if (n < 10) {
      b[this.pos++] = 48 + n;
      return;
    }
    if (n < 100) {
      // Two-digit values (TTLs, header lengths, ports of well-known services) are common.
      const p = this.pos;
      b[p] = DIGIT_PAIRS[2 * n]!;
      b[p + 1] = DIGIT_PAIRS[2 * n + 1]!;
      this.pos = p + 2;
      return;
    }
    if (n > 0xffffffff) {
      this.ascii(String(n));
      return;
    }
    // Everything printed is a uint32: integer division by `>>> 0` stays in the fast path.
    // Two digits per division (DIGIT_PAIRS) halves the divisions of long numbers
    // (sequence numbers, timestamps): uint was a fifth of `decode --json` time.
    const digits = n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1e6 ? 6 : n < 1e7 ? 7 : n < 1e8 ? 8 : n < 1e9 ? 9 : 10;
    let p = this.pos + digits;
    this.pos = p;
    while (n >= 100) {
      const q = (n / 100) >>> 0;
      const r = 2 * (n - q * 100);
      b[--p] = DIGIT_PAIRS[r + 1]!;
      b[--p] = DIGIT_PAIRS[r]!;
      n = q;
    }
    if (n >= 10) {
      b[--p] = DIGIT_PAIRS[2 * n + 1]!;
      b[--p] = DIGIT_PAIRS[2 * n]!;
    } else b[--p] = 48 + n;
  }

  /** Any integer (negative values such as sll ifindex -1). */
  int(n: number): void {
    if (n < 0) {
      this.buf[this.pos++] = 45;
      this.uint(-n);
    } else this.uint(n);
  }

  bool(v: boolean | null): void {
    if (this.pos + 5 > this.buf.length) this.reserve(5);
    // Compiled constants (litw): cheaper than charCodeAt per character or a copy loop.
    this.pos = (v === null ? W_NULL : v ? W_TRUE : W_FALSE)(this.buf, this.pos);
  }

  /** Dotted quad of a uint32. */
  ip4(a: number): void {
    this.uint(a >>> 24);
    this.buf[this.pos++] = 46;
    this.uint((a >>> 16) & 255);
    this.buf[this.pos++] = 46;
    this.uint((a >>> 8) & 255);
    this.buf[this.pos++] = 46;
    this.uint(a & 255);
  }

  /** Dotted quad of 4 bytes at `off`. */
  ip4At(src: Uint8Array, off: number): void {
    for (let i = 0; i < 4; i++) {
      if (i > 0) this.buf[this.pos++] = 46;
      this.uint(src[off + i]!);
    }
  }

  /** Colon-separated hex of `len` bytes (a MAC when len is 6). */
  hexColon(src: Uint8Array, off: number, len: number): void {
    if (this.pos + len * 3 > this.buf.length) this.reserve(len * 3);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < len; i++) {
      if (i > 0) b[p++] = 58;
      const v = src[off + i]!;
      b[p++] = HEXC[v >> 4]!;
      b[p++] = HEXC[v & 15]!;
    }
    this.pos = p;
  }

  /** Plain hex of `len` bytes. */
  hex(src: Uint8Array, off: number, len: number): void {
    if (this.pos + len * 2 > this.buf.length) this.reserve(len * 2);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < len; i++) {
      const v = src[off + i]!;
      b[p++] = HEXC[v >> 4]!;
      b[p++] = HEXC[v & 15]!;
    }
    this.pos = p;
  }

  /** Exactly 9 decimal digits (nanoseconds). */
  nano9(n: number): void {
    const b = this.buf;
    let p = this.pos + 9;
    this.pos = p;
    for (let i = 0; i < 9; i++) {
      const q = (n / 10) >>> 0;
      b[--p] = 48 + (n - q * 10);
      n = q;
    }
  }

  /** Any text as UTF-8 (text lines: capture names may be non-ASCII). */
  utf8(s: string): void {
    this.reserve(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A JSON string literal of arbitrary text (UTF-8, escaped). */
  jsonString(s: string): void {
    if (/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(s)) {
      this.reserve(s.length + 2);
      this.byte(34);
      this.ascii(s);
      this.byte(34);
      return;
    }
    const enc = Buffer.from(JSON.stringify(s), 'utf8');
    this.reserve(enc.length);
    enc.copy(this.buf, this.pos);
    this.pos += enc.length;
  }
}
