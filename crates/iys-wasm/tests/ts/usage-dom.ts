// `init` and `initSync` in a browser project (the "dom" lib): every source wasm-bindgen's init takes
// type-checks. (tsconfig.node.json leaves this file out: without the DOM there is no URL, Request,
// Response or WebAssembly to name, and the same declarations must still compile.)
import init, { initSync } from 'iys-validate';

export async function load(bytes: Uint8Array, module: WebAssembly.Module): Promise<void> {
  await init();
  await init(new URL('./iys_validate_bg.wasm', import.meta.url));
  await init('/assets/iys_validate_bg.wasm');
  await init(fetch('/assets/iys_validate_bg.wasm'));
  await init(new Request('/assets/iys_validate_bg.wasm'));
  await init({ module_or_path: module });
  initSync(bytes);
  initSync({ module });
  initSync(bytes.buffer);
}
