/**
 * `bun run build`: the release binaries and their checksums.
 *
 *   bun build.ts                       → dist/flashq-linux-x64, -linux-x64-baseline, -linux-arm64, SHA256SUMS
 *   bun build.ts --only linux-x64      → just that one (comma-separated names; tests build one)
 *
 * src/main.ts spawns its own shard Workers with `new Worker(Bun.main)`, so main.ts is the only entry
 * point the binary needs; the worker code is reached through main.ts's dynamic import and bundled
 * with it. Cross-compiling needs Bun's runtime for the target, which `bun build` downloads once
 * (npm package @oven/bun-<target>) into its cache; a target that cannot be fetched is reported and
 * skipped, and the build fails only if nothing was built.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { $ } from 'bun'
import packageJson from './package.json' with { type: 'json' }

type Release = { name: string; target: Bun.Build.CompileTarget }

/** x64-baseline runs on CPUs without AVX2 (pre-Haswell, some VMs); x64 is faster where AVX2 exists. */
const releases: Release[] = [
  { name: 'linux-x64', target: 'bun-linux-x64' },
  { name: 'linux-x64-baseline', target: 'bun-linux-x64-baseline' },
  { name: 'linux-arm64', target: 'bun-linux-arm64' },
]

const onlyIndex = process.argv.indexOf('--only')
const only = onlyIndex > 0 ? (process.argv[onlyIndex + 1] ?? '').split(',') : null
const wanted = only === null ? releases : releases.filter((release) => only.includes(release.name))
if (wanted.length === 0) {
  process.stderr.write(`build: --only must name some of ${releases.map((r) => r.name).join(', ')}\n`)
  process.exit(2)
}

const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet()).stdout.toString().trim() || 'unknown'
const dirty = (await $`git status --porcelain -- src package.json`.nothrow().quiet()).stdout.toString().trim() !== ''
const buildDate = new Date().toISOString().slice(0, 10)
mkdirSync('dist', { recursive: true })

const built: string[] = []
for (const release of wanted) {
  const outfile = `dist/flashq-${release.name}`
  rmSync(outfile, { force: true })
  const error = await compile(release, outfile)
  if (error === null) {
    built.push(outfile)
    process.stdout.write(`built ${outfile} (flashq ${packageJson.version}, ${commit}${dirty ? '+dirty' : ''}, ${buildDate})\n`)
  } else {
    process.stderr.write(`build: ${outfile} NOT built: ${error}\n`)
  }
}
if (built.length === 0) process.exit(1)
writeChecksums(releases.map((release) => `dist/flashq-${release.name}`).filter((path) => existsSync(path)))

async function compile(release: Release, outfile: string): Promise<string | null> {
  try {
    const result = await Bun.build({
      entrypoints: ['./src/main.ts'],
      compile: {
        target: release.target,
        outfile,
        // A server binary must not pick up a stray bunfig.toml or .env from its working directory.
        autoloadBunfig: false,
        autoloadDotenv: false,
      },
      // --bytecode cuts start-up by ~40% (DESIGN §9); main.ts avoids import.meta.url, which it bakes.
      bytecode: true,
      format: 'esm', // bytecode + top-level await (main.ts) needs ESM output
      minify: true,
      sourcemap: 'linked',
      define: {
        'process.env.FLASHQ_COMMIT': JSON.stringify(`${commit}${dirty ? '+dirty' : ''}`),
        'process.env.FLASHQ_BUILD_DATE': JSON.stringify(buildDate),
      },
    })
    if (!result.success) return result.logs.map((log) => String(log)).join('; ')
    return null
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'unknown error'
  }
}

/** `sha256sum -c SHA256SUMS` format: `<hex>  <file name>`, for every release binary in dist/ now. */
function writeChecksums(paths: string[]): void {
  const lines = paths.map((path) => `${createHash('sha256').update(readFileSync(path)).digest('hex')}  ${basename(path)}`)
  writeFileSync('dist/SHA256SUMS', `${lines.join('\n')}\n`)
  process.stdout.write(`wrote dist/SHA256SUMS (${paths.length} files)\n`)
}
