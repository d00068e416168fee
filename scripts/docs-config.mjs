// Writes the configuration reference (generated from config.schema.json) into docs/configuration.md, between its
// markers. Run through `npm run docs:config` (which builds first); test/config/schema.test.ts fails when it drifts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReference, spliceReference } from '../dist/src/config/reference.js';

const path = new URL('../docs/configuration.md', import.meta.url);
mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
const before = existsSync(path) ? readFileSync(path, 'utf8') : '# Configuration\n\nA JSON file given with `--config`; `config.example.json` is a complete example. Editors that read `"$schema": "./config.schema.json"` complete and check it.\n';
const after = spliceReference(before, renderConfigReference());
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'docs/configuration.md is up to date' : 'docs/configuration.md updated');
