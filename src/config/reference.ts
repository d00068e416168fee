/**
 * The configuration reference, generated from the schema (config.schema.json) so that the documentation cannot
 * drift from what pamdrop accepts: one Markdown table row per key, nested keys dotted (`sources[].sftp.host`).
 * `npm run docs:config` writes it into docs/configuration.md between the two markers below; a test fails when the
 * committed file differs from the schema.
 */
import { configSchema, type SchemaNode } from './schema.js';

export const REFERENCE_BEGIN = '<!-- BEGIN configuration reference: generated from config.schema.json by `npm run docs:config`; do not edit -->';
export const REFERENCE_END = '<!-- END configuration reference -->';

function deref(node: SchemaNode, root: SchemaNode): SchemaNode {
  if (!node.$ref) return node;
  const name = node.$ref.replace('#/definitions/', '');
  const { $ref: _ignored, ...rest } = node;
  return { ...deref(root.definitions![name]!, root), ...rest };
}

function typeText(n: SchemaNode): string {
  if (n.enum) return n.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ');
  const types = Array.isArray(n.type) ? n.type : n.type ? [n.type] : ['any'];
  const range = n.minimum !== undefined || n.maximum !== undefined
    ? ` ${n.minimum !== undefined ? `≥ ${n.minimum}` : ''}${n.minimum !== undefined && n.maximum !== undefined ? ', ' : ''}${n.maximum !== undefined ? `≤ ${n.maximum}` : ''}` : '';
  return types.map((t) => (t === 'array' && n.items ? `array of ${deref(n.items, configSchema()).type ?? 'object'}` : t)).join(' or ') + range;
}

const cell = (t: string): string => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function rows(props: Record<string, SchemaNode>, prefix: string, root: SchemaNode, required: readonly string[], out: string[]): void {
  for (const [key, raw] of Object.entries(props)) {
    if (key === '$schema' || key === 'comment') continue;
    const n = deref(raw, root);
    const path = `${prefix}${key}`;
    const isObject = n.type === 'object' && n.properties;
    const isArrayOfObjects = n.type === 'array' && n.items && deref(n.items, root).properties;
    const def = n.default !== undefined ? `\`${JSON.stringify(n.default)}\`` : required.includes(key) ? '*(required)*' : '';
    out.push(`| \`${path}\` | ${isObject ? 'object' : isArrayOfObjects ? 'array of objects' : cell(typeText(n))} | ${cell(isObject ? '' : def)} | ${cell(n.description ?? '')} |`);
    if (isObject) rows(n.properties!, `${path}.`, root, n.required ?? [], out);
    if (isArrayOfObjects) {
      const item = deref(n.items!, root);
      rows(item.properties!, `${path}[].`, root, item.required ?? [], out);
    }
  }
}

/** The Markdown reference (markers included). */
export function renderConfigReference(schema: SchemaNode = configSchema()): string {
  const out = [REFERENCE_BEGIN, '', '| Key | Type | Default | Description |', '|---|---|---|---|'];
  rows(schema.properties!, '', schema, schema.required ?? [], out);
  out.push('', REFERENCE_END);
  return out.join('\n') + '\n';
}

/** `doc` with its generated block replaced by `block` (appended when the markers are missing). */
export function spliceReference(doc: string, block: string): string {
  const a = doc.indexOf(REFERENCE_BEGIN);
  const b = doc.indexOf(REFERENCE_END);
  if (a < 0 || b < a) return `${doc}${doc === '' || doc.endsWith('\n') ? '' : '\n'}${doc === '' ? '' : '\n'}${block}`;
  return doc.slice(0, a) + block + doc.slice(b + REFERENCE_END.length).replace(/^\n/, '');
}

/** The generated block as it stands in `doc` (null when the markers are missing). */
export function extractReference(doc: string): string | null {
  const a = doc.indexOf(REFERENCE_BEGIN);
  const b = doc.indexOf(REFERENCE_END);
  return a < 0 || b < a ? null : doc.slice(a, b + REFERENCE_END.length) + '\n';
}
