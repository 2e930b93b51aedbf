// JS Promise Integration (JSPI) ships in Node 24's V8 but not yet in TypeScript's lib.
declare namespace WebAssembly {
  class Suspending {
    constructor(fn: (...args: never[]) => Promise<unknown>);
  }
  function promising<F extends (...args: never[]) => unknown>(fn: F): (...args: Parameters<F>) => Promise<ReturnType<F>>;
}
