/** inviteIDs: UUID version 7, ordered by creation time (call-record inserts stay at the B-tree's edge). */
import { describe, expect, it } from 'vitest';
import { newInviteID } from '../packages/server/src/calls/invite-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newInviteID', () => {
  it('is a UUID v7 carrying its creation time, and later ids sort after earlier ones', () => {
    const t = Date.UTC(2026, 10, 25, 12, 0, 0, 123);
    const id = newInviteID(t);
    expect(id).toMatch(V7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(t);
    const ids = Array.from({ length: 1000 }, (_, i) => newInviteID(t + i));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 10_000 }, () => newInviteID(t))).size).toBe(10_000); // 74 random bits
  });
});
