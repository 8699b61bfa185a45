import type { KeyService, Principal } from '@hmac-kit/keys';
import type { ServerMetrics } from './metrics.js';

/** Called as each password hash starts and ends (tests count hashes in flight with it). */
export interface PasswordHashHooks {
  onStart?(): void;
  onEnd?(): void;
}

/** What {@link PasswordGate.verify} answers: `busy` when every hashing slot was taken (nothing was hashed). */
export type PasswordCheck = { busy: true } | { busy: false; principal: Principal | undefined };

/** Every password check of the server (API logins, django obtain, console) goes through one gate. */
export interface PasswordGate {
  /** `permitted`: the caller's own right to sign in, decided before the login is audited (see `KeyService.verifyPassword`). */
  verify(
    name: string,
    password: string,
    source: string,
    permitted?: (principal: Principal) => boolean | Promise<boolean>,
  ): Promise<PasswordCheck>;
}

const BUSY: PasswordCheck = Object.freeze({ busy: true });

/**
 * Bounds the password hashes in flight (issue #11 defect 10: 60 concurrent logins with distinct
 * names took RSS from 90 to 222 MB and p50 12.8 s, each scrypt holding 32 MiB and a thread). A
 * check that finds every slot taken is refused at once, before any hashing; there is no queue, so
 * a flood of logins costs a counter each, and the caller answers 503 with `Retry-After`.
 *
 * @example
 * ```ts
 * const gate = createPasswordGate(keyService, { slots: availableParallelism(), metrics });
 * const check = await gate.verify('alice', password, '203.0.113.7');
 * if (check.busy) return answer503();
 * ```
 */
export function createPasswordGate(
  keyService: Pick<KeyService, 'verifyPassword'>,
  options: { slots: number; metrics: ServerMetrics; hooks?: PasswordHashHooks },
): PasswordGate {
  const { slots, metrics, hooks } = options;
  if (!Number.isInteger(slots) || slots < 1)
    throw new TypeError('createPasswordGate: slots must be a positive integer');
  let free = slots;
  return {
    async verify(name, password, source, permitted) {
      if (free <= 0) {
        metrics.loginsShed.inc();
        return BUSY;
      }
      free--;
      metrics.passwordHashesInFlight.inc();
      hooks?.onStart?.();
      try {
        const options = permitted ? { source, permitted } : { source };
        return { busy: false, principal: await keyService.verifyPassword(name, password, options) };
      } finally {
        free++;
        metrics.passwordHashesInFlight.dec();
        hooks?.onEnd?.();
      }
    },
  };
}
