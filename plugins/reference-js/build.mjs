// Builds reference_js.wasm from plugin.js with ComponentizeJS:
//
//     node build.mjs [OUTPUT.wasm]
//
// The component exports the `full-plugin` world of ../../wit. It leaves out the engine's `http` and
// `fetch-event` features: they would import wasi:http, which the sluice host does not provide.
//
// ComponentizeJS comes from ./node_modules (`npm ci`), or from the module file that
// SLUICE_COMPONENTIZE_JS names: sluice's scripts install it once per machine outside the clone.
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const module = process.env.SLUICE_COMPONENTIZE_JS;
const { componentize } = await import(
  module ? pathToFileURL(module).href : '@bytecodealliance/componentize-js'
);

const here = dirname(fileURLToPath(import.meta.url));
const output = resolve(process.argv[2] ?? join(here, 'reference_js.wasm'));

const { component } = await componentize({
  sourcePath: join(here, 'plugin.js'),
  witPath: join(here, '..', '..', 'wit'),
  worldName: 'full-plugin',
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(output, component);
console.log(output);
