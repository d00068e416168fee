/**
 * One benchmark stage in a process of its own (spawned by bench/run.ts): `node dist/bench/child.js '<StageArgs JSON>'`.
 * Prints one line `BENCH_RESULT <StageResult JSON>` on stdout.
 */
import { runStage, type StageArgs } from './stages.js';

const args = JSON.parse(process.argv[2] ?? '{}') as StageArgs;
runStage(args).then(
  (r) => { process.stdout.write(`BENCH_RESULT ${JSON.stringify(r)}\n`); },
  (err: unknown) => {
    process.stderr.write(`bench stage ${args.stage} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
