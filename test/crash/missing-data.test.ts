/**
 * A damaged data directory that does not look damaged (issue 8, item 9): a deleted segment, or a
 * segment cut exactly at a record boundary, used to start silently without the jobs they held. The
 * shard's log.state says which newest segment (and size) and which checkpoint must exist, so the
 * server refuses to start naming the missing file; with --repair it starts and says what it accepted.
 */
import { afterAll, expect, test } from 'bun:test'
import { rmSync, statSync, truncateSync } from 'node:fs'
import { runToExit, startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'
import { framesOf, lastUsedSegment, markerStates, outputMatching, pushMarkers, shardDirectories } from './kit.ts'

const queue = 'missing'
const servers: TestServer[] = []
const directories: string[] = []

afterAll(async () => {
  for (const server of servers) await server.kill('SIGKILL')
  for (const dir of directories) rmSync(dir, { recursive: true, force: true })
})

const serverArgs = (dataDir: string) => [
  '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--preset', 'testMin', '--shards', '1',
]

type Damage = { name: string; apply: (segment: string) => string }

const damages: Damage[] = [
  {
    name: 'the newest segment deleted',
    apply: (segment) => {
      rmSync(segment)
      return 'segment is missing'
    },
  },
  {
    name: 'the newest segment truncated exactly at a record boundary',
    apply: (segment) => {
      const { frames } = framesOf(segment)
      const cut = (frames[frames.length - 2] as { end: number }).end
      truncateSync(segment, cut)
      expect(statSync(segment).size).toBe(cut)
      return `segment truncated to ${cut} bytes`
    },
  },
]

for (const damage of damages) {
  test(`${damage.name}: refused naming the file; --repair starts and says so`, async () => {
    const dataDir = temporaryDirectory('flashq-missing-')
    directories.push(dataDir)
    let server = await startServer({ dataDir, args: ['--shards', '1'] })
    servers.push(server)
    const markers = Array.from({ length: 200 }, (_, i) => `m-${i}`)
    const ids = await pushMarkers(server.tcpPort, queue, markers)
    await server.kill('SIGKILL')

    const segment = lastUsedSegment(shardDirectories(dataDir)[0] as string)
    if (segment === null) throw new Error('no segment holds a record')
    const reason = damage.apply(segment)

    const refused = await runToExit(serverArgs(dataDir))
    const said = `${refused.stdout}\n${refused.stderr}`
    expect(said).not.toContain(' listening ')
    expect(refused.code).not.toBe(0)
    expect(said).toContain(segment)
    expect(said).toContain(reason)

    server = await startServer({ dataDir, args: ['--shards', '1', '--repair'] })
    servers.push(server)
    const output = await outputMatching(server.output, /accepted/)
    expect(output).toContain(`--repair accepted ${segment}`)
    // Whatever the older segments and the checkpoint hold is still there.
    const states = await markerStates(server.tcpPort, new Map([['m-0', ids.get('m-0') as number]]))
    expect(states.get('m-0')).toBe('waiting')
    await server.kill('SIGKILL')
  }, 60_000)
}
