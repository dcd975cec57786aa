/** @jsxImportSource hono/jsx/dom */
/** Small shared pieces: toasts, async action buttons, confirmation dialog, pager, key-value lists. */
import type { Child } from 'hono/jsx'
import { useEffect, useRef, useState } from 'hono/jsx/dom'
import { emitChange, useSignal } from './signal.ts'

type Toast = { id: number; text: string; error: boolean }
export const toasts = { list: [] as Toast[], next: 1 }

export function toast(text: string, error = false): void {
  const entry = { id: toasts.next++, text, error }
  toasts.list = [...toasts.list, entry].slice(-4)
  emitChange(toasts)
  setTimeout(() => {
    toasts.list = toasts.list.filter((candidate) => candidate !== entry)
    emitChange(toasts)
  }, error ? 8000 : 4000)
}

export function Toasts() {
  useSignal(toasts)
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.list.map((entry) => <p class={entry.error ? 'toast error' : 'toast'}>{entry.text}</p>)}
    </div>
  )
}

/** Runs an API call, reports its outcome as a toast, and calls `then` after success. */
export async function perform(label: string, action: () => Promise<unknown>, then?: (result: unknown) => void): Promise<void> {
  try {
    const result = await action()
    toast(typeof result === 'number' ? `${label}: ${result}` : `${label}: done`)
    then?.(result)
  } catch (error) {
    toast(`${label} failed: ${(error as Error).message}`, true)
  }
}

export function ActionButton(props: { label: string; run: () => Promise<void>; danger?: boolean; disabled?: boolean; title?: string }) {
  const [busy, setBusy] = useState(false)
  return (
    <button
      type="button"
      class={props.danger ? 'danger' : ''}
      disabled={busy || props.disabled}
      title={props.title}
      onClick={async () => {
        setBusy(true)
        await props.run()
        setBusy(false)
      }}
    >
      {props.label}
    </button>
  )
}

/**
 * A modal <dialog> asking to confirm a destructive action; with `typeToConfirm`, the user must type
 * that text (the queue name for obliterate). Focus goes into the dialog and Escape cancels.
 */
export function ConfirmButton(props: { label: string; question: string; typeToConfirm?: string; run: () => Promise<void> }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [typed, setTyped] = useState('')
  const [busy, setBusy] = useState(false)
  const ready = props.typeToConfirm === undefined || typed === props.typeToConfirm
  return (
    <>
      <button type="button" class="danger" onClick={() => (setTyped(''), dialog.current?.showModal())}>{props.label}</button>
      <dialog ref={dialog} class="confirm" aria-label={props.label}>
        <form
          method="dialog"
          onSubmit={async (event: Event) => {
            event.preventDefault()
            if (!ready) return
            setBusy(true)
            await props.run()
            setBusy(false)
            dialog.current?.close()
          }}
        >
          <p>{props.question}</p>
          {props.typeToConfirm !== undefined && (
            <label>
              Type <code>{props.typeToConfirm}</code> to confirm
              <input autocomplete="off" value={typed} onInput={(event: Event) => setTyped((event.target as HTMLInputElement).value)} />
            </label>
          )}
          <div class="row">
            <button type="button" onClick={() => dialog.current?.close()}>Cancel</button>
            <button type="submit" class="danger" disabled={!ready || busy}>{props.label}</button>
          </div>
        </form>
      </dialog>
    </>
  )
}

export function KeyValues(props: { entries: Array<[string, Child]> }) {
  return (
    <dl class="kv">
      {props.entries.map(([key, value]) => (
        <div>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  )
}

export function Pager(props: { page: number; hasNext: boolean; go: (page: number) => void; label?: string }) {
  return (
    <nav class="pager" aria-label={props.label ?? 'Pages'}>
      <button type="button" disabled={props.page <= 1} onClick={() => props.go(props.page - 1)}>← Previous</button>
      <span>Page {props.page}</span>
      <button type="button" disabled={!props.hasNext} onClick={() => props.go(props.page + 1)}>Next →</button>
    </nav>
  )
}

export function Badge(props: { kind: string; children: Child }) {
  return <span class={`badge ${props.kind}`}>{props.children}</span>
}

export function Failure(props: { error: Error | null }) {
  return props.error === null ? null : <p class="failure" role="alert">{props.error.message}</p>
}

/** Runs `load` when `deps` change and on reload(); a stale answer (deps changed meanwhile) is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: Error | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let current = true
    load().then(
      (value) => current && (setData(value), setError(null)),
      (failure: Error) => current && setError(failure),
    )
    return () => {
      current = false
    }
  }, [...deps, tick])
  return { data, error, reload: () => setTick((value) => value + 1) }
}
