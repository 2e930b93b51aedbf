/** Shared test fixtures: paths of the guests built from source by `npm run build:examples`. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { PlumeError } from '../src/errors.ts';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const guest = (name: string): string => fileURLToPath(new URL(`./guests/${name}`, import.meta.url));
export const example = (path: string): string => fileURLToPath(new URL(`../examples/${path}`, import.meta.url));
/** A guest the benchmarks also run (bench/guests/). */
export const benchGuest = (name: string): string => fileURLToPath(new URL(`../bench/guests/${name}`, import.meta.url));
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** The PlumeError a promise rejects with (fails the test if it resolves or rejects with anything else). */
export async function rejection(promise: Promise<unknown>): Promise<PlumeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PlumeError, `expected a PlumeError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the promise to reject');
}
