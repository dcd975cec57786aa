/**
 * The browser bundle, made by the bundle-time macro: `bun build --compile` (and `bun src/main.ts`)
 * inline it here as a string constant. Bun refuses to run macros from node_modules (an npm install,
 * `bunx flashq`); there the import of this module fails and app.ts bundles at run time instead.
 */
import { clientBundle } from './bundle.ts' with { type: 'macro' }

export const clientScript: string = clientBundle()
