import { expect, test } from 'bun:test'
import { AuthFailures } from './auth-failures.ts'

test('failures per address: refused past the budget until the minute ends; the oldest address is forgotten first', () => {
  let now = 1_000_000
  const failures = new AuthFailures(() => now, 3, 2)
  const wrong = () => false
  for (let attempt = 0; attempt < 3; attempt++) expect(failures.check('a', wrong)).toEqual({ ok: false, error: 'Invalid token' })
  let verified = false
  const blocked = failures.check('a', () => (verified = true))
  expect(verified).toBe(false) // over the budget, the token is not even compared
  expect(blocked).toEqual({ ok: false, error: 'Too many failed authentications from a (max 3 per minute): retry in 60 s', retryAfterSeconds: 60 })
  expect(failures.check('b', () => true)).toEqual({ ok: true })
  failures.check('b', wrong)
  failures.check('c', wrong) // two addresses at most: 'a' is forgotten
  expect(failures.addressesTracked).toBe(2)
  expect(failures.check('a', () => true)).toEqual({ ok: true })
  now += 60_000
  failures.check('c', wrong)
  expect(failures.addressesTracked).toBe(1) // a new minute starts afresh
})
