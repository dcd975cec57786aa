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
  bench: ['base', 'client'],
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

test('every declared limit (an exported `…Max` constant) is used somewhere besides its declaration', () => {
  const texts = new Map(files.map((file) => [file, readFileSync(file, 'utf8')]))
  const unused: string[] = []
  for (const [file, text] of texts) {
    for (const match of text.matchAll(/^export const (\w+Max)\b/gm)) {
      const name = match[1] as string
      const pattern = new RegExp(`\\b${name}\\b`, 'g')
      let uses = 0
      for (const [other, otherText] of texts) {
        const found = otherText.match(pattern)?.length ?? 0
        uses += other === file ? found - 1 : found
      }
      if (uses === 0) unused.push(`${relative(srcRoot, file)}: ${name} is declared but nothing enforces it`)
    }
  }
  expect(unused).toEqual([])
})

// Constants of base/, engine/ and shard/ (protocol/, storage/ and io/ follow when their branches land).
test('no constant of base/, engine/ or shard/ is declared twice', () => {
  const seen = new Map<string, string>()
  const twice: string[] = []
  const owned = (where: string) => /^(base|engine|shard)\//.test(where)
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/^(?:export )?const (\w+) = (?!require)/gm)) {
      const name = match[1] as string
      if (!/^[a-z]\w*(Max|Min|Ms|Bytes|Count|Interval)$/.test(name)) continue
      const where = relative(srcRoot, file)
      const first = seen.get(name)
      if (first !== undefined && first !== where && (owned(first) || owned(where))) twice.push(`${name}: ${first} and ${where}`)
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
