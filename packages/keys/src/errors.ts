/**
 * Errors of @hmac-kit/keys. Like the core's, each has a stable `code`; none ever
 * carries a secret or master key material in its message.
 */
import { HmacKitError } from '@hmac-kit/core';

/** A master key with the right id but the wrong bytes (or a ciphertext moved to another row). */
export class MasterKeyMismatch extends HmacKitError {
  static override code = 'ERR_MASTER_KEY_MISMATCH' as const;
  override readonly code = MasterKeyMismatch.code;
  /** Id of the master key that failed to decrypt. */
  readonly masterKeyId: string;
  constructor(message: string, masterKeyId: string, options?: { cause?: unknown }) {
    super(message, options);
    this.masterKeyId = masterKeyId;
  }
}

/** Data is encrypted under a master key id that is not in the configured ring. */
export class MasterKeyUnknown extends HmacKitError {
  static override code = 'ERR_MASTER_KEY_UNKNOWN' as const;
  override readonly code = MasterKeyUnknown.code;
  readonly masterKeyId: string;
  constructor(message: string, masterKeyId: string, options?: { cause?: unknown }) {
    super(message, options);
    this.masterKeyId = masterKeyId;
  }
}

/** No principal with that name. */
export class PrincipalNotFound extends HmacKitError {
  static override code = 'ERR_PRINCIPAL_NOT_FOUND' as const;
  override readonly code = PrincipalNotFound.code;
}

/** A principal with that name already exists. */
export class PrincipalExists extends HmacKitError {
  static override code = 'ERR_PRINCIPAL_EXISTS' as const;
  override readonly code = PrincipalExists.code;
}

/** The principal is disabled (no new keys). */
export class PrincipalDisabled extends HmacKitError {
  static override code = 'ERR_PRINCIPAL_DISABLED' as const;
  override readonly code = PrincipalDisabled.code;
}

/** No key with that id (admin operations; verification uses the core's `KeyUnknown`). */
export class KeyNotFound extends HmacKitError {
  static override code = 'ERR_KEY_NOT_FOUND' as const;
  override readonly code = KeyNotFound.code;
}

/** The key is revoked or expired and cannot be rotated. */
export class KeyNotActive extends HmacKitError {
  static override code = 'ERR_KEY_NOT_ACTIVE' as const;
  override readonly code = KeyNotActive.code;
}

/** The principal already has the maximum number of active keys. */
export class KeyLimitExceeded extends HmacKitError {
  static override code = 'ERR_KEY_LIMIT_EXCEEDED' as const;
  override readonly code = KeyLimitExceeded.code;
  readonly limit: number;
  constructor(message: string, limit: number, options?: { cause?: unknown }) {
    super(message, options);
    this.limit = limit;
  }
}

/** A key with this id already exists (importing a secret under an id that is taken). */
export class KeyExists extends HmacKitError {
  static override code = 'ERR_KEY_EXISTS' as const;
  override readonly code = KeyExists.code;
}
