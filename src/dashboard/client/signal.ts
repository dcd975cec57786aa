/** A tiny change notifier: objects announce changes, components re-render through useSignal. */
import { useSyncExternalStore } from 'hono/jsx/dom'

const listeners = new WeakMap<object, Set<() => void>>()
const versions = new WeakMap<object, number>()

export function subscribeTo(target: object, listener: () => void): () => void {
  let set = listeners.get(target)
  if (set === undefined) listeners.set(target, (set = new Set()))
  set.add(listener)
  return () => set.delete(listener)
}

export function emitChange(target: object): void {
  versions.set(target, (versions.get(target) ?? 0) + 1)
  for (const listener of listeners.get(target) ?? []) listener()
}

/** Re-renders the calling component whenever `target` emits a change. */
export function useSignal(target: object): number {
  return useSyncExternalStore((listener) => subscribeTo(target, listener), () => versions.get(target) ?? 0)
}
