// The memory store's message bodies, kept as UTF-8 in large Buffers outside the V8 heap. A body kept
// as a string is a heap object that every young-generation scavenge copies (twice: once within the
// young generation, once into the old) before it settles; with every message kept for the process's
// life, those copies were a third of each scavenge's pause at 5,000 msgs/s, and the pauses are what
// the paced p99 waits for (bench/RESULTS.md, "Message bodies off the heap"). Bytes in a Buffer are
// never copied by the GC. The price: a body read back (replay, history) is decoded into a new string.
// Nothing is ever freed, as the store frees no message: an edit writes the new body, and the old
// one's bytes stay where they were.

/** Where a body lies: its chunk, its first byte there, and its length in bytes. */
export interface BodySpan {
  bodyChunk: number;
  bodyAt: number;
  bodyBytes: number;
}

/** Chunks are this big; a body that could take more than a quarter of one gets a chunk of its own. */
const CHUNK_BYTES = 1 << 20;

export class BodyArena {
  private readonly chunks: Buffer[] = [];
  /** The chunk being filled (-1: none yet), and the bytes used in it. */
  private filling = -1;
  private used = 0;

  constructor(private readonly chunkBytes = CHUNK_BYTES) {}

  /** Writes a body and records where it went in `span`. */
  write(body: string, span: BodySpan): void {
    if (body.length === 0) {
      span.bodyChunk = 0;
      span.bodyAt = 0;
      span.bodyBytes = 0;
      return;
    }
    // A UTF-16 code unit takes at most 3 bytes in UTF-8 (a surrogate pair, two units, takes 4).
    const mostBytes = body.length * 3;
    if (mostBytes > this.chunkBytes / 4) {
      // A chunk of its own, sized exactly: a 16 MB body neither fits a chunk nor wastes most of one.
      const own = Buffer.allocUnsafeSlow(Buffer.byteLength(body, 'utf8'));
      span.bodyChunk = this.chunks.push(own) - 1;
      span.bodyAt = 0;
      span.bodyBytes = own.write(body, 0, 'utf8');
      return;
    }
    if (this.filling < 0 || this.used + mostBytes > this.chunkBytes) {
      this.filling = this.chunks.push(Buffer.allocUnsafeSlow(this.chunkBytes)) - 1;
      this.used = 0;
    }
    span.bodyChunk = this.filling;
    span.bodyAt = this.used;
    span.bodyBytes = this.chunks[this.filling]!.write(body, this.used, 'utf8');
    this.used += span.bodyBytes;
  }

  read(span: BodySpan): string {
    if (span.bodyBytes === 0) return '';
    return this.chunks[span.bodyChunk]!.toString('utf8', span.bodyAt, span.bodyAt + span.bodyBytes);
  }
}
