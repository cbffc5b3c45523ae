// Preloaded (`node --import`) into a peer we benchmark but do not control (Portkey's gateway):
// its server listens on 127.0.0.1 only (its entry has no host flag and would listen on every
// interface), and any connection it tries to open to a host other than loopback is refused and
// reported on stderr as `loopback-only: refused outbound <host>:<port>`, so the bench can say
// whether the peer calls out (at startup or per request) instead of letting it.
import net from 'node:net';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  // listen(port[, host][, backlog][, cb]) with no host (or an undefined one) → loopback.
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    if (args[1] === undefined || args[1] === null || typeof args[1] === 'function' || args[1] === '0.0.0.0' || args[1] === '::') {
      if (typeof args[1] === 'function') args.splice(1, 0, '127.0.0.1');
      else args[1] = '127.0.0.1';
    }
  } else if (
    args[0] &&
    typeof args[0] === 'object' &&
    !(args[0] instanceof net.Server) &&
    args[0].path === undefined &&
    args[0].fd === undefined &&
    args[0].handle === undefined
  ) {
    args[0] = { ...args[0], host: LOOPBACK.has(args[0].host) ? args[0].host : '127.0.0.1' };
  }
  return listen.apply(this, args);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  let host;
  let port;
  if (options && typeof options === 'object') {
    if (options.path === undefined) {
      host = options.host ?? 'localhost';
      port = options.port;
    }
  } else if (typeof options === 'number' || (typeof options === 'string' && /^\d+$/.test(options))) {
    port = options;
    host = typeof args[1] === 'string' ? args[1] : 'localhost';
  }
  if (host !== undefined && !LOOPBACK.has(host)) {
    process.stderr.write(`loopback-only: refused outbound ${host}:${port}\n`);
    const err = Object.assign(new Error(`loopback-only: outbound connection to ${host}:${port} refused`), { code: 'ECONNREFUSED' });
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return connect.apply(this, args);
};
