import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A refused request's body still on the wire, up to this many bytes declared, is read and
 * discarded so the keep-alive connection stays usable; past it (or when the length is unknown),
 * reading costs more than a new connection, so the answer closes it.
 */
export const DRAIN_LIMIT_BYTES = 8 * 1024 * 1024;

/** How long a connection being closed keeps reading what the client still sends. */
export const LINGER_MS = 5_000;

const lingering = new WeakSet<Socket>();

/**
 * Closes without a reset: FIN once the answer is flushed, then keep reading (and discarding)
 * until the client closes its side or LINGER_MS pass. Closing a socket that still has unread
 * data makes the kernel send RST, which can destroy the answer before the client reads it and
 * fails the client's write of the rest of its body (Apache's "lingering close"). Node closes a
 * `Connection: close` response's socket with destroySoon(), so that is where this goes.
 */
function lingerOnClose(socket: Socket | null): void {
  if (!socket || lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = function lingeringClose(this: Socket) {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/**
 * Called before an answer is written to a request whose body may not have been read (every
 * refusal goes through here): keeps the connection usable for the client's next request, or
 * closes it cleanly. Node discards an unread body after the answer only when nothing ever
 * started reading it, so a body a proxy stopped piping, or a meter paused, is resumed here.
 */
export function settleUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || res.headersSent) return;
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) return;
  req.unpipe();
  req.resume();
  const declared = Number(length);
  const drainable = !chunked && Number.isFinite(declared) && declared <= DRAIN_LIMIT_BYTES;
  if (!drainable) res.setHeader('Connection', 'close');
  // Also when someone else chose to close (a draining server, a conflicting retry).
  if (String(res.getHeader('Connection')).toLowerCase() === 'close') lingerOnClose(res.socket);
  else {
    // Draining keeps the connection only if the rest comes promptly: a client trickling the body
    // of a refused request must not hold the socket for the listener's (upload-long) deadline.
    const socket = req.socket;
    const timer = setTimeout(() => {
      if (!req.complete) socket.destroy();
    }, LINGER_MS);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
  }
}
