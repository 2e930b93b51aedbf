/**
 * The dashboard at `/ui` (docs/ui.md): its pages, its static files and its JSON API under `/ui/api`. Only
 * the login form and its stylesheet answer without a session; a page asked for without one redirects to
 * the login form, and everything else answers 401 in the Plume error shape. A node without an admin token
 * serves no dashboard at all (403): it would have nothing to log in with.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PlumeError } from '../errors.ts';
import { concurrencyOf } from '../engine/definition.ts';
import { cappedLimit } from './body.ts';
import type { GatewayContext, NameParams, RouteConfig } from './context.ts';
import { admitFunction, bytes, run } from './invoke-routes.ts';
import type { GatewayMetrics } from './metrics.ts';
import { uiAssets, type Asset } from './ui-assets.ts';
import { UiData, type UiDataOptions } from './ui-data.ts';
import { LiveFeed, type LiveFeedOptions } from './ui-live.ts';
import { LoginThrottle, noDashboard, sessionCookie, UiSessions, type LoginThrottleOptions, type UiSessionsOptions } from './ui-sessions.ts';
import { FunctionStatsReader } from './ui-stats.ts';

export interface UiOptions extends UiDataOptions {
  readonly sessions?: UiSessionsOptions;
  readonly login?: LoginThrottleOptions;
  readonly live?: LiveFeedOptions;
}

/** Who may reach a route: anyone (the login form), a session (redirected to log in if none), or the API (401). */
type Access = 'public' | 'page' | 'api';
interface UiRouteConfig extends RouteConfig {
  readonly access: Access;
}

/** Output the invoke panel shows at most; the rest is counted, not sent (a 100 MB result stays on the node). */
const MAX_SHOWN_OUTPUT = 1024 * 1024;
const LOGIN_BODY = { bytes: 4096, owner: 'the login form' };
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: under it a browser sends `Origin: null` on the login form's POST, which sameOrigin refuses.
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

export function uiRoutes(app: FastifyInstance, ctx: GatewayContext, metrics: GatewayMetrics, options: UiOptions = {}): void {
  const assets = uiAssets();
  const sessions = new UiSessions(ctx.tokens, options.sessions);
  const throttle = new LoginThrottle(options.login);
  const live = new LiveFeed(options.live);
  const data = new UiData(ctx, new FunctionStatsReader(metrics.registry), options);
  app.addHook('preClose', (done) => {
    live.close();
    done();
  });
  app.addHook('onClose', (_app, done) => {
    data.close();
    done();
  });

  const cfg = (access: Access, extra: Partial<RouteConfig> = {}): { config: UiRouteConfig } => ({
    config: { guard: 'none', access, ...extra },
  });
  const send = (reply: FastifyReply, asset: Asset | undefined, csp = false): FastifyReply => {
    if (!asset) throw new PlumeError('PLUME_ENOROUTE', 'no such file of the dashboard');
    reply.headers(PAGE_HEADERS).header('content-type', asset.type);
    if (csp) reply.header('content-security-policy', assets.csp);
    return reply.send(asset.body);
  };

  app.register(
    async (ui) => {
      ui.addHook('onRequest', (request, reply, done) => {
        const access = (request.routeOptions.config as unknown as UiRouteConfig | undefined)?.access ?? 'api';
        try {
          if (access !== 'public' && !sameOrigin(request.headers)) throw crossOrigin();
          if (access === 'page' && ctx.tokens.hasAdmin && !sessions.find(request.headers)) {
            reply.code(303).headers(PAGE_HEADERS).header('location', '/ui/login').send();
            return;
          }
          if (access !== 'public') sessions.admit(request.method, request.headers);
        } catch (err) {
          done(err as Error);
          return;
        }
        done();
      });

      const index = (_request: FastifyRequest, reply: FastifyReply): FastifyReply => send(reply, assets.files.get('index.html'), true);
      ui.get('/', cfg('page'), index);
      ui.get('/login', cfg('public'), async (_request, reply) => {
        if (!ctx.tokens.hasAdmin) throw noDashboard();
        return send(reply, assets.files.get('login.html'), true);
      });
      ui.post('/login', cfg('public', { limit: () => LOGIN_BODY }), async (request, reply) => {
        if (!ctx.tokens.hasAdmin) throw noDashboard();
        if (!sameOrigin(request.headers)) throw crossOrigin();
        const body = request.body as Uint8Array | undefined;
        const token = new URLSearchParams(body ? Buffer.from(body).toString('utf8') : '').get('token') ?? '';
        const address = request.socket.remoteAddress ?? '';
        throttle.check(address);
        const login = token ? sessions.login(token) : undefined;
        if (!login) throttle.failed(address);
        else throttle.succeeded(address);
        if (!login) {
          const page = assets.files.get('login.html')!;
          const refused = page.body
            .toString('utf8')
            .replace('<!--error-->', '<p class="error" role="alert">That is not the admin token of this node.</p>');
          return reply.code(403).headers(PAGE_HEADERS).header('content-security-policy', assets.csp).type(page.type).send(refused);
        }
        return reply
          .code(303)
          .headers(PAGE_HEADERS)
          .header('set-cookie', sessionCookie(login.id, Math.floor(sessions.ttlMs / 1000)))
          .header('location', '/ui/')
          .send();
      });
      ui.get('/style.css', cfg('public'), async (_request, reply) => send(reply, assets.files.get('style.css')));
      ui.get('/favicon.svg', cfg('public'), async (_request, reply) => send(reply, assets.files.get('favicon.svg')));
      ui.get<{ Params: { '*': string } }>('/app/*', cfg('api'), async (request, reply) =>
        send(reply, assets.files.get(`app/${request.params['*']}`)),
      );
      ui.get<{ Params: { file: string } }>('/vendor/:file', cfg('api'), async (request, reply) =>
        send(reply, assets.vendor.get(request.params.file)),
      );

      const api = cfg('api');
      ui.get('/api/session', api, async (request, reply) => {
        const session = sessions.find(request.headers);
        return reply.headers(PAGE_HEADERS).send({ csrf: session?.csrf ?? null, expires: session?.expires ?? null });
      });
      ui.post('/api/logout', api, async (request, reply) => {
        sessions.logout(request.headers);
        return reply.headers(PAGE_HEADERS).header('set-cookie', sessionCookie('', 0)).send({ loggedOut: true });
      });
      ui.get('/api/node', api, async (_request, reply) => reply.headers(PAGE_HEADERS).send(await data.node()));
      ui.get('/api/functions', api, async (_request, reply) => reply.headers(PAGE_HEADERS).send(await data.functions()));
      ui.get('/api/workflows', api, async (_request, reply) => reply.headers(PAGE_HEADERS).send(data.workflows()));
      ui.get<NameParams & { Querystring: { tail?: string } }>('/api/functions/:name/logs', api, async (request, reply) => {
        const logs = ctx.plume.logs(request.params.name);
        const tail = request.query.tail === undefined ? 200 : Number(request.query.tail);
        if (!/^\d+$/.test(request.query.tail ?? '200') || tail < 1 || tail > 1000)
          throw new RangeError(`query 'tail' must be an integer from 1 to 1000, got '${request.query.tail}'`);
        return reply.headers(PAGE_HEADERS).send({ logs: logs.slice(Math.max(0, logs.length - tail)) });
      });
      ui.get('/api/live', api, (_request, reply) => {
        reply.hijack();
        live.add(reply.raw);
      });

      const fnLimit = (request: FastifyRequest) => {
        const name = (request.params as { name: string }).name;
        return cappedLimit(ctx.maxBodyBytes, ctx.plume.describe(name).limits.maxInputBytes, `function '${name}'`);
      };
      ui.post<NameParams>('/api/invoke/function/:name', cfg('api', { limit: fnLimit }), async (request, reply) => {
        const { name } = request.params;
        const info = ctx.plume.describe(name);
        admitFunction(ctx, name, { concurrency: concurrencyOf(info), queue: ctx.settings.get(name)?.queue ?? ctx.queue });
        const started = performance.now();
        const output = await run(ctx, name, () => ctx.plume.invoke(name, (request.body as Uint8Array | undefined) ?? new Uint8Array(0)));
        const ms = performance.now() - started;
        const contentType = ctx.settings.get(name)?.contentType ?? 'application/octet-stream';
        return reply.headers(PAGE_HEADERS).send({ ms, contentType, ...shown(output) });
      });
      ui.post<NameParams>('/api/invoke/workflow/:name', api, async (request, reply) => {
        const { name } = request.params;
        const door = `workflow:${name}`;
        ctx.admission.admit(door, ctx.queue, 0, `workflow '${name}'`);
        const started = performance.now();
        const input = (request.body as Uint8Array | undefined) ?? new Uint8Array(0);
        const done = await run(ctx, door, () => ctx.plume.runWorkflow(name, input, { trace: true }));
        const ms = performance.now() - started;
        const trace = done.trace && {
          ms: done.trace.ms,
          edges: done.trace.edges,
          steps: done.trace.steps.map(({ calls: _calls, ...s }) => s),
        };
        return reply.headers(PAGE_HEADERS).send({ ms, contentType: 'application/octet-stream', ...shown(done.output), trace });
      });
      // Any other path under /ui: auth first (the hook), then 404, so probing finds nothing without a session.
      const unknown = async (request: FastifyRequest): Promise<never> => {
        throw new PlumeError('PLUME_ENOROUTE', `no route ${request.method} ${request.url.split('?')[0]}`);
      };
      ui.all('/api/*', api, unknown);
      ui.all('/*', api, unknown);
    },
    { prefix: '/ui' },
  );
}

function shown(output: Uint8Array): { bytes: number; truncated: boolean; output: string } {
  const head = output.length > MAX_SHOWN_OUTPUT ? output.subarray(0, MAX_SHOWN_OUTPUT) : output;
  return { bytes: output.length, truncated: head.length < output.length, output: bytes(head).toString('base64') };
}

/**
 * A browser names the page a request comes from in Origin: one from another site is refused outright (a
 * second wall behind SameSite=Strict and the CSRF header). Clients that send no Origin (curl) pass.
 */
function sameOrigin(headers: IncomingHttpHeaders): boolean {
  const origin = headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

function crossOrigin(): PlumeError {
  return new PlumeError('PLUME_EFORBIDDEN', 'a dashboard request from another origin is refused');
}
