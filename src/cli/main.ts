#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/** The `plume` command. Each subcommand is a thin adapter over the in-process API. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { PlumeError } from '../errors.ts';
import { MIN_PEER_TIMEOUT_MS } from '../data/transport/liveness.ts';

const program = new Command('plume')
  .description('Featherlight, stateful WebAssembly functions composed into fast inference workflows')
  .configureOutput({ outputError: (text, write) => write(text) });

// Each command loads its module when it runs: a client command need not load the runtime or the benchmarks.
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
  .action(async (module, args, opts) => (await import('./run.ts')).runCommand(module, args, opts));

program
  .command('demo')
  .description('OCR on a bundled sample image, embedded: prints the text and per-stage timings')
  .option('--input <file>', "a PNG to read instead of the sample ('-' for stdin)")
  .option('--json', 'print the result and timings as one JSON document')
  .action(async (opts) => (await import('./demo.ts')).demoCommand(opts));

program
  .command('bench')
  .description(
    'run a benchmark scenario: coldstart | density | transfer | fanout | batching | ocr | gateway | isolation | wasi | cluster | trace; ' +
      '`report` writes one HTML report of them',
  )
  .argument('<scenario>', 'the scenario')
  .option('--json', 'print exactly one JSON document on stdout')
  .option('--quick', 'fewer iterations (a smoke run, not for reporting)')
  .option('--instances <n>', 'density: how many idle instances to create', positiveNumber)
  .option('--workers <n>', 'gateway: worker threads of the node (default: one per core)', positiveInteger)
  .option('--cold-ratio <p>', 'ocr: probability that a process-per-function request restarts a step first (default 0.1)', ratio)
  .addOption(new Option('--chain <name>', 'ocr: the chain served (text: two trivial guests)').choices(['ocr', 'text']))
  .addOption(
    new Option('--arrivals <pattern>', "ocr: 'poisson' (the rate sweep) or 'trace' (the Azure trace's arrivals, too)").choices([
      'poisson',
      'trace',
    ]),
  )
  .option('--minutes <m>', 'trace: minutes of trace time to replay (default 30; quick 2)', positiveNumber)
  .option('--speedup <n>', 'trace: trace time runs this many times faster than wall time (default 20; quick 60)', positiveNumber)
  .option('--seed <n>', 'trace: seed of the arrivals and samples (default 1)', nonNegativeInteger)
  .option('--functions <k>', 'trace: replay the K busiest trace functions (default all; quick 4)', positiveInteger)
  .addOption(new Option('--work <kind>', 'trace: a call burns its duration of CPU or waits it (default wait)').choices(['cpu', 'wait']))
  .option('--cases <list>', 'trace: comma-separated cases (default plume,process-per-function,workerd)')
  .option('--ppf-concurrency <n>', 'trace: calls one process-per-function instance takes at once (default 10)', positiveInteger)
  .option('--out <file.html>', 'report: the HTML file to write (default report.html)')
  .option('--from <dir>', 'report: read the --json outputs (*.json) in DIR instead of running the scenarios')
  .action(async (scenario, opts) => (await import('./bench.ts')).benchCommand(scenario, opts));

program
  .command('up')
  .description('start a node: the HTTP gateway and its executors; prints the URL, stops on Ctrl-C')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0: any free port)', port, 8080)
  .option('--workers <n>', 'worker threads (default: one per core)', positiveInteger)
  .option('--worker-memory-mb <n>', 'memory a worker may hold before calls go elsewhere (default: no limit)', positiveInteger)
  .option('--redis <url>', 'Redis URL of the global state tier (default: in memory)')
  .option('--admin-token <token>', 'bearer token that /system routes require (or $PLUME_ADMIN_TOKEN)')
  .option('--queue <n>', 'calls queued per function beyond its concurrency before 429 (default 1024)', nonNegativeInteger)
  .option('--peer <url>', 'gateway URL of another node whose functions this one may call (repeatable)', collect, [])
  .option('--peer-token <token>', "the peers' admin token, for their /system/node (or $PLUME_PEER_TOKEN)")
  .option('--host-id <id>', 'nodes with the same host id link over a Unix socket, others over TCP (default: the hostname)')
  // Cluster membership (docs/cluster.md): each flag also reads the environment variable deploy/kubernetes sets.
  .addOption(new Option('--node-id <id>', 'unique id of this node in the cluster (default: hostname-pid)').env('PLUME_NODE_ID'))
  .addOption(
    new Option('--advertise <address>', 'the address other nodes reach this one at (default: --host, never 0.0.0.0)').env(
      'PLUME_ADVERTISE_ADDRESS',
    ),
  )
  .addOption(
    new Option('--peer-port <port>', 'TCP port of the peer server (default: any free port)').env('PLUME_PEER_PORT').argParser(port),
  )
  .addOption(
    new Option('--drain-timeout <ms>', 'on SIGTERM, wait at most this long for calls in flight (default 25000)')
      .env('PLUME_DRAIN_TIMEOUT')
      .argParser(nonNegativeInteger),
  )
  .addOption(
    new Option(
      '--peer-timeout-ms <ms>',
      'a peer silent this long (pings unanswered) is lost: its calls are retried elsewhere (default 1000; 0: off)',
    )
      .env('PLUME_PEER_TIMEOUT_MS')
      .argParser(peerTimeout),
  )
  .option('--redis-optional', 'start single-node when --redis cannot be reached (default: refuse to start)')
  .option('--apply <spec.yaml>', 'apply a workflow spec before serving (repeatable)', collect, [])
  .option('--callback-allow <cidr|host>', 'let async callbacks reach this non-public CIDR, address or host (repeatable)', collect, [])
  .option(
    '--callback-secret <secret>',
    'HMAC key of X-Plume-Signature on callbacks (or $PLUME_CALLBACK_SECRET; default the cluster secret)',
  )
  .option('--callback-attempts <n>', 'attempts per callback before it is dead-lettered (default 6)', positiveInteger)
  .option('--callback-backoff-ms <ms>', 'delay before the second callback attempt, doubled each time (default 2000)', nonNegativeInteger)
  .option(
    '--async-visibility-ms <ms>',
    'with --redis: a claimed async call not renewed this long runs elsewhere (default 30000)',
    positiveInteger,
  )
  .option('--async-result-bytes <n>', 'largest async result kept; a larger one is kept as a 413 error (default 1 MiB)', positiveInteger)
  .option('--async-total-bytes <n>', 'bytes of async results kept in all, oldest dropped first (default 64 MiB)', positiveInteger)
  .option(
    '--data-dir <dir>',
    'without --redis, where deployments persist (or $PLUME_DATA_DIR; default $XDG_STATE_HOME/plume/<port>, or ~/.local/state/plume/<port>)',
  )
  .option('--no-data-dir', 'without --redis, keep deployments in memory only')
  .option('--local-registry', 'with --redis: keep this node’s deployments to itself (as without --redis), not in the cluster registry')
  .option('--cluster-secret <secret>', 'secret every peer connection proves, ≥ 16 bytes; required off loopback (or $PLUME_CLUSTER_SECRET)')
  .action(async (opts) => (await import('./up.ts')).upCommand(opts));

// Client commands: they talk to a running node over HTTP.
const client = (command: Command): Command =>
  command
    .option('--url <url>', 'the node (default $PLUME_URL or http://127.0.0.1:8080)')
    .option('--token <token>', 'bearer token: admin or invoke (default $PLUME_TOKEN)');

client(program.command('deploy'))
  .description('deploy a module under a name on a running node (a new version if the name exists)')
  .argument('<name>', 'the function name')
  .argument('<module.wasm>', 'the module')
  .option('--memory <MB>', 'memory limit in MB', positiveNumber)
  .option('--timeout <ms>', 'wall-clock limit per call in ms', positiveNumber)
  .option('--entry <export>', "the reactor export to call (default 'run')")
  .option('--env <K=V>', 'an environment variable for WASI (repeatable)', collect, [])
  .option('--stateful', 'one instance whose memory survives between calls')
  .option('--concurrency <n>', 'calls running at once', positiveInteger)
  .option('--queue <n>', 'calls queued beyond --concurrency before 429', nonNegativeInteger)
  .option('--content-type <type>', 'Content-Type of its HTTP responses (default application/octet-stream)')
  .option('--invoke-token <token>', 'calls of this function must carry this bearer token')
  .action(async (name, module, opts) => (await import('./remote.ts')).deployCommand(name, module, opts));

client(program.command('invoke'))
  .description('call a function on a running node; output bytes go to stdout')
  .argument('<name>', 'the function name')
  .option('--data <string>', 'the input, as a string')
  .option('--input <file>', "the input, read from a file ('-' for stdin)")
  .option('--async', 'return at once with a call id (the result is fetched later)')
  .action(async (name, opts) => (await import('./remote.ts')).invokeCommand(name, opts));

client(program.command('ls'))
  .description('list the functions of a running node')
  .option('--json', 'print the node’s JSON')
  .action(async (opts) => (await import('./remote.ts')).lsCommand(opts));

client(program.command('rm'))
  .description('remove a function from a running node')
  .argument('<name>', 'the function name')
  .action(async (name, opts) => (await import('./remote.ts')).rmCommand(name, opts));

client(program.command('logs'))
  .description('print the log lines a function wrote on a running node')
  .argument('<name>', 'the function name')
  .option('--tail <n>', 'only the last n lines', nonNegativeInteger)
  .action(async (name, opts) => (await import('./remote.ts')).logsCommand(name, opts));

const asyncCommand = program.command('async').description('asynchronous calls of a running node (or of its Redis cluster)');
client(asyncCommand.command('ls'))
  .description('list recent async calls, or with --failed the callbacks dead-lettered after their last attempt')
  .option('--failed', 'the dead letters')
  .option('--json', 'print the node’s JSON')
  .option('--limit <n>', 'at most n rows (default 100)', positiveInteger)
  .action(async (opts) => (await import('./async.ts')).asyncLsCommand(opts));

const workflowCommand = program.command('workflow').description('apply and run workflows on a running node');
client(workflowCommand.command('apply'))
  .description('apply a workflow spec (YAML or JSON); its module and model files are sent along')
  .argument('<spec.yaml>', 'the spec file')
  .option('--invoke-token <token>', 'runs of this workflow must carry this bearer token')
  .action(async (spec, opts) => (await import('./workflow.ts')).workflowApplyCommand(spec, opts));
client(workflowCommand.command('run'))
  .description('run an applied workflow; output bytes go to stdout')
  .argument('<name>', 'the workflow name')
  .option('--data <string>', 'the input, as a string')
  .option('--input <file>', "the input, read from a file ('-' for stdin)")
  .option('--trace', 'print the run’s timeline on stderr')
  .action(async (name, opts) => (await import('./workflow.ts')).workflowRunCommand(name, opts));

const modelCommand = program.command('model').description('manage the ONNX models of a running node');
client(modelCommand.command('add'))
  .description('register an ONNX model under a name (for WASI-NN load_by_name)')
  .argument('<name>', 'the model name')
  .argument('<file.onnx>', 'the model file')
  .action(async (name, file, opts) => (await import('./remote.ts')).modelAddCommand(name, file, opts));

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function ratio(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected an integer ≥ 0');
  return Number(value);
}

function peerTimeout(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || (n !== 0 && n < MIN_PEER_TIMEOUT_MS))
    throw new InvalidArgumentError(`expected 0 (off) or a number of ms ≥ ${MIN_PEER_TIMEOUT_MS}`);
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535)');
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
