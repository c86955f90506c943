/**
 * validate_prompt of ComfyUI 0.3.64 (execution.py:725-1073), reproduced for its observable
 * results: prompt-level errors first (key order, first problem wins), then per-output input
 * validation with node_errors keyed by the faulty node and the Python exception quirks for bad
 * links. Widget values are coerced in place, as the real one does, so /queue shows "8" as 8.
 */
import { existsSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import type { NodeCatalog, InputSpec } from './node-catalog.js';
import { pyStr, pyRepr } from './python-format.js';

export interface ComfyError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}
export interface NodeErrorEntry {
  errors: ComfyError[];
  dependent_outputs: string[];
  class_type: string;
}
export type ApiNode = { class_type?: unknown; inputs?: Record<string, unknown>; [key: string]: unknown };
export type ApiPromptGraph = Record<string, ApiNode>;

export type ValidationResult =
  | { ok: true; outputs: string[]; nodeErrors: Record<string, NodeErrorEntry> }
  | { ok: false; error: ComfyError; nodeErrors: Record<string, NodeErrorEntry> };

/** Thrown for inputs whose shape makes the real server raise outside its handlers (→ HTTP 500). */
export class UnhandledValidationCrash extends Error {}

class PythonException extends Error {
  constructor(
    readonly pyType: string,
    readonly pyDetails: string,
    readonly traceback: string[],
  ) {
    super(pyDetails);
  }
}

type Verdict = { valid: boolean; errors: ComfyError[] };

const tracebackHead =
  '  File "/opt/ComfyUI/execution.py", line 1010, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n';

function promptLevelError(type: string, message: string, details: string): ValidationResult {
  return { ok: false, error: { type, message, details, extra_info: {} }, nodeErrors: {} };
}

function convert(inputType: unknown, value: unknown): unknown {
  if (inputType === 'INT') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
    if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) return Number.parseInt(value, 10);
    if (typeof value === 'string') throw new Error(`invalid literal for int() with base 10: ${pyRepr(value)}`);
    throw new Error(`int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(value)}'`);
  }
  if (inputType === 'FLOAT') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (typeof value === 'number') return value;
    if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
    if (typeof value === 'string') throw new Error(`could not convert string to float: ${pyRepr(value)}`);
    throw new Error(`float() argument must be a string or a real number, not '${pyTypeName(value)}'`);
  }
  if (inputType === 'STRING') return pyStr(value);
  if (inputType === 'BOOLEAN') return Boolean(value) && value !== '' && value !== 0;
  return value;
}

function pyTypeName(value: unknown): string {
  if (value === null) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'dict';
  return typeof value;
}

function typesMatch(received: unknown, expected: unknown): boolean {
  if (received === '*' || expected === '*') return true;
  if (typeof received !== 'string' || typeof expected !== 'string') return received === expected || Array.isArray(expected);
  if (received === expected) return true;
  const a = received.split(','),
    b = expected.split(',');
  return a.some((t) => b.includes(t));
}

export class PromptValidator {
  constructor(
    private readonly catalog: NodeCatalog,
    private readonly inputDir: string,
  ) {}

  validate(prompt: unknown, partialTargets: string[] | null): ValidationResult {
    if (typeof prompt !== 'object' || prompt === null || Array.isArray(prompt)) throw new UnhandledValidationCrash('prompt is not a dict');
    const graph = prompt as ApiPromptGraph;
    const outputs: string[] = [];
    for (const [id, node] of Object.entries(graph)) {
      if (typeof node !== 'object' || node === null) throw new UnhandledValidationCrash(`node ${id} is not a dict`);
      if (!('class_type' in node))
        return promptLevelError('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', `Node ID '#${id}'`);
      const classType = String(node.class_type);
      if (!this.catalog.get(classType))
        return promptLevelError('invalid_prompt', `Cannot execute because node ${classType} does not exist.`, `Node ID '#${id}'`);
      if (this.catalog.isOutputNode(classType) && (partialTargets === null || partialTargets.includes(id))) outputs.push(id);
    }
    if (outputs.length === 0) return promptLevelError('prompt_no_outputs', 'Prompt has no outputs', '');

    const validated = new Map<string, Verdict>();
    const good: string[] = [];
    const outputErrors: ComfyError[] = [];
    const nodeErrors: Record<string, NodeErrorEntry> = {};
    for (const output of outputs) {
      let verdict: Verdict;
      try {
        verdict = this.validateNode(graph, output, validated);
      } catch (error) {
        verdict = { valid: false, errors: [exceptionReason('exception_during_validation', 'Exception when validating node', error)] };
        validated.set(output, verdict);
      }
      if (verdict.valid) {
        good.push(output);
        continue;
      }
      outputErrors.push(...verdict.errors);
      // As in the real loop: every invalid node seen so far gains this output as a dependent.
      for (const [nodeId, result] of validated) {
        if (result.valid || result.errors.length === 0) continue;
        nodeErrors[nodeId] ??= { errors: result.errors, dependent_outputs: [], class_type: String(graph[nodeId]?.class_type) };
        nodeErrors[nodeId].dependent_outputs.push(output);
      }
    }
    if (good.length === 0) {
      const details = outputErrors.map((e) => `${e.message}: ${e.details}`).join('\n');
      return {
        ok: false,
        error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details, extra_info: {} },
        nodeErrors,
      };
    }
    return { ok: true, outputs: good, nodeErrors };
  }

  private validateNode(graph: ApiPromptGraph, id: string, validated: Map<string, Verdict>): Verdict {
    const known = validated.get(id);
    if (known) return known;
    const node = graph[id];
    if (!node) throw new PythonException('KeyError', pyRepr(id), []);
    if (typeof node.inputs !== 'object' || node.inputs === null) throw new PythonException('KeyError', "'inputs'", []);
    const inputs = node.inputs;
    const classType = String(node.class_type);
    const info = this.catalog.get(classType);
    if (!info) throw new PythonException('KeyError', pyRepr(classType), []);
    const errors: ComfyError[] = [];
    let valid = true;
    const sections: Array<[string, Record<string, InputSpec> | undefined]> = [
      ['required', info.input.required],
      ['optional', info.input.optional],
    ];
    for (const [category, section] of sections) {
      for (const [name, spec] of Object.entries(section ?? {})) {
        const inputType = spec[0];
        const options = spec[1] ?? {};
        const config = [inputType, options];
        if (!(name in inputs)) {
          if (category === 'required')
            errors.push({ type: 'required_input_missing', message: 'Required input is missing', details: name, extra_info: { input_name: name } });
          continue;
        }
        let value = inputs[name];
        if (Array.isArray(value)) {
          if (value.length !== 2) {
            errors.push({
              type: 'bad_linked_input',
              message: 'Bad linked input, must be a length-2 list of [node_id, slot_index]',
              details: name,
              extra_info: { input_name: name, input_config: config, received_value: value },
            });
            continue;
          }
          const receivedType = this.linkedType(graph, value);
          if (!typesMatch(receivedType, inputType)) {
            const details = `${name}, received_type(${pyStr(receivedType)}) mismatch input_type(${pyStr(inputType)})`;
            errors.push({
              type: 'return_type_mismatch',
              message: 'Return type mismatch between linked nodes',
              details,
              extra_info: { input_name: name, input_config: config, received_type: receivedType, linked_node: value },
            });
            continue;
          }
          const upstream = String(value[0]);
          try {
            if (!this.validateNode(graph, upstream, validated).valid) valid = false;
          } catch (error) {
            valid = false;
            const reason = exceptionReason('exception_during_inner_validation', 'Exception when validating inner node', error);
            reason.extra_info = {
              input_name: name,
              input_config: config,
              exception_message: reason.details,
              exception_type: reason.extra_info['exception_type'],
              traceback: reason.extra_info['traceback'],
              linked_node: value,
            };
            validated.set(upstream, { valid: false, errors: [reason] });
          }
          continue;
        }
        if (typeof value === 'object' && value !== null && '__value__' in value) {
          value = (value as Record<string, unknown>)['__value__'];
          inputs[name] = value;
        }
        try {
          value = convert(inputType, value);
          inputs[name] = value;
        } catch (error) {
          const message = (error as Error).message;
          errors.push({
            type: 'invalid_input_type',
            message: `Failed to convert an input value to a ${pyStr(inputType)} value`,
            details: `${name}, ${pyStr(value)}, ${message}`,
            extra_info: { input_name: name, input_config: config, received_value: value, exception_message: message },
          });
          continue;
        }
        if (classType === 'LoadImage' && name === 'image') continue; // checked by its VALIDATE_INPUTS below
        const min = options['min'],
          max = options['max'];
        if (typeof min === 'number' && typeof value === 'number' && value < min) {
          errors.push({
            type: 'value_smaller_than_min',
            message: `Value ${pyNum(value, inputType)} smaller than min of ${pyNum(min, inputType)}`,
            details: name,
            extra_info: { input_name: name, input_config: config, received_value: value },
          });
          continue;
        }
        if (typeof max === 'number' && typeof value === 'number' && value > max) {
          errors.push({
            type: 'value_bigger_than_max',
            message: `Value ${pyNum(value, inputType)} bigger than max of ${pyNum(max, inputType)}`,
            details: name,
            extra_info: { input_name: name, input_config: config, received_value: value },
          });
          continue;
        }
        const combo = Array.isArray(inputType) ? inputType : inputType === 'COMBO' ? ((options['options'] as unknown[] | undefined) ?? []) : null;
        if (combo && !combo.includes(value)) {
          const long = combo.length > 20;
          const listInfo = long ? `(list of length ${combo.length})` : pyRepr(combo);
          errors.push({
            type: 'value_not_in_list',
            message: 'Value not in list',
            details: `${name}: ${pyRepr(value)} not in ${listInfo}`,
            extra_info: { input_name: name, input_config: long ? null : config, received_value: value },
          });
        }
      }
    }
    if (classType === 'LoadImage' && typeof inputs['image'] === 'string' && !this.inputImageExists(inputs['image'])) {
      errors.push({
        type: 'custom_validation_failed',
        message: 'Custom validation failed for node',
        details: `image - Invalid image file: ${inputs['image']}`,
        extra_info: { input_name: 'image' },
      });
    }
    const verdict: Verdict = errors.length > 0 || !valid ? { valid: false, errors } : { valid: true, errors: [] };
    validated.set(id, verdict);
    return verdict;
  }

  private linkedType(graph: ApiPromptGraph, link: unknown[]): unknown {
    const sourceId = link[0];
    const source = typeof sourceId === 'string' ? graph[sourceId] : undefined;
    if (!source || typeof sourceId !== 'string') {
      throw new PythonException('KeyError', pyRepr(sourceId), [
        tracebackHead,
        '  File "/opt/ComfyUI/execution.py", line 788, in validate_inputs\n    o_class_type = prompt[o_id][\'class_type\']\n                   ~~~~~~^^^^^^\n',
      ]);
    }
    const returnTypes = this.catalog.returnTypes(String(source.class_type));
    const index = link[1];
    const tb = [
      tracebackHead,
      '  File "/opt/ComfyUI/execution.py", line 790, in validate_inputs\n    received_type = r[val[1]]\n                    ~^^^^^^^^\n',
    ];
    if (typeof index !== 'number' || !Number.isInteger(index))
      throw new PythonException('TypeError', `tuple indices must be integers or slices, not ${pyTypeName(index) === 'string' ? 'str' : pyTypeName(index)}`, tb);
    const resolved = index < 0 ? returnTypes.length + index : index;
    if (resolved < 0 || resolved >= returnTypes.length) throw new PythonException('IndexError', 'tuple index out of range', tb);
    return returnTypes[resolved];
  }

  /** folder_paths.exists_annotated_filepath: "name", "sub/name" or "name [input]" under input/. */
  private inputImageExists(name: string): boolean {
    const bare = name.replace(/ \[(input|output|temp)\]$/, '');
    if (bare.startsWith('/') || bare.includes('..')) return false;
    const path = join(this.inputDir, normalize(bare));
    return existsSync(path) && statSync(path).isFile();
  }
}

function pyNum(value: number, inputType: unknown): string {
  return inputType === 'FLOAT' && Number.isInteger(value) ? `${value}.0` : String(value);
}

function exceptionReason(type: string, message: string, error: unknown): ComfyError {
  const py = error instanceof PythonException ? error : new PythonException('Exception', String((error as Error)?.message ?? error), []);
  return { type, message, details: py.pyDetails, extra_info: { exception_type: py.pyType, traceback: py.traceback } };
}
