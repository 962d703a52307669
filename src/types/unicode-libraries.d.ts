// Type declarations for two untyped Unicode data packages used by src/domain/identifier.ts.
declare module "unicode-confusables" {
  /** Replaces each character by its UTS #39 confusables.txt prototype (zero-width characters dropped). */
  export function rectifyConfusion(value: string): string;
  export function isConfusing(value: string): boolean;
  const lib: { rectifyConfusion: typeof rectifyConfusion; isConfusing: typeof isConfusing };
  export default lib;
}
declare module "unicode-properties" {
  /** The Unicode Script property value of a code point ("Latin", "Cyrillic", "Common", "Inherited", …). */
  export function getScript(codePoint: number): string;
  const lib: { getScript: typeof getScript };
  export default lib;
}
