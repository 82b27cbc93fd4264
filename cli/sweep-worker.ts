/**
 * A child process of the sweep (see run-pool.ts). It receives the shared context once, then
 * trains one run per `run` message and reports steps and the result back over IPC.
 */
import { prepareDevice } from './device.js';
import { type RunResult, type RunSpec, type SweepContext, runOne } from './finetune-run.js';

export type ToWorker = { type: 'context'; context: SweepContext } | { type: 'run'; spec: RunSpec } | { type: 'exit' };

export type FromWorker =
  | { type: 'step'; index: number; stepsDone: number; loss: number }
  | { type: 'result'; result: RunResult }
  | { type: 'error'; index: number; message: string; stack: string | undefined };

// Set by the 'context' message; runs wait for it, since preparing a GPU device is asynchronous.
let contextReady: Promise<SweepContext> | null = null;

function send(message: FromWorker): void {
  process.send!(message);
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'context': {
      const { context } = message;
      contextReady = prepareDevice(context.device).then(() => context);
      return;
    }
    case 'exit':
      process.disconnect();
      return;
    case 'run': {
      const { spec } = message;
      try {
        if (contextReady === null) throw new Error('sweep worker: received a run before the context');
        const context = await contextReady;
        const result = await runOne(context, spec, (stepsDone, loss) => send({ type: 'step', index: spec.index, stepsDone, loss }));
        send({ type: 'result', result });
      } catch (error) {
        const { message: text, stack } = error instanceof Error ? error : { message: String(error), stack: undefined };
        send({ type: 'error', index: spec.index, message: text, stack });
      }
    }
  }
}

process.on('message', (message: ToWorker) => void handle(message));
