/**
 * `bun run build`: the single executable. src/main.ts spawns its own shard Workers with
 * `new Worker(Bun.main)`, so main.ts is the only entry point the binary needs; the worker code is
 * reached through main.ts's dynamic import and bundled with it.
 *
 *   bun build.ts                      → dist/flashq (this machine's target)
 *   bun build.ts --all                → dist/flashq-linux-x64, dist/flashq-linux-arm64
 */
import { $ } from 'bun'
import packageJson from './package.json' with { type: 'json' }

const targets = process.argv.includes('--all')
  ? [['bun-linux-x64', 'dist/flashq-linux-x64'], ['bun-linux-arm64', 'dist/flashq-linux-arm64']]
  : [[null, 'dist/flashq']]

const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet()).stdout.toString().trim() || 'unknown'

for (const [target, outfile] of targets) {
  const result = await Bun.build({
    entrypoints: ['./src/main.ts'],
    compile: {
      ...(target === null ? {} : { target: target as Bun.Build.CompileTarget }),
      outfile: outfile as string,
      // A server binary must not pick up a stray bunfig.toml or .env from its working directory.
      autoloadBunfig: false,
      autoloadDotenv: false,
    },
    bytecode: true,
    format: 'esm', // bytecode + top-level await (main.ts) needs ESM output
    minify: true,
    sourcemap: 'linked',
    define: { 'process.env.FLASHQ_COMMIT': JSON.stringify(commit) },
  })
  if (!result.success) {
    for (const message of result.logs) console.error(message)
    process.exit(1)
  }
  process.stdout.write(`built ${outfile} (flashq ${packageJson.version}, ${commit})\n`)
}
