/**
 * Storage routes (spec §5.7) against real servers: an online backup taken under push/ack load and
 * queued traffic, restored into an empty directory with `flashq restore`, served by a new server and
 * compared job by job; POST /storage/restore on a running server; stats, settings, checkpoint.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runToExit, startAgainOn, startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'
import { queuedClient } from '../harness/queued-client.ts'
import { WireClient } from '../harness/wire-client.ts'

setDefaultTimeout(120_000)

const started: TestServer[] = []
const directories: string[] = []
afterAll(async () => {
  for (const server of started) await server.cleanup()
  for (const dir of directories) rmSync(dir, { recursive: true, force: true })
})

async function serve(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const server = await startServer({ ...options, args: ['--shards', '2', ...(options.args ?? [])] })
  started.push(server)
  return server
}

function scratch(): string {
  const dir = temporaryDirectory('flashq-backup-')
  directories.push(dir)
  return dir
}

type Expected = { queue: string; data: unknown; acked: boolean }

async function download(port: number, file: string, query = ''): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/storage/backup${query}`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('application/x-tar')
  writeFileSync(file, new Uint8Array(await response.arrayBuffer()))
}

describe('backup under load → restore → compare', () => {
  // With a fresh checkpoint, and without one (then the segments since the last automatic
  // checkpoint carry most of the jobs, so the segment copy is what is tested).
  test.each([[''], ['?checkpoint=false']])('every job acknowledged before the backup%s is restored with its data and state', async (query) => {
    const source = await serve()
    const client = await WireClient.connect(source.tcpPort)
    const q = queuedClient(source.httpPort as number)
    const jobs = new Map<number, Expected>()
    let running = true
    let round = 0
    // Pushes in batches to two queues (both shards), acks every third job, and queued pushes.
    const load = (async () => {
      while (running) {
        const queue = round % 2 === 0 ? 'bk-a' : 'bk-b'
        const batch = Array.from({ length: 50 }, (_, i) => ({ data: { round, i, text: 'x'.repeat(i * 7) } }))
        const pushed = await client.request({ cmd: 'PUSHB', queue, jobs: batch })
        expect(pushed.ok).toBe(true)
        pushed.ids.forEach((id: number, i: number) => jobs.set(id, { queue, data: batch[i]?.data, acked: false }))
        const pulled = await client.request({ cmd: 'PULLB', queue, count: 17, timeout: 0 })
        const ackIds = pulled.jobs.map((job: { id: number }) => job.id)
        if (ackIds.length > 0) {
          expect((await client.request({ cmd: 'ACKB', ids: ackIds })).ok).toBe(true)
          for (const id of ackIds) (jobs.get(id) as Expected).acked = true
        }
        const message = await q('/push', { contents: `queued ${round}` }, { queue: 'bk-queued' })
        expect(message.status).toBe(200)
        jobs.set(message.json.id, { queue: 'bk-queued', data: `queued ${round}`, acked: false })
        round++
      }
    })()
    while (round < 40) await Bun.sleep(10)
    // The load keeps running while the backup is taken: what was acknowledged before must be in it.
    const before = new Map([...jobs].map(([id, job]) => [id, { ...job }]))
    const archive = join(scratch(), 'backup.tar')
    await download(source.httpPort as number, archive, query)
    running = false
    await load
    expect(before.size).toBeGreaterThan(1000)

    const restoredDir = join(scratch(), 'restored')
    const restore = await runToExit(['restore', archive, '--data-dir', restoredDir])
    expect(restore.stderr).toBe('')
    expect(restore.code).toBe(0)
    expect(restore.stdout).toContain('restored')
    const copy = await serve({ dataDir: restoredDir })
    const restored = await WireClient.connect(copy.tcpPort)
    for (const [id, job] of before) {
      const state = (await restored.request({ cmd: 'GETSTATE', id })).state
      if (job.acked) {
        expect({ id, state }).toEqual({ id, state: 'completed' })
        continue
      }
      const found = await restored.request({ cmd: 'GETJOB', id })
      // Acked after the copy of `before` was taken but before the backup's checkpoint: completed.
      if (found.job === null && state === 'completed' && (jobs.get(id) as Expected).acked) continue
      expect({ id, queue: found.job?.queue, data: found.job?.data }).toEqual({ id, queue: job.queue, data: job.data })
    }
    // Jobs pushed while the backup ran may or may not be in it; those that are match the source.
    for (const [id, job] of jobs) {
      if (before.has(id)) continue
      const found = await restored.request({ cmd: 'GETJOB', id })
      if (found.job !== null) expect(found.job.data).toEqual(job.data)
    }
    // The restored server takes new work, with ids above every restored one.
    const fresh = await restored.request({ cmd: 'PUSH', queue: 'bk-a', data: { after: true } })
    expect(fresh.id).toBeGreaterThan(Math.max(...before.keys()))
    const message = await queuedClient(copy.httpPort as number)('/poll', { visibility_timeout_secs: 60 }, { queue: 'bk-queued' })
    expect(message.json.message.contents).toBe('queued 0')
    client.close()
    restored.close()
  })

  test('restore refuses a non-empty directory and a file that is not a backup', async () => {
    const dir = scratch()
    const notEmpty = join(dir, 'busy')
    mkdirSync(notEmpty)
    writeFileSync(join(notEmpty, 'keep.txt'), 'mine')
    const junk = join(dir, 'junk.tar')
    writeFileSync(junk, new Uint8Array(4096).fill(7))
    const busy = await runToExit(['restore', junk, '--data-dir', notEmpty])
    expect(busy.code).toBe(2)
    expect(busy.stderr).toContain('not empty')
    const bad = await runToExit(['restore', junk, '--data-dir', join(dir, 'fresh')])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('not a flashq backup')
    expect(existsSync(join(dir, 'fresh', 'manifest.json'))).toBe(false)
    const usage = await runToExit(['restore', junk])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('--data-dir')
  })
})

describe('POST /storage/restore', () => {
  test('replaces the running server state with an uploaded backup', async () => {
    const source = await serve()
    const client = await WireClient.connect(source.tcpPort)
    const kept = await client.request({ cmd: 'PUSH', queue: 'rs', data: { from: 'backup' } })
    const archive = join(scratch(), 'backup.tar')
    await download(source.httpPort as number, archive)
    client.close()

    const target = await serve()
    const targetClient = await WireClient.connect(target.tcpPort)
    const replaced = await targetClient.request({ cmd: 'PUSH', queue: 'other', data: 'goes away' })
    targetClient.close()
    const upload = await fetch(`http://127.0.0.1:${target.httpPort}/storage/restore`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-tar' }, body: Bun.file(archive),
    })
    const answer = await upload.json() as { ok: boolean; data: { files: number } }
    expect(answer.ok).toBe(true)
    expect(answer.data.files).toBeGreaterThan(0)
    const after = await WireClient.connect(target.tcpPort)
    expect((await after.request({ cmd: 'GETJOB', id: kept.id })).job.data).toEqual({ from: 'backup' })
    expect((await after.request({ cmd: 'GETSTATE', id: replaced.id })).state).toBe('unknown')
    expect((await after.request({ cmd: 'PUSH', queue: 'rs', data: 1 })).ok).toBe(true)
    after.close()
    // The restored directory is still this server's: its lock moved with the swap.
    expect((await startAgainOn(target.dataDir)).stderr).toContain('is in use by another flashq server')
    const junk = await fetch(`http://127.0.0.1:${target.httpPort}/storage/restore`, { method: 'POST', body: 'not a tar' })
    const refused = await junk.json() as { ok: boolean; error: string }
    expect(refused.ok).toBe(false)
    expect(refused.error).toContain('not a flashq backup')
  })
})

describe('POST /storage/restore of a damaged backup', () => {
  test('the previous state is served again', async () => {
    const source = await serve()
    const sourceClient = await WireClient.connect(source.tcpPort)
    for (let i = 0; i < 20; i++) await sourceClient.request({ cmd: 'PUSH', queue: 'dmg', data: { i } })
    sourceClient.close()
    const archive = join(scratch(), 'backup.tar')
    await download(source.httpPort as number, archive, '?checkpoint=false')
    // Flip a byte inside the first frame of a non-empty segment: the tar stays valid, the log does not.
    const bytes = new Uint8Array(await Bun.file(archive).arrayBuffer())
    let offset = 0
    let flipped = false
    while (offset + 512 <= bytes.length && !flipped) {
      const name = new TextDecoder().decode(bytes.subarray(offset, offset + 100)).replace(/\0.*$/s, '')
      if (name === '') break
      const size = parseInt(new TextDecoder().decode(bytes.subarray(offset + 124, offset + 136)).replace(/\0.*$/s, '').trim(), 8)
      if (name.endsWith('.seg') && size > 100) {
        bytes[offset + 512 + 20] = (bytes[offset + 512 + 20] as number) ^ 0xff
        flipped = true
      }
      offset += 512 + Math.ceil(size / 512) * 512
    }
    expect(flipped).toBe(true)
    writeFileSync(archive, bytes)

    const target = await serve()
    const client = await WireClient.connect(target.tcpPort)
    const kept = await client.request({ cmd: 'PUSH', queue: 'mine', data: 'still here' })
    client.close()
    const upload = await fetch(`http://127.0.0.1:${target.httpPort}/storage/restore`, { method: 'POST', body: Bun.file(archive) })
    const answer = (await upload.json()) as { ok: boolean; error: string }
    expect(answer.ok).toBe(false)
    expect(answer.error).toContain('previous state is served again')
    const after = await WireClient.connect(target.tcpPort)
    expect((await after.request({ cmd: 'GETJOB', id: kept.id })).job.data).toBe('still here')
    expect((await startAgainOn(target.dataDir)).stderr).toContain('is in use by another flashq server')
    after.close()
  })
})

describe('stats, settings, checkpoint', () => {
  test('stats count segments and commits; a forced checkpoint moves the checkpoint LSN', async () => {
    const server = await serve()
    const client = await WireClient.connect(server.tcpPort)
    for (let i = 0; i < 20; i++) await client.request({ cmd: 'PUSH', queue: `st${i % 2}`, data: i })
    client.close()
    const base = `http://127.0.0.1:${server.httpPort}`
    const stats = (await (await fetch(`${base}/storage/stats`)).json()) as any
    expect(stats.ok).toBe(true)
    expect(stats.data.enabled).toBe(true)
    expect(stats.data.commits).toBeGreaterThan(0)
    expect(stats.data.records).toBeGreaterThanOrEqual(20)
    expect(stats.data.shards.length).toBe(2)
    const checkpoint = (await (await fetch(`${base}/storage/checkpoint`, { method: 'POST' })).json()) as any
    expect(checkpoint.ok).toBe(true)
    const lsns = checkpoint.data.shards.map((shard: { checkpoint_lsn: number }) => shard.checkpoint_lsn)
    expect(lsns.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThanOrEqual(20)
    const after = (await (await fetch(`${base}/storage/stats`)).json()) as any
    expect(after.data.shards.some((shard: { last_checkpoint_at: string | null }) => shard.last_checkpoint_at !== null)).toBe(true)
    const settings = (await (await fetch(`${base}/storage/settings`)).json()) as any
    expect(settings.data).toMatchObject({ enabled: true, sync: 'always', checkpoint_interval_secs: null })
    const set = await fetch(`${base}/storage/settings`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ checkpoint_interval_secs: 60 }),
    })
    expect(((await set.json()) as any).data.checkpoint_interval_secs).toBe(60)
    const readOnly = await fetch(`${base}/storage/settings`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ segment_bytes: 1 }),
    })
    expect(readOnly.status).toBe(422)
    expect(await readOnly.text()).toContain('segment_bytes')
  })

  test('in --memory mode the routes say storage is disabled', async () => {
    const server = await serve({ args: ['--memory'] })
    const base = `http://127.0.0.1:${server.httpPort}`
    const backup = (await (await fetch(`${base}/storage/backup`)).json()) as any
    expect(backup).toEqual({ ok: false, error: expect.stringContaining('--memory') })
    expect(((await (await fetch(`${base}/storage/stats`)).json()) as any).data.enabled).toBe(false)
  })
})
