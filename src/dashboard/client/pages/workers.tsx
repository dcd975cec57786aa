/** @jsxImportSource hono/jsx/dom */
/** Workers: every worker with a heartbeat in the last 30 s, from the live snapshot. */
import { ago, count } from '../format.ts'
import { live } from '../live.ts'
import { href } from '../router.ts'
import { useSignal } from '../signal.ts'

export function WorkersPage() {
  useSignal(live)
  const workers = live.snapshot?.workers ?? []
  const nowMs = live.snapshot?.timestamp ?? Date.now()
  return (
    <section aria-labelledby="workers-title">
      <h1 id="workers-title">Workers <small>({count(workers.length)})</small></h1>
      <div class="table-wrap panel">
        <table>
          <thead><tr><th scope="col">Id</th><th scope="col">Queues</th><th scope="col">Concurrency</th><th scope="col">Jobs processed</th><th scope="col">Last heartbeat</th></tr></thead>
          <tbody>
            {workers.map((worker) => (
              <tr>
                <th scope="row"><code>{worker.id}</code></th>
                <td><span class="links">{worker.queues.map((queue) => <a href={href(['queues', queue])}>{queue}</a>)}</span></td>
                <td>{count(worker.concurrency)}</td>
                <td>{count(worker.jobs_processed)}</td>
                <td><time>{ago(worker.last_heartbeat, nowMs)}</time></td>
              </tr>
            ))}
          </tbody>
        </table>
        {workers.length === 0 && <p class="empty">No worker has sent a heartbeat in the last 30 s. Workers report with HEARTBEAT over TCP or POST /workers/&lt;id&gt;/heartbeat.</p>}
      </div>
    </section>
  )
}
