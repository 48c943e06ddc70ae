// One registry per server, every product metric named here with the `chat_` prefix. Label values come
// from small fixed sets (frame types, reasons, routes): never a user id or message id.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HotCounter } from './hot-counter.js';
import { HotHistogram } from './hot-histogram.js';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const DELIVERY_BUCKETS_S = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86_400];

export function createMetrics(options: { collectDefault?: boolean } = {}) {
  const registry = new Registry();
  if (options.collectDefault !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  return {
    registry,
    connectionsOpen: new Gauge({ name: 'chat_connections_open', help: 'Open WebSocket connections', registers }),
    upgradesRejected: new Counter({
      name: 'chat_upgrades_rejected_total',
      help: 'WebSocket upgrades refused, by reason',
      labelNames: ['reason'] as const, // no_token | bad_token | expired | banned | revoked | origin | limit | shutting_down | device | flood_cooldown | events | batch | ack_delay | repeated
      registers,
    }),
    // Per-frame counters: plain increments, published at scrape time (see hot-counter.ts).
    framesIn: new HotCounter('chat_frames_in_total', 'Client frames received, by type', ['type'], registers),
    framesOut: new HotCounter('chat_frames_out_total', 'Frames sent to clients, by type', ['type'], registers),
    messagesSent: new HotCounter<'new' | 'duplicate' | 'conflict' | 'not_found' | 'banned' | 'rate_limited' | 'unavailable'>(
      'chat_messages_sent_total',
      'Send attempts by result (new, duplicate, conflict, not_found, banned, rate_limited, unavailable)',
      ['result'],
      registers,
    ),
    // Per-message histograms: plain additions, published at scrape time (see hot-histogram.ts).
    sentAckLatency: new HotHistogram('chat_sent_ack_latency_seconds', 'Send received to SENT ack written', LATENCY_BUCKETS_S, registers),
    deliveryLatency: new HotHistogram('chat_delivery_latency_seconds', 'Message stored to recipient confirmation', DELIVERY_BUCKETS_S, registers),
    deliveriesMarked: new Counter({ name: 'chat_deliveries_marked_total', help: 'Deliveries marked (exactly once each)', registers }),
    messageEvents: new Counter({
      name: 'chat_message_events_total',
      help: 'Edits and deletes stored and applied, by event (edited, deleted) and outcome (new, duplicate)',
      labelNames: ['event', 'outcome'] as const,
      registers,
    }),
    replayedMessages: new Counter({ name: 'chat_replayed_messages_total', help: 'Messages sent by replay', registers }),
    replayWaits: new Counter({ name: 'chat_replay_budget_waits_total', help: "Pauses of a replay for its user's replay budget (REPLAY_RATE_PER_SEC past REPLAY_BURST)", registers }),
    replayPending: new Histogram({
      name: 'chat_replay_pending_messages',
      help: 'Pending messages replayed per connect or sync',
      buckets: [0, 1, 10, 100, 1000, 10_000, 100_000],
      registers,
    }),
    // One observation per batch, and at moderate load a batch is a message or two.
    storeBatchSize: new HotHistogram<'persist' | 'confirm'>('chat_store_batch_size', 'Operations per store batch write', [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers, ['op']),
    storeBatchLatency: new HotHistogram<'persist' | 'confirm'>('chat_store_batch_latency_seconds', 'Store batch write latency', LATENCY_BUCKETS_S, registers, ['op']),
    storeShed: new Counter({
      name: 'chat_store_shed_total',
      help: 'Store operations refused before being written, by op and reason (overload: could not be served within DB_OP_TIMEOUT_MS; expired; full)',
      labelNames: ['op', 'reason'] as const,
      registers,
    }),
    storeErrors: new Counter({ name: 'chat_store_errors_total', help: 'Store operations that failed', labelNames: ['op'] as const, registers }),
    storeClientReplacements: new Counter({ name: 'chat_store_client_replacements_total', help: 'MongoDB clients replaced because their server monitor hung (a driver bug; docs/reliability.md)', registers }),
    devicesForgotten: new Counter({ name: 'chat_devices_forgotten_total', help: 'Devices forgotten past MAX_DEVICES_PER_USER (a client making up a device id per connection)', registers }),
    floodCloses: new Counter({ name: 'chat_flood_closes_total', help: 'Connections closed (1008) for sending on past RATE_LIMITED_CLOSE_AFTER rate_limited answers', registers }),
    backpressureCloses: new Counter({ name: 'chat_backpressure_closes_total', help: 'Connections closed as slow consumers (1013)', registers }),
    httpUnreadCloses: new Counter({
      name: 'chat_http_unread_closes_total',
      help: 'HTTP connections closed for pipelining requests without reading the answers (their answers would pile up in memory)',
      registers,
    }),
    wsCloses: new Counter({
      name: 'chat_ws_closes_total',
      help: 'WebSocket connections closed, by reason',
      // client | going_away | idle_timeout | too_big | invalid_utf8 | slow_consumer | token_expired | revoked | banned | rate_limited | abnormal
      labelNames: ['reason'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'chat_rate_limited_total',
      help: 'Frames, requests or upgrades refused by a limit',
      labelNames: ['limit'] as const, // send | delivered | read | typing | sync | flood_cooldown | connections | connections_per_ip | connections_per_user | connect | invalid_frames | metrics_key | api_read | auth_ip | auth_user | auth_device
      registers,
    }),
    httpRequests: new HotCounter('chat_http_requests_total', 'HTTP requests by route and status', ['route', 'status'], registers),
    // out | in | dropped (not published: the bus was down; replay covers it) | invalid (unreadable event)
    busEvents: new HotCounter('chat_bus_events_total', 'Live events between instances (BUS_URI), by direction', ['direction'], registers),
    // The offline-push webhook (PUSH_WEBHOOK_URL; src/push/).
    pushSent: new Counter({ name: 'chat_push_sent_total', help: 'Push notifications the webhook accepted (2xx)', registers }),
    pushFailed: new Counter({
      name: 'chat_push_failed_total',
      help: 'Webhook POSTs that failed, by reason',
      labelNames: ['reason'] as const, // status (a non-2xx answer) | timeout | network
      registers,
    }),
    pushRetried: new Counter({ name: 'chat_push_retried_total', help: 'Push notifications scheduled again after a failed POST', registers }),
    pushDropped: new Counter({
      name: 'chat_push_dropped_total',
      help: 'Push notifications not sent, by reason',
      // delivered | expired | superseded | coalesced | not_member | message_gone | banned: final.
      // queue_full: put back in the store for a later sweep (not lost).
      labelNames: ['reason'] as const,
      registers,
    }),
    pushQueue: new Gauge({ name: 'chat_push_queue_length', help: 'Push notifications claimed by this process and waiting for or in a POST', registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
