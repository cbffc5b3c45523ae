import { createSecretKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
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

/** A jose error as one of ours (jose's errors are told apart by `code`, as its docs advise). */
function rejectionFor(err: unknown): JwtRejected {
  const e = err as { code?: unknown; claim?: unknown; reason?: unknown };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return new JwtRejected('expired', 'The token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return new JwtRejected('invalid', 'The token is not valid yet');
      if (e.claim === 'exp' && e.reason === 'missing') return new JwtRejected('invalid', 'The token has no expiry (exp)');
      return new JwtRejected('invalid', 'The token signature or claims are invalid');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new JwtRejected('unknown_key', 'The token was signed with an unknown key');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return new JwtRejected('malformed', 'The token is not a valid JWT');
    default:
      return new JwtRejected('invalid', 'The token signature or claims are invalid');
  }
}

/**
 * Client JWTs, verified by jose's `jwtVerify`. The header's `alg` must be on the allow-list
 * (`none` can never be on it, and jose's JWT verification has no unsecured mode); HMAC tokens are
 * checked only against JWT_SECRET and asymmetric ones only against JWKS public keys, each with an
 * algorithm list of its own family, so an HS256 token "signed" with a public key (algorithm
 * confusion) has no key to verify against. `exp` is required; iss and aud are checked when
 * configured; nbf and exp get JWT_CLOCK_SKEW_S of tolerance.
 */
export function createJwtVerifier(options: JwtVerifierOptions) {
  const allowed = options.algorithms as readonly string[];
  const hmacAlgorithms = allowed.filter(isHmac);
  const asymmetricAlgorithms = allowed.filter((a) => !isHmac(a));
  const secret: KeyObject | undefined = options.secret ? createSecretKey(Buffer.from(options.secret, 'utf8')) : undefined;
  const claimChecks: JWTVerifyOptions = {
    clockTolerance: options.clockSkewS,
    requiredClaims: ['exp'],
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
  };

  return async function verifyJwt(token: string): Promise<VerifiedJwt> {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new JwtRejected('malformed', 'The token is not a valid JWT');
    }
    if (typeof alg !== 'string') throw new JwtRejected('malformed', 'The token is not a valid JWT');
    if (!allowed.includes(alg)) throw new JwtRejected('algorithm', `Tokens signed with ${alg.slice(0, 20)} are not accepted`);
    const hmac = isHmac(alg);
    if (hmac ? !secret : !options.jwks) throw new JwtRejected('algorithm', `Tokens signed with ${alg} are not accepted`);

    let claims: JWTPayload;
    try {
      claims = hmac
        ? (await jwtVerify(token, secret!, { ...claimChecks, algorithms: hmacAlgorithms })).payload
        : (await jwtVerify(token, options.jwks!.getKey, { ...claimChecks, algorithms: asymmetricAlgorithms })).payload;
    } catch (err) {
      throw rejectionFor(err);
    }
    if (typeof claims.exp !== 'number') throw new JwtRejected('invalid', 'The token has no expiry (exp)');
    if (typeof claims.sub !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(claims.sub))
      throw new JwtRejected('invalid', 'The token subject (sub) must be a tenant id');
    const scopeClaim: unknown = claims['scope'];
    const scopes =
      typeof scopeClaim === 'string'
        ? scopeClaim.split(' ').filter(Boolean)
        : Array.isArray(scopeClaim)
          ? scopeClaim.filter((s): s is string => typeof s === 'string')
          : [];
    return { subject: claims.sub, scopes, validUntil: (claims.exp + options.clockSkewS) * 1000 };
  };
}

export type JwtVerifier = ReturnType<typeof createJwtVerifier>;
