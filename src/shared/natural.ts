const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

/** Natural name order: `adt_2.hl7` before `adt_10.hl7`; deterministic for any names. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}
