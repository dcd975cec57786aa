/**
 * `bun run build:sdk`: the SDK (`import { Queue, Worker } from 'flashq'`) as plain JavaScript for
 * Node and Bun, with type declarations, into dist/sdk/:
 *
 *   dist/sdk/index.js        one ESM bundle of src/client (target node; msgpackr and zod stay imports)
 *   dist/sdk/sandbox-child.js  the process/thread of a sandboxed processor (src/client/sandbox.ts)
 *   dist/sdk/index.d.ts      re-exports dist/sdk/types/client/index.d.ts (tsc, declarations only)
 *
 * The bundle must not contain the server: src/client imports only base/ and protocol/ (checked by
 * the tidy test), and test/sdk/package.test.ts checks the output.
 */
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { $ } from 'bun'

const root = import.meta.dir
const outDir = join(root, 'dist', 'sdk')

rmSync(outDir, { recursive: true, force: true })
const result = await Bun.build({
  entrypoints: [join(root, 'src', 'client', 'index.ts'), join(root, 'src', 'client', 'sandbox-child.ts')],
  outdir: outDir,
  target: 'node',
  format: 'esm',
  external: ['msgpackr', 'zod'],
  naming: '[name].js',
})
if (!result.success) {
  for (const message of result.logs) console.error(message)
  process.exit(1)
}

await $`${process.execPath} x tsc -p ${join(root, 'tsconfig.sdk.json')}`.cwd(root)

// tsc keeps the `.ts` specifiers of the sources; `.js` is what every module resolution maps to `.d.ts`.
for (const file of declarationFiles(join(outDir, 'types'))) {
  const text = readFileSync(file, 'utf8')
  writeFileSync(file, text.replace(/(from\s+'\.{1,2}\/[^']+)\.ts'/g, "$1.js'"))
}
writeFileSync(join(outDir, 'index.d.ts'), "export * from './types/client/index.js'\n")
process.stdout.write(`built ${outDir}/index.js and index.d.ts\n`)

function declarationFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? declarationFiles(path) : path.endsWith('.d.ts') ? [path] : []
  })
}
