#!/usr/bin/env node
// Thin launcher: the TypeScript is compiled to dist/ by `npm run build` (`prepare` runs it on a development install;
// a production install runs a tree built beforehand, see deploy/README.md).
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
