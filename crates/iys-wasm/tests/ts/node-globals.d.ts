// The one Node global the usage files call, for tsconfig.node.json (a Node-only project without the
// "dom" lib; @types/node is not a dependency here).
declare const console: { log(...values: unknown[]): void };
