// The bench's peer (`cargo xtask bench`, worker section): a pass-through proxy Worker. Every
// request goes to UPSTREAM (iys-sim) unchanged, and the answer comes back unchanged. It does none
// of the relay's work (auth, limiter, validation, ledger), so it is the ceiling for the relay's
// requests/s on the same workerd.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new Request(env.UPSTREAM + url.pathname + url.search, request));
  },
};
