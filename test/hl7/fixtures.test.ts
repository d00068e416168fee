/**
 * The .hl7 fixtures on disk are exactly what make-fixtures.ts builds: a hand edit (or an editor converting line
 * ends or charsets) is caught here. Regenerate with WRITE_FIXTURES=1.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { FIXTURES, FIXTURE_DIR, writeFixtures } from '../fixtures/make-fixtures.js';

if (process.env.WRITE_FIXTURES) writeFixtures();

describe('fixtures', () => {
  it.each(FIXTURES.map((f) => [f.name, f] as const))('%s on disk equals the generator output', (_name, f) => {
    expect(readFileSync(join(FIXTURE_DIR, f.name)).equals(f.bytes)).toBe(true);
  });

  it('has no stray file and one README line per fixture', () => {
    const onDisk = readdirSync(FIXTURE_DIR).sort();
    expect(onDisk).toEqual(FIXTURES.map((f) => f.name).sort());
    const readme = readFileSync(join(FIXTURE_DIR, '..', 'README.md'), 'utf8');
    for (const f of FIXTURES) expect(readme).toContain(`\`${f.name}\``);
  });
});
