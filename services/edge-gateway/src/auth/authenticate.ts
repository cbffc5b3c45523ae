import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError, type Identity, IDENTITY_HEADER, signIdentity } from '@tollgate/common';

export interface AuthOptions {
  adminToken: string;
  internalSecret: string;
  identityTtlS: number;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison of two secrets of any length. */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <credential>"');
  return match[1];
}

/**
 * Resolves the caller's identity from its credential and hands it to the upstream as a signed
 * X-Tollgate-Identity. (API keys and JWTs: see the keys and jwt modules.)
 */
export function authenticate(options: AuthOptions, resolve: (token: string, req: Request) => Promise<Identity | undefined> = async () => undefined) {
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    const token = bearerToken(req);
    if (!token) throw new AppError('UNAUTHENTICATED', 'A credential is required: Authorization: Bearer <api key or token>');
    let identity: Identity | undefined;
    if (secretEquals(token, options.adminToken)) identity = { tenantId: 'admin', keyId: 'admin', scopes: ['admin'] };
    else identity = await resolve(token, req);
    if (!identity) throw new AppError('UNAUTHENTICATED', 'The credential is invalid, expired or revoked');
    req.identity = identity;
    req.headers[IDENTITY_HEADER] = signIdentity(identity, options.internalSecret, options.identityTtlS);
    next();
  };
}
