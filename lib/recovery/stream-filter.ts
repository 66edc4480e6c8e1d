/**
 * The event filter of the objects-stream function's event source mapping, as data: the construct
 * (infra/objects-stream.ts) deploys these patterns, and the local delivery of the stream
 * (`openObjectsStream`, lib/local/objects-stream.ts) hands the cleanup only the records they pass,
 * as Lambda does. One list for both: a record the deployed mapping drops invokes nothing there
 * (no batch, no count, no metric), so a local delivery that handed it over showed batches and
 * counts the deployment never has.
 *
 * The rule. Every REMOVE (an expired item; one without an old image, from a stream of the wrong
 * view type, then shows as untrusted instead of vanishing); the MODIFY records of items that
 * pointed at a blob (a string blob in the old image: an overwrite or a delete whose writer could
 * not delete the replaced blob); and, with the attribute names known, those of items whose old
 * image shows neither a string blob, an inline body nor a deletion marker (`deleted` true) under
 * them, which the function counts untrusted (written under other names, a blob of another type, a
 * `deleted` of false that marks nothing). Creates, and changes of inline objects and of deletion
 * markers, pass none.
 *
 * Patterns are Lambda's filter grammar (the subset used here): an object matches field by field;
 * a list holds the values a leaf may take, or `{ exists }`.
 */
import type { HvShapeNames } from '../tiered/hv-item-shape.js';

/** One leaf rule: a value the field must equal, or whether it exists. */
export type StreamFilterRule = string | boolean | { readonly exists: boolean };

/** A pattern of Lambda's event filtering: nested fields, each leaf a list of rules (any one matches). */
export interface StreamFilterPattern {
  readonly [field: string]: readonly StreamFilterRule[] | StreamFilterPattern;
}

/**
 * The objects-stream mapping's filter patterns. `names`: the HV attribute names the function
 * reads, when known (at synth, unless `TIERLOG_HV_ATTRIBUTES` is a deploy-time token); unknown,
 * only the REMOVE and the blob patterns, on `blobAttribute`.
 */
export function objectsStreamFilterPatterns(names: HvShapeNames | undefined, blobAttribute: string): StreamFilterPattern[] {
  const patterns: StreamFilterPattern[] = [
    { eventName: ['REMOVE'] },
    { eventName: ['MODIFY'], dynamodb: { OldImage: { [blobAttribute]: { S: [{ exists: true }] } } } },
  ];
  if (names === undefined) return patterns;
  // No string blob, no body, and no deletion marker: `deleted` absent, or false.
  for (const deleted of [{ exists: false }, false] as const) {
    patterns.push({
      eventName: ['MODIFY'],
      dynamodb: {
        OldImage: {
          [names.blob]: { S: [{ exists: false }] },
          [names.body]: { B: [{ exists: false }] },
          [names.deleted]: { BOOL: [deleted] },
        },
      },
    });
  }
  return patterns;
}

/** Whether `record` (as Lambda delivers it) passes any of `patterns`, as the event source mapping judges it. */
export function passesStreamFilters(record: unknown, patterns: readonly StreamFilterPattern[]): boolean {
  return patterns.some((pattern) => matchesPattern(pattern, record));
}

function matchesPattern(pattern: StreamFilterPattern, value: unknown): boolean {
  return Object.entries(pattern).every(([field, rule]) => {
    const inner =
      typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[field] : undefined;
    if (!Array.isArray(rule)) return matchesPattern(rule as StreamFilterPattern, inner);
    return (rule as readonly StreamFilterRule[]).some((r) => matchesRule(r, inner));
  });
}

/** One leaf rule against a field's value (undefined when absent). `exists` holds on a leaf value only, as Lambda's. */
function matchesRule(rule: StreamFilterRule, value: unknown): boolean {
  if (typeof rule === 'object')
    return rule.exists ? value !== undefined && (typeof value !== 'object' || value === null) : value === undefined;
  return value === rule;
}
