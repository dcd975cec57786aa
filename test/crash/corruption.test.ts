/**
 * Corruption in the middle of the log (not a torn tail): one flipped byte inside a record that has
 * valid records after it. The server must refuse to start, naming the file and the offset of the
 * damaged frame, with a non-zero exit. With --repair it starts, says what it dropped, and keeps every
 * job whose record came before the damage. The repaired directory must then be clean: new pushes
 * survive a kill -9, and a restart without --repair succeeds.
 * Two places: a frame in the middle of the last segment, and one in an older segment that recovery
 * still has to read (above the checkpoint), when the log has such a segment.
 */
import { afterAll, expect, test } from 'bun:test'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { frameHeaderBytes } from '../../src/storage/frame.ts'
import { runToExit, startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'
import { framesOf, markerStates, outputMatching, pushMarkers, segmentFiles, shardDirectories } from './kit.ts'

const jobCount = 400
const queue = 'corrupt'
const servers: TestServer[] = []
const directories: string[] = []

afterAll(async () => {
  for (const server of servers) await server.kill('SIGKILL')
  for (const dir of directories) rmSync(dir, { recursive: true, force: true })
})

function serverArgs(dataDir: string): string[] {
  return ['--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--preset', 'testMin']
}

type Target = { file: string; offset: number; flipAt: number; marker: string }

/** Picks the frame to damage: the middle frame of the last segment, or of an older segment that is read. */
function pickTarget(dataDir: string, where: 'last' | 'older'): Target | null {
  for (const shardDir of shardDirectories(dataDir)) {
    const segments = segmentFiles(shardDir).filter((file) => framesOf(file).frames.length > 0)
    if (!segments.some((file) => readFileSync(file).includes(`"${queue}"`))) continue
    const checkpoints = readdirSync(shardDir)
      .map((name) => /^checkpoint-(\d{16})\.ckp$/.exec(name)?.[1])
      .filter((lsn): lsn is string => lsn !== undefined)
      .map(Number)
    const checkpointLsn = Math.max(0, ...checkpoints)
    const candidates =
      where === 'last'
        ? segments.slice(-1)
        : segments.slice(0, -1).filter((file) => framesOf(file).frames.some((frame) => frame.lsn > checkpointLsn + 1))
    const file = candidates[candidates.length - 1]
    if (file === undefined) return null
    const { frames } = framesOf(file)
    // A frame with valid frames after it, above the checkpoint (so recovery must read it).
    const eligible = frames.slice(0, -2).filter((frame) => frame.lsn > checkpointLsn)
    const frame = eligible[Math.floor(eligible.length / 2)]
    if (frame === undefined) return null
    const marker = /"m":"([^"]+)"/.exec(frame.body)?.[1]
    if (marker === undefined) throw new Error(`frame at ${file}@${frame.offset} is not a job record: ${frame.body.slice(0, 100)}`)
    return { file, offset: frame.offset, flipAt: frame.offset + frameHeaderBytes + Math.floor((frame.end - frame.offset - frameHeaderBytes) / 2), marker }
  }
  return null
}

for (const where of ['last', 'older'] as const) {
  test(
    `a flipped byte in the ${where} segment: refused with file@offset, then --repair keeps what came before`,
    async () => {
      const dataDir = temporaryDirectory(`flashq-corrupt-${where}-`)
      directories.push(dataDir)
      let server = await startServer({ dataDir })
      servers.push(server)
      const markers = Array.from({ length: jobCount }, (_, i) => `${where}-${i}`)
      const ids = await pushMarkers(server.tcpPort, queue, markers)
      await server.kill('SIGKILL')

      const target = pickTarget(dataDir, where)
      if (target === null) {
        console.log(`SKIPPED (${where}): the log has no ${where} segment above the checkpoint to damage`)
        return
      }
      const bytes = readFileSync(target.file)
      bytes[target.flipAt] = (bytes[target.flipAt] as number) ^ 0x5a
      writeFileSync(target.file, bytes)
      console.log(`${where}: flipped byte ${target.flipAt} of ${target.file} (frame at ${target.offset}, job ${target.marker})`)

      const refused = await runToExit(serverArgs(dataDir))
      const said = `${refused.stdout}\n${refused.stderr}`
      console.log(`${where}: without --repair: exit ${refused.code}: ${said.trim().split('\n').slice(0, 3).join(' | ')}`)
      expect(said).not.toContain(' listening ')
      expect(refused.code).not.toBe(0)
      expect(said).toContain(`${target.file}@${target.offset}`)

      server = await startServer({ dataDir, args: ['--repair'] })
      servers.push(server)
      const repairedOutput = await outputMatching(server.output, /dropped/)
      console.log(`${where}: with --repair:\n${repairedOutput.trim()}`)
      expect(repairedOutput).toContain('dropped')
      expect(repairedOutput).toContain(`${target.file}@${target.offset}`)

      const damagedIndex = markers.indexOf(target.marker)
      const before = new Map(markers.slice(0, damagedIndex).map((marker) => [marker, ids.get(marker) as number]))
      const states = await markerStates(server.tcpPort, before)
      expect([...states].filter(([, state]) => state !== 'waiting')).toEqual([])
      const after = await markerStates(server.tcpPort, new Map(markers.slice(damagedIndex).map((m) => [m, ids.get(m) as number])))
      const kept = [...after].filter(([, state]) => state === 'waiting').length
      console.log(`${where}: ${before.size} jobs before the damage all present; ${kept} of ${after.size} from the damaged record on survived`)

      // The repaired log is clean: new pushes survive a kill, and a plain restart works.
      const laterMarkers = Array.from({ length: 50 }, (_, i) => `${where}-later-${i}`)
      const laterIds = await pushMarkers(server.tcpPort, queue, laterMarkers)
      await server.kill('SIGKILL')
      server = await startServer({ dataDir })
      servers.push(server)
      const again = await markerStates(server.tcpPort, new Map([...before, ...laterIds]))
      expect([...again].filter(([, state]) => state !== 'waiting')).toEqual([])
      await server.kill('SIGKILL')
    },
    60_000,
  )
}
