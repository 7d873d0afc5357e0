import { isIP } from 'node:net';
import { Agent, Dispatcher, ProxyAgent, Socks5ProxyAgent } from 'undici';
import { HttpError } from './errors.js';
import { proxyResolver, type ProxyResolver } from './proxy.js';
import { connectTls } from './tls.js';

/** How to reach servers: trusted CAs, client certificate, proxy, timeouts. */
export interface TransportOptions {
  /**
   * Extra trusted CA certificates (PEM). caMode 'add' (the default, as cosign, crane and flux
   * --ca-file): added to the roots Node trusts by default; 'replace' (as a kubeconfig
   * certificate-authority): only these.
   */
  ca?: Array<string | Buffer>;
  caMode?: 'add' | 'replace';
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  insecureSkipVerify?: boolean;
  /** The name the server's certificate is checked against (and sent as SNI), when not the URL's host. */
  servername?: string;
  /**
   * 'environment' (default): HTTPS_PROXY / HTTP_PROXY / NO_PROXY as Go reads them (loopback is
   * never proxied); 'none'; or one proxy URL for every request (http://, https://, socks5://).
   */
  proxy?: 'environment' | 'none' | string;
  /** Environment for the proxy variables; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Limit on opening a connection (TCP and TLS); default 30 s. */
  connectTimeoutMs?: number;
  /**
   * Limit on waiting for a response's head, and between two chunks of its body; default 60 s;
   * 0 for none (a watch that may stay quiet for long).
   */
  idleTimeoutMs?: number;
  /** Open connections per origin; default unlimited (as Go's MaxConnsPerHost). */
  connectionsPerOrigin?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * A dispatcher that sends each request straight to its origin or through the proxy the options
 * choose for it, keeping a pool of kept-alive connections per origin (undici's Agent) and one
 * per proxy.
 */
class RoutingDispatcher extends Dispatcher {
  private readonly direct: Dispatcher;
  private readonly viaProxy = new Map<string, Dispatcher>();

  constructor(
    private readonly resolve: ProxyResolver | undefined,
    private readonly makeDirect: () => Dispatcher,
    private readonly makeProxied: (proxy: URL) => Dispatcher,
  ) {
    super();
    this.direct = makeDirect();
  }

  private pick(origin: string | URL | undefined): Dispatcher {
    if (!this.resolve || origin === undefined) return this.direct;
    const proxy = this.resolve(typeof origin === 'string' ? new URL(origin) : origin);
    if (!proxy) return this.direct;
    let d = this.viaProxy.get(proxy.href);
    if (!d) {
      d = this.makeProxied(proxy);
      this.viaProxy.set(proxy.href, d);
    }
    return d;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.pick(options.origin).dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all([this.direct, ...this.viaProxy.values()].map((d) => d.close())).then(() => undefined);
    if (callback) {
      void done.then(callback, callback);
      return;
    }
    return done;
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const done = Promise.all([this.direct, ...this.viaProxy.values()].map((d) => d.destroy(err))).then(() => undefined);
    if (cb) {
      void done.then(cb, cb);
      return;
    }
    return done;
  }
}

/**
 * The dispatcher (undici) for one client: connection pools per origin with keep-alive, the TLS
 * settings, the proxy choice and the idle timeouts of `opts`. Pass it as `dispatcher` to undici's
 * `request`/`stream`; call close() when the client is done. Throws HttpError for invalid TLS
 * files' contents or proxy settings.
 */
export function createDispatcher(opts: TransportOptions = {}): Dispatcher {
  const tlsOptions = connectTls({ ca: opts.ca, caMode: opts.caMode, cert: opts.cert, key: opts.key, insecureSkipVerify: opts.insecureSkipVerify, servername: opts.servername });
  const resolve = proxyResolver(opts.proxy, opts.env ?? process.env);
  const idle = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const connectTimeout = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const connect = { ...tlsOptions, timeout: connectTimeout };
  const { servername: _targetName, ...proxyTls } = tlsOptions;
  const poolOptions = {
    headersTimeout: idle,
    bodyTimeout: idle,
    ...(opts.connectionsPerOrigin !== undefined ? { connections: opts.connectionsPerOrigin } : {}),
  };
  return new RoutingDispatcher(
    resolve,
    () => new Agent({ ...poolOptions, connect }),
    (proxy) => {
      if (proxy.protocol === 'socks5:' || proxy.protocol === 'socks5h:') {
        const url = new URL(proxy.href.replace(/^socks5h:/, 'socks5:'));
        // undici's SOCKS5 agent takes the TLS settings of the target connections as requestTls.
        return new Socks5ProxyAgent(url, { ...poolOptions, requestTls: connect } as Socks5ProxyAgent.Options);
      }
      if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') throw new HttpError('PROXY', `unsupported proxy scheme ${proxy.protocol}`);
      return new ProxyAgent({
        ...poolOptions,
        uri: proxy.href,
        // http URLs go to an http proxy in absolute form, https ones through a CONNECT tunnel (as Go).
        proxyTunnel: false,
        requestTls: connect,
        // The proxy's own certificate is checked against its host name (an IP address is sent as no SNI).
        proxyTls: { ...proxyTls, ...(isIP(proxy.hostname.replace(/^\[|\]$/g, '')) === 0 ? { servername: proxy.hostname } : {}), timeout: connectTimeout },
      });
    },
  );
}
