// Paging the conversation list, most recent activity first, for every store: the cursor is the last
// item's (activityTs, conversationId), so a page never repeats or skips an item whose position did not
// change. An item that moves up between two pages (a new message) appears again on top, as a client
// refetching the list expects.

export interface ListEntry {
  readonly conversationId: string;
  readonly activityTs: number;
}

/** Sorts, then returns the page after `cursor` (opaque base64url to clients) and the next cursor. */
export function pageAfter(entries: ListEntry[], limit: number, cursor: string | undefined): { ids: string[]; next: string | undefined } {
  entries.sort(byActivity);
  const after = cursor === undefined ? undefined : decodeListCursor(cursor);
  const start = after === undefined ? 0 : entries.findIndex((entry) => byActivity(entry, after) > 0);
  if (start < 0) return { ids: [], next: undefined };
  const page = entries.slice(start, start + limit);
  const last = page[page.length - 1];
  const more = start + limit < entries.length;
  return { ids: page.map((entry) => entry.conversationId), next: more && last ? encodeListCursor(last) : undefined };
}

function byActivity(a: ListEntry, b: ListEntry): number {
  return b.activityTs - a.activityTs || (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0);
}

export function encodeListCursor(entry: ListEntry): string {
  return Buffer.from(`${entry.activityTs}|${entry.conversationId}`).toString('base64url');
}

/** Undefined for a cursor this server did not make (the route answers 400). */
export function decodeListCursor(cursor: string): ListEntry | undefined {
  if (cursor.length > 400) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  const activityTs = Number(text.slice(0, bar));
  const conversationId = text.slice(bar + 1);
  if (bar < 1 || !Number.isSafeInteger(activityTs) || !/^[A-Za-z0-9_.@:-]{1,128}$/.test(conversationId)) return undefined;
  return { conversationId, activityTs };
}
