#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/** The `plume` command. Each subcommand is a thin adapter over the in-process API. */
import { Command, InvalidArgumentError } from 'commander';
import { PlumeError } from '../errors.ts';
import { runCommand } from './run.ts';
import { benchCommand } from './bench.ts';

const program = new Command('plume')
  .description('Featherlight, stateful WebAssembly functions composed into fast inference workflows')
  .configureOutput({ outputError: (text, write) => write(text) });

program
  .command('run')
  .description('run one invocation of a module in process; output goes to stdout')
  .argument('<module.wasm>', 'the module to run')
  .argument('[args...]', 'program arguments for a WASI command (after --)')
  .option('--data <string>', 'the input, as a string')
  .option('--input <file>', "the input, read from a file ('-' for stdin)")
  .option('--memory <MB>', 'memory limit in MB', positiveNumber)
  .option('--timeout <ms>', 'wall-clock limit in ms', positiveNumber)
  .option('--entry <export>', "the reactor export to call (default 'run')")
  .option('--env <K=V>', 'an environment variable for WASI (repeatable)', collect, [])
  .option('--dir <HOST_DIR[::GUEST_DIR]>', 'grant a host directory to WASI (repeatable)', collect, [])
  .action(runCommand);

program
  .command('bench')
  .description('run a benchmark scenario: coldstart | density | transfer | fanout')
  .argument('<scenario>', 'the scenario')
  .option('--json', 'print exactly one JSON document on stdout')
  .option('--quick', 'fewer iterations (a smoke run, not for reporting)')
  .option('--instances <n>', 'density: how many idle instances to create', positiveNumber)
  .action(benchCommand);

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

try {
  await program.parseAsync();
} catch (err) {
  // One clear line, never a stack trace: the contract for every failing command.
  const message =
    err instanceof PlumeError || err instanceof TypeError || err instanceof RangeError
      ? err.message
      : String((err as Error)?.message ?? err);
  process.stderr.write(`plume: ${message}\n`);
  process.exitCode = process.exitCode || 1;
}
