// `prepare` (run by npm ci / npm install): compiles the TypeScript when the compiler is there (a development
// install), and otherwise checks that the compiled dist/ is already there (a production install, npm ci --omit=dev,
// in a tree built beforehand: the Docker image's build stage, or a copy made after `npm run build`).
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url);
let tsc = null;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch { /* production install: no compiler */ }

if (tsc) {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
} else if (!existsSync(new URL('dist/src/cli/main.js', root))) {
  console.error('pamdrop: dist/ is missing and TypeScript is not installed (production install).\n'
    + 'Build first where the dev dependencies are installed (npm ci && npm run build), then install for production\n'
    + 'in that tree (npm ci --omit=dev): see deploy/README.md.');
  process.exit(1);
}
