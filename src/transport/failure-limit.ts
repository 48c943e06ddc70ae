// A budget of failed attempts per key (a client address): a token bucket of `perMin` tokens, refilled
// at `perMin` a minute, spent only by failures. Unlike the send limiter, a spent budget locks the key
// out of every attempt, successful or not, until a token is back: a guesser whose right guess still
// answered 200 while wrong ones got 429 would learn the secret at the same speed.
import { LRUCache } from 'lru-cache';

interface Budget {
  tokens: number;
  updatedMs: number;
}

export class FailureLimiter {
  private readonly budgets: LRUCache<string, Budget>;
  private readonly perMs: number;

  /** `maxKeys` bounds memory: a forgotten key only starts again with a full budget. */
  constructor(
    private readonly perMin: number,
    maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {
    this.budgets = new LRUCache({ max: maxKeys });
    this.perMs = perMin / 60_000;
  }

  /** Seconds until `key` may attempt again; 0 when it may now. */
  retryAfterSec(key: string): number {
    const budget = this.budgets.get(key);
    if (!budget) return 0;
    this.refill(budget);
    return budget.tokens >= 1 ? 0 : Math.ceil((1 - budget.tokens) / this.perMs / 1000);
  }

  /** Records a failure; returns retryAfterSec after it (non-zero: this failure spent the budget). */
  fail(key: string): number {
    let budget = this.budgets.get(key);
    if (!budget) this.budgets.set(key, (budget = { tokens: this.perMin, updatedMs: this.now() }));
    else this.refill(budget);
    budget.tokens = Math.max(0, budget.tokens - 1);
    return this.retryAfterSec(key);
  }

  private refill(budget: Budget): void {
    const now = this.now();
    budget.tokens = Math.min(this.perMin, budget.tokens + (now - budget.updatedMs) * this.perMs);
    budget.updatedMs = now;
  }
}
