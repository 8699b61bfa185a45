import { AUDIT_EVENT_TYPES } from '@hmac-kit/keys';
import { describe, expect, it } from 'vitest';
import { auditEventTypeValues } from '../src/generated/openapi.ts';

// The console's audit filter offers `auditEventTypeValues` (generated from `AuditEventType` in
// docs/openapi.yaml). The keys package writes `AUDIT_EVENT_TYPES`, and the admin API accepts exactly
// those: a type added to one list and not the other would be unfilterable in the console, or an
// audit entry the OpenAPI description says cannot exist.
describe('audit event types', () => {
  it('the OpenAPI enum (the console filter) lists exactly the types the keys package writes, in order', () => {
    expect([...auditEventTypeValues]).toEqual([...AUDIT_EVENT_TYPES]);
  });
});
