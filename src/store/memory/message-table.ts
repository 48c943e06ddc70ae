// The memory store's messages as rows of numbers in large typed arrays, not an object each.
//
// Why: the store keeps every message for the process's life, and everything it keeps is work for each
// major GC (a Mark-Compact marks every live object and visits its fields). With an object per message
// (13 fields) and its id string, 400,000 kept messages took 99 MB of heap and a full GC 120–190 ms;
// as rows, 41 MB and 35–60 ms (a script of the two shapes, bench/RESULTS.md "The memory store as
// rows"). Major GCs were what the paced p99 at 20,000 msgs/s waited for; each is now about half as
// long, though they come more often (V8 sets the next one's limit from what is live: RESULTS, "What
// starts the major GCs now"). What stays on the heap per message is its id (a string, the index's
// key, which the GC marks without visiting anything) and one slot in an array of ids; the numbers
// live in typed arrays, whose bytes the GC never reads.
//
// A row's numbers: its conversation, sender, sending device and (direct only) other member as
// numbers from one table of names (each id string kept once), its seq, flags, its body's place in the
// BodyArena, and its time in a Float64Array. The rare parts (what an event targets, when a message
// was last edited) are in Maps by row. Rows are never removed: the store frees no message.
import { BodyArena, SPAN_INTS } from './body-arena.js';
import { MessageIndex } from './message-index.js';
import type { MessageEventRef, StoredMessage } from '../store.js';

/** Rows per chunk: each column grows a chunk at a time, never copying what it holds. */
const CHUNK_SHIFT = 14;
const CHUNK_ROWS = 1 << CHUNK_SHIFT;
const ROW_MASK = CHUNK_ROWS - 1;

// A row's Int32 fields, in this order, then its body's span.
const CONVERSATION = 0;
const SEQ = 1;
const FROM = 2;
const DEVICE = 3;
const TO = 4;
const FLAGS = 5;
const BODY = 6;
const ROW_INTS = BODY + SPAN_INTS;

/** A name field with no name (no sending device, no other member). */
const NONE = -1;

// FLAGS bits.
const IS_EVENT = 1;
const EDITED = 2;
const DELETED = 4;

/**
 * Each distinct id string once, numbered in the order first seen. Looked up through a MessageIndex,
 * not one Map: a client can make up a device id per message, and one Map's 2^24 entries would then
 * end every send of every user.
 */
class Names {
  private readonly numbers = new MessageIndex();
  private readonly names: string[] = [];

  number(name: string | undefined): number {
    if (name === undefined) return NONE;
    let number = this.numbers.get(name);
    if (number === undefined) {
      this.numbers.add(name, (number = this.names.length));
      this.names.push(name);
    }
    return number;
  }

  name(number: number): string | undefined {
    return number === NONE ? undefined : this.names[number];
  }
}

export class MessageTable {
  private readonly index = new MessageIndex();
  private readonly bodies = new BodyArena();
  private readonly names = new Names();
  private readonly ids: string[][] = [];
  private readonly ints: Int32Array[] = [];
  private readonly times: Float64Array[] = [];
  /** Rows that are edit or delete events → what they edit or delete. */
  private readonly events = new Map<number, MessageEventRef>();
  /** Rows of messages edited → when the latest applied edit was accepted. */
  private readonly editedAts = new Map<number, number>();
  private rows = 0;

  get size(): number {
    return this.rows;
  }

  /** The row of a message id, or -1. */
  find(messageId: string): number {
    return this.index.get(messageId) ?? -1;
  }

  /** Keeps a new message (its id not found) and returns its row. */
  add(
    messageId: string,
    conversationId: string,
    seq: number,
    from: string,
    fromDevice: string | undefined,
    /** Direct conversations only: the other member. */
    to: string | undefined,
    ts: number,
    event: MessageEventRef | undefined,
    body: string,
  ): number {
    const row = this.rows;
    const chunk = row >>> CHUNK_SHIFT;
    if (chunk === this.ids.length) {
      this.ids.push(new Array<string>(CHUNK_ROWS));
      this.ints.push(new Int32Array(CHUNK_ROWS * ROW_INTS));
      this.times.push(new Float64Array(CHUNK_ROWS));
    }
    const within = row & ROW_MASK;
    const ints = this.ints[chunk]!;
    const at = within * ROW_INTS;
    ints[at + CONVERSATION] = this.names.number(conversationId);
    ints[at + SEQ] = seq;
    ints[at + FROM] = this.names.number(from);
    ints[at + DEVICE] = this.names.number(fromDevice);
    ints[at + TO] = this.names.number(to);
    ints[at + FLAGS] = event !== undefined ? IS_EVENT : 0;
    this.bodies.write(body, ints, at + BODY);
    this.ids[chunk]![within] = messageId;
    this.times[chunk]![within] = ts;
    if (event !== undefined) this.events.set(row, { kind: event.kind, target: event.target });
    this.index.add(messageId, row);
    this.rows++;
    return row;
  }

  messageId(row: number): string {
    return this.ids[row >>> CHUNK_SHIFT]![row & ROW_MASK]!;
  }

  conversationId(row: number): string {
    return this.names.name(this.int(row, CONVERSATION))!;
  }

  seq(row: number): number {
    return this.int(row, SEQ);
  }

  from(row: number): string {
    return this.names.name(this.int(row, FROM))!;
  }

  fromDevice(row: number): string | undefined {
    return this.names.name(this.int(row, DEVICE));
  }

  ts(row: number): number {
    return this.times[row >>> CHUNK_SHIFT]![row & ROW_MASK]!;
  }

  /** An edit or delete event, not a message. */
  isEvent(row: number): boolean {
    return (this.int(row, FLAGS) & IS_EVENT) !== 0;
  }

  deleted(row: number): boolean {
    return (this.int(row, FLAGS) & DELETED) !== 0;
  }

  body(row: number): string {
    return this.bodies.read(this.ints[row >>> CHUNK_SHIFT]!, (row & ROW_MASK) * ROW_INTS + BODY);
  }

  /** The message as the Store interface gives it, absent fields left out (not set to undefined). */
  stored(row: number, body: string = this.body(row)): StoredMessage {
    const ints = this.ints[row >>> CHUNK_SHIFT]!;
    const at = (row & ROW_MASK) * ROW_INTS;
    const messageId = this.ids[row >>> CHUNK_SHIFT]![row & ROW_MASK]!;
    const conversationId = this.names.name(ints[at + CONVERSATION]!)!;
    const seq = ints[at + SEQ]!;
    const from = this.names.name(ints[at + FROM]!)!;
    const fromDevice = this.names.name(ints[at + DEVICE]!);
    const to = this.names.name(ints[at + TO]!);
    const ts = this.times[row >>> CHUNK_SHIFT]![row & ROW_MASK]!;
    const flags = ints[at + FLAGS]!;
    if (flags === 0) {
      // A plain message, every send's: object literals, where a spread per optional field below is a
      // CopyDataProperties call each (callgrind: ~700 instructions per chat cycle).
      if (fromDevice !== undefined) {
        return to !== undefined ? { messageId, conversationId, seq, from, fromDevice, to, body, ts } : { messageId, conversationId, seq, from, fromDevice, body, ts };
      }
      return to !== undefined ? { messageId, conversationId, seq, from, to, body, ts } : { messageId, conversationId, seq, from, body, ts };
    }
    const event = this.events.get(row);
    const editedAt = this.editedAts.get(row);
    return {
      messageId,
      conversationId,
      seq,
      from,
      ...(fromDevice !== undefined ? { fromDevice } : {}),
      ...(to !== undefined ? { to } : {}),
      body,
      ts,
      ...(event !== undefined ? { event } : {}),
      ...(editedAt !== undefined ? { editedAt } : {}),
      ...(flags & DELETED ? { deleted: true as const } : {}),
    };
  }

  /** An edit applied to the message at `row`: its new body, and when the edit was accepted. */
  edit(row: number, body: string, editedAt: number): void {
    this.setBody(row, body);
    this.setFlags(row, EDITED, 0);
    this.editedAts.set(row, editedAt);
  }

  /** A delete applied to the message at `row`: a tombstone keeps who, where and when, not what. */
  delete(row: number): void {
    this.setBody(row, '');
    this.setFlags(row, DELETED, EDITED);
    this.editedAts.delete(row);
  }

  /** Writes a new body for the row; the old one's bytes stay where they were (body-arena.ts). */
  setBody(row: number, body: string): void {
    this.bodies.write(body, this.ints[row >>> CHUNK_SHIFT]!, (row & ROW_MASK) * ROW_INTS + BODY);
  }

  private setFlags(row: number, set: number, clear: number): void {
    const ints = this.ints[row >>> CHUNK_SHIFT]!;
    const at = (row & ROW_MASK) * ROW_INTS + FLAGS;
    ints[at] = (ints[at]! & ~clear) | set;
  }

  private int(row: number, field: number): number {
    return this.ints[row >>> CHUNK_SHIFT]![(row & ROW_MASK) * ROW_INTS + field]!;
  }
}

/** A conversation's rows in seq order (rows.at(seq - 1)), in one Int32Array that doubles as it fills. */
export class RowList {
  private rows = new Int32Array(4);
  length = 0;

  push(row: number): void {
    if (this.length === this.rows.length) {
      const grown = new Int32Array(this.length * 2);
      grown.set(this.rows);
      this.rows = grown;
    }
    this.rows[this.length++] = row;
  }

  at(index: number): number {
    return this.rows[index]!;
  }
}
