/** Files imported `with { type: 'text' }` (embedded by bun build --compile) are strings. */
declare module '*.css' {
  const text: string
  export default text
}
