// Ids of edit and delete events (docs/protocol.md, v1.2). An event is stored in its conversation's
// stream like a message, under an id no client messageId can take (a messageId has no dot), derived
// from what makes it idempotent: the client's editId, or the deleted message (deleted once, ever).

export const editEventId = (editId: string): string => `edit.${editId}`;
export const deleteEventId = (messageId: string): string => `delete.${messageId}`;

/** Whether an id names an edit or delete event rather than a message. */
export const isEventId = (id: string): boolean => id.includes('.');
