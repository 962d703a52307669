// Whether any SSF stream is live (enabled or paused), known in memory so that an HR write on a broker
// without streams does not read them: the SSF outbox's read ran in every HR transaction (a round trip of
// every create, PATCH and /Bulk operation). The answer is only ever "none" or "ask the database":
//   - the migration's trigger on ssf_stream notifies STREAM_CHANNEL after any commit that creates, deletes
//     or re-statuses a stream — from this process, another one, or plain SQL — and the answer is dropped;
//   - it is kept only while LISTEN is in effect (a broken connection may have missed a notification);
//   - a read that raced a notification is not remembered (generation), since the stream it did not see
//     may have committed after the read's snapshot;
//   - this process's own stream writes drop it at once (StreamService), not when their notification comes.
// A stream created in another process is seen by this one's HR writes once its notification arrives (a
// millisecond on one machine), the same order of race as an HR transaction whose snapshot predates it.
import type { NotificationListener } from "../store/notification-listener.ts";

export const STREAM_CHANNEL = "ssf_stream_changed";

export class StreamPresence {
  /** false: no live stream (known); null: not known, read */
  #known: false | null = null;
  #listening = false;
  #generation = 0;
  readonly #changeListeners = new Set<() => void>();

  constructor(notifications?: NotificationListener) {
    notifications?.subscribe(STREAM_CHANNEL, {
      message: () => this.invalidate(),
      lost: () => { this.#listening = false; this.invalidate(); },
      ready: () => { this.invalidate(); this.#listening = true; },
    });
  }

  /** False only when it is known that no stream is live: the caller skips reading streams. */
  mayHaveStreams(): boolean {
    return this.#known !== false;
  }

  /**
   * Runs `read` (a read of the live streams; `live` counts what it found) unless it is known that no stream is
   * live — then null, without a round trip. A read that found none is remembered, unless a change was
   * notified while it ran.
   */
  async read<T>(read: () => Promise<T>, live: (found: T) => number): Promise<T | null> {
    if (this.#known === false) return null;
    const generation = this.#generation;
    const found = await read();
    if (live(found) === 0 && this.#listening && generation === this.#generation) this.#known = false;
    return found;
  }

  /** A stream may have been created, deleted or re-statused: read again. */
  invalidate(): void {
    this.#generation++;
    this.#known = null;
    for (const fn of [...this.#changeListeners]) fn();
  }

  /** Calls `fn` after each invalidation (tests wait on a notification with it). */
  onChange(fn: () => void): () => void {
    this.#changeListeners.add(fn);
    return () => { this.#changeListeners.delete(fn); };
  }
}
