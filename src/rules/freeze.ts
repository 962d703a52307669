// Policies and compiled conditions are shared by every request and worker of the process; freezing them
// turns an accidental mutation (which would change rule outcomes for everyone) into an immediate TypeError.

/** Freezes a plain-data tree in place and returns it. Maps and Sets are not used in frozen data. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
