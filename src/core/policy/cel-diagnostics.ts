/**
 * Turning cel-js errors into positioned diagnostics, and compile-time checks cel-js cannot do
 * (a literal CIDR argument that would fail at every evaluation).
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { parseCidr } from '../net/cidr.js';

/** One problem in one expression, 1-based line and column (UTF-16 code units). */
export interface CelDiagnostic {
  readonly code: string;
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

/** Where a source offset falls, as 1-based line and column. */
export function positionOf(source: string, offset: number): { line: number; column: number } {
  const bounded = Math.max(0, Math.min(offset, source.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < bounded; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: bounded - lineStart + 1 };
}

interface CelErrorShape {
  readonly code?: unknown;
  readonly summary?: unknown;
  readonly message?: unknown;
  readonly range?: { readonly start?: unknown };
}

/**
 * A diagnostic from anything cel-js threw or reported. The one-line `summary` is used, never the
 * multi-line message with source highlighting (it would echo the expression into logs twice).
 */
export function diagnosticOf(source: string, error: unknown, fallbackCode: string): CelDiagnostic {
  const shape: CelErrorShape = typeof error === 'object' && error !== null ? error : {};
  const start = typeof shape.range?.start === 'number' ? shape.range.start : 0;
  const code = typeof shape.code === 'string' && shape.code !== '' ? shape.code : fallbackCode;
  const message =
    typeof shape.summary === 'string'
      ? shape.summary
      : typeof shape.message === 'string'
        ? (shape.message.split('\n')[0] ?? '')
        : 'unknown error';
  return { code, message, ...positionOf(source, start) };
}

/** A short code and message for an error thrown during evaluation (recorded in explanations). */
export function evaluationFault(error: unknown): { code: string; message: string } {
  const shape: CelErrorShape = typeof error === 'object' && error !== null ? error : {};
  const code = typeof shape.code === 'string' && shape.code !== '' ? shape.code : 'function_error';
  const message =
    typeof shape.summary === 'string'
      ? shape.summary
      : typeof shape.message === 'string'
        ? (shape.message.split('\n')[0] ?? '')
        : 'unknown error';
  return { code, message };
}

/** Reports literal CIDR arguments of the given functions that do not parse. */
export function checkCidrLiterals(
  source: string,
  root: ASTNode,
  functions: ReadonlySet<string>,
): CelDiagnostic[] {
  const found: CelDiagnostic[] = [];
  const visit = (node: ASTNode): void => {
    if (node.op === 'call') {
      const [name, args] = node.args;
      const last = args[args.length - 1];
      if (functions.has(name) && last) checkLiteral(source, last, found);
    }
    for (const child of childrenOf(node)) visit(child);
  };
  visit(root);
  return found;
}

function checkLiteral(source: string, node: ASTNode, found: CelDiagnostic[]): void {
  const literals: ASTNode[] = node.op === 'list' ? node.args : [node];
  for (const literal of literals) {
    if (literal.op !== 'value' || typeof literal.args !== 'string') continue;
    const parsed = parseCidr(literal.args);
    if (!parsed.ok) {
      found.push({
        code: 'invalid_cidr',
        message: `invalid CIDR "${literal.args}": ${parsed.error}`,
        ...positionOf(source, literal.range.start),
      });
    }
  }
}

function childrenOf(node: ASTNode): ASTNode[] {
  // Generic over operators: every operand that is itself a node (op + range) is a child.
  const children: ASTNode[] = [];
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) collect(item);
    } else if (isNode(value)) {
      children.push(value);
    }
  };
  collect(node.args);
  return children;
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'range' in value;
}
