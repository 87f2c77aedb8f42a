/** `npm run bench`: the project's speed figures, on the wasm backend. */
import { initBackend } from '../src/engine/backend.js';
import { benchTraining } from './training.js';

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  console.log(`genmeasures benchmarks (backend ${backend}, node ${process.version}, ${new Date().toISOString()})`);
  const which = process.argv.slice(2);
  const want = (name: string) => which.length === 0 || which.includes(name);
  if (want('training')) {
    console.log('\n== training ==');
    await benchTraining();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
