import { AppError } from '@tollgate/common';

export function insufficientCredits(available: number, requested: number): AppError {
  return new AppError('INSUFFICIENT_CREDITS', `Insufficient credits: ${available} available, ${requested} requested`, {
    details: { available, requested },
  });
}

export function idempotencyKeyReused(operation: string): AppError {
  return new AppError('IDEMPOTENCY_KEY_REUSED', `This idempotency key was already used for a ${operation} with different parameters`, {
    details: { param: 'idempotency_key' },
  });
}
