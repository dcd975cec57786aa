/** @jsxImportSource hono/jsx/dom */
/** The page frame: navigation, the live-connection state, the token prompt, and the routed view. */
import { useEffect, useRef, useState } from 'hono/jsx/dom'
import { auth, get } from './api.ts'
import { live } from './live.ts'
import { CronsPage } from './pages/crons.tsx'
import { JobPage } from './pages/job.tsx'
import { Overview } from './pages/overview.tsx'
import { QueuePage } from './pages/queue.tsx'
import { ServerPage } from './pages/server.tsx'
import { StoragePage } from './pages/storage.tsx'
import { WorkersPage } from './pages/workers.tsx'
import { href, navigate, router } from './router.ts'
import { useSignal } from './signal.ts'
import { Toasts } from './ui.tsx'

const sections = [
  { path: '', label: 'Overview' },
  { path: 'crons', label: 'Crons' },
  { path: 'workers', label: 'Workers' },
  { path: 'storage', label: 'Storage' },
  { path: 'server', label: 'Server' },
]

export function App() {
  useSignal(auth)
  useSignal(router)
  const [generation, setGeneration] = useState(0)
  if (auth.required) return <TokenPrompt onAccepted={() => setGeneration(generation + 1)} />
  const [section = '', ...rest] = router.route.path
  return (
    <div class="frame">
      {/* The fragment holds the route, so the skip link moves focus itself instead of navigating. */}
      <a class="skip" href="#main" onClick={(event: Event) => (event.preventDefault(), document.getElementById('main')?.focus())}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/">⚡ flashq</a>
        <nav aria-label="Sections">
          {sections.map((item) => (
            <a href={href(item.path === '' ? [] : [item.path])} aria-current={isCurrent(item.path, section) ? 'page' : undefined}>{item.label}</a>
          ))}
        </nav>
        <JobJump />
        <ConnectionPill />
      </header>
      <ConnectionBanner />
      <main id="main" tabindex={-1} key={generation}>
        <View section={section} rest={rest} />
      </main>
      <Toasts />
    </div>
  )
}

function isCurrent(path: string, section: string): boolean {
  return path === section || (path === '' && (section === 'queues' || section === 'jobs'))
}

function View(props: { section: string; rest: string[] }) {
  const [first = ''] = props.rest
  switch (props.section) {
    case '': return <Overview />
    case 'queues': return first === '' ? <Overview /> : <QueuePage name={first} />
    case 'jobs': return <JobPage id={first} />
    case 'crons': return <CronsPage />
    case 'workers': return <WorkersPage />
    case 'storage': return <StoragePage />
    case 'server': return <ServerPage />
    default: return <p class="empty">No such page. <a href="#/">Back to the overview</a>.</p>
  }
}

function JobJump() {
  const [id, setId] = useState('')
  return (
    <form class="jump" role="search" aria-label="Open a job by id" onSubmit={(event: Event) => {
      event.preventDefault()
      if (/^\d+$/.test(id.trim())) navigate(['jobs', id.trim()])
    }}>
      <input inputmode="numeric" placeholder="Job id" aria-label="Job id" value={id} onInput={(event: Event) => setId((event.target as HTMLInputElement).value)} />
      <button type="submit">Open</button>
    </form>
  )
}

function ConnectionPill() {
  useSignal(live)
  const text = { open: 'Live', connecting: 'Connecting…', lost: 'Disconnected' }[live.state]
  const title = live.eventsOpen ? 'Snapshot and job events live' : live.eventsPaused ? 'Job events paused (high rate); snapshot live' : undefined
  return <span class={`pill ${live.state}`} data-testid="connection" data-events={live.eventsOpen ? 'open' : 'closed'} title={title}>{text}</span>
}

function ConnectionBanner() {
  useSignal(live)
  const [, setNow] = useState(0)
  const lost = live.state === 'lost'
  useEffect(() => {
    if (!lost) return
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [lost])
  if (!lost) return null
  const seconds = Math.max(0, Math.ceil((live.retryAtMs - Date.now()) / 1000))
  return (
    <div class="banner" role="alert">
      Lost the live connection to the server; the figures below may be stale. Retrying in {seconds} s.
      <button type="button" onClick={() => live.retryNow()}>Retry now</button>
    </div>
  )
}

function TokenPrompt(props: { onAccepted: () => void }) {
  const [token, setToken] = useState('')
  const input = useRef<HTMLInputElement>(null)
  useEffect(() => input.current?.focus(), [])
  return (
    <main class="login">
      <form class="panel stack" aria-labelledby="login-title" onSubmit={async (event: Event) => {
        event.preventDefault()
        auth.setToken(token.trim())
        // A wrong token shows this form again, marked rejected.
        await get('/stats').then(() => (live.retryNow(), props.onAccepted()), () => {})
      }}>
        <h1 id="login-title">⚡ flashq</h1>
        <p>This server requires an auth token. It is kept in this browser tab's session storage only.</p>
        {auth.rejected && <p class="failure" role="alert">The server rejected that token.</p>}
        <label>Token
          <input ref={input} type="password" name="token" autocomplete="current-password" required value={token} onInput={(event: Event) => setToken((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </main>
  )
}
