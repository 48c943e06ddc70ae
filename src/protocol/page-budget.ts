// A page of an API read, bounded in bytes as well as in items: what one request makes the server build
// and hold. The items are encoded once, weighed, and joined as they are (no second stringify).

/**
 * How many of `encoded` fit in `maxBytes` together, counted from the start (`from: 'start'`, the list:
 * most recent first) or from the end (`'end'`, history: ascending, newest last). One item always goes,
 * whatever its size: a page is never empty while there is something to show.
 */
export function itemsWithin(encoded: readonly string[], maxBytes: number, from: 'start' | 'end'): number {
  let bytes = 0;
  let count = 0;
  while (count < encoded.length) {
    const item = from === 'start' ? encoded[count]! : encoded[encoded.length - 1 - count]!;
    const size = Buffer.byteLength(item) + 1; // and its comma
    if (count > 0 && bytes + size > maxBytes) break;
    bytes += size;
    count++;
  }
  return count;
}
