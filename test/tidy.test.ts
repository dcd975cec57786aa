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
  server: ['base', 'protocol', 'shard', 'engine'],
  cli: ['base', 'engine', 'storage', 'io', 'server'],
  client: ['base', 'protocol'],
}
const typeOnly: Record<string, string[]> = { server: ['engine'] }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.bench.ts') ? [path] : []
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
