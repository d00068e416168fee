/**
 * The configuration's one schema: `config.schema.json` at the top of the package (JSON Schema draft-07, so that
 * editors complete and check a config file that names it in `$schema`). It holds every key, its type, default and
 * description; unknown keys are refused at every depth (`additionalProperties: false`). A few properties carry an
 * `x-error` annotation: the sentence pamdrop prints when that property is wrong (editors ignore it).
 *
 * Validation turns ajv's first error into one line naming the key (`pam.acceptTestINS: unknown key`).
 */
import { existsSync, readFileSync } from 'node:fs';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';

// ESM interop: under NodeNext the class is the CommonJS module's `default` property.
const Ajv = AjvModule.default;
import { ConfigError } from '../shared/errors.js';

/** The schema document as shipped at the package root (this module runs from src/config/ or dist/src/config/). */
export const CONFIG_SCHEMA_URL = [new URL('../../config.schema.json', import.meta.url), new URL('../../../config.schema.json', import.meta.url)]
  .find((u) => existsSync(u)) ?? new URL('../../config.schema.json', import.meta.url);

/** A JSON Schema node, as far as pamdrop reads it (the docs generator and the error texts). */
export interface SchemaNode {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  required?: string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  $ref?: string;
  definitions?: Record<string, SchemaNode>;
  'x-error'?: string;
}

let schemaDoc: SchemaNode | undefined;
/** The parsed schema (read once). */
export function configSchema(): SchemaNode {
  schemaDoc ??= JSON.parse(readFileSync(CONFIG_SCHEMA_URL, 'utf8')) as SchemaNode;
  return schemaDoc;
}

let validator: ValidateFunction | undefined;
function validate(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, strictTypes: false, strictRequired: false });
    ajv.addKeyword({ keyword: 'x-error', schemaType: 'string' });
    validator = ajv.compile(configSchema());
  }
  return validator!;
}

/** `/sources/0/sftp` → `sources[0].sftp`. */
function keyPath(pointer: string, child?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

const SECRET_KEYS = new Set(['password', 'passphrase', 'privateKey']);

function describeError(e: ErrorObject): string {
  const parent = (e.parentSchema ?? {}) as SchemaNode;
  const custom = parent['x-error'];
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const at = keyPath(e.instancePath, key);
      if (SECRET_KEYS.has(key) && e.instancePath.endsWith('/sftp')) {
        return `${at}: secrets are not allowed in the config: use passwordEnv, passwordFile, privateKeyFile or passphraseEnv`;
      }
      if (SECRET_KEYS.has(key) && e.instancePath.endsWith('/ftp')) return `${at}: secrets are not allowed in the config: use passwordEnv or passwordFile`;
      const near = Object.keys(parent.properties ?? {}).find((k) => k.toLowerCase() === key.toLowerCase());
      return `${at}: unknown key${near ? ` (did you mean ${near}?)` : ''}`;
    }
    case 'required': return `${keyPath(e.instancePath, String(p.missingProperty))}: is required`;
    default: break;
  }
  const at = keyPath(e.instancePath) || '(top level)';
  if (custom) return `${at}: ${custom}`;
  switch (e.keyword) {
    case 'enum': return `${at}: must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'type': {
      const t = String(p.type);
      if (t === 'boolean') return `${at}: must be true or false`;
      if (t === 'object') return `${at}: must be an object { … }`;
      if (t === 'array') return `${at}: must be an array [ … ]`;
      if (t === 'integer' && parent.minimum !== undefined) return `${at}: must be an integer ≥ ${parent.minimum}`;
      return `${at}: must be ${t.replace(/,/g, ' or ').replace(/^integer/, 'an integer').replace(/^string/, 'a string')}`;
    }
    case 'minimum': return `${at}: must be ${parent.type === 'integer' || (Array.isArray(parent.type) && parent.type.includes('integer')) ? 'an integer ' : ''}≥ ${String(p.limit)}`;
    case 'maximum': return `${at}: must be ≤ ${String(p.limit)}`;
    case 'minLength': return `${at}: must not be empty`;
    case 'minItems': return `${at}: must have at least ${String(p.limit)} item(s)`;
    default: return `${at}: ${e.message ?? 'is invalid'}`;
  }
}

/** Checks a user configuration against the schema; throws ConfigError naming the first wrong key. */
export function validateConfig(user: unknown): void {
  const v = validate();
  if (v(user)) return;
  const errors = v.errors ?? [];
  // An `if`/`then` failure is reported by its inner error, which ajv lists first.
  const first = errors.find((e) => e.keyword !== 'if') ?? errors[0];
  throw new ConfigError(`config: ${first ? describeError(first) : 'invalid'}`);
}
