// `swarmserve plan …` run in-process, for the planner's command-line tests.
import { Command } from 'commander';
import { vi } from 'vitest';
import { registerPlanCommand } from '../../src/cli/plan-command.js';

/** Runs `swarmserve plan …` in-process; returns what it wrote. */
export async function plan(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const program = new Command('swarmserve').exitOverride();
  registerPlanCommand(program);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'swarmserve', 'plan', ...args]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return { stdout, stderr };
}
