/** @jsxImportSource hono/jsx/dom */
/** Crons: the schedules from the live snapshot, with delete and a form to add or replace one. */
import { useState } from 'hono/jsx/dom'
import { del, post, q } from '../api.ts'
import { ago, count, duration, json, time } from '../format.ts'
import { live } from '../live.ts'
import { href } from '../router.ts'
import { useSignal } from '../signal.ts'
import { ConfirmButton, perform } from '../ui.tsx'

export function CronsPage() {
  useSignal(live)
  const crons = live.snapshot?.crons ?? []
  return (
    <section aria-labelledby="crons-title">
      <h1 id="crons-title">Crons <small>({count(crons.length)})</small></h1>
      <div class="table-wrap panel">
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Queue</th><th scope="col">Schedule</th><th scope="col">Next run</th><th scope="col">Runs</th><th scope="col">Priority</th><th scope="col">Data</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {crons.map((cron) => (
              <tr>
                <th scope="row">{cron.name}</th>
                <td><a href={href(['queues', cron.queue])}>{cron.queue}</a></td>
                <td><code>{cron.schedule ?? `every ${duration(cron.repeat_every ?? 0)}`}</code></td>
                <td><time title={time(cron.next_run)}>{ago(cron.next_run)}</time></td>
                <td>{count(cron.executions ?? null)}{cron.limit != null && ` / ${count(cron.limit)}`}</td>
                <td>{cron.priority}</td>
                <td><code class="clip">{json(cron.data)}</code></td>
                <td><ConfirmButton label="Delete" question={`Delete the cron ${cron.name}?`} run={() => perform('Delete cron', () => del(`/crons/${q(cron.name)}`))} /></td>
              </tr>
            ))}
          </tbody>
        </table>
        {crons.length === 0 && <p class="empty">No crons.</p>}
      </div>
      <AddCron />
    </section>
  )
}

function AddCron() {
  const [fields, setFields] = useState({ name: '', queue: '', schedule: '', data: '{}', priority: '0' })
  const field = (key: keyof typeof fields, label: string, hint?: string) => (
    <label>{label}
      <input required={key !== 'priority'} placeholder={hint} value={fields[key]} onInput={(event: Event) => setFields({ ...fields, [key]: (event.target as HTMLInputElement).value })} />
    </label>
  )
  return (
    <form class="panel stack" aria-labelledby="add-cron-title" onSubmit={async (event: Event) => {
      event.preventDefault()
      let data: unknown
      try {
        data = JSON.parse(fields.data)
      } catch {
        return perform('Add cron', () => Promise.reject(new Error('data is not valid JSON')))
      }
      await perform('Add cron', () => post(`/crons/${q(fields.name)}`, { queue: fields.queue, schedule: fields.schedule, data, priority: Number(fields.priority) }))
    }}>
      <h2 id="add-cron-title">Add or replace a cron</h2>
      {field('name', 'Name')}
      {field('queue', 'Queue')}
      {field('schedule', 'Schedule', '*/5 * * * * *  (sec min hour day month weekday)')}
      {field('data', 'Data (JSON)')}
      {field('priority', 'Priority')}
      <button type="submit">Save cron</button>
    </form>
  )
}
