/**
 * Child of io-syscalls.test.ts: one small durable write for an idle caller through the backend named
 * by argv[2], into the file argv[3]; prints the file's descriptor so the parent can find its syscalls.
 */
import { PwriteBackend } from '../../src/io/pwrite.ts'
import { probeKernelRing, probeUring } from '../../src/io/pick.ts'
import type { IoBackend } from '../../src/io/backend.ts'

const [kind, path] = [process.argv[2], process.argv[3] as string]
const picked = kind === 'pwrite' ? new PwriteBackend(null) : kind === 'liburing' ? probeUring() : probeKernelRing()
if (typeof picked === 'string') throw new Error(picked)
const io: IoBackend = picked
const fd = io.open(path, true)
await io.writeDurable(fd, new TextEncoder().encode('one record\n'), 0, true)
io.close(fd)
io.shutdown()
process.stdout.write(`${fd}\n`)
