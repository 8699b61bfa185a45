/** A store's lifecycle port: its kind, schema migrations and close. */

/** Outcome of applying migrations. */
export interface MigrationSummary {
  /** Names of migrations applied by this call (empty when already up to date). */
  applied: string[];
}

/** Lifecycle of a store: its kind, migrations and close. */
export interface StoreLifecycle {
  /** `memory`, `sqlite` or `postgres`. */
  readonly kind: string;
  /** Applies pending schema migrations (also done automatically on first use unless disabled). */
  migrate(): Promise<MigrationSummary>;
  /** Releases what the store opened itself (listening clients, timers). Never closes the caller's driver. */
  close(): Promise<void>;
}
