/** Job management commands (spec §3.2). */
import type { HandlerTable } from './engine.ts'

export const jobHandlers: HandlerTable = {}
