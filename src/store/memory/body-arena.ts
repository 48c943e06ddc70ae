// The memory store's message bodies, kept as UTF-8 in large Buffers outside the V8 heap. A body kept
// as a string is a heap object that every young-generation scavenge copies (twice: once within the
// young generation, once into the old) before it settles; with every message kept for the process's
// life, those copies were a third of each scavenge's pause at 5,000 msgs/s, and the pauses are what
// the paced p99 waits for (bench/RESULTS.md, "Message bodies off the heap"). Bytes in a Buffer are
// never copied by the GC. The price: a body read back (replay, history) is decoded into a new string.
// Nothing is ever freed, as the store frees no message: an edit writes the new body, and the old
// one's bytes stay where they were.

/**
 * Where a body lies is three numbers at `at` in an Int32Array of the caller's (message-table.ts keeps
 * them in its rows, not in an object per message): its chunk, its first byte there, its length in bytes.
 */
export const SPAN_INTS = 3;

/** Chunks are this big; a body that could take more than a quarter of one gets a chunk of its own. */
const CHUNK_BYTES = 1 << 20;

export class BodyArena {
  private readonly chunks: Buffer[] = [];
  /** The chunk being filled (-1: none yet), and the bytes used in it. */
  private filling = -1;
  private used = 0;

  constructor(private readonly chunkBytes = CHUNK_BYTES) {}

  /** Writes a body and records where it went in `span[at]`, `span[at + 1]` and `span[at + 2]`. */
  write(body: string, span: Int32Array, at: number): void {
    if (body.length === 0) {
      span[at] = span[at + 1] = span[at + 2] = 0;
      return;
    }
    // A UTF-16 code unit takes at most 3 bytes in UTF-8 (a surrogate pair, two units, takes 4).
    const mostBytes = body.length * 3;
    if (mostBytes > this.chunkBytes / 4) {
      // A chunk of its own, sized exactly: a 16 MB body neither fits a chunk nor wastes most of one.
      const own = Buffer.allocUnsafeSlow(Buffer.byteLength(body, 'utf8'));
      span[at] = this.chunks.push(own) - 1;
      span[at + 1] = 0;
      span[at + 2] = own.write(body, 0, 'utf8');
      return;
    }
    if (this.filling < 0 || this.used + mostBytes > this.chunkBytes) {
      this.filling = this.chunks.push(Buffer.allocUnsafeSlow(this.chunkBytes)) - 1;
      this.used = 0;
    }
    const bytes = this.chunks[this.filling]!.write(body, this.used, 'utf8');
    span[at] = this.filling;
    span[at + 1] = this.used;
    span[at + 2] = bytes;
    this.used += bytes;
  }

  read(span: Int32Array, at: number): string {
    const bytes = span[at + 2]!;
    if (bytes === 0) return '';
    const first = span[at + 1]!;
    return this.chunks[span[at]!]!.toString('utf8', first, first + bytes);
  }
}
