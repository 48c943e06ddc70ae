// What an HTTP route answers for what its handler threw: a ChatError as it is; a store that could not
// be reached or timed out, 503 `unavailable` with Retry-After (the request may or may not have been
// applied: every API write is safe to retry); anything else is a bug, 500 `internal`.
import { ChatError, toChatError } from '../errors.js';
import { retryAfterSec } from '../chat/send.js';
import { isStoreUnavailable } from '../store/store.js';

export function routeError(error: unknown): ChatError {
  if (error instanceof ChatError || !isStoreUnavailable(error)) return toChatError(error);
  return new ChatError('unavailable', 'Store unavailable; retry shortly', { retryAfterSec: retryAfterSec(error), cause: error });
}
