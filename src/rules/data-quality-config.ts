// The dataQuality section of broker.yaml as the engine reads it (README "HR data quality"): the policy
// declares it, the lifecycle's shield (src/lifecycle/data-quality.ts) and policy replay act on it.

/** Attributes with a known-values list in broker.yaml (dataQuality.departments, …). */
export const KNOWN_VALUE_ATTRIBUTES = ["department", "costCenter", "location", "userType"] as const;
export type KnownValueAttribute = (typeof KNOWN_VALUE_ATTRIBUTES)[number];

export interface DataQualityConfig {
  readonly known: Readonly<Partial<Record<KnownValueAttribute, readonly string[]>>>;
  readonly flappingWithinMs: number;
  readonly futureTerminationFlagMs: number;
  readonly action: "hold" | "flag";
}
