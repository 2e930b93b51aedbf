/** The closed errno set a guest can see (docs/abi.md). Values never change within `plume_v1`. */
export const Errno = {
  ok: 0,
  inval: 1,
  too_big: 2,
  noent: 3,
  badf: 4,
  timeout: 5,
  canceled: 6,
  failed: 7,
  nomem: 8,
  unavailable: 9,
  notsup: 10,
} as const;
export type ErrnoValue = (typeof Errno)[keyof typeof Errno];
