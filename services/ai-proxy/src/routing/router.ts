import { AppError, type CircuitBreakerPolicy, CircuitState, createCircuitBreaker } from '@tollgate/common';
import { isUpstreamError } from '../providers/errors';
import type { ModelRoute, Routing, TargetConfig } from './schema';

/** Model aliases → routes, one circuit breaker per target id, and the order targets are tried in. */
export class ModelRouter {
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();

  constructor(
    readonly routing: Routing,
    private readonly random: () => number = Math.random,
  ) {
    for (const route of routing.models.values()) {
      for (const target of route.targets) {
        if (this.breakers.has(target.id)) continue;
        this.breakers.set(
          target.id,
          createCircuitBreaker({
            consecutiveFailures: routing.defaults.breaker_failures,
            halfOpenAfterMs: routing.defaults.breaker_half_open_after_ms,
            // A request the upstream refused as invalid, or our own client leaving, says nothing about the target's health.
            isFailure: (err) => isUpstreamError(err) && err.countsAgainstTarget,
          }),
        );
      }
    }
  }

  /** The alias if it exists, is of this kind and the tenant may use it; 404 otherwise (no hint whether it exists). */
  /** `allowed`: the API key's model allow-list, when it has one (a model outside it does not exist for that key). */
  resolve(alias: string, tenantId: string, kind: ModelRoute['type'], allowed?: readonly string[]): ModelRoute {
    const route = this.routing.models.get(alias);
    if (!route || (route.tenants && !route.tenants.has(tenantId)) || (allowed && !allowed.includes(alias))) {
      throw new AppError('NOT_FOUND', `The model \`${alias.slice(0, 128)}\` does not exist or you do not have access to it`, {
        details: { param: 'model', reason: 'model_not_found' },
      });
    }
    if (route.type !== kind) {
      throw new AppError(
        'VALIDATION_FAILED',
        `The model \`${alias}\` is ${route.type === 'chat' ? 'a chat model' : 'an embedding model'}; it cannot serve ${kind === 'chat' ? 'chat completions' : 'embeddings'}`,
        { details: { param: 'model' } },
      );
    }
    return route;
  }

  modelsFor(tenantId: string, allowed?: readonly string[]): ModelRoute[] {
    return [...this.routing.models.values()].filter(
      (r) => (!r.tenants || r.tenants.has(tenantId)) && (!allowed || allowed.includes(r.alias)),
    );
  }

  breaker(targetId: string): CircuitBreakerPolicy {
    const breaker = this.breakers.get(targetId);
    if (!breaker) throw new Error(`no breaker for target ${targetId}`);
    return breaker;
  }

  breakerStates(): { target: string; state: number }[] {
    return [...this.breakers].map(([target, b]) => ({ target, state: stateNumber(b.state) }));
  }

  /**
   * Attempt order: priority tiers in ascending order; inside a tier a weighted random order
   * (weight 0 = only after the weighted ones), so equal-priority targets share traffic.
   */
  order(route: ModelRoute): TargetConfig[] {
    const tiers = new Map<number, TargetConfig[]>();
    for (const t of route.targets) tiers.set(t.priority, [...(tiers.get(t.priority) ?? []), t]);
    const ordered: TargetConfig[] = [];
    for (const priority of [...tiers.keys()].sort((a, b) => a - b)) {
      const pool = [...tiers.get(priority)!];
      while (pool.length) {
        const total = pool.reduce((n, t) => n + t.weight, 0);
        let index = 0;
        if (total > 0) {
          let pick = this.random() * total;
          index = pool.findIndex((t) => (pick -= t.weight) < 0);
          if (index < 0) index = pool.length - 1;
        }
        ordered.push(pool.splice(index, 1)[0]!);
      }
    }
    return ordered;
  }
}

export function stateNumber(state: CircuitState): number {
  switch (state) {
    case CircuitState.Closed:
      return 0;
    case CircuitState.Open:
      return 1;
    case CircuitState.HalfOpen:
      return 2;
    default:
      return 3;
  }
}
