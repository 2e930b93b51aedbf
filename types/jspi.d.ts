// JS Promise Integration (JSPI) ships in Node 24's V8 but not yet in TypeScript's lib.
declare namespace WebAssembly {
  class Suspending {
    /** A call that returns a promise suspends the guest until it settles; one that returns a value does not. */
    constructor(fn: (...args: never[]) => Promise<unknown> | number);
  }
  function promising<F extends (...args: never[]) => unknown>(fn: F): (...args: Parameters<F>) => Promise<ReturnType<F>>;
}
