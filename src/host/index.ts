/** The host interfaces every Plume executor offers its guests. */
import type { HostInterface } from '../engine/host-interface.ts';
import { plumeV1 } from './plume-v1.ts';
import { wasiPreview1 } from './wasi/index.ts';
import { wasiNn } from './wasi-nn.ts';

export const hostInterfaces: readonly HostInterface[] = [plumeV1, wasiPreview1, wasiNn];
export { Errno } from './errno.ts';
export type { HostInterface } from '../engine/host-interface.ts';
