/**
 * Bundle-time macro (imported `with { type: 'macro' }`): bundles the browser code of the dashboard
 * into one minified ES module and returns it as a string, which the importing file then holds as a
 * constant. `bun build --compile` runs it once, so the binary carries the bundle and needs no files
 * next to it; `bun src/main.ts` runs it when the dashboard module is first loaded.
 *
 * It shells out to `bun build` because Bun.build cannot be called from inside a macro (the bundler
 * would wait for itself).
 */
import { join } from 'node:path'

export function clientBundle(): string {
  const entry = join(import.meta.dir, 'client', 'main.tsx')
  const result = Bun.spawnSync([process.execPath, 'build', entry, '--minify', '--target=browser', '--format=esm'], {
    env: { ...process.env, NODE_ENV: 'production' },
  })
  if (result.exitCode !== 0) throw new Error(`dashboard bundle failed:\n${result.stderr.toString()}`)
  return result.stdout.toString()
}
