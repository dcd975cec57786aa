/**
 * A torn tail: the last record of the log was half written when the machine died. We push jobs
 * (every push acknowledged), kill -9, then damage the last record of the last segment in two ways:
 *  - zeroed: the second half of the frame is overwritten with zeros (file size unchanged, as a torn
 *    write into preallocated space leaves it);
 *  - cut: the file is truncated in the middle of the frame (a shorter file). A power loss cannot do
 *    that (segments are preallocated and their size is synced before their name), so since format
 *    2 this is damage: the server refuses to start naming the file (log.state records the size), and
 *    the rest of the test runs with --repair.
 * The server must start, report the truncated tail (file@offset) on its start-up output, keep every
 * job but at most the one in the damaged record, accept new pushes, and keep those across another
 * kill -9 and restart (so appending after a torn tail writes valid, replayable frames).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { openSync, closeSync, ftruncateSync, rmSync, statSync, writeSync } from 'node:fs'
import { runToExit, startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'
import { CrashClient, framesOf, lastUsedSegment, markerStates, outputMatching, pushMarkers, shardDirectories } from './kit.ts'

const jobCount = 300
const laterJobCount = 150
const queue = 'torn'
const servers: TestServer[] = []
const directories: string[] = []

afterAll(async () => {
  for (const server of servers) await server.kill('SIGKILL')
  for (const dir of directories) rmSync(dir, { recursive: true, force: true })
})

async function start(dataDir: string, args: string[] = []): Promise<TestServer> {
  const server = await startServer({ dataDir, args })
  servers.push(server)
  return server
}

/** The shard directory whose last segment holds records of `queue`. */
function shardOfQueue(dataDir: string): { segment: string; frames: ReturnType<typeof framesOf>['frames'] } {
  for (const shardDir of shardDirectories(dataDir)) {
    const segment = lastUsedSegment(shardDir)
    if (segment === null) continue
    const { frames } = framesOf(segment)
    if (frames.some((frame) => frame.body.includes(`"${queue}"`))) return { segment, frames }
  }
  throw new Error(`no segment holds records of queue ${queue} in ${dataDir}`)
}

for (const damage of ['zeroed', 'cut'] as const) {
  describe(`torn tail (${damage})`, () => {
    test(
      'restart reports the tail, keeps all but the last record, and appends durably after it',
      async () => {
        const dataDir = temporaryDirectory(`flashq-torn-${damage}-`)
        directories.push(dataDir)
        let server = await start(dataDir)
        const markers = Array.from({ length: jobCount }, (_, i) => `${damage}-${i}`)
        const ids = await pushMarkers(server.tcpPort, queue, markers)
        await server.kill('SIGKILL')

        const { segment, frames } = shardOfQueue(dataDir)
        const last = frames[frames.length - 1]!
        const middle = last.offset + Math.floor((last.end - last.offset) / 2)
        const fileBytesBefore = statSync(segment).size
        const fd = openSync(segment, 'r+')
        if (damage === 'zeroed') writeSync(fd, new Uint8Array(last.end - middle), 0, last.end - middle, middle)
        else ftruncateSync(fd, middle)
        closeSync(fd)
        const tornMarker = /"m":"([^"]+)"/.exec(last.body)?.[1] ?? null
        console.log(
          `${damage}: ${segment} (${fileBytesBefore} bytes, ${frames.length} frames): damaged frame lsn ${last.lsn} at ` +
            `${last.offset}..${last.end} from ${middle}; it held job ${tornMarker ?? '(not a job record)'}`,
        )

        if (damage === 'cut') {
          const refused = await runToExit(['--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--preset', 'testMin'])
          const said = `${refused.stdout}\n${refused.stderr}`
          expect(refused.code).not.toBe(0)
          expect(said).toContain(`${segment}@${middle}: segment truncated to ${middle} bytes`)
        }
        server = await start(dataDir, damage === 'cut' ? ['--repair'] : [])
        const startup = await outputMatching(server.output, /torn tail/)
        console.log(`${damage}: start-up output:\n${startup.trim()}`)
        expect(startup).toContain('torn tail')
        expect(startup).toContain(`${segment}@${last.offset}`)

        const states = await markerStates(server.tcpPort, ids)
        const missing = [...states].filter(([, state]) => state !== 'waiting')
        // Only the job of the damaged record may be gone, and only as "unknown".
        for (const [marker, state] of missing) {
          expect(`${marker}: ${state}`).toBe(`${tornMarker}: unknown`)
        }
        expect(missing.length).toBeLessThanOrEqual(1)

        const laterMarkers = Array.from({ length: laterJobCount }, (_, i) => `${damage}-later-${i}`)
        const laterIds = await pushMarkers(server.tcpPort, queue, laterMarkers)
        await server.kill('SIGKILL')

        server = await start(dataDir)
        const survivors = new Map([...ids].filter(([marker]) => !missing.some(([gone]) => gone === marker)))
        const after = await markerStates(server.tcpPort, new Map([...survivors, ...laterIds]))
        const wrong = [...after].filter(([, state]) => state !== 'waiting')
        expect(wrong).toEqual([])
        // (Checked after the requests above, by when the start-up report has long been printed.)
        expect(server.output()).not.toContain('torn tail')
        // Every id is distinct: a job id reused after the tail would shadow an older job.
        const allIds = [...survivors.values(), ...laterIds.values()]
        expect(new Set(allIds).size).toBe(allIds.length)

        // Each job comes out exactly once when the queue is drained.
        const client = await CrashClient.connect(server.tcpPort, 'json')
        const drained: string[] = []
        for (;;) {
          const reply = await client.must({ cmd: 'PULLB', queue, count: 1000, timeout: 200 })
          const jobs = reply.jobs as Array<{ data: { m: string } }>
          if (jobs.length === 0) break
          drained.push(...jobs.map((job) => job.data.m))
        }
        client.close()
        expect(drained.length).toBe(new Set(drained).size)
        expect(new Set(drained)).toEqual(new Set([...survivors.keys(), ...laterIds.keys()]))
        await server.kill('SIGKILL')
      },
      60_000,
    )
  })
}
