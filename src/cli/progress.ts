/**
 * Progress of long CLI work (benchmarks) on stderr: a bar when stderr is a terminal and the output is for
 * humans, one line per stage otherwise (logs and pipes keep a readable record, and `--json` output on
 * stdout is never mixed with terminal control codes).
 */
import cliProgress from 'cli-progress';

export class Progress {
  readonly #bar: cliProgress.SingleBar | undefined;
  #total = 0;
  #done = 0;

  constructor(options: { json?: boolean; stream?: NodeJS.WriteStream } = {}) {
    const stream = options.stream ?? process.stderr;
    this.#bar =
      stream.isTTY && !options.json
        ? new cliProgress.SingleBar(
            { stream, format: '  {bar} {value}/{total} {stage}', hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
  }

  /** Announce how many stages the work has: a bar appears (on a terminal). Optional; stages work without it. */
  expect(total: number): void {
    this.#total = total;
    this.#done = 0;
    this.#bar?.start(total, 0, { stage: '' });
  }

  /** A new stage begins: the bar advances and shows its label, or the label is printed as a line. */
  stage(label: string): void {
    if (this.#bar && this.#total > 0) this.#bar.update(Math.min(this.#done++, this.#total), { stage: label });
    else process.stderr.write(`  ${label}…\n`);
  }

  stop(): void {
    if (this.#bar && this.#total > 0) {
      this.#bar.update(this.#total);
      this.#bar.stop();
    }
    this.#total = 0;
  }
}
