// Recipient confirmations: mark each delivery exactly once (the store's conditional transition) and
// tell the sender's open connections (on every instance), once, with a DELIVERED ack.
import { errorSummary, type Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { ChatError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { DeliverySession } from './delivery-session.js';
import type { RateLimiter } from './rate-limit.js';
import type { DeliveryRouter } from './router.js';
import { retryAfterSec } from './send.js';

export class ConfirmService {
  constructor(
    private readonly store: Store,
    private readonly router: DeliveryRouter,
    /** Confirmed ids per user: one token per id. Past it the frame is refused whole (rate_limited). */
    private readonly rateLimiter: RateLimiter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /**
   * Only `userId`'s own deliveries can be marked: ids addressed to someone else are ignored. `session`
   * is the confirming connection's: it stops remembering them as sent.
   */
  async confirm(userId: string, messageIds: readonly string[], session?: DeliverySession): Promise<number> {
    const wait = this.rateLimiter.take(userId, messageIds.length);
    if (wait > 0) {
      this.metrics.rateLimited.inc({ limit: 'delivered' });
      throw new ChatError('rate_limited', 'Too many confirmations; nothing was recorded, the messages stay pending: confirm them again after retryAfter', { retryAfterSec: wait });
    }
    session?.confirmed(messageIds);
    let marks;
    try {
      marks = await this.store.markDelivered(userId, messageIds);
    } catch (error) {
      this.metrics.storeErrors.inc({ op: 'markDelivered' });
      this.log.warn({ err: errorSummary(error) }, 'markDelivered failed; the messages stay pending');
      throw new ChatError('unavailable', 'Store unavailable; the confirmation was not recorded, the messages stay pending', { cause: error, retryAfterSec: retryAfterSec(error) });
    }
    const now = Date.now();
    for (const mark of marks) {
      this.router.deliveredAck(mark.from, mark.messageId);
      this.metrics.deliveryLatency.observe(Math.max(0, now - mark.ts) / 1000);
    }
    if (marks.length > 0) this.metrics.deliveriesMarked.inc(marks.length);
    return marks.length;
  }
}
