/** Shared test fixtures: paths of the guests built from source by `npm run build:examples`. */
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const guest = (name: string): string => fileURLToPath(new URL(`./guests/${name}`, import.meta.url));
export const example = (path: string): string => fileURLToPath(new URL(`../examples/${path}`, import.meta.url));
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
