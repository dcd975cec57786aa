import { afterEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Config } from '../base/config.ts'
import { fnv1a32, shardOfName } from '../base/hash.ts'
import { DiscardIo } from '../io/discard.ts'
import { pickIo } from '../io/pick.ts'
import { closeScratchStack, compilerCpuNs, compilerIdle, exercise, openScratchStack, scratchLogDirectoryPrefix, scratchQueues, warmUp, withScratchLogDirectory, type WarmupAmount } from './warmup.ts'

describe('warm-up scratch queues', () => {
  // fnv1a32 returns an int32 below 2^31 and a double above: both must run before a client's queue does.
  test('hash on both sides of 2^31', () => {
    const above = scratchQueues.map((name) => fnv1a32(name) >= 2 ** 31)
    expect(above).toContain(true)
    expect(above).toContain(false)
  })

  test('fall on both shards of two', () => {
    expect(new Set(scratchQueues.map((name) => shardOfName(name, 2))).size).toBe(2)
  })
})

describe('waiting for the JIT compiler threads', () => {
  // The test process has compiled plenty by now: a thread of that name with no CPU time (or none at
  // all, after a rename in JSC) would make the start-up wait a silent no-op.
  test('reads their CPU time from /proc on Linux', () => {
    const ns = compilerCpuNs()
    if (process.platform === 'linux') expect(ns).toBeGreaterThan(0)
    else expect(ns).toBeNull()
  })

  test('stops at its deadline, even one already past, and returns once they are quiet', async () => {
    const linux = process.platform === 'linux'
    expect(await compilerIdle(0)).toBe(linux ? 'deadline' : 'unreadable')
    expect(await compilerIdle(performance.now() + 30_000)).toBe(linux ? 'idle' : 'unreadable')
  })
})

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function dataDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-warmup-'))
  dirs.push(dir)
  return dir
}

function configFor(dataDir: string, memory = false): Config {
  return {
    host: '127.0.0.1', tcpPort: 0, httpPort: null, unixSocketPath: null, dataDir, memory, fsync: { kind: 'always' },
    shards: 2, workers: 0, io: 'auto', repair: false, authTokens: [], shutdownGraceMs: 0, preset: 'testMin', logFormat: 'text', logLevel: 'warn', warmup: true, compilerNice: 0,
  }
}

const tinyAmount: WarmupAmount = { sequentialPushes: 3, pipelinedPushes: 50, pushBatches: 1, pullBatchJobs: 100, singlePulls: 1, wokenPulls: 1 }

describe('the scratch log directory', () => {
  test('is inside the data directory while the work runs and gone after it', async () => {
    const dataDir = dataDirectory()
    let seen: string | null = null
    await withScratchLogDirectory(configFor(dataDir), async (logDirectory) => {
      seen = logDirectory
      expect(logDirectory).not.toBeNull()
      expect(dirname(logDirectory as string)).toBe(dataDir)
      expect(existsSync(logDirectory as string)).toBe(true)
    })
    expect(seen).not.toBeNull()
    expect(existsSync(seen as unknown as string)).toBe(false)
    expect(readdirSync(dataDir)).toEqual([])
  })

  test('is removed when the work throws, and the error comes through', async () => {
    const dataDir = dataDirectory()
    const failing = withScratchLogDirectory(configFor(dataDir), async (logDirectory) => {
      writeFileSync(join(logDirectory as string, 'half-written.seg'), 'x')
      throw new Error('warm-up broke')
    })
    await expect(failing).rejects.toThrow('warm-up broke')
    expect(readdirSync(dataDir)).toEqual([])
  })

  test('removes the leftovers of a server killed during its warm-up, and nothing else', async () => {
    const dataDir = dataDirectory()
    mkdirSync(join(dataDir, `${scratchLogDirectoryPrefix}killed`, 'shard-00'), { recursive: true })
    mkdirSync(join(dataDir, 'shard-00'))
    writeFileSync(join(dataDir, 'manifest.json'), '{"shardCount":1}')
    writeFileSync(join(dataDir, 'shard-00', 'log.state'), 'kept')
    await withScratchLogDirectory(configFor(dataDir), async () => {})
    expect(readdirSync(dataDir).sort()).toEqual(['manifest.json', 'shard-00'])
    expect(readFileSync(join(dataDir, 'shard-00', 'log.state'), 'utf8')).toBe('kept')
  })

  test('is not made in memory mode', async () => {
    const dataDir = dataDirectory()
    await withScratchLogDirectory(configFor(dataDir, true), async (logDirectory) => {
      expect(logDirectory).toBeNull()
    })
    expect(readdirSync(dataDir)).toEqual([])
  })
})

describe('scratch stacks', () => {
  test('with a log directory: the IO backend the server would pick, logs in that directory', async () => {
    const dataDir = dataDirectory()
    const picked = pickIo('auto')
    picked.shutdown()
    const stack = await openScratchStack(configFor(dataDir), 2, '', dataDir)
    try {
      expect(stack.io).toBe(picked.name)
      await exercise('json', stack.tcp.port, tinyAmount)
    } finally {
      await closeScratchStack(stack)
    }
    const files = readdirSync(dataDir, { recursive: true }) as string[]
    expect(files.filter((name) => name.endsWith('.seg')).length).toBeGreaterThan(0)
  })

  test('without one: DiscardIo, and nothing written anywhere', async () => {
    const stack = await openScratchStack(configFor('/nonexistent/flashq-warm-up-test'), 2, '', null)
    try {
      expect(stack.io).toBe(new DiscardIo().name)
      await exercise('json', stack.tcp.port, tinyAmount)
    } finally {
      await closeScratchStack(stack)
    }
    expect(existsSync('/nonexistent/flashq-warm-up-test')).toBe(false)
  })

  test('the whole warm-up leaves the data directory as it found it', async () => {
    const dataDir = dataDirectory()
    writeFileSync(join(dataDir, 'manifest.json'), '{"shardCount":2}')
    expect(await warmUp(configFor(dataDir), 2, '')).toBeGreaterThan(0)
    expect(readdirSync(dataDir)).toEqual(['manifest.json'])
    expect(readFileSync(join(dataDir, 'manifest.json'), 'utf8')).toBe('{"shardCount":2}')
  })
})
