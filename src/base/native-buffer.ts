/** Buffer's native UTF-8 methods (Node's, in Bun too): toString/write without their argument checks. */
export type NativeBuffer = Buffer & { utf8Slice(start: number, end: number): string; utf8Write(text: string, offset: number): number }
