/** Queue control and stats commands (spec §3.3, §3.4). */
import type { HandlerTable } from './engine.ts'

export const queueHandlers: HandlerTable = {}
