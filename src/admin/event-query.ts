// The kinds of lifecycle event the admin API and the console's Events page filter by (the list itself is
// lifecycle/event-store.ts listEvents).

/** The kinds of lifecycle event (domain/classify.ts LifecycleEvent). */
export const EVENT_KINDS = ["joiner", "prehire", "mover", "conversion", "leaver", "leave", "return", "rehire", "review"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
