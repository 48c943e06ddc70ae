// Each user's budget for inbound frame work that serves nothing (INVALID_FRAMES_PER_SEC / _BURST), in
// units: one per frame that cannot be used (malformed, wrong types, unknown `type`, binary), plus one per
// KiB of a frame beyond what it needs (a valid `delivered` padded with 100 KB of junk fields). Every
// frame is parsed in full before anything else, and a 100 KB frame of nested arrays takes 9-17 ms to
// parse: counted per connection and by frames, 8 sockets of one user sending such frames within their
// budget took another user's send p50 from 0.9 to 290 ms. Per user and by size, they get about one
// such frame each 10 s. A user in debt has its frames refused unread (`rate_limited`, which the flood
// guard counts toward a 1008 close) until the bucket refills.
import type { ClientCommand } from '../chat/commands.js';
import { RateLimiter, type Bucket } from '../chat/rate-limit.js';

/** What a frame may carry beside its content before the rest counts as waste (UTF-16 units). */
const FRAME_ALLOWANCE = 1024;
/** Per KiB of waste, one unit. */
const WASTE_UNIT_SHIFT = 10;

export class FrameBudget {
  private readonly limiter: RateLimiter;

  constructor(ratePerSec: number, burst: number, maxUsers: number, now?: () => number) {
    this.limiter = new RateLimiter(ratePerSec, burst, Math.max(1, maxUsers), now);
  }

  /** The user's bucket, shared by its connections (each keeps it: no lookup per frame). */
  bucketOf(userId: string): Bucket {
    return this.limiter.bucketOf(userId);
  }

  /** 0 when a frame may be read; else the seconds until one may (the frame is refused unread). */
  refusal(bucket: Bucket): number {
    // A property read per frame: the clock is read only for a bucket that is nearly empty.
    return bucket.tokens >= 1 ? 0 : this.limiter.waitFor(bucket, 1);
  }

  /** A frame that could not be used: one unit, and one per KiB it held. */
  chargeInvalid(bucket: Bucket, length: number): void {
    this.limiter.chargeBucket(bucket, 1 + (length >> WASTE_UNIT_SHIFT));
  }

  /** A valid frame: one unit per KiB it carried beyond what its content needs (usually none). */
  chargeExcess(bucket: Bucket, command: ClientCommand, length: number): void {
    const waste = length - neededChars(command);
    if (waste >= 1 << WASTE_UNIT_SHIFT) this.limiter.chargeBucket(bucket, waste >> WASTE_UNIT_SHIFT);
  }
}

/** The most a frame with this content takes as JSON: every body character escaped (6), every id quoted. */
function neededChars(command: ClientCommand): number {
  switch (command.type) {
    case 'send':
    case 'edit':
      return FRAME_ALLOWANCE + 6 * command.body.length;
    case 'delivered':
      return FRAME_ALLOWANCE + 74 * command.messageIds.length;
    default:
      return FRAME_ALLOWANCE;
  }
}
