/**
 * Strings as indexes into one table, for data that crosses threads packed in typed arrays
 * (./conn-transfer.ts): each distinct string travels once.
 */
export class StringTable {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();

  /** The index of `s` (added when new); -1 for null. */
  of(s: string | null): number {
    if (s === null) return -1;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}
