/** Writes one byte per 4 KiB OS page of `u8`, so its pages are faulted in now, not when it is first used; the values stay zero. */
export function faultIn(u8: Uint8Array): void {
  for (let i = 0; i < u8.length; i += 4096) u8[i] = 0;
}
