/** The in-process global tier against the StateBackend contract. */
import { MemoryBackend } from '../../src/state/memory-backend.ts';
import { backendContract } from './backend.contract.ts';

backendContract('MemoryBackend', (options) => new MemoryBackend(options));
