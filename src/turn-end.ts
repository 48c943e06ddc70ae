// Work deferred to the end of this event-loop turn, in stages run in order from one setImmediate:
// chat's coalesced signals (receipts) first, then the socket flush, so that what the first stage
// queues goes out in the same write as the acks of the turn. With two separate setImmediates, the
// receipts of a confirmation were written one turn after its DELIVERED ack: one more write (a
// syscall) per message cycle (bench/RESULTS.md, "Paced load profile").
export const TurnStage = {
  /** Coalesced per turn by the chat layer (src/chat/signals.ts). */
  Signals: 0,
  /** Every socket's outbox written, one write each (src/transport/connection.ts). */
  Flush: 1,
} as const;
export type TurnStage = (typeof TurnStage)[keyof typeof TurnStage];

const stages: (() => void)[][] = [[], []];
let scheduled = false;

export function atTurnEnd(stage: TurnStage, task: () => void): void {
  stages[stage]!.push(task);
  if (scheduled) return;
  scheduled = true;
  setImmediate(runTurnEnd);
}

function runTurnEnd(): void {
  try {
    // A stage may queue work for a later one (a receipt → a flush): later stages are read after it ran.
    for (const tasks of stages) {
      const now = tasks.splice(0);
      for (const task of now) task();
    }
  } finally {
    // Work queued for an earlier stage while a later one ran goes in the next turn.
    scheduled = stages.some((tasks) => tasks.length > 0);
    if (scheduled) setImmediate(runTurnEnd);
  }
}

/**
 * Resolves in a later event-loop turn, after this one's end work (setImmediate runs in order). Long
 * work split by it lets other sockets' frames in between, and its own frames go out as it goes.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
