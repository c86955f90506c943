/**
 * The configured bounds on what one job may ask ComfyUI for (`limits.*`): checked at
 * admission, so a 16384×16384 or 500-step request is refused before anything is stored,
 * with the field and the limit named, instead of tying up a GPU or failing deep inside it.
 */
import type { GenerateCommand } from '../commands/command-schemas.js';
import { invalidCommand } from '../commands/command-replies.js';
import type { ResolvedConfig } from '../config/index.js';

type Limits = ResolvedConfig['limits'];

export function assertWithinLimits(parameters: GenerateCommand['parameters'], limits: Limits): void {
  const checks = [
    ['width', parameters.width, limits.max_width, 'limits.max_width'],
    ['height', parameters.height, limits.max_height, 'limits.max_height'],
    ['steps', parameters.steps, limits.max_steps, 'limits.max_steps'],
  ] as const;
  const issues = checks.flatMap(([field, value, max, key]) =>
    value !== undefined && value > max ? [{ path: `parameters.${field}`, message: `${value} is more than ${key} (${max})`, limit: max }] : [],
  );
  if (issues.length > 0)
    throw invalidCommand(`the generate command asks for more than this service allows: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues);
}
