/* global URL, Response */
// The front of the workerd case: `POST /f/NAME` goes to the worker NAME through its service binding (one
// in-process hop, as a Cloudflare route to a Worker).
export default {
  async fetch(request, env) {
    const name = decodeURIComponent(new URL(request.url).pathname.slice('/f/'.length));
    const target = env[name];
    if (!target) return new Response(`no worker '${name}'`, { status: 404 });
    return target.fetch(request);
  },
};
