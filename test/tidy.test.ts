/**
 * What the style guide can only ask for, checked: the import direction between src/ folders, and a
 * few banned constructs. Lower layers never import higher ones.
 *
 * One deviation from STYLE.md's matrix, on purpose: the engine imports protocol/ for the parsed
 * command types and the error catalogue, so that the zod schemas stay the single source of truth
 * for field names and every error text exists once. server/ may import engine/ for types only.
 */
import { expect, test } from 'bun:test'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const srcRoot = join(import.meta.dir, '..', 'src')

const allowed: Record<string, string[]> = {
  base: [],
  protocol: ['base'],
  engine: ['base', 'protocol'],
  io: ['base'],
  storage: ['base', 'io'],
  shard: ['base', 'protocol', 'engine', 'io', 'storage'],
  server: ['base', 'protocol', 'shard', 'engine', 'dashboard'],
  bench: ['base'],
  cli: ['base', 'engine', 'storage', 'io', 'shard', 'server', 'bench'],
  dashboard: ['base', 'protocol'],
  client: ['base', 'protocol'],
}
const typeOnly: Record<string, string[]> = { server: ['engine'] }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.tsx?$/.test(path) && !path.endsWith('.test.ts') && !path.endsWith('.bench.ts') ? [path] : []
  })
}

const files = sourceFiles(srcRoot)

test('imports follow the layer order', () => {
  const violations: string[] = []
  for (const file of files) {
    const folder = relative(srcRoot, file).split('/')[0] as string
    if (!(folder in allowed)) continue // main.ts and the top level may import anything
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/^import (type )?[^;']*?from '(\.\.?\/[^']+)'/gms)) {
      const target = relative(srcRoot, join(file, '..', match[2] as string)).split('/')[0] as string
      if (target === folder || target.startsWith('..')) continue
      const isType = match[1] !== undefined
      const ok = (allowed[folder] ?? []).includes(target) && (isType || !(typeOnly[folder] ?? []).includes(target))
      if (!ok) violations.push(`${relative(srcRoot, file)} imports ${target}/${isType ? ' (type)' : ''}`)
    }
  }
  expect(violations).toEqual([])
})

test('no console.log, `as any` or FIXME in src/', () => {
  const found: string[] = []
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n')
    lines.forEach((line, index) => {
      if (/console\.log\(| as any\b|FIXME/.test(line)) found.push(`${relative(srcRoot, file)}:${index + 1}: ${line.trim()}`)
    })
  }
  expect(found).toEqual([])
})

test('storage does every file operation through the IoBackend (no node:fs in src/storage)', () => {
  // A test backend must see every create, rename, unlink, truncate and sync to model a power loss.
  const found: string[] = []
  for (const file of files.filter((name) => relative(srcRoot, name).startsWith('storage/'))) {
    const lines = readFileSync(file, 'utf8').split('\n')
    lines.forEach((line, index) => {
      if (/from 'node:fs|require\('node:fs|from 'fs'|\bBun\.file\(|\bBun\.write\(/.test(line)) {
        found.push(`${relative(srcRoot, file)}:${index + 1}: ${line.trim()}`)
      }
    })
  }
  expect(found).toEqual([])
})

/** Lines that are code, not comments (good enough for these checks: no block comments mid-line). */
function codeLines(file: string): Array<{ line: string; number: number }> {
  return readFileSync(file, 'utf8').split('\n').map((line, index) => ({ line, number: index + 1 }))
    .filter(({ line }) => !/^\s*(\/\/|\*|\/\*)/.test(line))
}

/**
 * A limit is enforced when something reads it: a use besides its declaration. A field initialised
 * from it (`queuesMax = queuesMax` in a class) is no use by itself: the field must then be read
 * somewhere (`core.queuesMax`), or the limit is declared and never checked.
 */
test('every declared limit (an exported `…Max` / `…Cap` constant) is enforced somewhere besides its declaration', () => {
  const texts = new Map(files.map((file) => [file, readFileSync(file, 'utf8')]))
  // Code only: comments and string literals (an error text naming the limit) enforce nothing.
  const all = [...texts.values()].join('\n').split('\n')
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
    .map((line) => line.replace(/'[^']*'|`[^`]*`|"[^"]*"/g, "''").replace(/\/\/.*$/, ''))
    .join('\n')
  const lines = all.split('\n')
  const unused: string[] = []
  const readsOf = (pattern: RegExp) => all.match(pattern)?.length ?? 0
  for (const [file, text] of texts) {
    for (const match of text.matchAll(/^export const (\w+(?:Max|Cap))\b/gm)) {
      const name = match[1] as string
      const mention = new RegExp(`\\b${name}\\b`)
      const declaration = new RegExp(`^export const ${name}\\b`)
      const fieldInit = new RegExp(`^\\s*(?:readonly |private |public )*(\\w+)(?:: \\w+)? = ${name}\\s*$`)
      let enforced = false
      for (const line of lines) {
        if (!line.includes(name) || !mention.test(line) || declaration.test(line)) continue
        if (/^\s*import\b|^\s*\w+,?\s*$|^\s*\} from /.test(line)) continue // an import list
        const field = fieldInit.exec(line)
        // A field initialised from the limit counts when the field is read (`.field`) somewhere.
        if (field === null || readsOf(new RegExp(`\\.${field[1]}\\b`, 'g')) > 0) enforced = true
        if (enforced) break
      }
      if (!enforced) unused.push(`${relative(srcRoot, file)}: ${name} is declared but nothing enforces it`)
    }
  }
  expect(unused).toEqual([])
})

/** A constant with a unit or bound in its name is declared once; the other places import it. */
test('no named constant (…Max, …Ms, …Bytes, …) is declared in two places', () => {
  const seen = new Map<string, string>()
  const twice: string[] = []
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/^(?:export )?const (\w+) = (?!require)/gm)) {
      const name = match[1] as string
      if (!/^[a-z]\w*(Max|Min|Ms|Bytes|Count|Interval|Seconds|Cap|High|Default|Chars|Entries|Jobs|Us)$/.test(name)) continue
      const where = relative(srcRoot, file)
      const first = seen.get(name)
      if (first !== undefined && first !== where) twice.push(`${name}: ${first} and ${where}`)
      else seen.set(name, where)
    }
  }
  expect(twice).toEqual([])
})

// The engine and the shard host (not their test support); server/ joins once its command table lands (issue 7).
const testSupport = ['test-helpers.ts', 'crash-points.ts', 'make-record-fixtures.ts']
const checkedForLiterals = files.filter((file) => /^(engine|shard)\//.test(relative(srcRoot, file)) && !testSupport.some((name) => file.endsWith(name)))

test('engine and shard: numbers of 3+ digits are named constants, not written in place', () => {
  const found: string[] = []
  for (const file of checkedForLiterals) {
    if (file.endsWith('engine-limits.ts')) continue
    for (const { line, number } of codeLines(file)) {
      if (/^(export )?const \w+ = /.test(line)) continue // a named constant
      const code = line.replace(/'[^']*'|`[^`]*`|"[^"]*"/g, "''")
      if (/(?<![\w.])\d[\d_]{2,}(?![\w])/.test(code)) found.push(`${relative(srcRoot, file)}:${number}: ${line.trim()}`)
    }
  }
  expect(found).toEqual([])
})

test('engine and shard: error texts come from the catalogue (protocol/errors.ts)', () => {
  const found: string[] = []
  for (const file of checkedForLiterals) {
    for (const { line, number } of codeLines(file)) {
      const literalError = /\berror: ['"`]/.test(line)
      const sentenceConstant = /^(export )?const \w+ = (\([^)]*\)(: string)? => )?['`][A-Z][a-z]+:? [a-z]/.test(line.trim())
      if (literalError || sentenceConstant) found.push(`${relative(srcRoot, file)}:${number}: ${line.trim()}`)
    }
  }
  expect(found).toEqual([])
})

/**
 * Replay must not write a state transition a second time: an applier of a record calls the function
 * the live path calls (core.ts, links.ts, scheduling.ts, records.ts), never sets job or queue fields
 * itself. A field assignment inside an applier is how a transition gets written twice and drifts.
 */
test('replay appliers change state only through the transitions the live handlers use', () => {
  // Records no live path writes any more (older logs only): nothing to share a transition with.
  const legacyOnly = new Set(['par'])
  const assignment = /\b[a-zA-Z_]\w*(\.\w+)+ *(=(?![=>])|\+\+|--|\+=|-=)/
  const found: string[] = []
  const blocks: Array<[file: string, start: RegExp]> = [
    ['engine/records.ts', /^const appliers\b/],
    ['engine/queued-store.ts', /^export function applyQueuedRecord\b/],
  ]
  for (const [file, start] of blocks) {
    const lines = readFileSync(join(srcRoot, file), 'utf8').split('\n')
    const first = lines.findIndex((line) => start.test(line))
    expect(first, `${file}: ${start}`).toBeGreaterThanOrEqual(0)
    let applier = ''
    for (let index = first + 1; index < lines.length && lines[index] !== '}'; index++) {
      const line = lines[index] as string
      const name = /^  (\w+)\(core/.exec(line)
      if (name !== null) applier = name[1] as string
      if (/^\s*(\/\/|\*)/.test(line) || legacyOnly.has(applier)) continue
      if (assignment.test(line)) found.push(`${file}:${index + 1}: ${line.trim()}`)
    }
  }
  expect(found).toEqual([])
})
