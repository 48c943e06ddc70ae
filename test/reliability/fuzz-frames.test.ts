// The seeded frame fuzzer: thousands of hostile frames over one real connection (reconnecting only
// where the protocol closes it), each checked against the outcome the protocol promises; then a burst
// sent without waiting; then a normal send on the same connection, a live process, no prototype
// pollution, and a store holding exactly the messages that were acked.
//
//   FUZZ_SEED=123 FUZZ_FRAMES=20000 node --import tsx --test test/reliability/fuzz-frames.test.ts
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { directConversationId } from '../../src/store/conversation-ids.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';
import { FuzzGenerator, type FuzzCase } from './fuzz-cases.js';

const SCALE = Number(process.env.RELIABILITY_SCALE ?? '1');
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const FRAMES = Math.max(1, Math.round(Number(process.env.FUZZ_FRAMES ?? '3000') * SCALE));
const STORM = Math.max(1, Math.round(500 * SCALE));
const USER = 'fuzzer';
const SINK = 'fuzz-sink';
const ERROR_CODES = ['bad_request', 'unknown_type', 'too_large', 'conflict', 'rate_limited', 'unavailable', 'internal', 'not_found', 'forbidden'];

const preview = (data: string | Buffer) => {
  const text = typeof data === 'string' ? data : `<${data.length} bytes> ${data.subarray(0, 120).toString('hex')}`;
  return text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text;
};

/**
 * A frame that reads as a `sync`. Its `ready` comes when its replay has read the store, so a send
 * written after it may be acked first (the protocol orders the two answers in neither way): a barrier
 * proves nothing about a sync, which is always answered, by an error at once or by `ready` later.
 */
function isSync(data: string | Buffer): boolean {
  try {
    const value: unknown = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) && (value as Record<string, unknown>).type === 'sync';
  } catch {
    return false;
  }
}

interface Outcome {
  readonly to: string;
  readonly body: string;
}

class FuzzSession {
  client!: TestClient;
  readonly acked = new Map<string, Outcome>();
  readonly categories = new Map<string, number>();
  closes = 0;
  private barriers = 0;

  constructor(
    private readonly t: TestServer,
    private readonly token: string,
  ) {}

  async connect(): Promise<void> {
    ({ client: this.client } = await TestClient.connectReady(this.t.wsUrl, this.token));
  }

  private write(c: FuzzCase): void {
    if (c.binary) this.client.ws.send(c.data, { binary: true });
    else this.client.ws.send(c.data, { binary: false });
  }

  /** A send with a fresh id: every frame before its ack answers what was sent before it. */
  async barrier(): Promise<Frame[]> {
    const start = this.client.frames.length;
    const messageId = `barrier-${this.barriers++}`;
    this.client.send({ type: 'send', messageId, to: SINK, body: 'barrier' });
    const ack = await this.client.next((f) => f.messageId === messageId, 10_000);
    assert.equal(ack.status, 'SENT', JSON.stringify(ack));
    this.acked.set(messageId, { to: SINK, body: 'barrier' });
    return this.client.frames.slice(start, this.client.frames.indexOf(ack));
  }

  async run(c: FuzzCase, index: number): Promise<void> {
    const where = () => `case #${index} (${c.category}), FUZZ_SEED=${SEED}: ${preview(c.data)}`;
    this.categories.set(c.category, (this.categories.get(c.category) ?? 0) + 1);
    const expect = c.expect;
    this.write(c);
    switch (expect.kind) {
      case 'error': {
        const frame = await this.client.next(() => true).catch((error) => assert.fail(`${error}\n${where()}`));
        assert.ok(frame.type === 'error' && expect.codes.includes(String(frame.code)), `expected error ${expect.codes}, got ${JSON.stringify(frame)}\n${where()}`);
        return;
      }
      case 'ack': {
        const frame = await this.client.next(() => true).catch((error) => assert.fail(`${error}\n${where()}`));
        assert.ok(frame.type === 'ack' && frame.status === 'SENT' && frame.messageId === expect.messageId && frame.duplicate === false, `expected SENT ack, got ${JSON.stringify(frame)}\n${where()}`);
        this.acked.set(expect.messageId, { to: expect.to, body: expect.body });
        return;
      }
      case 'ready': {
        const frame = await this.client.next(() => true).catch((error) => assert.fail(`${error}\n${where()}`));
        assert.deepEqual(frame, { type: 'ready', replayed: 0 }, where());
        return;
      }
      case 'silent': {
        const frames = await this.barrier();
        assert.deepEqual(frames, [], where());
        return;
      }
      case 'maybe': {
        const frames = await this.barrier();
        assert.ok(frames.length <= 1, `more than one answer: ${JSON.stringify(frames)}\n${where()}`);
        if (frames[0]) assert.ok(frames[0].type === 'error' && expect.codes.includes(String(frames[0].code)), `expected nothing or error ${expect.codes}, got ${JSON.stringify(frames[0])}\n${where()}`);
        return;
      }
      case 'any': {
        const frames = await this.barrier();
        // A sync's answer may come after the barrier's ack (isSync says why).
        if (frames.length === 0 && isSync(c.data)) frames.push(await this.client.next(() => true, 10_000).catch((error) => assert.fail(`${error}: a sync went unanswered\n${where()}`)));
        assert.ok(frames.length <= 1, `more than one answer: ${JSON.stringify(frames)}\n${where()}`);
        // Judged by what went over the wire: UTF-8 encoding turns a lone surrogate into U+FFFD.
        if (frames[0]) this.checkAnswer(frames[0], Buffer.from(c.data).toString('utf8'), where);
        return;
      }
      case 'close': {
        let timer: NodeJS.Timeout | undefined;
        const closed = await Promise.race([this.client.closed, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10_000)))]);
        clearTimeout(timer);
        assert.ok(closed && expect.codes.includes(closed.code), `expected close ${expect.codes}, got ${JSON.stringify(closed)}\n${where()}`);
        this.closes++;
        await this.connect();
        return;
      }
    }
  }

  /** An answer to a random mutation must be a well-formed reaction to what the frame's own JSON says. */
  checkAnswer(frame: Frame, text: string, where: () => string): void {
    if (frame.type === 'error') {
      assert.ok(ERROR_CODES.includes(String(frame.code)) && frame.code !== 'internal', `${JSON.stringify(frame)}\n${where()}`);
      return;
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      assert.fail(`accepted a frame that is not JSON: ${JSON.stringify(frame)}\n${where()}`);
    }
    if (frame.type === 'ready') {
      assert.equal(parsed.type, 'sync', where());
      return;
    }
    assert.ok(frame.type === 'ack' && frame.status === 'SENT' && parsed.type === 'send', `${JSON.stringify(frame)}\n${where()}`);
    const outcome = { to: String(parsed.to), body: String(parsed.body) };
    if (frame.duplicate === true) assert.deepEqual(this.acked.get(String(frame.messageId)), outcome, where());
    this.acked.set(String(parsed.messageId), outcome);
  }

  /** Fires cases without waiting (none that close the connection), then checks every answer at once. */
  async storm(generator: FuzzGenerator, count: number): Promise<number> {
    const sent: FuzzCase[] = [];
    while (sent.length < count) {
      const c = generator.next();
      if (c.expect.kind === 'close') continue;
      this.write(c);
      sent.push(c);
    }
    const frames = await this.barrier();
    // Syncs sent during a replay coalesce into one more, and a `ready` may come after the barrier's ack
    // (isSync): of the syncs, only that at least one `ready` answers them is certain.
    if (sent.some((c) => c.expect.kind === 'ready') && !frames.some((f) => f.type === 'ready')) {
      frames.push(await this.client.next((f) => f.type === 'ready', 10_000).catch((error) => assert.fail(`${error}: no ready answered the burst's syncs (FUZZ_SEED=${SEED})`)));
    }
    assert.ok(frames.length <= sent.length, `${frames.length} answers to ${sent.length} frames`);
    const expectedAnswers = sent.filter((c) => c.expect.kind === 'error' || c.expect.kind === 'ack').length;
    const answers = frames.filter((f) => f.type !== 'ready').length;
    assert.ok(answers >= expectedAnswers, `${answers} errors and acks, expected at least ${expectedAnswers}`);
    for (const frame of frames) {
      assert.ok(['error', 'ack', 'ready'].includes(frame.type), `unexpected ${JSON.stringify(frame)} (FUZZ_SEED=${SEED})`);
      if (frame.type === 'error') assert.notEqual(frame.code, 'internal', `FUZZ_SEED=${SEED}`);
    }
    for (const c of sent) {
      if (c.expect.kind === 'ack') this.acked.set(c.expect.messageId, { to: c.expect.to, body: c.expect.body });
    }
    // Acks of random mutations: the stored content is checked against the acked ids below.
    for (const frame of frames) {
      if (frame.type === 'ack' && !this.acked.has(String(frame.messageId))) this.acked.set(String(frame.messageId), { to: '?', body: '?' });
    }
    return frames.length;
  }
}

for (const variant of storeVariants()) {
  const frames = variant.name === 'memory' ? FRAMES : Math.max(1, Math.round(FRAMES / 5));
  describe(`frame fuzzer (${variant.name} store, seed ${SEED}, ${frames} frames)`, () => {
    let t: TestServer;
    const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    before(async () => {
      // Production limits, but for the rates: thousands of frames come from one user (send and delivered
      // are raised by testEnv; read and typing here).
      t = await startTestServer({ store: await variant.create(), env: { READ_RATE_PER_SEC: '1000000', READ_BURST: '1000000', TYPING_RATE_PER_SEC: '1000000', TYPING_BURST: '1000000', SYNC_RATE_PER_SEC: '1000000', SYNC_BURST: '1000000' } });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });

    it('answers every hostile frame as the protocol promises, then still works, with nothing stray stored', async (test) => {
      console.log(`fuzz-frames: FUZZ_SEED=${SEED} FUZZ_FRAMES=${frames} store=${variant.name} (set FUZZ_SEED to reproduce)`);
      const generator = new FuzzGenerator(SEED, t.config.limits, SINK, directConversationId(USER, SINK));
      const session = new FuzzSession(t, await t.token(USER));
      await session.connect();
      const started = Date.now();
      const cases = generator.everyCategory();
      while (cases.length < frames) cases.push(generator.next());
      for (const [i, c] of cases.entries()) await session.run(c, i);
      const answered = await session.storm(generator, STORM);

      // The same connection still carries a normal send.
      assert.equal((await session.client.sendMessage('after-fuzz', SINK, 'still works')).status, 'SENT');
      session.acked.set('after-fuzz', { to: SINK, body: 'still works' });
      assert.equal((await fetch(`${t.httpUrl}/healthz`)).status, 200);
      assert.equal(session.client.frames.some((f) => f.type === 'message'), false, 'the fuzzer never receives a message');
      // Nor anything of a conversation it is not in (v1.1 frames naming strangers' conversations).
      assert.equal(session.client.frames.some((f) => f.type === 'receipt' || f.type === 'typing' || f.type === 'conversation'), false);

      // No prototype pollution from __proto__ / constructor keys.
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);

      // The store holds exactly the acked messages, each as sent and from the token's user.
      const counts = await t.store.counts();
      assert.equal(counts.messages, session.acked.size, 'no stray rows');
      assert.equal(counts.delivered, 0);
      for (const [messageId, outcome] of session.acked) {
        const stored = await t.store.getMessage(messageId);
        assert.ok(stored, `acked ${messageId} is stored (FUZZ_SEED=${SEED})`);
        assert.equal(stored.from, USER);
        if (outcome.to !== '?') assert.deepEqual({ to: stored.to, body: stored.body }, outcome, `stored ${messageId} as sent (FUZZ_SEED=${SEED})`);
      }

      const summary = [...session.categories].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name}: ${n}`).join(', ');
      const line = `fuzz-frames: seed ${SEED}, ${frames} frames checked one by one + ${STORM} in a burst (${answered} answers) in ${Date.now() - started} ms; ${session.closes} closes by protocol; ${session.acked.size} stored = acked; by category: ${summary}`;
      console.log(line);
      test.diagnostic(line);
      await session.client.close();
    });
  });
}
