import type { KeyObject } from 'node:crypto';
import jwt, { type Algorithm, type JwtPayload } from 'jsonwebtoken';
import type { JwtAlgorithm } from '../config';
import type { JwksKeyStore } from './jwks';

export interface JwtVerifierOptions {
  secret: string | undefined;
  jwks: JwksKeyStore | undefined;
  algorithms: readonly JwtAlgorithm[];
  issuer: string | undefined;
  audience: string | undefined;
  clockSkewS: number;
}

export interface VerifiedJwt {
  subject: string;
  scopes: string[];
  /** `exp` plus the allowed clock skew, in ms since the epoch. */
  validUntil: number;
}

/** Why a token was refused; the message is safe to show the caller. */
export class JwtRejected extends Error {
  constructor(
    readonly reason: 'malformed' | 'algorithm' | 'unknown_key' | 'expired' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
export const looksLikeJwt = (token: string) => JWT_SHAPE.test(token);

const isHmac = (alg: string) => alg.startsWith('HS');
/** Which algorithms a public key of this type can verify (jsonwebtoken checks it too). */
const familyOf = (key: KeyObject): RegExp => (key.asymmetricKeyType === 'ec' ? /^ES/ : /^(RS|PS)/);

/**
 * Client JWTs. The header's `alg` must be on the allow-list (`none` can never be on it); HMAC
 * tokens are checked only against JWT_SECRET and asymmetric ones only against JWKS public keys,
 * each with an algorithm list of its own family, so an HS256 token "signed" with a public key
 * (algorithm confusion) has no key to verify against. `exp` is required.
 */
export function createJwtVerifier(options: JwtVerifierOptions) {
  const hmacAlgorithms = options.algorithms.filter(isHmac) as Algorithm[];
  const asymmetricAlgorithms = options.algorithms.filter((a) => !isHmac(a)) as Algorithm[];

  return async function verifyJwt(token: string): Promise<VerifiedJwt> {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === 'string') throw new JwtRejected('malformed', 'The token is not a valid JWT');
    const alg = decoded.header.alg;
    if (!(options.algorithms as readonly string[]).includes(alg)) throw new JwtRejected('algorithm', `Tokens signed with ${alg} are not accepted`);

    let key: string | KeyObject;
    let algorithms: Algorithm[];
    if (isHmac(alg)) {
      if (!options.secret) throw new JwtRejected('algorithm', `Tokens signed with ${alg} are not accepted`);
      key = options.secret;
      algorithms = hmacAlgorithms;
    } else {
      if (!options.jwks) throw new JwtRejected('algorithm', `Tokens signed with ${alg} are not accepted`);
      const found = await options.jwks.getKey(decoded.header.kid);
      if (!found) throw new JwtRejected('unknown_key', 'The token was signed with an unknown key');
      key = found;
      algorithms = asymmetricAlgorithms.filter((a) => familyOf(found).test(a));
    }

    let claims: JwtPayload | string;
    try {
      claims = jwt.verify(token, key, {
        algorithms,
        clockTolerance: options.clockSkewS,
        ...(options.issuer ? { issuer: options.issuer } : {}),
        ...(options.audience ? { audience: options.audience } : {}),
      });
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new JwtRejected('expired', 'The token has expired');
      if (err instanceof jwt.NotBeforeError) throw new JwtRejected('invalid', 'The token is not valid yet');
      throw new JwtRejected('invalid', 'The token signature or claims are invalid');
    }
    if (typeof claims === 'string') throw new JwtRejected('malformed', 'The token is not a valid JWT');
    if (typeof claims.exp !== 'number') throw new JwtRejected('invalid', 'The token has no expiry (exp)');
    if (typeof claims.sub !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(claims.sub)) throw new JwtRejected('invalid', 'The token subject (sub) must be a tenant id');
    const scopeClaim: unknown = claims['scope'];
    const scopes = typeof scopeClaim === 'string' ? scopeClaim.split(' ').filter(Boolean) : Array.isArray(scopeClaim) ? scopeClaim.filter((s): s is string => typeof s === 'string') : [];
    return { subject: claims.sub, scopes, validUntil: (claims.exp + options.clockSkewS) * 1000 };
  };
}

export type JwtVerifier = ReturnType<typeof createJwtVerifier>;
