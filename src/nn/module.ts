// Module tree: parameters and child modules registered by name, giving dotted names
// ("layers.3.attn.q_proj.weight") for state dicts, freezing, train/eval and disposal.
import type { Tensor } from '../tensor/tensor.js';
import { Parameter } from './parameter.js';

export abstract class Module {
  private readonly ownParams = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();
  /** Training mode (dropout active); set through train()/eval(). */
  training = true;

  /** Registers a parameter under name. */
  protected param(name: string, value: Tensor, trainable = true): Parameter {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`duplicate member name '${name}'`);
    const p = new Parameter(value, trainable);
    this.ownParams.set(name, p);
    return p;
  }

  /** Registers a child module under name. */
  protected module<M extends Module>(name: string, m: M): M {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`duplicate member name '${name}'`);
    this.children.set(name, m);
    return m;
  }

  /** Unregisters a child module (its parameters leave this tree; the caller owns them). */
  protected removeModule(name: string): void {
    if (!this.children.delete(name)) throw new Error(`no child module '${name}'`);
  }

  /** Every parameter with its dotted name, depth first in registration order. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [n, p] of this.ownParams) out.push([prefix + n, p]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters that currently train. */
  trainableParameters(): Parameter[] {
    return this.parameters().filter((p) => p.trainable);
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, m] of this.children) out.push(...m.namedModules(`${prefix}${n}.`));
    return out;
  }

  /** The parameter at a dotted name, or undefined. */
  getParameter(name: string): Parameter | undefined {
    const dot = name.indexOf('.');
    if (dot < 0) return this.ownParams.get(name);
    return this.children.get(name.slice(0, dot))?.getParameter(name.slice(dot + 1));
  }

  /** Name -> tensor for every parameter (tensors are shared, not copied). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters().map(([n, p]) => [n, p.value]));
  }

  /**
   * Replaces parameter tensors from a name -> tensor map (shapes must match). Returns the
   * names that were missing and unexpected; strict mode throws on either.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor>, strict = true): { missing: string[]; unexpected: string[] } {
    const own = new Map(this.namedParameters());
    const missing = [...own.keys()].filter((n) => !state.has(n));
    const unexpected = [...state.keys()].filter((n) => !own.has(n));
    if (strict && (missing.length || unexpected.length)) {
      throw new Error(`loadStateDict: missing [${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}], unexpected [${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ', ...' : ''}]`);
    }
    for (const [name, t] of state) {
      const p = own.get(name);
      if (!p) continue;
      const want = p.value.shape;
      if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) {
        throw new Error(`loadStateDict: ${name} has shape [${t.shape}], the model expects [${want}]`);
      }
      p.set(t);
    }
    return { missing, unexpected };
  }

  /** Sets whether every parameter of this subtree trains. */
  setTrainable(flag: boolean): this {
    for (const p of this.parameters()) p.setTrainable(flag);
    return this;
  }

  train(flag = true): this {
    for (const [, m] of this.namedModules()) m.training = flag;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Total number of parameter elements. */
  numParameters(onlyTrainable = false): number {
    return (onlyTrainable ? this.trainableParameters() : this.parameters()).reduce((n, p) => n + p.value.size, 0);
  }

  /** Frees every parameter's memory. */
  dispose(): void {
    for (const p of this.parameters()) {
      p.zeroGrad();
      p.value.dispose();
    }
  }
}

/** An indexed list of child modules, named "0", "1", ... */
export class ModuleList<M extends Module> extends Module {
  readonly items: readonly M[];
  constructor(items: readonly M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.module(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
}
