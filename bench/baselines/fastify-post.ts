// Baseline: what a mainstream Node HTTP framework costs for our POST shape.
// POST /api/messages -> 201 {status:'SENT', messageId}, logger off, nothing stored.

import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 0);
const app = Fastify({ logger: false });

interface Body {
  messageId?: string;
  to?: string;
  body?: string;
}

app.post<{ Body: Body }>('/api/messages', async (req, reply) => {
  reply.code(201);
  return { status: 'SENT', messageId: req.body?.messageId, ts: Date.now() };
});

const address = await app.listen({ port, host: '127.0.0.1' });
console.log(JSON.stringify({ msg: 'listening', port: Number(new URL(address).port) }));

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void app.close().finally(() => process.exit(0));
  });
}
