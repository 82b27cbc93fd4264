/**
 * Training progress on stderr: live bars (cli-progress) when stderr is a terminal, otherwise one
 * plain line per finished run and per log message, so CI logs and pipes stay readable.
 */
import cliProgress from 'cli-progress';

/**
 * Receives progress from a sweep of training runs. A slot is one concurrently running job
 * (0 when runs execute one after another); each slot runs one training run at a time.
 */
export interface Progress {
  /** Announces the number of runs and the total optimizer steps over all of them. */
  begin(runs: number, totalSteps: number): void;
  startRun(slot: number, label: string, steps: number): void;
  /** Reports that the slot's current run has completed `stepsDone` optimizer steps; `loss` is the last batch loss. */
  step(slot: number, stepsDone: number, loss: number): void;
  finishRun(slot: number, summary: string): void;
  log(line: string): void;
  end(): void;
}

/** Picks live bars for a TTY stream and plain lines for anything else. */
export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  return stream.isTTY ? new BarProgress(stream) : new LineProgress(stream);
}

/** A Progress that prints nothing, for library callers and tests. */
export const silentProgress: Progress = {
  begin: () => undefined,
  startRun: () => undefined,
  step: () => undefined,
  finishRun: () => undefined,
  log: () => undefined,
  end: () => undefined,
};

/** One line per finished run, `[k/n] summary`, plus every log line. */
class LineProgress implements Progress {
  private runs = 0;
  private finished = 0;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  begin(runs: number): void {
    this.runs = runs;
    this.finished = 0;
  }

  startRun(): void {}

  step(): void {}

  finishRun(_slot: number, summary: string): void {
    this.finished += 1;
    const counter = this.runs > 1 ? `[${this.finished}/${this.runs}] ` : '';
    this.stream.write(`${counter}${summary}\n`);
  }

  log(line: string): void {
    this.stream.write(`${line}\n`);
  }

  end(): void {}
}

interface SlotState {
  bar: cliProgress.SingleBar;
  stepsDone: number;
}

/** An overall bar over all optimizer steps of the sweep, and one bar per running slot. */
class BarProgress implements Progress {
  private readonly multiBar: cliProgress.MultiBar;
  private overall: cliProgress.SingleBar | null = null;
  private readonly slots = new Map<number, SlotState>();
  private runs = 0;
  private finished = 0;
  private stepsDone = 0;

  constructor(stream: NodeJS.WritableStream) {
    this.multiBar = new cliProgress.MultiBar(
      {
        stream,
        format: ' {label} |{bar}| {value}/{total} steps | {status}',
        barsize: 24,
        // Leave the cursor alone: an interrupted run (Ctrl-C) would otherwise leave it hidden.
        hideCursor: false,
        clearOnComplete: true,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  begin(runs: number, totalSteps: number): void {
    this.runs = runs;
    this.overall = this.multiBar.create(
      totalSteps,
      0,
      { label: 'all runs'.padEnd(28), finished: 0, runs },
      { format: ' {label} |{bar}| {percentage}% | {finished}/{runs} runs done | ETA {eta_formatted}' },
    );
  }

  startRun(slot: number, label: string, steps: number): void {
    const bar = this.multiBar.create(steps, 0, { label: label.slice(0, 28).padEnd(28), status: 'loss -' });
    this.slots.set(slot, { bar, stepsDone: 0 });
  }

  step(slot: number, stepsDone: number, loss: number): void {
    const state = this.slots.get(slot);
    if (state === undefined) return;
    this.stepsDone += stepsDone - state.stepsDone;
    state.stepsDone = stepsDone;
    state.bar.update(stepsDone, { status: `loss ${loss.toFixed(4)}` });
    this.overall?.update(this.stepsDone);
  }

  finishRun(slot: number, summary: string): void {
    const state = this.slots.get(slot);
    if (state !== undefined) {
      // Count the steps a diverged run skipped, so the overall bar still reaches its total.
      this.stepsDone += state.bar.getTotal() - state.stepsDone;
      this.multiBar.remove(state.bar);
      this.slots.delete(slot);
    }
    this.finished += 1;
    this.overall?.update(this.stepsDone, { finished: this.finished });
    const counter = this.runs > 1 ? `[${this.finished}/${this.runs}] ` : '';
    this.multiBar.log(`${counter}${summary}\n`);
  }

  log(line: string): void {
    this.multiBar.log(`${line}\n`);
  }

  end(): void {
    // Log lines wait for the next redraw, and stop() does not redraw, so flush the last ones first.
    this.multiBar.update();
    this.multiBar.stop();
  }
}
