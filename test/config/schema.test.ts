/**
 * Test program — one schema for the configuration (config.schema.json):
 * 1. Unknown keys are refused at every depth, each with one line naming the key (a mistyped `pam.acceptTestINS`
 *    used to be accepted silently: the site kept refusing test INS).
 * 2. Types, ranges and enumerations come from the schema, with the key named.
 * 3. config.example.json points at the schema and passes it; the schema's defaults are the code's defaults.
 * 4. docs/configuration.md holds the reference generated from the schema (`npm run docs:config`): it fails here
 *    when the two drift.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../src/config/load.js';
import { getDefaultConfig, getDefaultSource } from '../../src/config/defaults.js';
import { configSchema, type SchemaNode } from '../../src/config/schema.js';
import { extractReference, renderConfigReference } from '../../src/config/reference.js';
import { ConfigError } from '../../src/shared/errors.js';

const sftp = { host: 'h', username: 'u', remoteInbox: '/in', remoteArchiveDir: '/arc', privateKeyFile: 'k' };

describe('unknown keys at every depth', () => {
  it.each([
    ['top level', { stalUpdates: 'apply' }, /^config: stalUpdates: unknown key$/],
    ['pam', { pam: { acceptTestINS: true } }, /^config: pam\.acceptTestINS: unknown key \(did you mean acceptTestIns\?\)$/],
    ['self', { self: { application: 'X' } }, /^config: self\.application: unknown key$/],
    ['charset', { charset: { defaultCharset: 'ASCII' } }, /^config: charset\.defaultCharset: unknown key$/],
    ['log', { log: { lvl: 'debug' } }, /^config: log\.lvl: unknown key$/],
    ['a source', { sources: [{ name: 'a', inbx: 'in' }] }, /^config: sources\[0\]\.inbx: unknown key$/],
    ['sftp settings', { sources: [{ name: 'a', type: 'sftp', sftp: { ...sftp, prot: 22 } }] }, /^config: sources\[0\]\.sftp\.prot: unknown key$/],
  ] as const)('%s', (_where, config, message) => {
    expect(() => resolveConfig(config as never, '/')).toThrow(ConfigError);
    expect(() => resolveConfig(config as never, '/')).toThrow(message);
  });
});

describe('types, ranges and choices from the schema', () => {
  it.each([
    [{ pam: { acceptTestIns: 'yes' } }, /^config: pam\.acceptTestIns: must be true or false$/],
    [{ pam: { statusMap: { QUAL: 1 } } }, /^config: pam\.statusMap\.QUAL: must be a string$/],
    [{ self: { app: 3 } }, /^config: self\.app: must be a string$/],
    [{ log: { level: 'verbose' } }, /^config: log\.level: must be one of debug, info, warn, error, silent$/],
    [{ groupSize: 0 }, /^config: groupSize: must be an integer ≥ 1$/],
    [{ order: 'mtime' }, /^config: order: must be one of file, timestamp$/],
    [{ sources: [] }, /^config: sources: must have at least 1 item/],
    [{ sources: [{ name: 'bad name' }] }, /^config: sources\[0\]\.name: must be a name of letters/],
    [{ sources: [{ name: 'a', type: 'sftp' }] }, /^config: sources\[0\]\.sftp: is required$/],
    [{ sources: [{ name: 'a', pollMs: 10 }] }, /^config: sources\[0\]\.pollMs: must be an integer ≥ 100$/],
    [{ charset: { default: 'EBCDIC' } }, /^config: charset\.default: must be one of/],
    [{ retention: { pruneEveryHours: 0 } }, /^config: retention\.pruneEveryHours: must be a whole number of hours from 1 to 8760, or null/],
  ] as const)('%j', (config, message) => {
    expect(() => resolveConfig(config as never, '/')).toThrow(message);
  });
});

/** The `default` of every property of `props`, nested objects included. */
function defaults(props: Record<string, SchemaNode>, root: SchemaNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(props)) {
    const n = raw.$ref ? { ...root.definitions![raw.$ref.replace('#/definitions/', '')]!, ...raw } : raw;
    if (n.type === 'object' && n.properties) out[k] = defaults(n.properties, root);
    else if (n.default !== undefined) out[k] = n.default;
  }
  return out;
}

describe('the schema file', () => {
  const schema = configSchema();

  it('config.example.json names it in $schema and passes it', () => {
    const example = JSON.parse(readFileSync('config.example.json', 'utf8'));
    expect(example.$schema).toBe('./config.schema.json');
    expect(() => resolveConfig(example, '/site')).not.toThrow();
  });

  it('its defaults are the defaults the code runs on, and every key has a description', () => {
    const d = getDefaultConfig();
    const fromSchema = defaults(schema.properties!, schema);
    const { sources: _s, database, ...rest } = d;
    expect(fromSchema).toMatchObject({ ...rest, database, charset: d.charset, log: d.log, self: d.self, pam: d.pam });
    const src = schema.definitions!.source!;
    const { name: _n, ...srcDefaults } = getDefaultSource();
    const { sftp: _sftp, ftp: _ftp, ...schemaSrc } = defaults(src.properties!, schema);
    expect(schemaSrc).toEqual(srcDefaults);
    const undocumented: string[] = [];
    const walk = (props: Record<string, SchemaNode>, at: string) => {
      for (const [k, n] of Object.entries(props)) {
        if (k === '$schema' || k === 'comment') continue;
        const node = n.$ref ? { ...schema.definitions![n.$ref.replace('#/definitions/', '')]!, ...n } : n;
        if (!node.description) undocumented.push(`${at}${k}`);
        if (node.properties) walk(node.properties, `${at}${k}.`);
        if (node.items?.$ref) walk(schema.definitions![node.items.$ref.replace('#/definitions/', '')]!.properties!, `${at}${k}[].`);
      }
    };
    walk(schema.properties!, '');
    expect(undocumented).toEqual([]);
  });

  it('docs/configuration.md holds the reference generated from it (run `npm run docs:config` after a change)', () => {
    const doc = readFileSync('docs/configuration.md', 'utf8');
    expect(extractReference(doc)).toBe(renderConfigReference());
    expect(renderConfigReference()).toContain('| `pam.acceptTestIns` | boolean | `false` |');
    expect(renderConfigReference()).toContain('| `sources[].sftp.hostKeySha256` |');
  });
});
